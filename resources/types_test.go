package resources_test

import (
	"encoding/json"
	"errors"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/resources"
)

const patientJSON = `{
  "resourceType": "Patient",
  "id": "pat-1",
  "meta": {
    "versionId": "3",
    "lastUpdated": "2024-05-01T10:00:00.000Z",
    "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"],
    "tag": [{"system": "http://example.org/tags", "code": "vip", "display": "VIP"}],
    "project": "b1a0a2c4-0000-4000-8000-000000000001"
  },
  "language": "en-AU",
  "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter Chalmers</div>"},
  "extension": [
    {
      "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
      "extension": [
        {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3", "display": "White"}},
        {"url": "detailed", "extension": [{"url": "note", "valueString": "nested twice"}]},
        {"url": "text", "valueString": "White"}
      ]
    },
    {
      "url": "http://example.org/fhir/StructureDefinition/eye-colour",
      "valueCodeableConcept": {
        "coding": [{"system": "http://snomed.info/sct", "code": "13031000", "display": "Blue"}],
        "text": "blue"
      }
    }
  ],
  "modifierExtension": [{"url": "http://example.org/fhir/StructureDefinition/test-record", "valueBoolean": true}],
  "identifier": [{
    "use": "usual",
    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
    "system": "urn:oid:1.2.36.146.595.217.0.1",
    "value": "12345",
    "period": {"start": "2001-05-06"},
    "assigner": {"display": "Acme Healthcare"}
  }],
  "active": true,
  "name": [
    {
      "id": "n1",
      "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/humanname-assembly-order", "valueCode": "NL1"}],
      "use": "official",
      "family": "Chalmers",
      "given": ["Peter", "James"],
      "prefix": ["Mr."],
      "suffix": ["Jr."],
      "period": {"start": "1974-12-25", "end": "2030-01-01"}
    },
    {"use": "usual", "text": "Jim"}
  ],
  "telecom": [
    {"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1},
    {"system": "email", "value": "peter@example.org", "rank": 0}
  ],
  "gender": "male",
  "birthDate": "1974-12-25",
  "deceasedBoolean": false,
  "address": [{
    "use": "home",
    "type": "both",
    "text": "534 Erewhon St PeasantVille, Rainbow, Vic  3999",
    "line": ["534 Erewhon St", "Unit 2"],
    "city": "PleasantVille",
    "district": "Rainbow",
    "state": "Vic",
    "postalCode": "3999",
    "country": "AU",
    "period": {"start": "1974-12-25"}
  }],
  "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "userSelected": false}]},
  "multipleBirthInteger": 2,
  "photo": [{"contentType": "image/png", "url": "https://example.org/photo.png", "size": 1024, "title": "Portrait", "creation": "2020-01-01"}],
  "contact": [{
    "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}],
    "name": {"family": "du Marché", "given": ["Bénédicte"]},
    "telecom": [{"system": "phone", "value": "+33 (237) 998327"}],
    "address": {"line": ["534 Erewhon St"], "city": "PleasantVille"},
    "gender": "female",
    "organization": {"reference": "Organization/1", "display": "Walt Disney Corporation"},
    "period": {"start": "2012"}
  }],
  "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-AU"}]}, "preferred": true}],
  "generalPractitioner": [{"reference": "Practitioner/pr-1", "type": "Practitioner", "display": "Dr Adam Careful"}],
  "managingOrganization": {"reference": "Organization/1"},
  "link": [{"other": {"reference": "Patient/pat-2"}, "type": "seealso"}]
}`

const practitionerJSON = `{
  "resourceType": "Practitioner",
  "id": "pr-1",
  "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
  "active": false,
  "name": [{"family": "Careful", "given": ["Adam"], "prefix": ["Dr"]}],
  "telecom": [{"system": "phone", "value": "+1 555 0100", "use": "work"}],
  "address": [{"use": "work", "line": ["1 Main St"], "city": "Springfield", "state": "IL", "postalCode": "62701", "country": "US"}],
  "gender": "male",
  "birthDate": "1970-01-01",
  "photo": [{"contentType": "image/jpeg", "data": "/9j/4AAQSkZJRgABAQ==", "hash": "2jmj7l5rSw0yVb/vlWAYkK/YBwk="}],
  "qualification": [{
    "identifier": [{"system": "http://example.org/UniversityIdentifier", "value": "12345"}],
    "code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0360/2.7", "code": "BS", "display": "Bachelor of Science"}], "text": "Bachelor of Science"},
    "period": {"start": "1995"},
    "issuer": {"display": "Example University"}
  }],
  "communication": [{"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}]
}`

