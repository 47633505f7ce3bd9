package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/admin/medable"
	"github.com/rosterhq/roster/auth"
	"github.com/rosterhq/roster/fixtures"
)

// Migration 17: Medable's own login tables — its remembered locations with
// their pending codes, and its wrong-password counts — become the core's
// login_devices rows and throttle counts, and go.
var _ = Describe("Upgrading a database with Medable's own login tables", func() {
	srv := freshDBServer()

	const password = "a-good-long-password"

	It("carries verified devices, pending codes and account locks into the core, and drops the tables", func() {
		ctx := context.Background()
		org, err := srv.CreateProject("Upgrade org " + fixtures.Uniq())
		Expect(err).NotTo(HaveOccurred())
		p := srv.send("GET", "Project/"+org, nil, 200)
		p["extension"] = []any{map[string]any{"url": medable.ExtLoginVerification, "valueBoolean": true}}
		srv.send("PUT", "Project/"+org, p, 200)

		account := func(name string) (email, userID string) {
			GinkgoHelper()
			email = fixtures.Email(name)
			Expect(srv.AddMember(org, email, "Up", "Grade", password, false)).To(Succeed())
			users := srv.bundle("User?email=" + email)
			Expect(users).To(HaveLen(1))
			return email, users[0]["id"].(string)
		}
		verified, verifiedID := account("verified")
		pending, pendingID := account("pending")
		locked, _ := account("locked")
		unlocked, _ := account("unlocked")

		laptop, phone := auth.Secret(), auth.Secret() // the md.fingerprint cookies
		code := "042137"
		now := time.Now()
		micros := func(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

		By("putting back the tables migration 7 made, with the rows Roster wrote in them before migration 17")
		stmts := append([]string{"DROP TABLE login_devices"}, srv.App.Store.MigrationSQL(7)...)
		for _, stmt := range append(stmts,
			// A location verified a day ago.
			fmt.Sprintf(`INSERT INTO medable_locations (id, user_id, project_id, fingerprint_hash, name, code_hash, code_expires_at, code_failures, verified_at, created_at, last_used_at)
VALUES ('loc-verified', '%s', '%s', '%s', 'Laptop', '', 0, 0, %s, %s, %s)`,
				verifiedID, org, auth.HashSecret(laptop), micros(now.Add(-24*time.Hour)), micros(now.Add(-24*time.Hour)), micros(now.Add(-time.Hour))),
			// A location waiting for its code (one wrong try so far).
			fmt.Sprintf(`INSERT INTO medable_locations (id, user_id, project_id, fingerprint_hash, name, code_hash, code_expires_at, code_failures, verified_at, created_at, last_used_at)
VALUES ('loc-pending', '%s', '%s', '%s', '', '%s', %s, 1, 0, %s, 0)`,
				pendingID, org, auth.HashSecret(phone), auth.HashSecret(auth.HashSecret(phone)+":"+code), micros(now.Add(8*time.Minute)), micros(now.Add(-2*time.Minute))),
			// Five wrong passwords a minute ago lock the account; five
			// twenty minutes ago no longer do.
			fmt.Sprintf("INSERT INTO medable_login_failures (key, failures, window_start) VALUES ('%s|%s', 5, %s)", org, locked, micros(now.Add(-time.Minute))),
			fmt.Sprintf("INSERT INTO medable_login_failures (key, failures, window_start) VALUES ('%s|%s', 5, %s)", org, unlocked, micros(now.Add(-20*time.Minute))),
			"DELETE FROM schema_migrations WHERE version = 17",
		) {
			_, err := srv.DB.ExecContext(ctx, stmt)
			Expect(err).NotTo(HaveOccurred(), stmt)
		}

		By("migrating")
		Expect(srv.App.Store.Migrate(ctx)).To(Succeed())
		count := func(q string) int {
			GinkgoHelper()
			var n int
			Expect(srv.DB.QueryRowContext(ctx, q).Scan(&n)).To(Succeed())
			return n
		}
		tables := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('medable_locations', 'medable_login_failures')"
		if srv.Config.DatabaseURL != "" {
			tables = "SELECT COUNT(*) FROM pg_tables WHERE tablename IN ('medable_locations', 'medable_login_failures') AND schemaname = current_schema()"
		}
		Expect(count(tables)).To(BeZero(), "Medable's tables are gone")
		Expect(count("SELECT COUNT(*) FROM login_devices")).To(Equal(2))
		Expect(count("SELECT COUNT(*) FROM throttles WHERE key LIKE 'lockout:%'")).To(Equal(1), "the ended window is dropped")

		login := func(email, cookie string, location map[string]any) *fixtures.Response {
			GinkgoHelper()
			body := map[string]any{"email": email, "password": password}
			if location != nil {
				body["location"] = location
			}
			headers := []string{"Content-Type", "application/json"}
			if cookie != "" {
				headers = append(headers, "Cookie", medable.FingerprintCookie+"="+cookie)
			}
			r, err := srv.Do("POST", "medable/"+org+"/v2/accounts/login", "", body, headers...)
			Expect(err).NotTo(HaveOccurred())
			return r
		}
		expectAccount := func(r *fixtures.Response, email string) {
			GinkgoHelper()
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(r.JSON()).To(HaveKeyWithValue("object", "account"), string(r.Body))
			Expect(r.JSON()).To(HaveKeyWithValue("email", email))
		}
		expectFault := func(r *fixtures.Response, status int, errCode string) {
			GinkgoHelper()
			Expect(r.Status).To(Equal(status), string(r.Body))
			Expect(r.JSON()).To(HaveKeyWithValue("errCode", errCode), string(r.Body))
		}

		By("signing the verified location in without a code")
		expectAccount(login(verified, laptop, nil), verified)
		expectFault(login(verified, phone, nil), http.StatusOK, "cortex.success.newLocation")

		By("still refusing the locked account, even its right password, until its window ends")
		r := login(locked, "", nil)
		expectFault(r, http.StatusTooManyRequests, "cortex.throttled.unspecified")
		Expect(r.JSON()).To(HaveKeyWithValue("reason", "Too many failed login attempts: try again later"))
		retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
		Expect(err).NotTo(HaveOccurred())
		Expect(retry).To(BeNumerically("~", 14*60, 5))
		// The password is taken: what remains is the org's location check.
		expectFault(login(unlocked, "", nil), http.StatusOK, "cortex.success.newLocation")

		By("taking the pending code, on its own location only, and it still counts its wrong tries")
		expectFault(login(pending, phone, nil), http.StatusForbidden, "cortex.accessDenied.unverifiedLocation")
		expectFault(login(pending, laptop, map[string]any{"verificationToken": code}), http.StatusBadRequest, "cortex.invalidArgument.locationToken")
		var failures int
		Expect(srv.DB.QueryRowContext(ctx, "SELECT code_failures FROM login_devices WHERE id = 'loc-pending'").Scan(&failures)).To(Succeed())
		Expect(failures).To(Equal(1))
		expectAccount(login(pending, phone, map[string]any{"verificationToken": code}), pending)
		expectAccount(login(pending, phone, nil), pending)
	})
})
