package admin_test

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/cmd/roster/app"
	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

func invitesPath(projectID string) string { return "admin/projects/" + projectID + "/invites" }

func invitationPath(projectID, id string) string { return invitesPath(projectID) + "/" + id }

// invited is one invite's outcome: its membership, user and invitation.
type invited struct {
	p          project
	email      string
	membership string // id
	user       string // id
	invitation string // id
}

// inviteInto invites body into p as its admin and finds the invitation
// the invite recorded.
func inviteInto(s *fixtures.Server, p project, body map[string]any) invited {
	GinkgoHelper()
	r := invite(s, p.Token, p.ID, body)
	Expect(r.Status).To(Equal(200), string(r.Body))
	i := invited{p: p, email: strings.ToLower(body["email"].(string)), membership: r.JSON()["id"].(string), user: idOf(ref(r.JSON(), "user"))}
	i.invitation = invitationOf(s, p, i.membership)["id"].(string)
	return i
}

// invitationOf finds the invitation of membershipID in p's list.
func invitationOf(s *fixtures.Server, p project, membershipID string) map[string]any {
	GinkgoHelper()
	r := do(s, "GET", invitesPath(p.ID)+"?_count=1000", p.Token, nil)
	Expect(r.Status).To(Equal(200), string(r.Body))
	for _, v := range asSlice(r.JSON()["invites"]) {
		if inv := v.(map[string]any); ref(inv, "membership") == "ProjectMembership/"+membershipID {
			return inv
		}
	}
	Fail("no invitation of ProjectMembership/" + membershipID + " in " + string(r.Body))
	return nil
}

// read is the invitation as GET …/invites/{id} answers it now.
func (i invited) read() map[string]any {
	GinkgoHelper()
	r := do(srv, "GET", invitationPath(i.p.ID, i.invitation), i.p.token(), nil)
	Expect(r.Status).To(Equal(200), string(r.Body))
	return r.JSON()
}

func (i invited) status() string {
	GinkgoHelper()
	return i.read()["status"].(string)
}

// act posts to the invitation's action ("resend", "link") or, for
// "revoke", deletes it.
func (i invited) act(action string) *fixtures.Response {
	GinkgoHelper()
	if action == "revoke" {
		return do(srv, "DELETE", invitationPath(i.p.ID, i.invitation), i.p.token(), nil)
	}
	return do(srv, "POST", invitationPath(i.p.ID, i.invitation)+"/"+action, i.p.token(), nil)
}

// lastLink is the set-password link of the newest mail to i.email.
func (i invited) lastLink() setLink {
	GinkgoHelper()
	ms := mails(srv, i.p.ID, i.email)
	Expect(ms).NotTo(BeEmpty())
	return linkIn(ms[len(ms)-1].Text)
}

// links are the set-password links of every mail to i.email, oldest first.
func (i invited) links() []setLink {
	GinkgoHelper()
	var out []setLink
	for _, m := range mails(srv, i.p.ID, i.email) {
		out = append(out, linkIn(m.Text))
	}
	return out
}

// membershipActive reads whether the invitation's membership is active.
func (i invited) membershipActive() bool {
	GinkgoHelper()
	r := do(srv, "GET", "admin/projects/"+i.p.ID+"/members/"+i.membership, i.p.token(), nil)
	Expect(r.Status).To(Equal(200), string(r.Body))
	active, ok := r.JSON()["active"].(bool)
	return !ok || active
}

// setLink is a set-password link's id and secret.
type setLink struct{ id, secret string }

func linkIn(text string) setLink {
	GinkgoHelper()
	id, secret, err := srv.SetPasswordLink(text)
	Expect(err).NotTo(HaveOccurred())
	return setLink{id, secret}
}

// page is what the set-password page answers for the link: 200 while it
// works, 410 once used, expired or replaced.
func (l setLink) page() int {
	GinkgoHelper()
	return do(srv, "GET", "setpassword/"+l.id+"/"+l.secret, "", nil).Status
}

