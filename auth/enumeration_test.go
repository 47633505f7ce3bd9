package auth_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
)

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

var _ = Describe("Account enumeration", func() {
	It("answers an unknown email and a wrong password with the same status, body and time", func() {
		env := unthrottled()
		// Production-like bcrypt work, so a missing hash comparison on one
		// path would show: the fixtures' cost 4 takes about a millisecond.
		auth.BcryptCost = 10
		DeferCleanup(func() { auth.BcryptCost = 4 })
		email, password, _, _ := env.addMember(env.project)
		ghost := "ghost-" + auth.Secret()[:8] + "@example.com"

		var known, unknown []time.Duration
		var knownBody, unknownBody []byte
		timed := func(addr string) (*fixtures.Response, time.Duration) {
			start := time.Now()
			r := env.login(addr, "not-"+password)
			return r, time.Since(start)
		}
		for i := range 13 {
			r1, d1 := timed(email)
			r2, d2 := timed(ghost)
			Expect(r1.Status).To(Equal(http.StatusBadRequest))
			Expect(r2.Status).To(Equal(http.StatusBadRequest))
			if i == 0 {
				knownBody, unknownBody = r1.Body, r2.Body
				continue // warm-up: the dummy hash is made on first use
			}
			known, unknown = append(known, d1), append(unknown, d2)
		}
		Expect(unknownBody).To(Equal(knownBody))
		k, u := median(known), median(unknown)
		ratio := float64(u) / float64(k)
		GinkgoWriter.Printf("median wrong password %v, unknown email %v, ratio %.2f\n", k, u, ratio)
		Expect(ratio).To(BeNumerically(">=", 0.5), "unknown email %v vs wrong password %v", u, k)
		Expect(ratio).To(BeNumerically("<=", 2.0), "unknown email %v vs wrong password %v", u, k)
	})

	It("answers a reset for an unknown, a known and a disabled account alike, and mails only the known one", func() {
		env := unthrottled()
		disabled, _, disabledID, _ := env.addMember(env.project)
		m := (&harness{srv: env.srv}).membership(disabledID)
		m["active"] = false
		r := env.do("PUT", "fhir/R4/ProjectMembership/"+m["id"].(string), env.srv.AdminToken, m)
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		ghost := "ghost-" + auth.Secret()[:8] + "@example.com"

		answers := map[string]*fixtures.Response{}
		for _, email := range []string{env.email, ghost, disabled} {
			answers[email] = env.do("POST", "auth/resetpassword", "", map[string]string{"email": email})
			Expect(answers[email].Status).To(Equal(http.StatusOK))
		}
		Expect(answers[ghost].Body).To(Equal(answers[env.email].Body))
		Expect(answers[disabled].Body).To(Equal(answers[env.email].Body))

		sent := map[string]int{}
		for _, project := range []string{env.project, ""} {
			msgs, err := env.srv.App.Store.ListMail(context.Background(), project, 1000)
			Expect(err).NotTo(HaveOccurred())
			for _, msg := range msgs {
				sent[strings.ToLower(msg.To)]++
			}
		}
		Expect(sent).To(HaveKeyWithValue(env.email, 1))
		Expect(sent).NotTo(HaveKey(ghost))
		Expect(sent).NotTo(HaveKey(disabled), "a disabled account gets no reset mail")
	})
})
