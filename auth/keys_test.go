package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
)

var _ = Describe("Signing key rotation and retirement", Ordered, func() {
	h := sharedHarness()
	var keys *auth.Keys
	ctx := context.Background()

	BeforeAll(func() {
		keys = h.srv.App.Auth.Keys()
	})

	kidOf := func(token string) string {
		GinkgoHelper()
		header, _ := jwtParts(token)
		return header["kid"].(string)
	}
	// resignAdmin signs the fixture admin in again: its token was signed
	// with a key a spec retired.
	resignAdmin := func() {
		GinkgoHelper()
		tok, err := h.srv.Login(fixtures.AdminEmail, fixtures.AdminPassword)
		Expect(err).NotTo(HaveOccurred())
		h.srv.AdminToken = tok
	}
	jwksKids := func() []string {
		GinkgoHelper()
		var out []string
		for _, k := range h.do("GET", ".well-known/jwks.json", "", nil).JSON()["keys"].([]any) {
			out = append(out, k.(map[string]any)["kid"].(string))
		}
		return out
	}

	It("keeps old tokens valid after a rotation, signs new ones with the new key, and refuses them once the old key is retired", func() {
		acct := h.newAdmin()
		oldKID := kidOf(acct.Token)
		newKID, err := keys.Rotate(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(newKID).NotTo(Equal(oldKID))

		Expect(h.works(acct.Token)).To(BeTrue(), "a token of the old key still works")
		fresh := h.signIn(acct.Email, acct.Password)["access_token"].(string)
		Expect(kidOf(fresh)).To(Equal(newKID), "new tokens carry the new kid")
		Expect(jwksKids()).To(ConsistOf(oldKID, newKID))

		list, err := keys.List(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(list).To(HaveLen(2))
		Expect(list[0].KID).To(Equal(oldKID))
		Expect(list[1].KID).To(Equal(newKID))
		Expect(list[1].Current).To(BeTrue())

		Expect(keys.Retire(ctx, oldKID)).To(Succeed())
		Expect(h.works(acct.Token)).To(BeFalse(), "a retired key verifies nothing")
		expectOutcome(h.do("GET", "fhir/R4/Patient", acct.Token, nil), http.StatusUnauthorized)
		Expect(h.works(fresh)).To(BeTrue())
		Expect(jwksKids()).To(ConsistOf(newKID), "a retired key is no longer published")

		list, err = keys.List(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(list[0].RetiredAt).NotTo(BeZero())
		Expect(h.works(h.srv.AdminToken)).To(BeFalse())
		resignAdmin()
	})

	It("refuses to retire the current signing key, or a key that is not active", func() {
		list, err := keys.List(ctx)
		Expect(err).NotTo(HaveOccurred())
		var current, retired string
		for _, k := range list {
			if k.Current {
				current = k.KID
			}
			if !k.RetiredAt.IsZero() {
				retired = k.KID
			}
		}
		Expect(keys.Retire(ctx, current)).To(MatchError(ContainSubstring("current signing key")))
		Expect(keys.Retire(ctx, retired)).To(MatchError(ContainSubstring("No active signing key")))
		Expect(keys.Retire(ctx, "no-such-key")).To(MatchError(ContainSubstring("No active signing key")))
		acct := h.newAdmin()
		Expect(h.works(acct.Token)).To(BeTrue(), "Roster still signs and verifies")
	})

	It("makes another process drop a retired key and sign with a rotated one (within the reload interval)", func() {
		saved := auth.KeyReloadInterval
		auth.KeyReloadInterval = 0 // every use re-reads, as after the interval
		DeferCleanup(func() { auth.KeyReloadInterval = saved })
		acct := h.newAdmin()
		oldKID := kidOf(acct.Token)

		// Another process's view of the same database.
		other, err := auth.NewKeys(ctx, h.srv.App.Store, h.srv.URL)
		Expect(err).NotTo(HaveOccurred())
		newKID, err := other.Rotate(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(other.Retire(ctx, oldKID)).To(Succeed())

		Expect(h.works(acct.Token)).To(BeFalse())
		fresh := h.signIn(acct.Email, acct.Password)["access_token"].(string)
		Expect(kidOf(fresh)).To(Equal(newKID))
		Expect(h.works(fresh)).To(BeTrue())
		resignAdmin()
	})
})

var _ = Describe("Key reference headers", func() {
	It("are refused with 401 and never fetched", func() {
		h := startHarness()
		acct := h.newAdmin()
		var hits atomic.Int32
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"keys":[]}`))
		}))
		DeferCleanup(evil.Close)

		keys, err := h.srv.App.Store.SigningKeys(context.Background())
		Expect(err).NotTo(HaveOccurred())
		block, _ := pem.Decode([]byte(keys[0].PrivatePEM))
		real, err := x509.ParseECPrivateKey(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
		_, claims := jwtParts(acct.Token)
		for _, header := range []map[string]any{
			{"jku": evil.URL + "/jwks.json"},
			{"jku": evil.URL + "/jwks.json", "kid": "evil-key"},
			{"x5u": evil.URL + "/cert.pem"},
			{"jwk": map[string]any{"kty": "EC", "crv": "P-256", "x": jwkCoord(real.X), "y": jwkCoord(real.Y)}},
		} {
			t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(claims))
			t.Header["kid"] = keys[0].KID
			for k, v := range header {
				t.Header[k] = v
			}
			signed, err := t.SignedString(real)
			Expect(err).NotTo(HaveOccurred())
			expectOutcome(h.do("GET", "auth/me", signed, nil), http.StatusUnauthorized)
		}
		Consistently(hits.Load, 200*time.Millisecond).Should(BeZero(), "no outbound request to the URL a token names")
		Expect(h.works(acct.Token)).To(BeTrue())
	})
})

var _ = Describe("A password change or reset", func() {
	It("ends every existing login of the user: access and refresh tokens", func() {
		env := unthrottled()
		h := &harness{srv: env.srv}
		first := h.signIn(env.email, env.password)
		second := h.signIn(env.email, env.password)

		r := env.do("POST", "auth/changepassword", first["access_token"].(string),
			map[string]string{"oldPassword": env.password, "newPassword": "plum-orchard-lantern-42"}, "Content-Type", "application/json")
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		Expect(h.works(second["access_token"].(string))).To(BeFalse())
		expectOAuthError(h.form("oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second["refresh_token"].(string)}}),
			http.StatusBadRequest, "invalid_grant")

		// The reset mailed to the user ends the rest, the changing login too.
		Expect(env.do("POST", "auth/resetpassword", "", map[string]string{"email": env.email}).Status).To(Equal(http.StatusOK))
		msgs, err := env.srv.App.Store.ListMail(context.Background(), env.project, 10)
		Expect(err).NotTo(HaveOccurred())
		Expect(msgs).NotTo(BeEmpty())
		m := regexp.MustCompile(`setpassword/([0-9a-f-]+)/([A-Za-z0-9_-]+)`).FindStringSubmatch(msgs[0].Text)
		Expect(m).NotTo(BeNil())
		Expect(env.setPassword(m[1], m[2], "quartz-meadow-violin-7").Status).To(Equal(http.StatusOK))
		Expect(h.works(first["access_token"].(string))).To(BeFalse())
		expectOAuthError(h.form("oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}),
			http.StatusBadRequest, "invalid_grant")
		_, err = env.srv.Login(env.email, "quartz-meadow-violin-7")
		Expect(err).NotTo(HaveOccurred())
	})
})
