package rest_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/resources"
)

// fixture is a set of resources created for a search, by label.
type fixture map[string]string

// ids resolves labels to the ids created for them.
func (f fixture) ids(labels ...string) []string {
	GinkgoHelper()
	out := []string{}
	for _, l := range labels {
		id, ok := f[l]
		Expect(ok).To(BeTrue(), "no resource labelled %q", l)
		out = append(out, id)
	}
	return out
}

// labels turns ids back into labels, for readable failures.
func (f fixture) labels(ids []string) []string {
	out := []string{}
	for _, id := range ids {
		label := "?" + id
		for l, v := range f {
			if v == id {
				label = l
			}
		}
		out = append(out, label)
	}
	return out
}

func sleepTick() { time.Sleep(3 * time.Millisecond) } // distinct lastUpdated values

var _ = Describe("FHIR search", func() {
	Describe("the searchset Bundle", func() {
		t := freshTenant()
		var ids []string

		BeforeEach(func() {
			ids = nil
			for i := range 3 {
				ids = append(ids, create(t.Token, patient("Bundled", "N"+strconv.Itoa(i)))["id"].(string))
				sleepTick()
			}
		})

		It("has a fullUrl and search mode per entry and a self link", func() {
			b := search(t.Token, "Patient", "family=bundled")
			es := entries(b)
			Expect(es).To(HaveLen(3))
			for _, e := range es {
				res := e["resource"].(map[string]any)
				Expect(e["fullUrl"]).To(Equal(fullURL("Patient/" + res["id"].(string))))
				Expect(e["search"]).To(HaveKeyWithValue("mode", "match"))
			}
			self := links(b)["self"]
			Expect(self).NotTo(BeNil())
			Expect(self.String()).To(HavePrefix(fullURL("Patient?")))
			Expect(self.Query().Get("family")).To(Equal("bundled"))
		})

		It("lists the most recently updated first by default", func() {
			Expect(resourceIDs(search(t.Token, "Patient", "family=bundled"))).To(Equal([]string{ids[2], ids[1], ids[0]}))
		})

		It("carries total only when asked, and then counts every match", func() {
			Expect(search(t.Token, "Patient", "family=bundled")).NotTo(HaveKey("total"))
			b := search(t.Token, "Patient", "family=bundled&_total=accurate&_count=1")
			Expect(b["total"]).To(BeEquivalentTo(3))
			Expect(entries(b)).To(HaveLen(1))
		})

		It("answers _count=0 with the total and no entries", func() {
			b := search(t.Token, "Patient", "family=bundled&_count=0")
			Expect(b["total"]).To(BeEquivalentTo(3))
			Expect(entries(b)).To(BeEmpty())
		})

		It("accepts the same search as a form POST to _search", func() {
			r := call("POST", fhir("Patient/_search"), t.Token, "family=bundled", "Content-Type", "application/x-www-form-urlencoded")
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			Expect(resourceIDs(body(r))).To(ConsistOf(ids))
		})

		It("leaves deleted resources out", func() {
			Expect(call("DELETE", fhir("Patient/"+ids[1]), t.Token, nil).Status).To(Equal(http.StatusOK))
			Expect(resourceIDs(search(t.Token, "Patient", "family=bundled"))).To(Equal([]string{ids[2], ids[0]}))
		})
	})

	Describe("paging", func() {
		t := freshTenant()
		var newestFirst []string

		createPages := func(n int) {
			GinkgoHelper()
			newestFirst = nil
			for i := range n {
				id := create(t.Token, patient("Paged", "P"+strconv.Itoa(i)))["id"].(string)
				newestFirst = append([]string{id}, newestFirst...)
				sleepTick()
			}
		}
		// follow GETs a link the server handed out.
		follow := func(u *url.URL) map[string]any {
			GinkgoHelper()
			Expect(u.String()).To(HavePrefix(srv.URL))
			r := call("GET", strings.TrimPrefix(u.String(), srv.URL), t.Token, nil)
			Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
			return body(r)
		}
		offsetOf := func(u *url.URL) string {
			return u.Query().Get("_offset")
		}

		It("links self, first, next and previous through every page", func() {
			createPages(5)

			page1 := search(t.Token, "Patient", "family=paged&_count=2")
			Expect(resourceIDs(page1)).To(Equal(newestFirst[0:2]))
			l := links(page1)
			Expect(l).To(HaveKey("self"))
			Expect(l).To(HaveKey("first"))
			Expect(l).NotTo(HaveKey("previous"))
			for _, rel := range []string{"self", "first", "next"} {
				Expect(l[rel].Query().Get("family")).To(Equal("paged"), rel)
				Expect(l[rel].Query().Get("_count")).To(Equal("2"), rel)
			}
			Expect(offsetOf(l["self"])).To(BeElementOf("", "0"))
			Expect(offsetOf(l["first"])).To(BeElementOf("", "0"))
			Expect(offsetOf(l["next"])).To(Equal("2"))

			page2 := follow(l["next"])
			Expect(resourceIDs(page2)).To(Equal(newestFirst[2:4]))
			l = links(page2)
			Expect(offsetOf(l["self"])).To(Equal("2"))
			Expect(offsetOf(l["next"])).To(Equal("4"))
			Expect(offsetOf(l["previous"])).To(BeElementOf("", "0"))
			Expect(resourceIDs(follow(l["previous"]))).To(Equal(newestFirst[0:2]))

			page3 := follow(l["next"])
			Expect(resourceIDs(page3)).To(Equal(newestFirst[4:5]))
			l = links(page3)
			Expect(l).NotTo(HaveKey("next"))
			Expect(offsetOf(l["previous"])).To(Equal("2"))
			Expect(resourceIDs(follow(l["first"]))).To(Equal(newestFirst[0:2]))
		})

		It("gives the last page no next link when it is exactly full", func() {
			createPages(4)
			page2 := search(t.Token, "Patient", "family=paged&_count=2&_offset=2")
			Expect(resourceIDs(page2)).To(Equal(newestFirst[2:4]))
			Expect(links(page2)).NotTo(HaveKey("next"))
		})

		It("answers 20 entries by default", func() {
			createPages(21)
			b := search(t.Token, "Patient", "family=paged")
			Expect(resourceIDs(b)).To(Equal(newestFirst[:20]))
			next := links(b)["next"]
			Expect(next).NotTo(BeNil())
			Expect(next.Query().Get("_count")).To(Equal("20"))
			Expect(resourceIDs(follow(next))).To(Equal(newestFirst[20:]))
		})

		It("accepts _count up to 1000", func() {
			createPages(2)
			Expect(resourceIDs(search(t.Token, "Patient", "family=paged&_count=1000"))).To(Equal(newestFirst))
		})

		DescribeTable("rejects a bad page with 400 naming the parameter",
			func(query, param string) {
				o := outcome(call("GET", fhir("Patient?"+query), t.Token, nil), http.StatusBadRequest)
				Expect(expressions(o)).To(ContainElement(param))
			},
			Entry("_count above 1000", "_count=1001", "_count"),
			Entry("a negative _count", "_count=-1", "_count"),
			Entry("a _count that is not a number", "_count=ten", "_count"),
			Entry("a negative _offset", "_offset=-2", "_offset"),
		)
	})

	Describe("_sort", func() {
		t := freshTenant()
		var f fixture

		BeforeEach(func() {
			f = fixture{}
			for _, p := range []struct{ label, family, birth string }{
				{"baker", "Baker", "1980-01-01"},
				{"adams", "Adams", "1990-01-01"},
				{"clark", "Clark", "1970-01-01"},
				{"dawson", "Dawson", ""},
			} {
				extra := map[string]any{}
				if p.birth != "" {
					extra["birthDate"] = p.birth
				}
				f[p.label] = create(t.Token, person("Patient", p.family, nil, extra))["id"].(string)
				sleepTick()
			}
		})

		DescribeTable("orders the matches",
			func(sort string, want ...string) {
				got := resourceIDs(search(t.Token, "Patient", "_sort="+sort))
				Expect(f.labels(got)).To(Equal(want))
			},
			Entry("by _lastUpdated ascending", "_lastUpdated", "baker", "adams", "clark", "dawson"),
			Entry("by _lastUpdated descending", "-_lastUpdated", "dawson", "clark", "adams", "baker"),
			Entry("by family ascending", "family", "adams", "baker", "clark", "dawson"),
			Entry("by family descending", "-family", "dawson", "clark", "baker", "adams"),
			// A missing value sorts as the largest, on both databases (PostgreSQL's default).
			Entry("by birthdate ascending", "birthdate", "clark", "baker", "adams", "dawson"),
			Entry("by birthdate descending", "-birthdate", "dawson", "adams", "baker", "clark"),
			Entry("by two keys", "-birthdate,family", "dawson", "adams", "baker", "clark"),
		)

		It("rejects a key it cannot sort by", func() {
			o := outcome(call("GET", fhir("Patient?_sort=colour"), t.Token, nil), http.StatusBadRequest)
			Expect(expressions(o)).To(ContainElement("_sort"))
		})
	})

	// The person types share their parameters; each gets the same matrix.
	for _, typ := range []string{"Patient", "Practitioner", "RelatedPerson"} {
		Describe(typ+" parameters", Ordered, ContinueOnFailure, func() {
			var t tenant
			var f fixture

			BeforeAll(func() {
				t = newTenant()
				f = fixture{}
				if typ == "RelatedPerson" {
					f["patient1"] = create(t.Token, patient("Subject", "One"))["id"].(string)
					f["patient2"] = create(t.Token, patient("Subject", "Two"))["id"].(string)
				}
				add := func(label, family string, given []string, extra map[string]any) {
					if typ == "RelatedPerson" {
						target := "patient1"
						if label == "anna" {
							target = "patient2"
						}
						extra["patient"] = map[string]any{"reference": "Patient/" + f[target]}
					}
					f[label] = create(t.Token, person(typ, family, given, extra))["id"].(string)
				}
				add("peter", "Chalmers", []string{"Peter", "James"}, map[string]any{
					"telecom": []any{
						map[string]any{"system": "email", "value": "Peter.Chalmers@Example.com"},
						map[string]any{"system": "phone", "value": "+1-555-0100"},
					},
					"identifier": []any{map[string]any{"system": "http://example.org/mrn", "value": "MRN-1"}},
					"gender":     "male", "birthDate": "1974-12-25", "active": true,
				})
				add("anna", "Windsor", []string{"Anna"}, map[string]any{
					"telecom":    []any{map[string]any{"system": "email", "value": "anna@example.org"}},
					"identifier": []any{map[string]any{"system": "http://other.example/id", "value": "MRN-2"}},
					"gender":     "female", "birthDate": "1990-03-14", "active": false,
				})
				add("jo", "Chalmersson", []string{"Jo"}, map[string]any{
					"gender": "other", "birthDate": "1990-07-01",
				})
			})

			matrix := []TableEntry{
				Entry("name, by prefix", "name=pet", "peter"),
				Entry("name, case-insensitively", "name=CHALM", "peter", "jo"),
				Entry("name, any given name", "name=james", "peter"),
				Entry("name, several values ORed", "name=anna,jo", "anna", "jo"),
				Entry("family, by prefix", "family=chalmers", "peter", "jo"),
				Entry("family:exact", "family:exact=Chalmers", "peter"),
				Entry("family:exact, case-sensitively", "family:exact=chalmers"),
				Entry("family:exact, not a prefix", "family:exact=Chalm"),
				Entry("given, by prefix, case-insensitively", "given=AN", "anna"),
				Entry("given:exact", "given:exact=Anna", "anna"),
				Entry("given:exact, not a prefix", "given:exact=Ann"),
				Entry("email, case-insensitively", "email=PETER.chalmers@example.COM", "peter"),
				Entry("email, not by prefix", "email=peter"),
				Entry("email, with its own system", "email=email|anna@example.org", "anna"),
				Entry("email, with another system", "email=phone|anna@example.org"),
				Entry("email, a phone number is not an email", "email=%2B1-555-0100"),
				Entry("phone", "phone=%2B1-555-0100", "peter"),
				Entry("phone, an email is not a phone", "phone=anna@example.org"),
				Entry("phone, several values ORed", "phone=%2B1-555-0199,%2B1-555-0100", "peter"),
				Entry("telecom, system|value", "telecom=phone|%2B1-555-0100", "peter"),
				Entry("telecom, email system|value", "telecom=email|anna@example.org", "anna"),
				Entry("telecom, an email in any case", "telecom=email|PETER.chalmers@example.COM", "peter"),
				Entry("telecom, value alone", "telecom=%2B1-555-0100", "peter"),
				Entry("telecom, the wrong system", "telecom=fax|%2B1-555-0100"),
				Entry("identifier, system|value", "identifier=http://example.org/mrn|MRN-1", "peter"),
				Entry("identifier, value alone", "identifier=MRN-2", "anna"),
				Entry("identifier, the wrong system", "identifier=http://example.org/mrn|MRN-2"),
				Entry("identifier, system| alone", "identifier=http://other.example/id|", "anna"),
				Entry("gender", "gender=female", "anna"),
				Entry("gender, several values", "gender=male,other", "peter", "jo"),
				Entry("birthdate, a full date", "birthdate=1974-12-25", "peter"),
				Entry("birthdate, eq prefix", "birthdate=eq1974-12-25", "peter"),
				Entry("birthdate, a year", "birthdate=1990", "anna", "jo"),
				Entry("birthdate, a month", "birthdate=1990-03", "anna"),
				Entry("birthdate, gt a year", "birthdate=gt1980", "anna", "jo"),
				Entry("birthdate, gt a day", "birthdate=gt1990-03-14", "jo"),
				Entry("birthdate, ge a day", "birthdate=ge1990-03-14", "anna", "jo"),
				Entry("birthdate, lt a day", "birthdate=lt1990-03-14", "peter"),
				Entry("birthdate, le a day", "birthdate=le1990-03-14", "peter", "anna"),
				Entry("birthdate, lt a year", "birthdate=lt1990", "peter"),
				Entry("birthdate, a range (ge and le ANDed)", "birthdate=ge1980&birthdate=le1990-06", "anna"),
				Entry("active=true", "active=true", "peter"),
				Entry("active=false", "active=false", "anna"),
				Entry("several parameters ANDed", "family=chalmers&gender=other", "jo"),
			}
			if typ == "RelatedPerson" {
				matrix = append(matrix,
					Entry("patient, as a reference", "patient=Patient/{patient1}", "peter", "jo"),
					Entry("patient, as an id", "patient={patient2}", "anna"),
					Entry("patient, with a type modifier", "patient:Patient={patient2}", "anna"),
				)
			}
			matrix = append(matrix,
				Entry("_id", "_id={peter}", "peter"),
				Entry("_id, several", "_id={peter},{jo}", "peter", "jo"),
			)

			DescribeTable("matches",
				func(query string, want ...string) {
					for label, id := range f {
						query = strings.ReplaceAll(query, "{"+label+"}", id)
					}
					got := resourceIDs(search(t.Token, typ, query+"&_count=100"))
					if typ == "RelatedPerson" {
						// the Patients the fixture needs are not RelatedPersons
						Expect(got).NotTo(ContainElements(f["patient1"], f["patient2"]))
					}
					Expect(f.labels(got)).To(ConsistOf(want))
				},
				matrix,
			)

			DescribeTable("rejects with 400 naming the parameter",
				func(query, param string) {
					o := outcome(call("GET", fhir(typ+"?"+query), t.Token, nil), http.StatusBadRequest)
					Expect(issueText(o)).To(ContainSubstring(param))
				},
				Entry("an unknown parameter", "colour=blue", "colour"),
				Entry("a date that is not a date", "birthdate=yesterday", "birthdate"),
				Entry("an unknown modifier", "family:sounds-like=x", "family"),
				Entry("a modifier on a token", "gender:exact=male", "gender"),
			)
		})
	}

	Describe("User, ProjectMembership and ClientApplication parameters", Ordered, ContinueOnFailure, func() {
		var t tenant
		var f fixture

		BeforeAll(func() {
			t = newTenant()
			f = fixture{}
			suffix := t.Project[:8]
			f["user"] = create(t.Token, map[string]any{"resourceType": "User", "firstName": "Mixed", "lastName": "Case",
				"email": "Mixed.Case." + suffix + "@Example.com"})["id"].(string)
			f["other-user"] = create(t.Token, map[string]any{"resourceType": "User", "firstName": "Other",
				"email": "other." + suffix + "@example.com"})["id"].(string)
			f["profile"] = create(t.Token, person("Practitioner", "Member", []string{"Mo"}, nil))["id"].(string)
			f["membership"] = create(t.Token, map[string]any{"resourceType": "ProjectMembership",
				"user":       map[string]any{"reference": "User/" + f["user"]},
				"profile":    map[string]any{"reference": "Practitioner/" + f["profile"]},
				"externalId": "ext-" + suffix, "active": false,
			})["id"].(string)
			admins := resourceIDs(search(t.Token, "ProjectMembership", "active=true"))
			Expect(admins).To(HaveLen(1), "the tenant's own admin membership")
			f["admin-membership"] = admins[0]
			f["billing"] = create(t.Token, map[string]any{"resourceType": "ClientApplication", "name": "Billing Service"})["id"].(string)
			f["scheduler"] = create(t.Token, map[string]any{"resourceType": "ClientApplication", "name": "Scheduler"})["id"].(string)
			f["project"] = t.Project
			f["suffix"] = suffix
		})

		DescribeTable("matches",
			func(typ, query string, want ...string) {
				for label, id := range f {
					query = strings.ReplaceAll(query, "{"+label+"}", id)
				}
				got := resourceIDs(search(t.Token, typ, query))
				Expect(f.labels(got)).To(ConsistOf(want))
			},
			Entry("User email, case-insensitively", "User", "email=mixed.case.{suffix}@example.COM", "user"),
			Entry("User email, exactly", "User", "email=other.{suffix}@example.com", "other-user"),
			Entry("User email, not by prefix", "User", "email=other"),
			Entry("ProjectMembership user, as a reference", "ProjectMembership", "user=User/{user}", "membership"),
			Entry("ProjectMembership user, as an id", "ProjectMembership", "user={user}", "membership"),
			Entry("ProjectMembership profile", "ProjectMembership", "profile=Practitioner/{profile}", "membership"),
			Entry("ProjectMembership project, as a reference", "ProjectMembership", "project=Project/{project}", "membership", "admin-membership"),
			Entry("ProjectMembership project, as an id", "ProjectMembership", "project={project}", "membership", "admin-membership"),
			Entry("ProjectMembership active=false", "ProjectMembership", "active=false", "membership"),
			Entry("ProjectMembership active=true", "ProjectMembership", "active=true", "admin-membership"),
			Entry("ProjectMembership external-id", "ProjectMembership", "external-id=ext-{suffix}", "membership"),
			Entry("ProjectMembership external-id, no match", "ProjectMembership", "external-id=ext"),
			Entry("ClientApplication name, by prefix", "ClientApplication", "name=bill", "billing"),
			Entry("ClientApplication name, case-insensitively", "ClientApplication", "name=SCHED", "scheduler"),
			Entry("ClientApplication name:exact", "ClientApplication", "name:exact=Billing%20Service", "billing"),
		)
	})

	Describe("_lastUpdated", func() {
		t := freshTenant()
		var f fixture
		var first, second string

		BeforeEach(func() {
			f = fixture{}
			a := create(t.Token, patient("Timed", "A"))
			sleepTick()
			b := create(t.Token, patient("Timed", "B"))
			f["a"], f["b"] = a["id"].(string), b["id"].(string)
			first, second = meta(a)["lastUpdated"].(string), meta(b)["lastUpdated"].(string)
		})

		DescribeTable("compares instants",
			func(query func() string, want ...string) {
				got := resourceIDs(search(t.Token, "Patient", "family=timed&_lastUpdated="+url.QueryEscape(query())))
				Expect(f.labels(got)).To(ConsistOf(want))
			},
			Entry("gt", func() string { return "gt" + first }, "b"),
			Entry("ge", func() string { return "ge" + first }, "a", "b"),
			Entry("lt", func() string { return "lt" + second }, "a"),
			Entry("le", func() string { return "le" + first }, "a"),
			Entry("eq an exact instant", func() string { return second }, "b"),
			Entry("ge a whole day", func() string { return "ge" + first[:10] }, "a", "b"),
			Entry("lt a date long past", func() string { return "lt2000-01-01" }),
			Entry("gt a date in the future", func() string { return "gt" + time.Now().AddDate(1, 0, 0).Format("2006-01-02") }),
		)

		It("rejects a value that is not a date", func() {
			o := outcome(call("GET", fhir("Patient?_lastUpdated=soon"), t.Token, nil), http.StatusBadRequest)
			Expect(expressions(o)).To(ContainElement("_lastUpdated"))
		})
	})

	It("declares every parameter the contract requires in the registry", func() {
		required := map[string][]string{
			"Patient":           {"name", "family", "given", "email", "telecom", "identifier", "gender", "birthdate", "active"},
			"Practitioner":      {"name", "family", "given", "email", "telecom", "identifier", "gender", "birthdate", "active"},
			"RelatedPerson":     {"name", "family", "given", "email", "telecom", "identifier", "gender", "birthdate", "active", "patient"},
			"User":              {"email"},
			"ProjectMembership": {"user", "profile", "project", "active", "external-id"},
			"ClientApplication": {"name"},
		}
		for typ, params := range required {
			rt, ok := resources.Lookup(typ)
			Expect(ok).To(BeTrue(), typ)
			for _, p := range params {
				_, ok := rt.Param(p)
				Expect(ok).To(BeTrue(), "%s.%s", typ, p)
			}
		}
	})
})
