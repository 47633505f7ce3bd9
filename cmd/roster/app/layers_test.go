package app_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

const module = "github.com/rosterhq/roster"

// goPackage is what `go list -json` says of one of Roster's packages.
type goPackage struct {
	ImportPath string
	Imports    []string // of the package's code, not its tests
}

// rosterPackages lists the module's packages with their direct imports.
func rosterPackages() []goPackage {
	GinkgoHelper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../../.."
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	Expect(cmd.Run()).To(Succeed(), errOut.String())
	var pkgs []goPackage
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p goPackage
		Expect(dec.Decode(&p)).To(Succeed())
		pkgs = append(pkgs, p)
	}
	Expect(pkgs).NotTo(BeEmpty())
	return pkgs
}

// within reports whether pkg is dir or below it (dirs relative to the module).
func within(pkg string, dirs ...string) bool {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	for _, d := range dirs {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

var _ = Describe("The dependency rule", func() {
	var pkgs []goPackage
	BeforeEach(func() { pkgs = rosterPackages() })

	// forbidden lists, for each of a layer's packages, the Roster packages
	// and outside modules its code imports that the rule keeps from it.
	// Tests are free: every suite drives the real server (fixtures, cmd).
	forbidden := func(layer []string, allowed func(imp string) bool) []string {
		var bad []string
		for _, p := range pkgs {
			if !within(p.ImportPath, layer...) {
				continue
			}
			for _, imp := range p.Imports {
				if imp == "C" {
					continue
				}
				if !allowed(imp) {
					bad = append(bad, p.ImportPath+" imports "+imp)
				}
			}
		}
		return bad
	}
	roster := func(imp string) bool { return strings.HasPrefix(imp, module+"/") }
	gormish := func(imp string) bool {
		return strings.HasPrefix(imp, "gorm.io/") || strings.HasPrefix(imp, "github.com/jackc/") ||
			strings.HasPrefix(imp, "github.com/glebarez/") || strings.HasPrefix(imp, "modernc.org/sqlite")
	}

	DescribeTable("each layer imports only what is below it",
		func(layer []string, may []string, mayUseDatabase bool) {
			bad := forbidden(layer, func(imp string) bool {
				if roster(imp) {
					return within(imp, may...)
				}
				return mayUseDatabase || !gormish(imp)
			})
			Expect(bad).To(BeEmpty())
		},
		Entry("resources knows no storage and no use case", []string{"resources"}, []string{"resources"}, false),
		Entry("store uses resources alone, and is the one database user", []string{"store"}, []string{"resources"}, true),
		Entry("mail and audit are infrastructure over store", []string{"mail", "audit"}, []string{"resources", "store"}, false),
		Entry("auth never uses admin", []string{"auth"}, []string{"resources", "store", "mail", "audit"}, false),
		Entry("admin and its dialects never use cmd or fixtures", []string{"admin"}, []string{"admin", "auth", "resources", "store", "mail", "audit"}, false),
		// The console acts only through the public HTTP API: no use case,
		// no auth internals, no store (only the typed errors and the error
		// path's surface, and the CSV roster invite reads too).
		Entry("the admin console uses no use case and no storage", []string{"admin/console"}, []string{"admin/invitecsv", "resources"}, false),
		// Metrics, request ids and traces are infrastructure cmd wires in: the
		// packages they count for declare a Meter, storage is read through
		// telemetry.Database, so telemetry needs none of them.
		Entry("telemetry imports no Roster package", []string{"telemetry"}, []string{}, false),
	)

	It("keeps Prometheus and OpenTelemetry in telemetry (cmd wires it in)", func() {
		observability := func(imp string) bool {
			return strings.HasPrefix(imp, "github.com/prometheus/") || strings.HasPrefix(imp, "go.opentelemetry.io/")
		}
		bad := forbidden([]string{"resources", "store", "mail", "audit", "auth", "admin", "fixtures"}, func(imp string) bool { return !observability(imp) })
		Expect(bad).To(BeEmpty())
	})

	It("keeps no grab-bag packages", func() {
		for _, p := range pkgs {
			Expect(path.Base(p.ImportPath)).NotTo(BeElementOf("util", "utils", "common", "pkg", "helpers", "misc"), p.ImportPath)
		}
	})

	It("has every package in one of the design's folders", func() {
		for _, p := range pkgs {
			Expect(within(p.ImportPath, "cmd", "resources", "admin", "auth", "store", "fixtures", "mail", "audit", "telemetry")).
				To(BeTrue(), p.ImportPath)
		}
	})
})