const relatedPersonJSON = `{
  "resourceType": "RelatedPerson",
  "id": "rp-1",
  "active": true,
  "patient": {"reference": "Patient/pat-1"},
  "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "WIFE"}]}],
  "name": [{"family": "Chalmers", "given": ["Jane"]}],
  "telecom": [{"system": "phone", "value": "+61 3 5555 0000", "use": "mobile"}],
  "gender": "female",
  "birthDate": "1976-03-12",
  "address": [{"line": ["534 Erewhon St"], "city": "PleasantVille"}],
  "photo": [{"url": "https://example.org/jane.png"}],
  "period": {"start": "2000-01-01"},
  "communication": [{"language": {"text": "English"}, "preferred": false}]
}`

const projectJSON = `{
  "resourceType": "Project",
  "id": "proj-1",
  "identifier": [{"system": "https://roster.example/project", "value": "acme"}],
  "name": "Acme Clinic",
  "description": "Production tenant for Acme",
  "superAdmin": false,
  "strictMode": true,
  "checkReferencesOnWrite": true,
  "owner": {"reference": "User/u-1", "display": "Alice Admin"},
  "features": ["bots", "email"],
  "defaultPatientAccessPolicy": {"reference": "AccessPolicy/ap-1"},
  "setting": [
    {"name": "theme", "valueString": "dark"},
    {"name": "beta", "valueBoolean": false},
    {"name": "ratio", "valueDecimal": 1.50},
    {"name": "limit", "valueInteger": 0}
  ],
  "systemSetting": [{"name": "rateLimit", "valueInteger": 1000}],
  "systemSecret": [{"name": "apiKey", "valueString": "abc"}],
  "site": [{
    "name": "Portal",
    "domain": ["portal.acme.example", "acme.example"],
    "googleClientId": "google-client",
    "googleClientSecret": "google-secret",
    "recaptchaSiteKey": "site-key",
    "recaptchaSecretKey": "secret-key"
  }],
  "link": [{"project": {"reference": "Project/shared"}}],
  "defaultProfile": [{"resourceType": "Patient", "profile": ["http://example.org/StructureDefinition/acme-patient"]}],
  "exportedResourceType": ["Questionnaire"]
}`

const userJSON = `{
  "resourceType": "User",
  "id": "u-1",
  "meta": {"versionId": "1", "lastUpdated": "2024-01-01T00:00:00Z", "author": {"reference": "system"}},
  "identifier": [{"system": "https://idp.example", "value": "alice"}],
  "firstName": "Alice",
  "lastName": "Admin",
  "externalId": "ext-42",
  "email": "alice@example.org",
  "emailVerified": true,
  "admin": false,
  "mfaRequired": false,
  "mfaEnrolled": true,
  "project": {"reference": "Project/proj-1"}
}`

const membershipJSON = `{
  "resourceType": "ProjectMembership",
  "id": "pm-1",
  "identifier": [{"system": "https://roster.example/membership", "value": "m-1"}],
  "active": true,
  "project": {"reference": "Project/proj-1"},
  "invitedBy": {"reference": "User/u-0"},
  "user": {"reference": "User/u-1", "display": "alice@example.org"},
  "profile": {"reference": "Practitioner/pr-1", "display": "Dr Adam Careful"},
  "userName": "alice",
  "externalId": "scim-7",
  "accessPolicy": {"reference": "AccessPolicy/ap-1"},
  "access": [{
    "policy": {"reference": "AccessPolicy/ap-2"},
    "parameter": [
      {"name": "organization", "valueReference": {"reference": "Organization/org-1"}},
      {"name": "region", "valueString": "north"}
    ]
  }],
  "userConfiguration": {"reference": "UserConfiguration/uc-1"},
  "admin": true
}`

