package resources_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/resources"
)

var _ = Describe("The registry", func() {
	It("names only elements its types have as summary and mandatory elements", func() {
		for _, t := range resources.Types() {
			for _, name := range append(append([]string{}, t.Summary...), t.Mandatory...) {
				Expect(t.HasElement(name)).To(BeTrue(), "%s.%s", t.Name, name)
			}
		}
	})

	It("gives every type the meta parameters", func() {
		for _, t := range resources.Types() {
			for _, code := range []string{"_tag", "_security", "_profile"} {
				_, ok := t.Param(code)
				Expect(ok).To(BeTrue(), "%s %s", t.Name, code)
			}
		}
	})
})
