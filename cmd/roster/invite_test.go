package main

import (
	"context"
	"encoding/csv"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
)

// The specs of `roster invite` run in the package's one suite (TestRoster in
// roster_suite_test.go), against an in-process fixture server.
var _ = Describe("roster invite (bulk CSV)", Label("invite-cli"), func() {
	var (
		srv          *fixtures.Server
		pid, token   string
		dir, in, out string
	)

	BeforeEach(func() {
		srv = fixtures.Start(GinkgoT(), fixtures.Options{})
		DeferCleanup(srv.Close)
		var err error
		pid, token, _, err = srv.ProjectAdmin("Bulk Clinic")
		Expect(err).NotTo(HaveOccurred())
		dir = GinkgoT().TempDir()
		in, out = filepath.Join(dir, "staff.csv"), filepath.Join(dir, "result.csv")
	})

	write := func(text string) {
		GinkgoHelper()
		Expect(os.WriteFile(in, []byte(text), 0o600)).To(Succeed())
	}
	runCLI := func(extra ...string) error {
		args := append([]string{"--server", srv.URL, "--token", token, "--project", pid, "--csv", in, "--out", out}, extra...)
		return invite(context.Background(), args)
	}
	results := func() map[string][]string {
		GinkgoHelper()
		f, err := os.Open(out)
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		Expect(err).NotTo(HaveOccurred())
		Expect(recs[0]).To(Equal([]string{"row", "outcome", "membershipId", "error"}))
		byRow := map[string][]string{}
		for _, r := range recs[1:] {
			byRow[r[0]] = r[1:]
		}
		return byRow
	}
	// state is every membership of the project as id → versionId, and the outbox size.
	state := func() (map[string]string, int) {
		GinkgoHelper()
		r, err := srv.Do("GET", "fhir/R4/ProjectMembership?"+url.Values{"project": {"Project/" + pid}, "_count": {"1000"}}.Encode(), srv.AdminToken, nil)
		Expect(err).NotTo(HaveOccurred())
		ids := map[string]string{}
		for _, res := range r.Resources() {
			ids[res["id"].(string)] = res["meta"].(map[string]any)["versionId"].(string)
		}
		mails, err := srv.App.Store.ListMail(context.Background(), pid, 1000)
		Expect(err).NotTo(HaveOccurred())
		return ids, len(mails)
	}

	It("invites every row, reports each, keeps going past bad rows, and a rerun changes nothing", func() {
		write(strings.Join([]string{
			"resourceType,firstName,lastName,email,externalId,admin,sendEmail",
			"Practitioner,Ada,Lovelace,Ada@Example.com,,true,",
			"Practitioner,Alan,Turing,alan@example.com,,,false",
			"Patient,Grace,Hopper,grace@example.com,,,",
			"Practitioner,Ext,Only,,hr-42,,",
			"Practitioner,Bad,Email,not-an-email,,,",
			"Organization,Wrong,Type,org@example.com,,,",
			"Practitioner,Bad,Bool,bool@example.com,,maybe,",
			"Practitioner,Short,Row",
			`Practitioner,"Sam, Jr.",Smith,sam@example.com,,no,yes`,
		}, "\n") + "\n")

		err := runCLI()
		Expect(err).To(MatchError("4 of 9 rows failed"))
		res := results()
		Expect(res).To(HaveLen(9))
		for _, row := range []string{"2", "3", "4", "5", "10"} {
			Expect(res[row][0]).To(Equal("created"), "row %s: %v", row, res[row])
			Expect(res[row][1]).NotTo(BeEmpty())
			Expect(res[row][2]).To(BeEmpty())
		}
		Expect(res["6"]).To(Equal([]string{"error", "", "HTTP 400: email: Invalid email address: it is not an address of the form name@domain"}))
		Expect(res["7"][0]).To(Equal("error"))
		Expect(res["7"][2]).To(ContainSubstring("resourceType"))
		Expect(res["8"]).To(Equal([]string{"error", "", `admin: "maybe" is not true or false`}))
		Expect(res["9"]).To(Equal([]string{"error", "", "expected 7 fields, found 3"}))

		ada, err := srv.Do("GET", "admin/projects/"+pid+"/members/"+res["2"][1], token, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(ada.JSON()["admin"]).To(BeTrue())
		Expect(ada.JSON()["user"].(map[string]any)["display"]).To(Equal("ada@example.com"))
		ext, err := srv.Do("GET", "admin/projects/"+pid+"/members/"+res["5"][1], token, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(ext.JSON()["externalId"]).To(Equal("hr-42"))

		members, mails := state()
		Expect(members).To(HaveLen(6), "the admin and five invitees")
		Expect(mails).To(Equal(3), "Ada, Grace and Sam; Alan asked for none, hr-42 has no email")

		By("running the same file again")
		Expect(runCLI()).To(MatchError("4 of 9 rows failed"))
		again := results()
		for _, row := range []string{"2", "3", "4", "5", "10"} {
			Expect(again[row]).To(Equal([]string{"unchanged", res[row][1], ""}), "row %s", row)
		}
		for _, row := range []string{"6", "7", "8", "9"} {
			Expect(again[row]).To(Equal(res[row]))
		}
		membersAgain, mailsAgain := state()
		Expect(membersAgain).To(Equal(members), "same memberships, same versions")
		Expect(mailsAgain).To(Equal(mails), "no mail sent twice")
	})

	It("exits zero when every row succeeds, and reports an edited row as updated", func() {
		write("email,firstName,lastName,resourceType,admin\nlin@example.com,Lin,Wei,Practitioner,false\n")
		Expect(runCLI()).To(Succeed())
		Expect(results()["2"][0]).To(Equal("created"))
		write("email,firstName,lastName,resourceType,admin\nLIN@example.com,Lin,Wei,Practitioner,true\n")
		Expect(runCLI()).To(Succeed())
		Expect(results()["2"][0]).To(Equal("updated"))
	})

	It("accepts a header in any case with a byte-order mark, as spreadsheets export it", func() {
		write("\xef\xbb\xbfRESOURCETYPE,FirstName,LASTNAME,Email\r\nPractitioner,Kay,Lee,kay@example.com\r\n")
		Expect(runCLI()).To(Succeed())
		Expect(results()["2"][0]).To(Equal("created"))
	})

	It("refuses a file with an unknown or missing column before sending anything", func() {
		write("resourceType,firstName,lastName,emial\nPractitioner,A,B,a@example.com\n")
		Expect(runCLI()).To(MatchError(ContainSubstring(`unknown column "emial"`)))
		write("resourceType,firstName,email\nPractitioner,A,a@example.com\n")
		Expect(runCLI()).To(MatchError(ContainSubstring("missing column lastName")))
		members, _ := state()
		Expect(members).To(HaveLen(1))
	})

	It("stops at the first row when the credentials or project are refused", func() {
		write("resourceType,firstName,lastName,email\nPractitioner,A,B,a@example.com\nPractitioner,C,D,c@example.com\n")
		token = "not-a-token"
		Expect(runCLI()).To(MatchError(ContainSubstring("stopped at row 2: HTTP 401")))
		Expect(results()).To(HaveLen(1))
	})

	It("needs its flags", func() {
		err := invite(context.Background(), []string{"--server", srv.URL})
		Expect(err).To(MatchError(ContainSubstring("missing --token, --project, --csv")))
		Expect(err).To(MatchError(ContainSubstring("usage: roster invite")))
	})
})