const clientApplicationJSON = `{
  "resourceType": "ClientApplication",
  "id": "ca-1",
  "status": "active",
  "name": "Scheduler",
  "description": "Back-office scheduler",
  "signInForm": {"welcomeString": "Welcome to Acme", "logo": {"contentType": "image/svg+xml", "url": "https://acme.example/logo.svg"}},
  "jwksUri": "https://scheduler.example/.well-known/jwks.json",
  "redirectUri": "https://scheduler.example/callback",
  "redirectUris": ["https://scheduler.example/callback", "http://localhost:3000/callback"],
  "launchUri": "https://scheduler.example/launch",
  "pkceOptional": false,
  "identityProvider": {
    "authorizeUrl": "https://idp.example/authorize",
    "tokenUrl": "https://idp.example/token",
    "tokenAuthMethod": "client_secret_post",
    "userInfoUrl": "https://idp.example/userinfo",
    "clientId": "idp-client",
    "clientSecret": "idp-secret",
    "usePkce": true,
    "useSubject": false
  },
  "accessTokenLifetime": "1h",
  "refreshTokenLifetime": "2w",
  "allowedOrigin": ["https://scheduler.example"],
  "defaultScope": ["openid", "patient/*.read"]
}`

const accessPolicyJSON = `{
  "resourceType": "AccessPolicy",
  "id": "ap-1",
  "name": "Clinician",
  "basedOn": [{"reference": "AccessPolicy/base"}],
  "compartment": {"reference": "Organization/org-1"},
  "resource": [
    {
      "resourceType": "Patient",
      "criteria": "Patient?organization=%organization",
      "readonly": false,
      "interaction": ["read", "search", "update"],
      "hiddenFields": ["address"],
      "readonlyFields": ["identifier"],
      "writeConstraint": [{"language": "text/fhirpath", "expression": "%before.exists() implies %after.gender = %before.gender"}]
    },
    {"resourceType": "Observation", "compartment": {"reference": "Patient/pat-1"}, "readonly": true}
  ],
  "ipAccessRule": [
    {"name": "office", "value": "10.0.0.0/8", "action": "allow"},
    {"name": "everyone else", "value": "*", "action": "block"}
  ]
}`

// decode decodes body into into and returns the *DecodeError it failed with.
func decodeError(body string, into resources.Resource) *resources.DecodeError {
	err := resources.Decode([]byte(body), into)
	ExpectWithOffset(1, err).To(HaveOccurred())
	var de *resources.DecodeError
	ExpectWithOffset(1, errors.As(err, &de)).To(BeTrue(), "error %v is not a *DecodeError", err)
	return de
}

