package main_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// tokenKID is the kid in an access token's header.
func tokenKID(token string) string {
	GinkgoHelper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	Expect(err).NotTo(HaveOccurred())
	var h struct {
		KID string `json:"kid"`
	}
	Expect(json.Unmarshal(raw, &h)).To(Succeed())
	return h.KID
}

// keyStates runs `roster keys list` and maps each kid to its state column.
func keyStates(env []string) map[string]string {
	GinkgoHelper()
	out, errOut, code := runRoster(env, "keys", "list")
	Expect(code).To(Equal(0), errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	Expect(lines[0]).To(MatchRegexp(`^KID\s+ALG\s+CREATED\s+STATE$`))
	states := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		Expect(len(f)).To(BeNumerically(">=", 4), l)
		states[f[0]] = strings.Join(f[3:], " ")
	}
	return states
}

var _ = Describe("roster keys", func() {
	It("rotates, lists and retires signing keys: old tokens work until their key is retired", func() {
		db := newTestDatabase()
		env := db.env(adminEnv()...)
		addr := fixtures.FreeAddr(GinkgoT())

		p := startRosterAt(env, addr)
		old := p.login(e2eAdminEmail, e2eAdminPassword)
		oldKID := tokenKID(old.token)
		Expect(p.terminate()).To(Equal(0))
		Expect(keyStates(env)).To(Equal(map[string]string{oldKID: "signs"}))

		out, errOut, code := runRoster(env, "keys", "rotate")
		Expect(code).To(Equal(0), errOut)
		newKID := strings.TrimSpace(strings.TrimPrefix(out, "new signing key:"))
		Expect(keyStates(env)).To(Equal(map[string]string{oldKID: "verifies", newKID: "signs"}))

		p = startRosterAt(env, addr)
		Expect(old.do("GET", "auth/me", nil).status).To(Equal(200), "a token of the old key keeps working")
		fresh := p.login(e2eAdminEmail, e2eAdminPassword)
		Expect(tokenKID(fresh.token)).To(Equal(newKID), "new tokens carry the new kid")
		Expect(p.terminate()).To(Equal(0))

		_, errOut, code = runRoster(env, "keys", "retire", newKID)
		Expect(code).NotTo(Equal(0))
		Expect(errOut).To(ContainSubstring("current signing key"))
		_, errOut, code = runRoster(env, "keys", "retire", "no-such-kid")
		Expect(code).NotTo(Equal(0))
		Expect(errOut).To(ContainSubstring("No active signing key"))
		_, errOut, code = runRoster(env, "keys", "retire")
		Expect(code).NotTo(Equal(0))
		Expect(errOut).To(ContainSubstring("usage: roster keys"))

		out, errOut, code = runRoster(env, "keys", "retire", oldKID)
		Expect(code).To(Equal(0), errOut)
		Expect(out).To(ContainSubstring("retired signing key: " + oldKID))
		states := keyStates(env)
		Expect(states[oldKID]).To(HavePrefix("retired "))
		Expect(states[newKID]).To(Equal("signs"))

		p = startRosterAt(env, addr)
		Expect(old.do("GET", "auth/me", nil).status).To(Equal(401), "the retired key's token is refused")
		Expect(fresh.do("GET", "auth/me", nil).status).To(Equal(200))
	})
})
