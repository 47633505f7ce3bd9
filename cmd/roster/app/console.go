package app

import (
	"context"

	"github.com/rosterhq/roster/admin/console"
	"github.com/rosterhq/roster/resources"
	"github.com/rosterhq/roster/store"
)

var _ console.SessionStore = (*store.Store)(nil)

// consoleName is the name of the console's ClientApplication, which
// Roster's sign-in page shows ("to continue to …").
const consoleName = "Roster console"

// ensureConsoleClient makes sure the console's ClientApplication exists —
// a public client of no project, so members of every project sign in
// through it — with its one redirect URI, under this server's base URL.
// Several processes may run it at once: one creates the client, and the
// others find it.
func (a *App) ensureConsoleClient(ctx context.Context) error {
	sys := resources.AsSystem(ctx, "")
	redirect := a.Config.BaseURL + console.CallbackPath
	want := func(app *resources.ClientApplication) bool {
		return app.Name == consoleName && app.RedirectURI == redirect && len(app.RedirectURIs) == 0 && app.Status != "off"
	}
	fresh := &resources.ClientApplication{Name: consoleName, Description: "The admin console at /console/", RedirectURI: redirect}
	fresh.ResourceType, fresh.ID = "ClientApplication", console.ClientID
	cur, _, err := resources.ReadTyped[*resources.ClientApplication](sys, a.Resources, "ClientApplication", console.ClientID)
	switch {
	case err == nil && want(cur):
		return nil
	case err == nil:
		_, err = a.Resources.Update(sys, fresh, console.ClientID, cur.Meta.VersionID)
	case resources.IsKind(err, resources.KindGone):
		_, err = a.Resources.Update(sys, fresh, console.ClientID, "")
	case resources.IsKind(err, resources.KindNotFound):
		fresh.ID = ""
		_, err = a.Resources.CreateWithID(sys, fresh, "", console.ClientID)
	}
	if resources.IsKind(err, resources.KindConflict, resources.KindPrecondition) {
		return nil // another process wrote it meanwhile
	}
	return err
}
