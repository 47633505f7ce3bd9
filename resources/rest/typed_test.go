package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
)

// rawElement is one top-level element of a JSON object exactly as written
// (compacted), so number precision and key order are compared too.
func rawElement(doc []byte, name string) string {
	GinkgoHelper()
	var m map[string]json.RawMessage
	Expect(json.Unmarshal(doc, &m)).To(Succeed())
	var buf bytes.Buffer
	Expect(json.Compact(&buf, m[name])).To(Succeed())
	return buf.String()
}

var _ = Describe("Typed resources", func() {
	t := freshTenant()

	DescribeTable("reject an unknown element with 400 naming it, creating nothing",
		func(typ, doc, element string) {
			before := resourceIDs(search(t.Token, typ, "_count=100"))
			o := outcome(call("POST", fhir(typ), t.Token, doc), http.StatusBadRequest)
			Expect(issueText(o)).To(ContainSubstring(element))
			Expect(expressions(o)).To(ContainElement(ContainSubstring(element)))
			Expect(resourceIDs(search(t.Token, typ, "_count=100"))).To(Equal(before))
		},
		Entry("at the top level", "Patient", `{"resourceType":"Patient","colour":"blue"}`, "colour"),
		Entry("nested in a datatype", "Patient", `{"resourceType":"Patient","name":[{"family":"X","nickname":"Y"}]}`, "nickname"),
		Entry("differing only in case", "Practitioner", `{"resourceType":"Practitioner","Name":[{"family":"X"}]}`, "Name"),
		Entry("on a backbone element", "RelatedPerson",
			`{"resourceType":"RelatedPerson","patient":{"reference":"Patient/1","weight":3}}`, "weight"),
		Entry("on a Medplum type", "ClientApplication", `{"resourceType":"ClientApplication","name":"x","colour":"red"}`, "colour"),
		Entry("a plain password on a User", "User", `{"resourceType":"User","email":"p@example.com","password":"hunter22"}`, "password"),
	)

	It("keeps extension and modifierExtension exactly as sent, at every level", func() {
		ext := `[{"url":"http://example.org/race","extension":[{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3"}},{"url":"text","valueString":"White"}]},{"url":"http://example.org/weight","valueDecimal":72.50},{"url":"http://example.org/eyes","valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"13031000"}],"text":"blue"}}]`
		modExt := `[{"url":"http://example.org/test-record","valueBoolean":true}]`
		nameExt := `[{"url":"http://hl7.org/fhir/StructureDefinition/humanname-assembly-order","valueCode":"NL1"}]`
		doc := `{"resourceType":"Patient","extension":` + ext + `,"modifierExtension":` + modExt +
			`,"name":[{"family":"Ext","extension":` + nameExt + `}]}`

		r := call("POST", fhir("Patient"), t.Token, doc)
		Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
		id := body(r)["id"].(string)

		read := call("GET", fhir("Patient/"+id), t.Token, nil).Body
		for _, got := range [][]byte{r.Body, read, stored("Patient", id).Content} {
			Expect(rawElement(got, "extension")).To(Equal(ext))
			Expect(rawElement(got, "modifierExtension")).To(Equal(modExt))
			var names []json.RawMessage
			Expect(json.Unmarshal([]byte(rawElement(got, "name")), &names)).To(Succeed())
			Expect(rawElement(names[0], "extension")).To(Equal(nameExt))
		}
	})

	It("keeps extensions on Medplum's types too", func() {
		ext := `[{"url":"https://vendor.example/fields","extension":[{"url":"role","valueString":"nurse"},{"url":"shift","valueInteger":3}]}]`
		doc := `{"resourceType":"Practitioner","extension":` + ext + `}`
		prac := call("POST", fhir("Practitioner"), t.Token, doc)
		Expect(prac.Status).To(Equal(http.StatusCreated))
		user := create(t.Token, map[string]any{"resourceType": "User", "email": "ext-" + t.Project[:8] + "@example.com"})
		m := `{"resourceType":"ProjectMembership","user":{"reference":"User/` + user["id"].(string) + `"},"profile":{"reference":"Practitioner/` +
			body(prac)["id"].(string) + `"},"extension":` + ext + `}`
		r := call("POST", fhir("ProjectMembership"), t.Token, m)
		Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
		Expect(rawElement(stored("ProjectMembership", body(r)["id"].(string)).Content, "extension")).To(Equal(ext))
	})

	It("takes id and meta from the server, not the client", func() {
		other := newTenant()
		doc := patient("Meta", "M")
		doc["id"] = "chosen-by-client"
		doc["meta"] = map[string]any{"versionId": "7", "lastUpdated": "2001-02-03T04:05:06Z", "project": other.Project,
			"tag": []any{map[string]any{"system": "http://example.org/tags", "code": "vip"}}}
		res := create(t.Token, doc)

		Expect(res["id"]).NotTo(Equal("chosen-by-client"))
		m := meta(res)
		Expect(m).To(HaveKeyWithValue("versionId", "1"))
		Expect(m).To(HaveKeyWithValue("project", t.Project))
		lu, err := time.Parse(time.RFC3339Nano, m["lastUpdated"].(string))
		Expect(err).NotTo(HaveOccurred())
		Expect(lu).To(BeTemporally("~", time.Now(), time.Minute))
		Expect(m["tag"]).To(ConsistOf(HaveKeyWithValue("code", "vip")), "client tags are kept")

		Expect(exists("Patient", "chosen-by-client")).To(BeFalse())
		Expect(stored("Patient", res["id"].(string)).Project).To(Equal(t.Project))
		Expect(resourceIDs(search(other.Token, "Patient", "family=meta"))).To(BeEmpty())
	})

	DescribeTable("reject server-owned secrets with 400 naming them",
		func(typ, doc, element string) {
			o := outcome(call("POST", fhir(typ), t.Token, doc), http.StatusBadRequest)
			Expect(expressions(o)).To(ContainElement(element))
		},
		Entry("User.passwordHash", "User", `{"resourceType":"User","email":"h@example.com","passwordHash":"$2a$10$abcdefghijklmnopqrstuv"}`, "passwordHash"),
		Entry("User.mfaSecret", "User", `{"resourceType":"User","email":"m@example.com","mfaSecret":"JBSWY3DPEHPK3PXP"}`, "mfaSecret"),
		Entry("ClientApplication.secret", "ClientApplication", `{"resourceType":"ClientApplication","name":"c","secret":"s3cr3t"}`, "secret"),
		Entry("ClientApplication.retiringSecret", "ClientApplication", `{"resourceType":"ClientApplication","name":"c","retiringSecret":"old"}`, "retiringSecret"),
	)

	It("refuses a secret on update as well, leaving the resource unchanged", func() {
		user := create(t.Token, map[string]any{"resourceType": "User", "email": "upd-" + t.Project[:8] + "@example.com"})
		id := user["id"].(string)
		user["passwordHash"] = "$2a$10$abcdefghijklmnopqrstuv"
		o := outcome(call("PUT", fhir("User/"+id), t.Token, user), http.StatusBadRequest)
		Expect(expressions(o)).To(ContainElement("passwordHash"))
		Expect(stored("User", id).Version).To(BeEquivalentTo(1))
		_, err := srv.App.Store.PasswordHash(context.Background(), id)
		Expect(err).To(HaveOccurred(), "no password was set")
	})

	It("never answers with a password hash or a client secret", func() {
		users := resourceIDs(search(t.Token, "User", "email="+t.Email))
		Expect(users).To(HaveLen(1))
		userID := users[0]
		hash, err := srv.App.Store.PasswordHash(context.Background(), userID)
		Expect(err).NotTo(HaveOccurred())
		Expect(hash).NotTo(BeEmpty())

		created := call("POST", "admin/projects/"+t.Project+"/client", t.Token, map[string]any{"name": "Leaky"})
		Expect(created.Status).To(Equal(http.StatusCreated), string(created.Body))
		client := body(created)
		clientID, secret := client["id"].(string), client["secret"].(string)
		Expect(secret).NotTo(BeEmpty(), "the secret is answered once, at creation")

		membership := resourceIDs(search(t.Token, "ProjectMembership", "user=User/"+userID))[0]
		paths := []string{
			fhir("User/" + userID), fhir("User?email=" + t.Email), fhir("User/" + userID + "/_history"), fhir("User/_history"),
			fhir("User/" + userID + "/_history/1"), fhir("ProjectMembership/" + membership), fhir("ProjectMembership?_count=100"),
			fhir("ClientApplication/" + clientID), fhir("ClientApplication?name=leaky"), fhir("ClientApplication/" + clientID + "/_history"),
			fhir("ClientApplication/_history"), "auth/me",
		}
		bodies := map[string][]byte{}
		for _, p := range paths {
			r := call("GET", p, t.Token, nil)
			Expect(r.Status).To(Equal(http.StatusOK), "%s: %s", p, r.Body)
			bodies[p] = r.Body
		}
		batch := call("POST", "fhir/R4/", t.Token, bundleOf("batch",
			entry("GET", "User/"+userID, nil, ""), entry("GET", "ClientApplication/"+clientID, nil, ""),
			entry("GET", "User?_count=100", nil, "")))
		Expect(batch.Status).To(Equal(http.StatusOK))
		bodies["batch"] = batch.Body
		clientToken := call("POST", "oauth2/token", "", "grant_type=client_credentials&client_id="+clientID+"&client_secret="+secret,
			"Content-Type", "application/x-www-form-urlencoded")
		Expect(clientToken.Status).To(Equal(http.StatusOK), string(clientToken.Body))
		bodies["token"] = clientToken.Body

		for p, b := range bodies {
			s := string(b)
			Expect(s).NotTo(ContainSubstring(hash), p)
			Expect(s).NotTo(ContainSubstring("$2a$"), p)
			Expect(s).NotTo(ContainSubstring("$2b$"), p)
			Expect(s).NotTo(ContainSubstring(secret), p)
			Expect(s).NotTo(ContainSubstring(auth.HashSecret(secret)), p)
			Expect(s).NotTo(ContainSubstring("passwordHash"), p)
			Expect(s).NotTo(ContainSubstring(`"secret"`), p)
		}
		Expect(bodies["auth/me"]).To(ContainSubstring(userID), "the scan looked at the user")
		Expect(bodies[fhir("ClientApplication/"+clientID)]).To(ContainSubstring("Leaky"), "the scan looked at the client")
	})
})
