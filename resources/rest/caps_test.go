package rest_test

import (
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
)

// batchOf is a batch Bundle creating n Patients of family.
func batchOf(n int, family string) map[string]any {
	es := make([]any, n)
	for i := range es {
		es[i] = map[string]any{"request": map[string]any{"method": "POST", "url": "Patient"}, "resource": patient(family)}
	}
	return map[string]any{"resourceType": "Bundle", "type": "batch", "entry": es}
}

var _ = Describe("Request caps", func() {
	Describe("with the defaults", func() {
		t := freshTenant()

		It("refuses a Bundle of more than 1000 entries with 413, writing nothing", func() {
			o := outcome(call("POST", "fhir/R4/", t.Token, batchOf(1001, "Capped")), http.StatusRequestEntityTooLarge)
			Expect(issueText(o)).To(ContainSubstring("Bundle has 1001 entries; the limit is 1000"))
			Expect(resourceIDs(search(t.Token, "Patient", "family=Capped"))).To(BeEmpty())
		})

		DescribeTable("refuses a _count above 1000 with 400 naming it",
			func(path string) {
				o := outcome(call("GET", fhir(path), t.Token, nil), http.StatusBadRequest)
				Expect(issueText(o)).To(ContainSubstring("_count"))
				Expect(issueText(o)).To(ContainSubstring("1000"))
			},
			Entry("search", "Patient?_count=1001"),
			Entry("type history", "Patient/_history?_count=1001"),
		)
	})

	Describe("configured", Ordered, func() {
		var small *fixtures.Server
		var token string
		BeforeAll(func() {
			small = fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) {
				c.MaxBundleEntries = 3
				c.BodyLimit = 4096
			}})
			DeferCleanup(small.Close)
			token = small.AdminToken
		})

		It("takes ROSTER_MAX_BUNDLE_ENTRIES: at the cap the Bundle runs, one more is 413", func() {
			r, err := small.Do("POST", "fhir/R4/", token, batchOf(3, "AtCap"))
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			r, err = small.Do("POST", "fhir/R4/", token, batchOf(4, "OverCap"))
			Expect(err).NotTo(HaveOccurred())
			Expect(issueText(outcome(r, http.StatusRequestEntityTooLarge))).To(ContainSubstring("the limit is 3"))
		})

		It("takes ROSTER_BODY_LIMIT: a body over it is 413, one under it goes through", func() {
			r, err := small.Do("POST", "fhir/R4/Patient", token, patient(strings.Repeat("x", 5000)))
			Expect(err).NotTo(HaveOccurred())
			Expect(issueText(outcome(r, http.StatusRequestEntityTooLarge))).To(ContainSubstring("too large"))
			r, err = small.Do("POST", "fhir/R4/Patient", token, patient(strings.Repeat("x", 3000)))
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
		})
	})

	It("are read from the environment", func() {
		t := GinkgoT()
		t.Setenv("ROSTER_MAX_BUNDLE_ENTRIES", "250")
		t.Setenv("ROSTER_BODY_LIMIT", "65536")
		t.Setenv("ROSTER_THROTTLE_WINDOW", "5m")
		t.Setenv("ROSTER_THROTTLE_PER_ACCOUNT", "7")
		t.Setenv("ROSTER_THROTTLE_PER_ADDRESS", "0")
		t.Setenv("ROSTER_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1")
		c := app.FromEnv()
		Expect(c.MaxBundleEntries).To(Equal(250))
		Expect(c.BodyLimit).To(Equal(int64(65536)))
		Expect(c.Throttle).To(Equal(auth.Limits{Window: 5 * time.Minute, PerAccount: 7, PerAddress: 0}))
		Expect(c.TrustedProxies).To(Equal([]string{"10.0.0.0/8", "192.168.1.1"}))
	})

	It("default to 1000 Bundle entries, 4 MiB bodies and the default throttle", func() {
		for _, k := range []string{"ROSTER_MAX_BUNDLE_ENTRIES", "ROSTER_BODY_LIMIT", "ROSTER_THROTTLE_WINDOW",
			"ROSTER_THROTTLE_PER_ACCOUNT", "ROSTER_THROTTLE_PER_ADDRESS", "ROSTER_TRUSTED_PROXIES"} {
			GinkgoT().Setenv(k, "")
		}
		c := app.FromEnv()
		Expect(c.MaxBundleEntries).To(Equal(1000))
		Expect(c.BodyLimit).To(Equal(int64(4 << 20)))
		Expect(c.Throttle).To(Equal(auth.DefaultLimits))
		Expect(c.TrustedProxies).To(BeEmpty())
	})
})