var _ = Describe("Resource types", func() {
	DescribeTable("round-trip a realistic resource unchanged",
		func(body string, into resources.Resource) {
			Expect(resources.Decode([]byte(body), into)).To(Succeed())
			out, err := json.Marshal(into)
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(MatchJSON(body))
		},
		Entry("Patient", patientJSON, &resources.Patient{}),
		Entry("Practitioner", practitionerJSON, &resources.Practitioner{}),
		Entry("RelatedPerson", relatedPersonJSON, &resources.RelatedPerson{}),
		Entry("Project", projectJSON, &resources.Project{}),
		Entry("User", userJSON, &resources.User{}),
		Entry("ProjectMembership", membershipJSON, &resources.ProjectMembership{}),
		Entry("ClientApplication", clientApplicationJSON, &resources.ClientApplication{}),
		Entry("AccessPolicy", accessPolicyJSON, &resources.AccessPolicy{}),
	)

	It("decodes into the typed fields the rest of the server uses", func() {
		p := &resources.Patient{}
		Expect(resources.Decode([]byte(patientJSON), p)).To(Succeed())
		Expect(p.Base().ResourceType).To(Equal("Patient"))
		Expect(p.Base().ID).To(Equal("pat-1"))
		Expect(p.Active).To(HaveValue(BeTrue()))
		Expect(p.DeceasedBoolean).To(HaveValue(BeFalse()))
		Expect(p.MultipleBirthInteger).To(HaveValue(Equal(2)))
		Expect(p.Name[0].Given).To(Equal([]string{"Peter", "James"}))
		Expect(p.Telecom[1].Rank).To(HaveValue(Equal(0)))
		Expect(p.Gender).To(Equal("male"))
		Expect(p.BirthDate).To(Equal("1974-12-25"))

		m := &resources.ProjectMembership{}
		Expect(resources.Decode([]byte(membershipJSON), m)).To(Succeed())
		Expect(m.Project.Reference).To(Equal("Project/proj-1"))
		Expect(m.Access[0].Policy.Reference).To(Equal("AccessPolicy/ap-2"))
		Expect(m.Access[0].Parameter[0].ValueReference.Reference).To(Equal("Organization/org-1"))
		Expect(m.ExternalID).To(Equal("scim-7"))

		ap := &resources.AccessPolicy{}
		Expect(resources.Decode([]byte(accessPolicyJSON), ap)).To(Succeed())
		Expect(ap.IPAccessRule).To(HaveLen(2))
		Expect(ap.Resource[0].WriteConstraint[0].Language).To(Equal("text/fhirpath"))
	})

	It("keeps extensions exactly as sent, including nested extensions and valueCodeableConcept", func() {
		p := &resources.Patient{}
		Expect(resources.Decode([]byte(patientJSON), p)).To(Succeed())
		var colour map[string]any
		Expect(resources.ExtensionValue(p.Extension, "http://example.org/fhir/StructureDefinition/eye-colour", "valueCodeableConcept", &colour)).To(BeTrue())
		Expect(colour).To(HaveKeyWithValue("text", "blue"))

		out, err := json.Marshal(p)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(ContainSubstring(
			`{"url":"detailed","extension":[{"url":"note","valueString":"nested twice"}]}`))
		Expect(string(out)).To(ContainSubstring(
			`"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"13031000","display":"Blue"}],"text":"blue"}`))
	})

	It("keeps a decimal's precision and leaves out absent required references", func() {
		body := `{"resourceType":"Project","setting":[{"name":"ratio","valueDecimal":1.50},{"name":"big","valueDecimal":12345678901234567890.000001}]}`
		pr := &resources.Project{}
		Expect(resources.Decode([]byte(body), pr)).To(Succeed())
		out, err := json.Marshal(pr)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(Equal(body))

		out, err = json.Marshal(&resources.RelatedPerson{DomainResource: resources.DomainResource{ResourceType: "RelatedPerson"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(Equal(`{"resourceType":"RelatedPerson"}`))
	})

	Describe("Decode rejects", func() {
		It("an unknown top-level element, naming it", func() {
			de := decodeError(`{"resourceType":"Patient","foo":1}`, &resources.Patient{})
			Expect(de.Element).To(Equal("foo"))
			Expect(de.Error()).To(HavePrefix("foo: "))
		})

		It("an unknown nested element, naming it", func() {
			de := decodeError(`{"resourceType":"Patient","name":[{"family":"Doe","bar":true}]}`, &resources.Patient{})
			Expect(de.Element).To(Equal("bar"))

			de = decodeError(`{"resourceType":"ProjectMembership","access":[{"policy":{"reference":"AccessPolicy/1","baz":1}}]}`, &resources.ProjectMembership{})
			Expect(de.Element).To(Equal("baz"))

			de = decodeError(`{"resourceType":"Patient","meta":{"versionId":"1","qux":"x"}}`, &resources.Patient{})
			Expect(de.Element).To(Equal("qux"))
		})

		It("an element whose name differs only in case", func() {
			de := decodeError(`{"resourceType":"Patient","Gender":"male"}`, &resources.Patient{})
			Expect(de.Element).To(Equal("Gender"))
			de = decodeError(`{"resourceType":"Patient","name":[{"Family":"Doe"}]}`, &resources.Patient{})
			Expect(de.Element).To(Equal("Family"))
		})

		DescribeTable("server-owned elements",
			func(body, element string, into resources.Resource) {
				de := decodeError(body, into)
				Expect(de.Element).To(Equal(element))
				Expect(de.Message).To(Equal(element + " is server-owned and cannot be set"))
			},
			Entry("User.passwordHash", `{"resourceType":"User","firstName":"A","passwordHash":"$2a$10$abc"}`, "passwordHash", &resources.User{}),
			Entry("User.mfaSecret", `{"resourceType":"User","mfaSecret":"JBSWY3DPEHPK3PXP"}`, "mfaSecret", &resources.User{}),
			Entry("ClientApplication.secret", `{"resourceType":"ClientApplication","name":"x","secret":"s3cr3t"}`, "secret", &resources.ClientApplication{}),
			Entry("ClientApplication.retiringSecret", `{"resourceType":"ClientApplication","retiringSecret":"old"}`, "retiringSecret", &resources.ClientApplication{}),
			Entry("secret on any type", `{"resourceType":"Project","secret":[{"name":"k","valueString":"v"}]}`, "secret", &resources.Project{}),
		)

		DescribeTable("a value of the wrong type, naming the field",
			func(body, element, message string, into resources.Resource) {
				de := decodeError(body, into)
				Expect(de.Element).To(Equal(element))
				Expect(de.Message).To(Equal(message))
			},
			Entry("boolean", `{"resourceType":"Patient","active":"yes"}`, "active", "expected boolean, got string", &resources.Patient{}),
			Entry("nested array", `{"resourceType":"Patient","name":[{"given":"Peter"}]}`, "name.given", "expected array, got string", &resources.Patient{}),
			Entry("integer", `{"resourceType":"Patient","telecom":[{"rank":1.5}]}`, "telecom.rank", "expected integer, got number 1.5", &resources.Patient{}),
			Entry("object", `{"resourceType":"RelatedPerson","patient":"Patient/1"}`, "patient", "expected object, got string", &resources.RelatedPerson{}),
			Entry("decimal", `{"resourceType":"Project","setting":[{"name":"r","valueDecimal":"1.5"}]}`, "setting.valueDecimal", "expected decimal, got string", &resources.Project{}),
			Entry("meta", `{"resourceType":"User","meta":{"versionId":1}}`, "meta.versionId", "expected string, got number", &resources.User{}),
		)

		It("an extension without a url", func() {
			de := decodeError(`{"resourceType":"Patient","extension":[{"valueString":"x"}]}`, &resources.Patient{})
			Expect(de.Element).To(Equal("extension.url"))
			de = decodeError(`{"resourceType":"Patient","modifierExtension":[{"valueString":"x"}]}`, &resources.Patient{})
			Expect(de.Element).To(Equal("modifierExtension.url"))
		})

		DescribeTable("a body that is not exactly one JSON object",
			func(body, prefix string) {
				de := decodeError(body, &resources.Patient{})
				Expect(de.Element).To(BeEmpty())
				Expect(de.Message).To(HavePrefix(prefix))
				Expect(de.Message).NotTo(ContainSubstring("Go "))
				Expect(de.Message).NotTo(ContainSubstring("resources."))
			},
			Entry("trailing garbage", `{"resourceType":"Patient"} garbage`, "invalid JSON: "),
			Entry("a second object", `{"resourceType":"Patient"}{"resourceType":"Patient"}`, "invalid JSON: "),
			Entry("a stray brace", `{"resourceType":"Patient"}}`, "invalid JSON: "),
			Entry("a syntax error", `{"resourceType" "Patient"}`, "invalid JSON: "),
			Entry("truncated input", `{"resourceType":"Pat`, "invalid JSON: "),
			Entry("an empty body", ``, "invalid JSON: "),
			Entry("an array", `[{"resourceType":"Patient"}]`, "body must be a JSON object"),
			Entry("null", `null`, "body must be a JSON object"),
			Entry("a string", `"Patient"`, "body must be a JSON object"),
		)

		It("reports the offset of a syntax error", func() {
			de := decodeError(`{"resourceType":"Patient",}`, &resources.Patient{})
			Expect(de.Message).To(MatchRegexp(`^invalid JSON: .* at offset \d+$`))
		})
	})

	It("accepts surrounding whitespace", func() {
		Expect(resources.Decode([]byte("\n  {\"resourceType\":\"Patient\"}\n\t"), &resources.Patient{})).To(Succeed())
	})
})

var _ = Describe("DateKey", func() {
	It("sorts as the instants it stands for, before and after 1970", func() {
		var keys []string
		for _, d := range []string{"0001-01-01", "1066-10-14", "1969-12-31T23:59:59Z", "1970-01-01", "1970-01-01T00:00:00.000001Z", "2026-11-25", "9999-12-31"} {
			from, _, err := resources.DateRange(d)
			Expect(err).NotTo(HaveOccurred())
			k := resources.DateKey(from)
			Expect(k).To(HaveLen(19))
			keys = append(keys, k)
		}
		Expect(slices.IsSorted(keys)).To(BeTrue(), "%v", keys)
		Expect(slices.Compact(slices.Clone(keys))).To(HaveLen(len(keys)))
	})
})
