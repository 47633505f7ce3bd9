package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Access tokens", Ordered, ContinueOnFailure, func() {
	h := sharedHarness()
	var acct account
	var realKey *ecdsa.PrivateKey
	var realKID string

	BeforeAll(func() {
		keys, err := h.srv.App.Store.SigningKeys(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Expect(keys).To(HaveLen(1), "one key, generated once and kept in the database")
		block, _ := pem.Decode([]byte(keys[0].PrivatePEM))
		Expect(block).NotTo(BeNil())
		realKey, err = x509.ParseECPrivateKey(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
		realKID = keys[0].KID
	})

	BeforeEach(func() {
		acct = h.newAdmin()
	})

	// claimsOf are the claims of the account's genuine token.
	claimsOf := func() jwt.MapClaims {
		_, c := jwtParts(acct.Token)
		return jwt.MapClaims(c)
	}
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
		GinkgoHelper()
		t := jwt.NewWithClaims(method, claims)
		for k, v := range header {
			t.Header[k] = v
		}
		s, err := t.SignedString(key)
		Expect(err).NotTo(HaveOccurred())
		return s
	}
	withReal := func(edit func(jwt.MapClaims), header map[string]any) string {
		c := claimsOf()
		if edit != nil {
			edit(c)
		}
		hd := map[string]any{"kid": realKID}
		for k, v := range header {
			hd[k] = v
		}
		return sign(jwt.SigningMethodES256, realKey, c, hd)
	}

	It("carries the Medplum claims and the database key's kid", func() {
		header, claims := jwtParts(acct.Token)
		Expect(header).To(HaveKeyWithValue("alg", "ES256"))
		Expect(header).To(HaveKeyWithValue("kid", realKID))
		Expect(claims).To(HaveKeyWithValue("iss", h.srv.URL))
		Expect(claims).To(HaveKey("aud"))
		Expect(claims).To(HaveKey("exp"))
		Expect(claims).To(HaveKey("login_id"))
		Expect(claims).To(HaveKeyWithValue("sub", acct.UserID))
		Expect(claims).To(HaveKeyWithValue("profile", HavePrefix("Practitioner/")))
	})

	It("accepts the same claims re-signed with the real key (the control for the tampering below)", func() {
		Expect(h.works(withReal(nil, nil))).To(BeTrue())
	})

	DescribeTable("refuses a tampered token with 401",
		func(forge func() string) {
			token := forge()
			expectOutcome(h.do("GET", "auth/me", token, nil), http.StatusUnauthorized)
			expectOutcome(h.do("GET", "fhir/R4/Patient", token, nil), http.StatusUnauthorized)
			Expect(h.works(acct.Token)).To(BeTrue(), "the genuine token is untouched")
		},
		Entry("alg none", func() string {
			return sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claimsOf(), map[string]any{"kid": realKID})
		}),
		Entry("HS256 keyed with the public key's bytes", func() string {
			der, err := x509.MarshalPKIXPublicKey(&realKey.PublicKey)
			Expect(err).NotTo(HaveOccurred())
			pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			return sign(jwt.SigningMethodHS256, pub, claimsOf(), map[string]any{"kid": realKID})
		}),
		Entry("HS256 keyed with the JWKS entry", func() string {
			raw := h.do("GET", ".well-known/jwks.json", "", nil).Body
			return sign(jwt.SigningMethodHS256, raw, claimsOf(), map[string]any{"kid": realKID})
		}),
		Entry("another ES256 key under the real kid", func() string {
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			Expect(err).NotTo(HaveOccurred())
			return sign(jwt.SigningMethodES256, other, claimsOf(), map[string]any{"kid": realKID})
		}),
		Entry("an unknown kid", func() string { return withReal(nil, map[string]any{"kid": "not-a-key"}) }),
		Entry("no kid", func() string {
			return sign(jwt.SigningMethodES256, realKey, claimsOf(), nil)
		}),
		Entry("expired", func() string {
			return withReal(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, nil)
		}),
		Entry("no exp", func() string { return withReal(func(c jwt.MapClaims) { delete(c, "exp") }, nil) }),
		Entry("not valid yet (nbf)", func() string {
			return withReal(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }, nil)
		}),
		Entry("the wrong iss", func() string {
			return withReal(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" }, nil)
		}),
		Entry("no iss", func() string { return withReal(func(c jwt.MapClaims) { delete(c, "iss") }, nil) }),
		Entry("the wrong aud", func() string {
			return withReal(func(c jwt.MapClaims) { c["aud"] = []string{"https://evil.example/"} }, nil)
		}),
		Entry("no aud", func() string { return withReal(func(c jwt.MapClaims) { delete(c, "aud") }, nil) }),
		Entry("a jku header", func() string {
			return withReal(nil, map[string]any{"jku": "https://evil.example/jwks.json"})
		}),
		Entry("a jwk header", func() string {
			return withReal(nil, map[string]any{"jwk": map[string]any{"kty": "EC", "crv": "P-256",
				"x": jwkCoord(realKey.X), "y": jwkCoord(realKey.Y)}})
		}),
		Entry("a jwk header carrying the forger's own key", func() string {
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			Expect(err).NotTo(HaveOccurred())
			return sign(jwt.SigningMethodES256, other, claimsOf(), map[string]any{"jwk": map[string]any{"kty": "EC", "crv": "P-256",
				"x": jwkCoord(other.X), "y": jwkCoord(other.Y)}})
		}),
		Entry("an x5u header", func() string { return withReal(nil, map[string]any{"x5u": "https://evil.example/cert.pem"}) }),
		Entry("a payload changed after signing", func() string {
			genuine := withReal(nil, nil)
			other := withReal(func(c jwt.MapClaims) { c["sub"] = "someone-else" }, nil)
			edited, sig := strings.Split(other, "."), strings.Split(genuine, ".")
			return edited[0] + "." + edited[1] + "." + sig[2]
		}),
		Entry("no login_id", func() string { return withReal(func(c jwt.MapClaims) { delete(c, "login_id") }, nil) }),
		Entry("the login_id of no login", func() string {
			return withReal(func(c jwt.MapClaims) { c["login_id"] = "00000000-0000-4000-8000-000000000000" }, nil)
		}),
	)

	It("takes the caller from the database, not from the token's claims", func() {
		// A genuine signature over edited claims must not change who acts.
		forged := withReal(func(c jwt.MapClaims) { c["sub"] = "someone-else"; c["profile"] = "Practitioner/someone-else" }, nil)
		r := h.do("GET", "auth/me", forged, nil)
		Expect(r.Status).To(Equal(http.StatusOK))
		Expect(r.JSON()["user"]).To(HaveKeyWithValue("id", acct.UserID))
	})

	It("publishes the signing key at /.well-known/jwks.json", func() {
		r := h.do("GET", ".well-known/jwks.json", "", nil)
		Expect(r.Status).To(Equal(http.StatusOK))
		keys := r.JSON()["keys"].([]any)
		Expect(keys).To(HaveLen(1))
		jwk := keys[0].(map[string]any)
		header, _ := jwtParts(acct.Token)
		Expect(jwk).To(HaveKeyWithValue("kid", header["kid"]))
		Expect(jwk).To(HaveKeyWithValue("kty", "EC"))
		Expect(jwk).To(HaveKeyWithValue("crv", "P-256"))
		Expect(jwk).To(HaveKeyWithValue("alg", "ES256"))
		Expect(jwk).NotTo(HaveKey("d"), "never the private part")

		pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: jwkInt(jwk["x"].(string)), Y: jwkInt(jwk["y"].(string))}
		parsed, err := jwt.Parse(acct.Token, func(*jwt.Token) (any, error) { return pub, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(h.srv.URL))
		Expect(err).NotTo(HaveOccurred())
		Expect(parsed.Valid).To(BeTrue())
	})
})

func jwkCoord(n *big.Int) string {
	return base64.RawURLEncoding.EncodeToString(n.FillBytes(make([]byte, 32)))
}

func jwkInt(s string) *big.Int {
	GinkgoHelper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	Expect(err).NotTo(HaveOccurred())
	return new(big.Int).SetBytes(b)
}