func (l setLink) use(password string) *fixtures.Response {
	GinkgoHelper()
	r, err := srv.SetPassword(l.id, l.secret, password)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// instant parses an RFC 3339 time of an answer.
func instant(v any) time.Time {
	GinkgoHelper()
	s, ok := v.(string)
	Expect(ok).To(BeTrue(), "%v is not a string", v)
	t, err := time.Parse(time.RFC3339Nano, s)
	Expect(err).NotTo(HaveOccurred())
	return t
}

const invitePassword = "a-new-long-passphrase-1"

var _ = Describe("Invitations", func() {
	var p project
	BeforeEach(func() { p = newProject(srv) })

	Describe("an invite that creates a membership", func() {
		It("records a pending invitation in the documented shape", func() {
			email := emailFor("Shape")
			i := inviteInto(srv, p, practitioner(mixedCase(email, 5)))
			inv := i.read()
			Expect(inv).To(HaveKeyWithValue("id", i.invitation))
			Expect(inv).To(HaveKeyWithValue("membership", map[string]any{"reference": "ProjectMembership/" + i.membership}))
			Expect(inv).To(HaveKeyWithValue("email", strings.ToLower(email)))
			Expect(inv).To(HaveKeyWithValue("status", "pending"))
			Expect(inv).To(HaveKeyWithValue("sent", BeNumerically("==", 1)))
			me := do(srv, "GET", "auth/me", p.Token, nil).JSON()["profile"].(map[string]any)
			Expect(inv).To(HaveKeyWithValue("invitedBy", map[string]any{"reference": me["resourceType"].(string) + "/" + me["id"].(string)}))
			created, expires := instant(inv["created"]), instant(inv["expires"])
			Expect(created).To(BeTemporally("~", time.Now(), time.Minute))
			Expect(expires.Sub(created)).To(Equal(admin.SetPasswordLinkTTL))
			Expect(instant(inv["lastSent"])).To(Equal(created))
			Expect(inv).NotTo(HaveKey("accepted"))
			Expect(inv).NotTo(HaveKey("revoked"))
			Expect(inv).NotTo(HaveKey("resourceType"))
			Expect(i.lastLink().page()).To(Equal(200))
		})

		It("counts no mailing when sendEmail is false", func() {
			inv := inviteInto(srv, p, with(practitioner(emailFor("quiet")), "sendEmail", false)).read()
			Expect(inv).To(HaveKeyWithValue("sent", BeNumerically("==", 0)))
			Expect(inv).NotTo(HaveKey("lastSent"))
			Expect(inv).To(HaveKeyWithValue("status", "pending"))
		})

		It("records none when an upsert only updates the membership", func() {
			body := with(practitioner(emailFor("upsert")), "upsert", true)
			inviteInto(srv, p, body)
			r := invite(srv, p.Token, p.ID, with(body, "membership", map[string]any{"admin": true}))
			Expect(r.Header.Get(admin.InviteOutcomeHeader)).To(Equal("updated"))
			Expect(do(srv, "GET", invitesPath(p.ID), p.Token, nil).JSON()["total"]).To(BeNumerically("==", 1))
		})
	})

	DescribeTable("its lifecycle",
		func(journey func(p project) invited, want string) {
			i := journey(p)
			Expect(i.status()).To(Equal(want))
		},
		Entry("pending while nothing happens", func(p project) invited {
			return inviteInto(srv, p, practitioner(emailFor("idle")))
		}, "pending"),
		Entry("pending → accepted when its link is used, once", func(p project) invited {
			i := inviteInto(srv, p, practitioner(emailFor("linked")))
			Expect(i.lastLink().use(invitePassword).Status).To(Equal(200))
			accepted := i.read()["accepted"]
			Expect(instant(accepted)).To(BeTemporally("~", time.Now(), time.Minute))
			_, err := srv.LoginFull(i.email, invitePassword, p.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(i.read()["accepted"]).To(Equal(accepted), "signing in later changes nothing")
			return i
		}, "accepted"),
		Entry("pending → accepted at the first sign-in through its membership", func(p project) invited {
			i := inviteInto(srv, p, with(practitioner(emailFor("signin")), "password", invitePassword))
			Expect(i.status()).To(Equal("pending"))
			_, err := srv.LoginFull(i.email, invitePassword, p.ID)
			Expect(err).NotTo(HaveOccurred())
			return i
		}, "accepted"),
		Entry("an existing user's: accepted at their sign-in into this project, not another's", func(p project) invited {
			email := emailFor("existing")
			other := newProject(srv)
			first := inviteInto(srv, other, with(practitioner(email), "password", invitePassword))
			i := inviteInto(srv, p, practitioner(email))
			_, err := srv.LoginFull(email, invitePassword, other.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(first.status()).To(Equal("accepted"))
			Expect(i.status()).To(Equal("pending"))
			_, err = srv.LoginFull(email, invitePassword, p.ID)
			Expect(err).NotTo(HaveOccurred())
			return i
		}, "accepted"),
		Entry("pending → expired when its expiry passes on the server's clock; its link too", func(p project) invited {
			i := inviteInto(srv, p, practitioner(emailFor("late")))
			advanceClock(admin.SetPasswordLinkTTL + time.Minute)
			Expect(i.lastLink().page()).To(Equal(http.StatusGone))
			return i
		}, "expired"),
		Entry("expired, then a sign-in through its membership: accepted all the same", func(p project) invited {
			i := inviteInto(srv, p, with(practitioner(emailFor("tardy")), "password", invitePassword))
			advanceClock(admin.SetPasswordLinkTTL + time.Minute)
			Expect(i.status()).To(Equal("expired"))
			_, err := srv.LoginFull(i.email, invitePassword, p.ID)
			Expect(err).NotTo(HaveOccurred())
			return i
		}, "accepted"),
		Entry("expired, then resent: pending again until a renewed expiry", func(p project) invited {
			i := inviteInto(srv, p, practitioner(emailFor("renewed")))
			advanceClock(admin.SetPasswordLinkTTL + time.Minute)
			Expect(i.status()).To(Equal("expired"))
			r := i.act("resend")
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(instant(r.JSON()["expires"])).To(BeTemporally(">", time.Now().Add(admin.SetPasswordLinkTTL)))
			Expect(i.lastLink().page()).To(Equal(200))
			return i
		}, "pending"),
		Entry("revoked: its link is refused and the unused membership deactivated", func(p project) invited {
			i := inviteInto(srv, p, practitioner(emailFor("revoked")))
			link := i.lastLink()
			r := i.act("revoke")
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()).To(HaveKeyWithValue("status", "revoked"))
			Expect(instant(r.JSON()["revoked"])).To(BeTemporally("~", time.Now(), time.Minute))
			refused := link.use(invitePassword)
			Expect(refused.Status).To(Equal(400), string(refused.Body))
			Expect(expressions(refused)).To(ConsistOf("id"))
			Expect(link.page()).To(Equal(http.StatusGone))
			Expect(i.membershipActive()).To(BeFalse())
			return i
		}, "revoked"),
		Entry("resent: the old link dies at once and the new one accepts", func(p project) invited {
			i := inviteInto(srv, p, practitioner(emailFor("resent")))
			old := i.lastLink()
			r := i.act("resend")
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()).To(HaveKeyWithValue("sent", BeNumerically("==", 2)))
			Expect(instant(r.JSON()["lastSent"])).To(BeTemporally(">", instant(r.JSON()["created"])))
			Expect(old.page()).To(Equal(http.StatusGone))
			Expect(old.use(invitePassword).Status).To(Equal(400))
			Expect(i.lastLink().use(invitePassword).Status).To(Equal(200))
			return i
		}, "accepted"),
		Entry("resent by two admins at once: exactly one live link", func(p project) invited {
			i := inviteInto(srv, p, practitioner(emailFor("race")))
			const n = 2
			for round := range 3 {
				outs := fixtures.Race(n, func(int) (*fixtures.Response, error) {
					return srv.Do("POST", invitationPath(p.ID, i.invitation)+"/resend", p.Token, nil)
				})
				for _, o := range outs {
					Expect(o.Err).NotTo(HaveOccurred())
					Expect(o.Status).To(Equal(200), string(o.Body))
				}
				links := i.links()
				Expect(links).To(HaveLen(1 + n*(round+1)))
				live := 0
				for _, l := range links {
					if l.page() == 200 {
						live++
					}
				}
				Expect(live).To(Equal(1), "live links after round %d", round)
			}
			Expect(i.read()).To(HaveKeyWithValue("sent", BeNumerically("==", 1+3*n)))
			return i
		}, "pending"),
	)

	Describe("a link for the admin to hand over", func() {
		It("is fresh and one-time, kills the mailed one, and is not counted as sent", func() {
			i := inviteInto(srv, p, practitioner(emailFor("handed")))
			mailed := i.lastLink()
			r := i.act("link")
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.Header.Get("Cache-Control")).To(Equal("no-store"))
			Expect(r.JSON()).To(HaveLen(2))
			u := r.JSON()["url"].(string)
			Expect(u).To(HavePrefix(srv.App.Config.AppURL + "setpassword/"))
			Expect(instant(r.JSON()["expires"])).To(BeTemporally("~", time.Now().Add(admin.SetPasswordLinkTTL), time.Minute))
			Expect(mailed.page()).To(Equal(http.StatusGone))
			Expect(i.read()).To(HaveKeyWithValue("sent", BeNumerically("==", 1)))
			Expect(mails(srv, p.ID, i.email)).To(HaveLen(1), "nothing mailed")
			Expect(linkIn(u).use(invitePassword).Status).To(Equal(200))
			Expect(i.status()).To(Equal("accepted"))
		})

		It("works when mail is off", func() {
			i := inviteInto(srv, p, with(practitioner(emailFor("nomail")), "sendEmail", false))
			r := i.act("link")
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(linkIn(r.JSON()["url"].(string)).use(invitePassword).Status).To(Equal(200))
			Expect(i.status()).To(Equal("accepted"))
		})

		It("asked for by two admins at once, of an invitation never mailed, leaves exactly one live link", func() {
			i := inviteInto(srv, p, with(practitioner(emailFor("twolinks")), "sendEmail", false))
			for round := range 3 {
				outs := fixtures.Race(2, func(int) (*fixtures.Response, error) {
					return srv.Do("POST", invitationPath(p.ID, i.invitation)+"/link", p.Token, nil)
				})
				live := 0
				for _, o := range outs {
					Expect(o.Err).NotTo(HaveOccurred())
					Expect(o.Status).To(Equal(200), string(o.Body))
					if linkIn(o.JSON()["url"].(string)).page() == 200 {
						live++
					}
				}
				Expect(live).To(Equal(1), "live links after round %d", round)
			}
		})

		It("is refused (409) for a user who signs in with a password of their own", func() {
			i := inviteInto(srv, p, with(practitioner(emailFor("haspw")), "password", invitePassword))
			r := i.act("link")
			Expect(r.Status).To(Equal(409), string(r.Body))
			Expect(message(r)).To(ContainSubstring("signs in with a password of their own"))
		})
	})

	Describe("a resend to a user who signs in with a password", func() {
		It("mails where to sign in again, with no link", func() {
			i := inviteInto(srv, p, with(practitioner(emailFor("again")), "password", invitePassword))
			r := i.act("resend")
			Expect(r.Status).To(Equal(200), string(r.Body))
			ms := mails(srv, p.ID, i.email)
			Expect(ms).To(HaveLen(2))
			Expect(ms[1].Subject).To(Equal(ms[0].Subject))
			Expect(ms[1].Text).NotTo(ContainSubstring("setpassword"))
		})
	})

	DescribeTable("refuses to act on a settled invitation (409), changing nothing",
		func(settle func(i invited), action, text string) {
			i := inviteInto(srv, p, practitioner(emailFor("settled")))
			settle(i)
			before := i.read()
			sent := len(mails(srv, p.ID, i.email))
			r := i.act(action)
			Expect(r.Status).To(Equal(409), string(r.Body))
			Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
			Expect(message(r)).To(ContainSubstring(text))
			Expect(i.read()).To(Equal(before))
			Expect(mails(srv, p.ID, i.email)).To(HaveLen(sent))
		},
		Entry("resend of a revoked one", revoke, "resend", "was revoked"),
		Entry("link of a revoked one", revoke, "link", "was revoked"),
		Entry("resend of an accepted one", accept, "resend", "already accepted"),
		Entry("link of an accepted one", accept, "link", "already accepted"),
		Entry("revocation of an accepted one", accept, "revoke", "already accepted"),
	)

	Describe("revocation", func() {
		It("answers a revoked invitation again unchanged", func() {
			i := inviteInto(srv, p, practitioner(emailFor("twice")))
			first := i.act("revoke")
			Expect(first.Status).To(Equal(200))
			again := i.act("revoke")
			Expect(again.Status).To(Equal(200), string(again.Body))
			Expect(again.JSON()).To(Equal(first.JSON()))
		})

		It("happens when the membership is deleted: its link dies, nothing is left to resend", func() {
			i := inviteInto(srv, p, practitioner(emailFor("deleted")))
			link := i.lastLink()
			Expect(do(srv, "DELETE", "admin/projects/"+p.ID+"/members/"+i.membership, p.Token, nil).Status).To(Equal(200))
			Expect(i.status()).To(Equal("revoked"))
			Expect(link.page()).To(Equal(http.StatusGone))
			Expect(i.act("resend").Status).To(Equal(409))
		})

		It("keeps the membership of a user who has signed in before", func() {
			email := emailFor("veteran")
			other := newProject(srv)
			inviteInto(srv, other, with(practitioner(email), "password", invitePassword))
			_, err := srv.LoginFull(email, invitePassword, other.ID)
			Expect(err).NotTo(HaveOccurred())
			i := inviteInto(srv, p, practitioner(email))
			Expect(i.act("revoke").Status).To(Equal(200))
			Expect(i.membershipActive()).To(BeTrue())
			Expect(i.status()).To(Equal("revoked"))
			_, err = srv.LoginFull(email, invitePassword, p.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(i.status()).To(Equal("revoked"), "a sign-in does not accept a revoked invitation")
		})
	})

	It("records resends, links and revocations in the audit trail", func() {
		i := inviteInto(srv, p, practitioner(emailFor("audited")))
		for _, a := range []string{"resend", "link", "revoke"} {
			Expect(i.act(a).Status).To(Equal(200))
		}
		var acts []string
		for _, act := range []audit.Act{audit.InviteResend, audit.InviteLink, audit.InviteRevoke} {
			q := url.Values{"subtype": {audit.SubtypeSystem + "|" + act.Code}, "entity": {"ProjectMembership/" + i.membership}}
			r := do(srv, "GET", "fhir/R4/AuditEvent?"+q.Encode(), p.Token, nil)
			Expect(r.Status).To(Equal(200), string(r.Body))
			for _, ev := range r.Resources() {
				acts = append(acts, act.Code)
				Expect(ev["agent"]).To(ContainElement(HaveKeyWithValue("altId", Not(BeEmpty()))))
			}
		}
		Expect(acts).To(Equal([]string{"invite-resend", "invite-link", "invite-revoke"}))
	})

	Describe("GET …/invites", func() {
		It("lists newest first, filtered by status, email (any case) or membership, with the total", func() {
			a := inviteInto(srv, p, practitioner(emailFor("a")))
			b := inviteInto(srv, p, with(practitioner(emailFor("b")), "password", invitePassword))
			c := inviteInto(srv, p, practitioner(emailFor("c")))
			_, err := srv.LoginFull(b.email, invitePassword, p.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(c.act("revoke").Status).To(Equal(200))

			ids := func(query string) []string {
				GinkgoHelper()
				r := do(srv, "GET", invitesPath(p.ID)+query, p.token(), nil)
				Expect(r.Status).To(Equal(200), string(r.Body))
				var out []string
				for _, v := range asSlice(r.JSON()["invites"]) {
					out = append(out, v.(map[string]any)["id"].(string))
				}
				Expect(r.JSON()["total"]).To(BeNumerically(">=", len(out)))
				return out
			}
			Expect(ids("")).To(Equal([]string{c.invitation, b.invitation, a.invitation}))
			Expect(ids("?status=pending")).To(Equal([]string{a.invitation}))
			Expect(ids("?status=accepted")).To(Equal([]string{b.invitation}))
			Expect(ids("?status=revoked")).To(Equal([]string{c.invitation}))
			Expect(ids("?status=expired")).To(BeEmpty())
			Expect(ids("?email=" + url.QueryEscape(strings.ToUpper(a.email)))).To(Equal([]string{a.invitation}))
			Expect(ids("?email=nobody@example.com")).To(BeEmpty())
			Expect(ids("?membership=" + b.membership)).To(Equal([]string{b.invitation}))
			Expect(ids("?membership=" + b.membership + "&status=pending")).To(BeEmpty())

			r := do(srv, "GET", invitesPath(p.ID)+"?_count=1&_offset=1", p.Token, nil)
			Expect(r.JSON()).To(HaveKeyWithValue("total", BeNumerically("==", 3)))
			Expect(r.JSON()).To(HaveKeyWithValue("_count", BeNumerically("==", 1)))
			Expect(r.JSON()).To(HaveKeyWithValue("_offset", BeNumerically("==", 1)))
			Expect(ids("?_count=1&_offset=1")).To(Equal([]string{b.invitation}))
			Expect(ids("?_offset=3")).To(BeEmpty())

			advanceClock(admin.SetPasswordLinkTTL + time.Minute)
			Expect(ids("?status=expired")).To(Equal([]string{a.invitation}))
			Expect(ids("?status=pending")).To(BeEmpty())
		})

		DescribeTable("answers bad parameters with 400 naming them",
			func(query string, fields ...string) {
				r := do(srv, "GET", invitesPath(p.ID)+"?"+query, p.Token, nil)
				Expect(r.Status).To(Equal(400), string(r.Body))
				Expect(expressions(r)).To(ConsistOf(fields))
			},
			Entry("an unknown status", "status=lost", "status"),
			Entry("a status in another case", "status=PENDING", "status"),
			Entry("a _count that is no number", "_count=ten", "_count"),
			Entry("a _count of 0", "_count=0", "_count"),
			Entry("a _count over 1000", "_count=1001", "_count"),
			Entry("a negative _offset", "_offset=-1", "_offset"),
			Entry("an _offset that is no number", "_offset=1e3", "_offset"),
			Entry("everything at once", "status=x&_count=-5&_offset=y", "status", "_count", "_offset"),
			Entry("an email with a control character", "email=a%00b@example.com", "email"),
			Entry("a membership with a control character", "membership=a%0Ab", "membership"),
		)
	})

	Describe("GET …/members", func() {
		It("lists the project's memberships, most recently changed first, each with its invitation's status", func() {
			a := inviteInto(srv, p, practitioner(emailFor("ma")))
			b := inviteInto(srv, p, with(practitioner(emailFor("mb")), "password", invitePassword))
			_, err := srv.LoginFull(b.email, invitePassword, p.ID)
			Expect(err).NotTo(HaveOccurred())
			c := inviteInto(srv, p, practitioner(emailFor("mc")))
			Expect(c.act("revoke").Status).To(Equal(200))

			r := do(srv, "GET", "admin/projects/"+p.ID+"/members", p.Token, nil)
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()).To(HaveKeyWithValue("total", BeNumerically("==", 4)))
			Expect(r.JSON()).To(HaveKeyWithValue("_count", BeNumerically("==", admin.DefaultPageCount)))
			Expect(r.JSON()).To(HaveKeyWithValue("_offset", BeNumerically("==", 0)))
			members := asSlice(r.JSON()["members"])
			Expect(members).To(HaveLen(4))
			want := []struct{ membership, invitation, status string }{
				{c.membership, c.invitation, "revoked"}, {b.membership, b.invitation, "accepted"}, {a.membership, a.invitation, "pending"}}
			for k, w := range want {
				m := members[k].(map[string]any)
				Expect(m).To(HaveKeyWithValue("membershipId", w.membership))
				Expect(m).To(HaveKeyWithValue("invitation", map[string]any{"id": w.invitation, "status": w.status}))
			}
			adminRow := members[3].(map[string]any)
			Expect(adminRow).To(HaveKeyWithValue("invitation", BeNil()), "the project's admin was made without an invite")
			Expect(adminRow).To(HaveKeyWithValue("admin", true))
			Expect(members[2].(map[string]any)).To(HaveKeyWithValue("name", "Gregory House"))
			Expect(members[0].(map[string]any)).To(HaveKeyWithValue("active", false))

			r = do(srv, "GET", "admin/projects/"+p.ID+"/members?_count=2&_offset=1", p.Token, nil)
			Expect(r.Status).To(Equal(200), string(r.Body))
			Expect(r.JSON()["total"]).To(BeNumerically("==", 4))
			page := asSlice(r.JSON()["members"])
			Expect(page).To(HaveLen(2))
			Expect(page[0].(map[string]any)["membershipId"]).To(Equal(b.membership))
		})

		It("leaves GET /admin/projects/{projectId} as it was", func() {
			inviteInto(srv, p, practitioner(emailFor("details")))
			r := do(srv, "GET", "admin/projects/"+p.ID, p.Token, nil)
			Expect(r.Status).To(Equal(200))
			Expect(r.JSON()).To(HaveLen(2))
			for _, m := range asSlice(r.JSON()["members"]) {
				Expect(m).NotTo(HaveKey("invitation"))
			}
		})

		DescribeTable("answers bad paging with 400 naming it",
			func(query, field string) {
				r := do(srv, "GET", "admin/projects/"+p.ID+"/members?"+query, p.Token, nil)
				Expect(r.Status).To(Equal(400), string(r.Body))
				Expect(expressions(r)).To(ConsistOf(field))
			},
			Entry("_count=0", "_count=0", "_count"),
			Entry("_count=many", "_count=many", "_count"),
			Entry("_offset=-2", "_offset=-2", "_offset"),
		)
	})

	Describe("forceNewMembership", func() {
		It("gives an existing member another membership of the same user and profile; both are listed", func() {
			email := emailFor("twice")
			first := inviteInto(srv, p, practitioner(email))
			r := invite(srv, p.Token, p.ID, practitioner(email))
			Expect(r.Status).To(Equal(409), string(r.Body))

			r = invite(srv, p.Token, p.ID, with(practitioner(mixedCase(email, 3)), "forceNewMembership", true))
			Expect(r.Status).To(Equal(200), string(r.Body))
			second := r.JSON()
			Expect(second["id"]).NotTo(Equal(first.membership))
			Expect(ref(second, "user")).To(Equal("User/" + first.user))
			firstProfile := ref(do(srv, "GET", "admin/projects/"+p.ID+"/members/"+first.membership, p.Token, nil).JSON(), "profile")
			Expect(ref(second, "profile")).To(Equal(firstProfile))
			Expect(second["extension"]).To(ContainElement(map[string]any{"url": resources.AdditionalMembershipURL, "valueBoolean": true}))

			listed := map[string]any{}
			for _, m := range asSlice(do(srv, "GET", "admin/projects/"+p.ID+"/members", p.Token, nil).JSON()["members"]) {
				listed[m.(map[string]any)["membershipId"].(string)] = m.(map[string]any)["invitation"]
			}
			Expect(listed).To(HaveKey(first.membership))
			Expect(listed).To(HaveKeyWithValue(second["id"], HaveKeyWithValue("status", "pending")))
			Expect(search(srv, "ProjectMembership", url.Values{"user": {"User/" + first.user}})).To(HaveLen(2))

			r = invite(srv, p.Token, p.ID, practitioner(email))
			Expect(r.Status).To(Equal(409), "an ordinary invite still cannot add one")
		})

		It("cannot be claimed through the invite's membership fields", func() {
			email := emailFor("claimed")
			inviteInto(srv, p, practitioner(email))
			ext := []any{map[string]any{"url": resources.AdditionalMembershipURL, "valueBoolean": true}}
			r := invite(srv, p.Token, p.ID, with(practitioner(email), "membership", map[string]any{"extension": ext}))
			Expect(r.Status).To(Equal(409), string(r.Body))
		})
	})

	Describe("who may", func() {
		var (
			i     invited
			other project
		)
		BeforeEach(func() {
			i = inviteInto(srv, p, practitioner(emailFor("guarded")))
			other = newProject(srv)
		})

		routes := []struct {
			name, method, path string
		}{
			{"list invitations", "GET", "admin/projects/{P}/invites"},
			{"read an invitation", "GET", "admin/projects/{P}/invites/{I}"},
			{"resend", "POST", "admin/projects/{P}/invites/{I}/resend"},
			{"ask for a link", "POST", "admin/projects/{P}/invites/{I}/link"},
			{"revoke", "DELETE", "admin/projects/{P}/invites/{I}"},
			{"list members", "GET", "admin/projects/{P}/members"},
		}
		path := func(tmpl, projectID string) string {
			return strings.NewReplacer("{P}", projectID, "{I}", i.invitation).Replace(tmpl)
		}
		for _, rt := range routes {
			It("refuses a member who is not an admin (403), another project's admin (403) and nobody (401): "+rt.name, func() {
				_, memberToken := member(srv, p.ID)
				before := i.read()
				for who, tok := range map[string]string{"member": memberToken, "other admin": other.Token} {
					r := do(srv, rt.method, path(rt.path, p.ID), tok, nil)
					Expect(r.Status).To(Equal(403), "%s: %s", who, r.Body)
					Expect(r.JSON()["resourceType"]).To(Equal("OperationOutcome"))
				}
				Expect(do(srv, rt.method, path(rt.path, p.ID), "", nil).Status).To(Equal(401))
				Expect(i.read()).To(Equal(before), "nothing changed")
				Expect(mails(srv, p.ID, i.email)).To(HaveLen(1))
			})
			if strings.Contains(rt.path, "{I}") {
				It("answers 404 for another project's invitation: "+rt.name, func() {
					r := do(srv, rt.method, path(rt.path, other.ID), other.Token, nil)
					Expect(r.Status).To(Equal(404), string(r.Body))
					Expect(do(srv, rt.method, path(rt.path, other.ID), srv.AdminToken, nil).Status).To(Equal(404))
					Expect(i.status()).To(Equal("pending"))
				})
			}
		}

		It("lets the super admin do everything", func() {
			for _, rt := range routes {
				if rt.method == "DELETE" {
					continue
				}
				r := do(srv, rt.method, path(rt.path, p.ID), srv.AdminToken, nil)
				Expect(r.Status).To(Equal(200), "%s: %s", rt.name, r.Body)
			}
			Expect(do(srv, "DELETE", path("admin/projects/{P}/invites/{I}", p.ID), srv.AdminToken, nil).Status).To(Equal(200))
		})

		It("answers 404 for an unknown invitation", func() {
			for _, rt := range routes {
				if strings.Contains(rt.path, "{I}") {
					r := do(srv, rt.method, strings.ReplaceAll(path(rt.path, p.ID), i.invitation, "no-such-invitation"), p.Token, nil)
					Expect(r.Status).To(Equal(404), "%s: %s", rt.name, r.Body)
				}
			}
		})
	})
})

// revoke and accept settle an invitation.
func revoke(i invited) {
	GinkgoHelper()
	Expect(i.act("revoke").Status).To(Equal(200))
}

func accept(i invited) {
	GinkgoHelper()
	Expect(i.lastLink().use(invitePassword).Status).To(Equal(200))
	Expect(i.status()).To(Equal("accepted"))
}

var _ = Describe("A resend over real SMTP (Mailpit)", Label("mailpit"), func() {
	It("mails a new link that works while the first one no longer does", func() {
		mp := fixtures.Mailpit(GinkgoT())
		s := fixtures.Start(GinkgoT(), fixtures.Options{Configure: func(c *app.Config) { c.SMTPURL = mp.SMTPURL }})
		DeferCleanup(s.Close)
		p := newProject(s)
		email := emailFor("resent-smtp")
		i := inviteInto(s, p, practitioner(email))
		Eventually(mp.Count).WithArguments(email).WithTimeout(15 * time.Second).Should(Equal(1))

		r := do(s, "POST", invitationPath(p.ID, i.invitation)+"/resend", p.Token, nil)
		Expect(r.Status).To(Equal(200), string(r.Body))
		Eventually(mp.Count).WithArguments(email).WithTimeout(15 * time.Second).Should(Equal(2))
		msgs, err := mp.Messages(email)
		Expect(err).NotTo(HaveOccurred())
		sort.Slice(msgs, func(a, b int) bool { return msgs[a].Created.Before(msgs[b].Created) })
		var links []string
		for _, m := range msgs {
			link, err := mp.FirstURL(m.ID, s.App.Config.AppURL+"setpassword/")
			Expect(err).NotTo(HaveOccurred())
			links = append(links, link)
		}
		Expect(links[0]).NotTo(Equal(links[1]))

		old, err := http.Get(links[0])
		Expect(err).NotTo(HaveOccurred())
		old.Body.Close()
		Expect(old.StatusCode).To(Equal(http.StatusGone))
		done, err := http.PostForm(links[1], url.Values{"password": {invitePassword}})
		Expect(err).NotTo(HaveOccurred())
		done.Body.Close()
		Expect(done.StatusCode).To(Equal(200))

		inv := do(s, "GET", invitationPath(p.ID, i.invitation), p.Token, nil).JSON()
		Expect(inv).To(HaveKeyWithValue("status", "accepted"))
		Expect(inv).To(HaveKeyWithValue("sent", BeNumerically("==", 2)))
	})
})
