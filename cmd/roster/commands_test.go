package main_test

import (
	"path/filepath"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("roster's commands", func() {
	It("names in an unknown command's error every command `roster help` lists", func() {
		out, _, code := runRoster(newTestDatabase().env(), "help")
		Expect(code).To(Equal(0))
		listed := regexp.MustCompile(`(?m)^  roster (\S+)`).FindAllStringSubmatch(out, -1)
		var names []string
		for _, m := range listed {
			names = append(names, m[1])
		}
		Expect(names).To(ContainElements("serve", "migrate", "seed", "keys", "invite", "bench", "help"))
		Expect(out).To(ContainSubstring("usage: roster [" + strings.Join(names, "|") + "]"))

		_, errOut, code := runRoster(newTestDatabase().env(), "bogus")
		Expect(code).To(Equal(1))
		Expect(errOut).To(ContainSubstring(`unknown command "bogus" (commands: ` + strings.Join(names, ", ") + ";"))
	})

	It("prints the first admin's generated password once when `roster seed` creates it, and it signs in", func() {
		db := newTestDatabase()
		env := db.env("ROSTER_ADMIN_EMAIL=seeded-owner@example.com")
		clinic := filepath.Join(moduleRoot(), "fixtures", "data", "clinic.json")
		out, errOut, code := runRoster(env, "seed", clinic)
		Expect(code).To(Equal(0), "roster seed: %s\n%s", out, errOut)
		Expect(out).To(ContainSubstring("loaded 4 entries"))
		matches := regexp.MustCompile(`Password:\s+(\S+)`).FindAllStringSubmatch(errOut, -1)
		Expect(matches).To(HaveLen(1), errOut)
		Expect(errOut).To(ContainSubstring("Super admin: seeded-owner@example.com"))

		By("serving: nothing is printed again, and the printed password signs in")
		p := startRoster(env)
		Expect(p.stderr()).NotTo(ContainSubstring("Password:"))
		Expect(p.login("seeded-owner@example.com", matches[0][1]).searchIDs("Patient?identifier=MRN-1001")).To(HaveLen(1))

		By("seeding again: the admin exists, nothing is printed")
		_, errOut, code = runRoster(env, "seed", clinic)
		Expect(code).To(Equal(0), errOut)
		Expect(errOut).NotTo(ContainSubstring("Password:"))
	})

	It("takes the first admin from the environment when `roster seed` creates it, printing no password", func() {
		db := newTestDatabase()
		clinic := filepath.Join(moduleRoot(), "fixtures", "data", "clinic.json")
		_, errOut, code := runRoster(db.env(append(adminEnv(), "ROSTER_LOG_FORMAT=json")...), "seed", clinic)
		Expect(code).To(Equal(0), errOut)
		Expect(errOut).To(ContainSubstring(`"msg":"bootstrapped"`))
		Expect(errOut).NotTo(ContainSubstring("Password:"))
		p := startRoster(db.env(adminEnv()...))
		p.login(e2eAdminEmail, e2eAdminPassword)
	})
})
