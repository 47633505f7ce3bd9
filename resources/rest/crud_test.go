package rest_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/fixtures"
	"github.com/rosterhq/roster/resources"
)

var _ = Describe("FHIR instance interactions", func() {
	t := freshTenant()

	Describe("create", func() {
		var r *fixtures.Response

		JustBeforeEach(func() {
			r = call("POST", fhir("Patient"), t.Token, patient("Chalmers", "Peter"))
		})

		It("answers 201 with the stored resource, Location, ETag and Last-Modified", func() {
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
			res := body(r)
			id, _ := res["id"].(string)
			Expect(id).NotTo(BeEmpty())
			Expect(res).To(HaveKeyWithValue("resourceType", "Patient"))
			Expect(meta(res)).To(HaveKeyWithValue("versionId", "1"))
			Expect(meta(res)).To(HaveKeyWithValue("project", t.Project))

			Expect(r.Header.Get("Location")).To(Equal(fullURL("Patient/" + id + "/_history/1")))
			Expect(r.Header.Get("ETag")).To(Equal(`W/"1"`))
			lastUpdated, err := time.Parse(time.RFC3339Nano, meta(res)["lastUpdated"].(string))
			Expect(err).NotTo(HaveOccurred())
			lastModified, err := http.ParseTime(r.Header.Get("Last-Modified"))
			Expect(err).NotTo(HaveOccurred())
			Expect(lastModified).To(Equal(lastUpdated.Truncate(time.Second)))
			Expect(lastUpdated).To(BeTemporally("~", time.Now(), time.Minute))
		})

		It("stores version 1 in the caller's project", func() {
			id := body(r)["id"].(string)
			rec := stored("Patient", id)
			Expect(rec.Version).To(BeEquivalentTo(1))
			Expect(rec.Project).To(Equal(t.Project))
			Expect(rec.Deleted).To(BeFalse())
			Expect(rec.Content).To(MatchJSON(r.Body))
		})

		It("answers the Location with the stored resource", func() {
			loc := body(r)
			got := call("GET", fhir("Patient/"+loc["id"].(string)+"/_history/1"), t.Token, nil)
			Expect(got.Status).To(Equal(http.StatusOK))
			Expect(got.Body).To(MatchJSON(r.Body))
		})
	})

	Describe("conditional create (If-None-Exist)", func() {
		const system = "http://example.org/mrn"
		var ident string

		BeforeEach(func() {
			ident = "MRN-" + t.Project[:8]
		})

		withIdentifier := func(family string) map[string]any {
			return person("Patient", family, nil, map[string]any{
				"identifier": []any{map[string]any{"system": system, "value": ident}},
			})
		}
		conditional := func(family string) *fixtures.Response {
			GinkgoHelper()
			return call("POST", fhir("Patient"), t.Token, withIdentifier(family), "If-None-Exist", "identifier="+system+"|"+ident)
		}
		count := func() int {
			GinkgoHelper()
			return len(resourceIDs(search(t.Token, "Patient", "identifier="+system+"|"+ident)))
		}

		It("creates the resource when nothing matches", func() {
			r := conditional("First")
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
			Expect(r.Header.Get("ETag")).To(Equal(`W/"1"`))
			Expect(count()).To(Equal(1))
		})

		It("answers 200 with the existing resource when one matches, creating nothing", func() {
			first := create(t.Token, withIdentifier("First"))

			r := conditional("Second")
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(body(r)["id"]).To(Equal(first["id"]))
			Expect(body(r)["name"]).To(Equal(first["name"]), "the match is answered unchanged")
			Expect(count()).To(Equal(1))
			Expect(stored("Patient", first["id"].(string)).Version).To(BeEquivalentTo(1))
		})

		It("answers 412 when several match, creating nothing", func() {
			create(t.Token, withIdentifier("First"))
			create(t.Token, withIdentifier("Second"))

			r := conditional("Third")
			outcome(r, http.StatusPreconditionFailed)
			Expect(count()).To(Equal(2))
		})

		It("does not match another project's resources", func() {
			other := newTenant()
			theirs := create(other.Token, withIdentifier("Theirs"))

			r := conditional("Mine")
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
			Expect(body(r)["id"]).NotTo(Equal(theirs["id"]))
		})

		It("creates one resource when concurrent creates with the same criteria match nothing", func() {
			answers := fixtures.Race(8, func(int) (*fixtures.Response, error) {
				return srv.Do("POST", fhir("Patient"), t.Token, withIdentifier("Raced"), "If-None-Exist", "identifier="+system+"|"+ident)
			})
			var created, matched []string
			for _, a := range answers {
				Expect(a.Err).NotTo(HaveOccurred())
				switch a.Status {
				case http.StatusCreated:
					created = append(created, body(a.Response)["id"].(string))
				case http.StatusOK:
					matched = append(matched, body(a.Response)["id"].(string))
				default:
					Fail("unexpected answer: " + string(a.Body))
				}
			}
			Expect(created).To(HaveLen(1))
			Expect(matched).To(HaveLen(7))
			Expect(matched).To(HaveEach(created[0]), "the others answer the one created")
			Expect(count()).To(Equal(1))
		})

		It("matches only in the super admin's own project, where it creates", func() {
			other := newTenant()
			theirs := create(other.Token, withIdentifier("Theirs"))

			r := call("POST", fhir("Patient"), srv.AdminToken, withIdentifier("Admin's"), "If-None-Exist", "identifier="+system+"|"+ident)
			Expect(r.Status).To(Equal(http.StatusCreated), string(r.Body))
			mine := body(r)["id"].(string)
			DeferCleanup(func() { call("DELETE", fhir("Patient/"+mine), srv.AdminToken, nil) })
			Expect(mine).NotTo(Equal(theirs["id"]))
			Expect(stored("Patient", theirs["id"].(string)).Version).To(BeEquivalentTo(1))
		})

		It("rejects an invalid search with 400", func() {
			r := call("POST", fhir("Patient"), t.Token, withIdentifier("X"), "If-None-Exist", "nosuchparam=1")
			Expect(issueText(outcome(r, http.StatusBadRequest))).To(ContainSubstring("nosuchparam"))
			Expect(count()).To(Equal(0))
		})
	})

	Describe("read and vread", func() {
		var created map[string]any
		var id string

		BeforeEach(func() {
			created = create(t.Token, patient("Chalmers", "Peter"))
			id = created["id"].(string)
		})

		It("reads the current version with its ETag and Last-Modified", func() {
			r := call("GET", fhir("Patient/"+id), t.Token, nil)
			Expect(r.Status).To(Equal(http.StatusOK))
			Expect(r.Header.Get("Content-Type")).To(HavePrefix("application/fhir+json"))
			Expect(r.Header.Get("ETag")).To(Equal(`W/"1"`))
			Expect(r.Header.Get("Last-Modified")).NotTo(BeEmpty())
			Expect(body(r)).To(Equal(created))
		})

		It("reads an older version after an update", func() {
			upd := patient("Chalmers", "Pete")
			Expect(call("PUT", fhir("Patient/"+id), t.Token, upd).Status).To(Equal(http.StatusOK))

			r := call("GET", fhir("Patient/"+id+"/_history/1"), t.Token, nil)
			Expect(r.Status).To(Equal(http.StatusOK))
			Expect(r.Header.Get("ETag")).To(Equal(`W/"1"`))
			Expect(body(r)).To(Equal(created))

			r = call("GET", fhir("Patient/"+id+"/_history/2"), t.Token, nil)
			Expect(r.Status).To(Equal(http.StatusOK))
			Expect(meta(body(r))).To(HaveKeyWithValue("versionId", "2"))
		})

		DescribeTable("answers 404 for what does not exist",
			func(path func() string) {
				outcome(call("GET", fhir(path()), t.Token, nil), http.StatusNotFound)
			},
			Entry("an unknown id", func() string { return "Patient/" + "00000000-0000-4000-8000-000000000000" }),
			Entry("an unknown version", func() string { return "Patient/" + id + "/_history/7" }),
			Entry("a version that is not a number", func() string { return "Patient/" + id + "/_history/abc" }),
			Entry("an id of another type", func() string { return "Practitioner/" + id }),
			Entry("an unknown type", func() string { return "Spaceship/" + id }),
		)
	})

	Describe("update", func() {
		var id string

		BeforeEach(func() {
			id = create(t.Token, patient("Chalmers", "Peter"))["id"].(string)
		})

		It("answers 200 with version 2 and stores it", func() {
			r := call("PUT", fhir("Patient/"+id), t.Token, patient("Chalmers", "Pete"))
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(r.Header.Get("ETag")).To(Equal(`W/"2"`))
			res := body(r)
			Expect(res["id"]).To(Equal(id))
			Expect(meta(res)).To(HaveKeyWithValue("versionId", "2"))
			Expect(meta(res)).To(HaveKeyWithValue("project", t.Project))

			rec := stored("Patient", id)
			Expect(rec.Version).To(BeEquivalentTo(2))
			Expect(storedJSON("Patient", id)["name"]).To(Equal(res["name"]))
			Expect(res["name"]).To(ConsistOf(HaveKeyWithValue("given", ConsistOf("Pete"))))
		})

		It("accepts an If-Match naming the current version", func() {
			r := call("PUT", fhir("Patient/"+id), t.Token, patient("Chalmers", "Pete"), "If-Match", `W/"1"`)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(stored("Patient", id).Version).To(BeEquivalentTo(2))
		})

		It("answers 412 to a stale If-Match and leaves the resource unchanged", func() {
			Expect(call("PUT", fhir("Patient/"+id), t.Token, patient("Chalmers", "Pete")).Status).To(Equal(http.StatusOK))
			before := stored("Patient", id)

			r := call("PUT", fhir("Patient/"+id), t.Token, patient("Stale", "Writer"), "If-Match", `W/"1"`)
			outcome(r, http.StatusPreconditionFailed)

			after := stored("Patient", id)
			Expect(after.Version).To(BeEquivalentTo(2))
			Expect(after.Content).To(MatchJSON(before.Content))
		})

		// Authentication reads the resource with the session, before the
		// body arrives (resources.Prefetch); a change landing in between
		// must not turn an unconditional write into a conflict.
		DescribeTable("applies a body that arrives after another change",
			func(method, contentType, payload string, ifMatch string, want int, version int, gender string) {
				pr, pw := io.Pipe()
				headers := []string{"Content-Type", contentType}
				if ifMatch != "" {
					headers = append(headers, "If-Match", ifMatch)
				}
				answer := make(chan *fixtures.Response, 1)
				go func() {
					defer GinkgoRecover()
					r, err := srv.Do(method, fhir("Patient/"+id), t.Token, pr, headers...)
					Expect(err).NotTo(HaveOccurred())
					answer <- r
				}()
				time.Sleep(300 * time.Millisecond) // the server is waiting for the body
				meanwhile := patient("Chalmers", "Peter")
				meanwhile["gender"] = "male"
				Expect(call("PUT", fhir("Patient/"+id), t.Token, meanwhile).Status).To(Equal(http.StatusOK))

				_, err := pw.Write([]byte(payload))
				Expect(err).NotTo(HaveOccurred())
				Expect(pw.Close()).To(Succeed())
				var r *fixtures.Response
				Eventually(answer).WithTimeout(10 * time.Second).Should(Receive(&r))
				Expect(r.Status).To(Equal(want), string(r.Body))
				rec := stored("Patient", id)
				Expect(rec.Version).To(BeEquivalentTo(version))
				Expect(storedJSON("Patient", id)).To(HaveKeyWithValue("gender", gender))
			},
			Entry("PUT without If-Match: written over the change", "PUT", "application/fhir+json",
				`{"resourceType":"Patient","gender":"female","name":[{"family":"Chalmers","given":["Pete"]}]}`, "", 200, 3, "female"),
			Entry("PUT with the If-Match the change made stale: 412", "PUT", "application/fhir+json",
				`{"resourceType":"Patient","gender":"female","name":[{"family":"Chalmers","given":["Pete"]}]}`, `W/"1"`, 412, 2, "male"),
			Entry("PATCH without If-Match: applied to the changed version", "PATCH", "application/json-patch+json",
				`[{"op":"add","path":"/gender","value":"female"}]`, "", 200, 3, "female"),
		)

		It("keeps the server's id and ignores the meta the client sends", func() {
			upd := patient("Chalmers", "Pete")
			upd["id"] = id
			upd["meta"] = map[string]any{"versionId": "41", "lastUpdated": "2001-01-01T00:00:00Z", "project": newTenant().Project}
			r := call("PUT", fhir("Patient/"+id), t.Token, upd)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(meta(body(r))).To(HaveKeyWithValue("versionId", "2"))
			Expect(meta(body(r))).To(HaveKeyWithValue("project", t.Project))
			Expect(meta(body(r))["lastUpdated"]).NotTo(HavePrefix("2001"))
			Expect(stored("Patient", id).Project).To(Equal(t.Project))
		})

		It("rejects a body whose id differs from the URL's", func() {
			upd := patient("Chalmers", "Pete")
			upd["id"] = "someone-else"
			outcome(call("PUT", fhir("Patient/"+id), t.Token, upd), http.StatusBadRequest)
			Expect(stored("Patient", id).Version).To(BeEquivalentTo(1))
		})

		It("answers 404 for an id that does not exist, creating nothing", func() {
			missing := "00000000-0000-4000-8000-00000000beef"
			outcome(call("PUT", fhir("Patient/"+missing), t.Token, patient("Nobody")), http.StatusNotFound)
			Expect(exists("Patient", missing)).To(BeFalse())
		})

		It("validates the new version like a create", func() {
			bad := patient("Chalmers")
			bad["gender"] = "robot"
			o := outcome(call("PUT", fhir("Patient/"+id), t.Token, bad), http.StatusBadRequest)
			Expect(expressions(o)).To(ContainElement("Patient.gender"))
			Expect(stored("Patient", id).Version).To(BeEquivalentTo(1))
		})
	})

	Describe("JSON Patch", func() {
		var id string

		BeforeEach(func() {
			id = create(t.Token, person("Patient", "Chalmers", []string{"Peter"}, map[string]any{"gender": "male"}))["id"].(string)
		})

		patch := func(ops string, headers ...string) *fixtures.Response {
			GinkgoHelper()
			return call("PATCH", fhir("Patient/"+id), t.Token, ops, append([]string{"Content-Type", "application/json-patch+json"}, headers...)...)
		}

		It("applies the operations as a new version", func() {
			r := patch(`[{"op":"test","path":"/gender","value":"male"},{"op":"replace","path":"/gender","value":"other"},{"op":"add","path":"/active","value":true}]`)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(r.Header.Get("ETag")).To(Equal(`W/"2"`))
			Expect(body(r)).To(HaveKeyWithValue("gender", "other"))
			Expect(body(r)).To(HaveKeyWithValue("active", true))

			saved := storedJSON("Patient", id)
			Expect(saved).To(HaveKeyWithValue("gender", "other"))
			Expect(meta(saved)).To(HaveKeyWithValue("versionId", "2"))
		})

		DescribeTable("rejects a patch with 400 and leaves the resource unchanged",
			func(ops string, headers ...string) {
				before := stored("Patient", id)
				outcome(patch(ops, headers...), http.StatusBadRequest)
				after := stored("Patient", id)
				Expect(after.Version).To(Equal(before.Version))
				Expect(after.Content).To(MatchJSON(before.Content))
			},
			Entry("a failing test operation", `[{"op":"test","path":"/gender","value":"female"},{"op":"replace","path":"/gender","value":"other"}]`),
			Entry("a path that does not exist", `[{"op":"replace","path":"/birthDate","value":"2000-01-01"}]`),
			Entry("a document that is not a patch", `{"gender":"other"}`),
			Entry("a result with an unknown element", `[{"op":"add","path":"/colour","value":"blue"}]`),
			Entry("a result that is invalid", `[{"op":"replace","path":"/gender","value":"robot"}]`),
			Entry("a change of id", `[{"op":"replace","path":"/id","value":"other-id"}]`),
			Entry("a change of resourceType", `[{"op":"replace","path":"/resourceType","value":"Practitioner"}]`),
		)

		It("answers 412 to a stale If-Match", func() {
			Expect(patch(`[{"op":"replace","path":"/gender","value":"other"}]`).Status).To(Equal(http.StatusOK))
			outcome(patch(`[{"op":"replace","path":"/gender","value":"female"}]`, "If-Match", `W/"1"`), http.StatusPreconditionFailed)
			Expect(storedJSON("Patient", id)).To(HaveKeyWithValue("gender", "other"))
		})
	})

	Describe("delete", func() {
		var id string

		BeforeEach(func() {
			id = create(t.Token, patient("Chalmers", "Peter"))["id"].(string)
		})

		It("answers 200 with an OperationOutcome, then the resource is gone (410)", func() {
			r := call("DELETE", fhir("Patient/"+id), t.Token, nil)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(body(r)).To(HaveKeyWithValue("resourceType", "OperationOutcome"))

			rec := stored("Patient", id)
			Expect(rec.Deleted).To(BeTrue())
			Expect(rec.Version).To(BeEquivalentTo(2))

			outcome(call("GET", fhir("Patient/"+id), t.Token, nil), http.StatusGone)
			Expect(resourceIDs(search(t.Token, "Patient", "_id="+id))).To(BeEmpty())
		})

		It("keeps the earlier versions readable", func() {
			Expect(call("DELETE", fhir("Patient/"+id), t.Token, nil).Status).To(Equal(http.StatusOK))
			Expect(call("GET", fhir("Patient/"+id+"/_history/1"), t.Token, nil).Status).To(Equal(http.StatusOK))
			outcome(call("GET", fhir("Patient/"+id+"/_history/2"), t.Token, nil), http.StatusGone)
		})

		It("refuses to update or patch a deleted resource (410)", func() {
			Expect(call("DELETE", fhir("Patient/"+id), t.Token, nil).Status).To(Equal(http.StatusOK))
			outcome(call("PUT", fhir("Patient/"+id), t.Token, patient("Back")), http.StatusGone)
			outcome(call("PATCH", fhir("Patient/"+id), t.Token, `[{"op":"add","path":"/active","value":true}]`,
				"Content-Type", "application/json-patch+json"), http.StatusGone)
			Expect(stored("Patient", id).Version).To(BeEquivalentTo(2))
		})

		It("answers 404 for an id that does not exist", func() {
			outcome(call("DELETE", fhir("Patient/00000000-0000-4000-8000-000000000000"), t.Token, nil), http.StatusNotFound)
		})
	})

	Describe("uniqueness", func() {
		It("refuses a second User with the same email, in any case, with 409", func() {
			email := "unique-" + t.Project[:8] + "@example.com"
			first := create(t.Token, map[string]any{"resourceType": "User", "email": email})
			outcome(call("POST", fhir("User"), t.Token, map[string]any{"resourceType": "User", "email": strings.ToUpper(email)}), http.StatusConflict)
			Expect(resourceIDs(search(t.Token, "User", "email="+email))).To(ConsistOf(first["id"]))

			other := create(t.Token, map[string]any{"resourceType": "User", "email": "other-" + email})
			other["email"] = email
			outcome(call("PUT", fhir("User/"+other["id"].(string)), t.Token, other), http.StatusConflict)
			Expect(storedJSON("User", other["id"].(string))).To(HaveKeyWithValue("email", "other-"+email))
		})

		It("frees the email when the User is deleted", func() {
			email := "reused-" + t.Project[:8] + "@example.com"
			first := create(t.Token, map[string]any{"resourceType": "User", "email": email})
			Expect(call("DELETE", fhir("User/"+first["id"].(string)), t.Token, nil).Status).To(Equal(http.StatusOK))
			create(t.Token, map[string]any{"resourceType": "User", "email": email})
		})

		It("refuses a second membership of the same user and profile in a project with 409", func() {
			user := create(t.Token, map[string]any{"resourceType": "User", "email": "member-" + t.Project[:8] + "@example.com"})
			prac := create(t.Token, patient("Profile"))
			m := map[string]any{"resourceType": "ProjectMembership",
				"user": map[string]any{"reference": "User/" + user["id"].(string)}, "profile": map[string]any{"reference": "Patient/" + prac["id"].(string)}}
			create(t.Token, m)
			outcome(call("POST", fhir("ProjectMembership"), t.Token, m), http.StatusConflict)
			Expect(resourceIDs(search(t.Token, "ProjectMembership", "user=User/"+user["id"].(string)))).To(HaveLen(1))
		})
	})

	Describe("history", func() {
		var id string

		BeforeEach(func() {
			id = create(t.Token, patient("Chalmers", "Peter"))["id"].(string)
			Expect(call("PUT", fhir("Patient/"+id), t.Token, patient("Chalmers", "Pete")).Status).To(Equal(http.StatusOK))
			Expect(call("DELETE", fhir("Patient/"+id), t.Token, nil).Status).To(Equal(http.StatusOK))
		})

		versionsOf := func(b map[string]any) []string {
			out := []string{}
			for _, e := range entries(b) {
				out = append(out, e["response"].(map[string]any)["etag"].(string))
			}
			return out
		}

		It("lists an instance's versions newest first, the deletion included", func() {
			r := call("GET", fhir("Patient/"+id+"/_history"), t.Token, nil)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			b := body(r)
			Expect(b).To(HaveKeyWithValue("type", "history"))
			Expect(versionsOf(b)).To(Equal([]string{`W/"3"`, `W/"2"`, `W/"1"`}))

			es := entries(b)
			Expect(es[0]).NotTo(HaveKey("resource"), "a deletion has no resource")
			Expect(es[0]["request"]).To(HaveKeyWithValue("method", "DELETE"))
			Expect(es[1]["request"]).To(HaveKeyWithValue("method", "PUT"))
			Expect(es[2]["request"]).To(HaveKeyWithValue("method", "POST"))
			Expect(meta(es[1]["resource"].(map[string]any))).To(HaveKeyWithValue("versionId", "2"))
			Expect(meta(es[2]["resource"].(map[string]any))).To(HaveKeyWithValue("versionId", "1"))
			for _, e := range es {
				Expect(e["fullUrl"]).To(Equal(fullURL("Patient/" + id)))
			}

			recs, err := srv.App.Store.History(context.Background(), &resources.HistoryQuery{Type: "Patient", ID: id, Count: 10})
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(HaveLen(3))
		})

		It("lists the type's versions in the project newest first", func() {
			other := create(t.Token, patient("Windsor", "Anna"))["id"].(string)

			b := body(call("GET", fhir("Patient/_history"), t.Token, nil))
			Expect(b).To(HaveKeyWithValue("type", "history"))
			var got []string
			for _, e := range entries(b) {
				got = append(got, e["request"].(map[string]any)["url"].(string)+" "+e["response"].(map[string]any)["etag"].(string))
			}
			Expect(got).To(Equal([]string{
				"Patient/" + other + ` W/"1"`,
				"Patient/" + id + ` W/"3"`,
				"Patient/" + id + ` W/"2"`,
				"Patient/" + id + ` W/"1"`,
			}))
		})

		It("pages through current and superseded versions alike", func() {
			other := create(t.Token, patient("Windsor", "Anna"))["id"].(string)
			page := func(query string) []string {
				GinkgoHelper()
				var got []string
				for _, e := range entries(body(call("GET", fhir("Patient/_history?"+query), t.Token, nil))) {
					got = append(got, e["request"].(map[string]any)["url"].(string)+" "+e["response"].(map[string]any)["etag"].(string))
				}
				return got
			}
			Expect(page("_count=2")).To(Equal([]string{"Patient/" + other + ` W/"1"`, "Patient/" + id + ` W/"3"`}))
			Expect(page("_count=2&_offset=2")).To(Equal([]string{"Patient/" + id + ` W/"2"`, "Patient/" + id + ` W/"1"`}))
			Expect(page("_count=2&_offset=4")).To(BeEmpty())
			Expect(page("_count=1&_offset=1")).To(Equal([]string{"Patient/" + id + ` W/"3"`}))
		})

		It("links self, first, next and previous through the pages of an instance's history", func() {
			var got []string
			var prev []string
			next := fhir("Patient/" + id + "/_history?_count=2")
			for pages := 0; next != ""; pages++ {
				Expect(pages).To(BeNumerically("<", 3), "the last page has no next link")
				b := body(call("GET", next, t.Token, nil))
				got = append(got, versionsOf(b)...)
				rel := map[string]string{}
				for _, l := range b["link"].([]any) {
					l := l.(map[string]any)
					rel[l["relation"].(string)] = l["url"].(string)
				}
				Expect(rel["self"]).To(Equal(fullURL(strings.TrimPrefix(next, "fhir/R4/"))))
				Expect(rel["first"]).To(Equal(fullURL("Patient/" + id + "/_history?_count=2")))
				if pages == 0 {
					Expect(rel).NotTo(HaveKey("previous"))
				} else {
					Expect(rel["previous"]).To(Equal(prev[len(prev)-1]))
				}
				prev = append(prev, rel["self"])
				next = ""
				if u, ok := rel["next"]; ok {
					Expect(u).To(HavePrefix(srv.URL))
					next = strings.TrimPrefix(u, srv.URL)
				}
			}
			Expect(got).To(Equal([]string{`W/"3"`, `W/"2"`, `W/"1"`}))
			Expect(prev).To(HaveLen(2))
		})

		It("reports each version's interaction as it was made, a patch as PATCH", func() {
			patched := create(t.Token, patient("Chalmers", "Peter"))["id"].(string)
			Expect(call("PATCH", fhir("Patient/"+patched), t.Token, `[{"op":"add","path":"/active","value":true}]`,
				"Content-Type", "application/json-patch+json").Status).To(Equal(http.StatusOK))
			Expect(call("PUT", fhir("Patient/"+patched), t.Token, patient("Chalmers", "Pete")).Status).To(Equal(http.StatusOK))
			Expect(call("PATCH", fhir("Patient/"+patched), t.Token, `[{"op":"add","path":"/active","value":false}]`,
				"Content-Type", "application/json-patch+json").Status).To(Equal(http.StatusOK))

			var got []string
			for _, e := range entries(body(call("GET", fhir("Patient/"+patched+"/_history"), t.Token, nil))) {
				got = append(got, e["request"].(map[string]any)["method"].(string)+" "+e["response"].(map[string]any)["etag"].(string))
			}
			Expect(got).To(Equal([]string{`PATCH W/"4"`, `PUT W/"3"`, `PATCH W/"2"`, `POST W/"1"`}))
		})

		It("answers 404 for the history of an unknown id", func() {
			outcome(call("GET", fhir("Patient/00000000-0000-4000-8000-000000000000/_history"), t.Token, nil), http.StatusNotFound)
		})
	})
})
