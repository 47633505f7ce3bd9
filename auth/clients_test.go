package auth_test

import (
	"context"
	"net/http"
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
)

var _ = Describe("Client applications", Ordered, ContinueOnFailure, func() {
	h := sharedHarness()
	var admin account
	var clientID, secret string

	BeforeEach(func() {
		admin = h.newAdmin()
		r := h.do("POST", "admin/projects/"+admin.Project+"/client", admin.Token, map[string]any{"name": "Integration", "description": "backend"})
		Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
		created := r.JSON()
		clientID, _ = created["id"].(string)
		secret, _ = created["secret"].(string)
		Expect(clientID).NotTo(BeEmpty())
		Expect(created).To(HaveKeyWithValue("resourceType", "ClientApplication"))
		Expect(created).To(HaveKeyWithValue("name", "Integration"))
	})

	clientCredentials := func(values url.Values, headers ...string) map[string]any {
		GinkgoHelper()
		values.Set("grant_type", "client_credentials")
		r := h.form("oauth2/token", values, headers...)
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		return r.JSON()
	}

	It("answers the secret once, keeps only its hash and gives the client a membership", func() {
		Expect(len(secret)).To(BeNumerically(">=", 32), "at least 128 bits, URL-safe")
		hash, err := h.srv.App.Store.ClientSecretHash(context.Background(), clientID)
		Expect(err).NotTo(HaveOccurred())
		Expect(hash).To(Equal(auth.HashSecret(secret)))
		Expect(hash).NotTo(Equal(secret))

		for _, path := range []string{"fhir/R4/ClientApplication/" + clientID, "fhir/R4/ClientApplication?name=integration",
			"fhir/R4/ClientApplication/" + clientID + "/_history"} {
			r := h.do("GET", path, admin.Token, nil)
			Expect(r.Status).To(Equal(http.StatusOK), path)
			Expect(string(r.Body)).To(ContainSubstring(clientID))
			Expect(string(r.Body)).NotTo(ContainSubstring(secret), path)
			Expect(string(r.Body)).NotTo(ContainSubstring(`"secret"`), path)
		}

		mems := h.do("GET", "fhir/R4/ProjectMembership?user=ClientApplication/"+clientID, admin.Token, nil).JSON()["entry"].([]any)
		Expect(mems).To(HaveLen(1))
		Expect(mems[0].(map[string]any)["resource"]).To(HaveKeyWithValue("project", HaveKeyWithValue("reference", "Project/"+admin.Project)))
	})

	DescribeTable("sign in with client_credentials, the token naming the client",
		func(how string) {
			var tok map[string]any
			if how == "body" {
				tok = clientCredentials(url.Values{"client_id": {clientID}, "client_secret": {secret}})
			} else {
				tok = clientCredentials(url.Values{}, "Authorization", basic(clientID, secret))
			}
			Expect(tok).To(HaveKeyWithValue("token_type", "Bearer"))
			Expect(tok["project"]).To(HaveKeyWithValue("reference", "Project/"+admin.Project))
			Expect(tok["profile"]).To(HaveKeyWithValue("reference", "ClientApplication/"+clientID))
			access := tok["access_token"].(string)
			_, claims := jwtParts(access)
			Expect(claims).To(HaveKeyWithValue("client_id", clientID))

			created := h.do("POST", "fhir/R4/Patient", access, map[string]any{"resourceType": "Patient"})
			Expect(created.Status).To(Equal(http.StatusCreated), string(created.Body))
			Expect(created.JSON()["meta"]).To(HaveKeyWithValue("project", admin.Project))
			me := h.do("GET", "auth/me", access, nil)
			Expect(me.Status).To(Equal(http.StatusOK))
			Expect(me.JSON()["project"]).To(HaveKeyWithValue("id", admin.Project))
			Expect(me.JSON()).NotTo(HaveKey("user"))
		},
		Entry("credentials in the body", "body"),
		Entry("credentials in HTTP Basic", "basic"),
	)

	// RFC 6749 §5.2: after HTTP Basic, invalid_client is a 401 naming the
	// scheme; credentials in the body fail with a 400.
	DescribeTable("refuse wrong client credentials with invalid_client",
		func(valuesFor func() url.Values, headers func() []string, status int, challenge string) {
			values := valuesFor()
			values.Set("grant_type", "client_credentials")
			r := h.form("oauth2/token", values, headers()...)
			expectOAuthError(r, status, "invalid_client")
			Expect(r.Header.Get("WWW-Authenticate")).To(Equal(challenge))
		},
		Entry("a wrong secret in the body", func() url.Values { return url.Values{"client_id": {clientID}, "client_secret": {"wrong"}} },
			func() []string { return nil }, http.StatusBadRequest, ""),
		Entry("an unknown client", func() url.Values {
			return url.Values{"client_id": {"00000000-0000-4000-8000-000000000000"}, "client_secret": {secret}}
		}, func() []string { return nil }, http.StatusBadRequest, ""),
		Entry("a wrong secret in HTTP Basic", func() url.Values { return url.Values{} },
			func() []string { return []string{"Authorization", basic(clientID, secret+"x")} }, http.StatusUnauthorized, auth.BasicChallenge),
		Entry("an unknown client in HTTP Basic", func() url.Values { return url.Values{} },
			func() []string {
				return []string{"Authorization", basic("00000000-0000-4000-8000-000000000000", secret)}
			},
			http.StatusUnauthorized, auth.BasicChallenge),
	)

	It("refuses client_credentials without a secret", func() {
		expectOAuthError(h.form("oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}}),
			http.StatusBadRequest, "invalid_request")
	})

	Describe("Authorization: Basic on API calls", func() {
		It("acts as the client in its project", func() {
			r := h.do("POST", "fhir/R4/Patient", "", map[string]any{"resourceType": "Patient", "gender": "other"},
				"Authorization", basic(clientID, secret))
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
			id := r.JSON()["id"].(string)
			rec, err := h.srv.App.Store.Get(context.Background(), "Patient", id)
			Expect(err).NotTo(HaveOccurred())
			Expect(rec.Project).To(Equal(admin.Project))

			list := h.do("GET", "fhir/R4/Patient?_id="+id, "", nil, "Authorization", basic(clientID, secret))
			Expect(list.Status).To(Equal(http.StatusOK))
			Expect(list.JSON()["entry"]).To(HaveLen(1))
		})

		DescribeTable("refuses wrong credentials with 401",
			func(header func() string) {
				expectOutcome(h.do("GET", "fhir/R4/Patient", "", nil, "Authorization", header()), http.StatusUnauthorized)
			},
			Entry("a wrong secret", func() string { return basic(clientID, "wrong") }),
			Entry("no secret", func() string { return basic(clientID, "") }),
			Entry("an unknown client", func() string { return basic("00000000-0000-4000-8000-000000000000", secret) }),
			Entry("a user's email and password", func() string { return basic(admin.Email, admin.Password) }),
		)
	})

	It("stops the client when its membership is deactivated", func() {
		token := clientCredentials(url.Values{"client_id": {clientID}, "client_secret": {secret}})["access_token"].(string)
		Expect(h.works(token)).To(BeTrue())

		entry := h.do("GET", "fhir/R4/ProjectMembership?user=ClientApplication/"+clientID, admin.Token, nil).JSON()["entry"].([]any)[0]
		m := entry.(map[string]any)["resource"].(map[string]any)
		m["active"] = false
		Expect(h.do("PUT", "fhir/R4/ProjectMembership/"+m["id"].(string), admin.Token, m).Status).To(Equal(http.StatusOK))

		Expect(h.works(token)).To(BeFalse())
		expectOutcome(h.do("GET", "fhir/R4/Patient", "", nil, "Authorization", basic(clientID, secret)), http.StatusUnauthorized)
		expectOAuthError(h.form("oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}),
			http.StatusBadRequest, "invalid_client")
	})

	It("keeps the client in its own project when another project's admin gives it a membership", func() {
		intruder := h.newAdmin()
		prac := h.do("POST", "fhir/R4/Practitioner", intruder.Token, map[string]any{"resourceType": "Practitioner"})
		Expect(prac.Status).To(Equal(http.StatusCreated))
		planted := h.do("POST", "fhir/R4/ProjectMembership", intruder.Token, map[string]any{"resourceType": "ProjectMembership",
			"user":    map[string]any{"reference": "ClientApplication/" + clientID},
			"profile": map[string]any{"reference": "ClientApplication/" + clientID}, "admin": true})
		Expect(planted.Status).To(Equal(http.StatusCreated), string(planted.Body))

		viaBasic := h.do("POST", "fhir/R4/Patient", "", map[string]any{"resourceType": "Patient"}, "Authorization", basic(clientID, secret))
		Expect(viaBasic.Status).To(Equal(http.StatusCreated), string(viaBasic.Body))
		Expect(viaBasic.JSON()["meta"]).To(HaveKeyWithValue("project", admin.Project))

		tok := clientCredentials(url.Values{"client_id": {clientID}, "client_secret": {secret}})
		Expect(tok["project"]).To(HaveKeyWithValue("reference", "Project/"+admin.Project))
		viaToken := h.do("POST", "fhir/R4/Patient", tok["access_token"].(string), map[string]any{"resourceType": "Patient"})
		Expect(viaToken.JSON()["meta"]).To(HaveKeyWithValue("project", admin.Project))

		Expect(h.do("GET", "fhir/R4/Patient", intruder.Token, nil).JSON()).NotTo(HaveKey("entry"))
	})

	It("lets the super admin create a client in any project", func() {
		r := h.do("POST", "admin/projects/"+admin.Project+"/client", h.srv.AdminToken, map[string]any{"name": "By super"})
		Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
		tok := clientCredentials(url.Values{"client_id": {r.JSON()["id"].(string)}, "client_secret": {r.JSON()["secret"].(string)}})
		Expect(tok["project"]).To(HaveKeyWithValue("reference", "Project/"+admin.Project))
	})

	It("answers 404 for a project that does not exist", func() {
		expectOutcome(h.do("POST", "admin/projects/00000000-0000-4000-8000-000000000000/client", h.srv.AdminToken,
			map[string]any{"name": "Nowhere"}), http.StatusNotFound)
	})
})
