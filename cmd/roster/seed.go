package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/resources/rest"
)

// seed loads a FHIR batch or transaction Bundle into the configured database,
// as Roster itself, into the Default project or the one named by --project.
func seed(ctx context.Context, cfg app.Config, log *slog.Logger, args []string) error {
	project := ""
	var file string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--project":
			if i+1 >= len(args) {
				return errors.New("--project needs a project id")
			}
			project, i = args[i+1], i+1
		default:
			file = args[i]
		}
	}
	if file == "" {
		return errors.New("usage: roster seed [--project ID] FILE")
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	// As a request body would be: text that is not UTF-8 is refused, not
	// stored as U+FFFD.
	if err := rest.CheckText(body); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	a, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if project == "" {
		project = a.DefaultProject(ctx)
	}
	out, err := a.FHIR.RunBundle(resources.AsSystem(ctx, project), body, rest.ReturnRepresentation)
	if err != nil {
		return err
	}
	fmt.Printf("loaded %d entries into project %s\n", len(out.Entry), project)
	return nil
}
