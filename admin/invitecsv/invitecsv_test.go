package invitecsv_test

import (
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin/invitecsv"
)

var _ = Describe("A bulk-invite CSV", func() {
	It("reads its rows by header name, in any case and order, with their lines", func() {
		rows, err := invitecsv.Read(strings.NewReader("\xef\xbb\xbfEMAIL,resourcetype,firstName,lastName\n" +
			"ada@example.com,Practitioner,Ada,Lovelace\n\"x\",Patient\nalan@example.com, Patient ,Alan,Turing\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(rows).To(HaveLen(3))
		Expect(rows[0].Line).To(Equal(2))
		Expect(rows[0].Fields).To(Equal(map[string]string{"email": "ada@example.com", "resourceType": "Practitioner", "firstName": "Ada", "lastName": "Lovelace"}))
		Expect(rows[1].Err).To(MatchError("expected 4 fields, found 2"))
		Expect(rows[2].Fields["resourceType"]).To(Equal("Patient"))
		body, err := rows[2].Body()
		Expect(err).NotTo(HaveOccurred())
		var req map[string]any
		Expect(json.Unmarshal(body, &req)).To(Succeed())
		Expect(req).To(Equal(map[string]any{"resourceType": "Patient", "firstName": "Alan", "lastName": "Turing",
			"email": "alan@example.com", "upsert": true}))
	})

	DescribeTable("refuses a header it cannot use",
		func(header, want string) {
			_, err := invitecsv.Read(strings.NewReader(header + "\n"))
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("an unknown column", "resourceType,firstName,lastName,email,phone", `unknown column "phone"`),
		Entry("a column twice", "resourceType,firstName,lastName,email,Email", "column email appears twice"),
		Entry("no last name", "resourceType,firstName,email", "missing column lastName"),
		Entry("no email nor externalId", "resourceType,firstName,lastName", "needs an email or an externalId column"),
	)

	DescribeTable("finds what the invite would refuse in a row, field by field",
		func(line string, want ...invitecsv.Problem) {
			rows, err := invitecsv.Read(strings.NewReader("resourceType,firstName,lastName,email,externalId,admin,sendEmail\n" + line + "\n"))
			Expect(err).NotTo(HaveOccurred())
			Expect(rows[0].Problems()).To(ConsistOf(want))
		},
		Entry("nothing in a good row", "Practitioner,Ada,Lovelace,ada@example.com,,true,no"),
		Entry("nothing with an externalId alone", "Patient,Grace,Hopper,,hr-1,,"),
		Entry("an unknown type", "Doctor,Ada,Lovelace,ada@example.com,,,",
			invitecsv.Problem{Field: "resourceType", Message: "resourceType must be Patient, Practitioner or RelatedPerson"}),
		Entry("missing names", "Patient,,,ada@example.com,,,",
			invitecsv.Problem{Field: "firstName", Message: "firstName is required"}, invitecsv.Problem{Field: "lastName", Message: "lastName is required"}),
		Entry("neither email nor externalId", "Patient,Ada,Lovelace,,,,",
			invitecsv.Problem{Field: "email", Message: "email or externalId is required"}),
		Entry("a bad email", "Patient,Ada,Lovelace,not-an-email,,,", invitecsv.Problem{Field: "email", Message: "Invalid email address: it is not an address of the form name@domain"}),
		Entry("a bad yes/no", "Patient,Ada,Lovelace,ada@example.com,,maybe,",
			invitecsv.Problem{Field: "admin", Message: `admin: "maybe" is not true or false`}),
	)
})
