package auth_test

import (
	"net/http"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("SMART on FHIR scopes", Ordered, func() {
	h := sharedHarness()
	var admin account
	var rp *relyingParty
	var patient, practitioner string

	BeforeAll(func() {
		admin = h.newAdmin()
		rp = h.relyingParty(admin, public)
		r := h.do("POST", "fhir/R4/Patient", admin.Token, map[string]any{"resourceType": "Patient", "gender": "female"})
		Expect(r.Status).To(Equal(http.StatusCreated))
		patient = r.JSON()["id"].(string)
		practitioner = h.membership(admin.UserID)["profile"].(map[string]any)["reference"].(string)
	})

	// tokenFor signs the admin in through the code flow asking for scope.
	tokenFor := func(scope string) string {
		GinkgoHelper()
		rp.conf.Scopes = strings.Fields(scope)
		f := rp.start()
		tok, err := rp.exchange(newWebBrowser().code(f, admin.Email, admin.Password), f)
		Expect(err).NotTo(HaveOccurred())
		Expect(tok.Extra("scope")).To(Equal(scope))
		return tok.AccessToken
	}

	// interactions maps each interaction to the request that does it and its
	// status when allowed.
	interactions := map[string]func(token string) int{
		"create Patient": func(t string) int {
			return h.do("POST", "fhir/R4/Patient", t, map[string]any{"resourceType": "Patient"}).Status
		},
		"read Patient":   func(t string) int { return h.do("GET", "fhir/R4/Patient/"+patient, t, nil).Status },
		"search Patient": func(t string) int { return h.do("GET", "fhir/R4/Patient?gender=female", t, nil).Status },
		"update Patient": func(t string) int {
			return h.do("PUT", "fhir/R4/Patient/"+patient, t, map[string]any{"resourceType": "Patient", "id": patient, "gender": "female"}).Status
		},
		"delete Patient": func(t string) int {
			r := h.do("POST", "fhir/R4/Patient", admin.Token, map[string]any{"resourceType": "Patient"})
			return h.do("DELETE", "fhir/R4/Patient/"+r.JSON()["id"].(string), t, nil).Status
		},
		"read Practitioner": func(t string) int { return h.do("GET", "fhir/R4/"+practitioner, t, nil).Status },
	}
	allowed := map[string]int{"create Patient": 201, "read Patient": 200, "search Patient": 200, "update Patient": 200,
		"delete Patient": 200, "read Practitioner": 200}

	DescribeTable("a token does what its scopes allow and gets 403 for the rest",
		func(scope string, allows ...string) {
			token := tokenFor(scope)
			for name, do := range interactions {
				if got := do(token); slices.Contains(allows, name) {
					Expect(got).To(Equal(allowed[name]), "%s with %q", name, scope)
				} else {
					Expect(got).To(Equal(http.StatusForbidden), "%s with %q", name, scope)
				}
			}
			if !slices.Contains(allows, "create Patient") {
				expectOutcome(h.do("POST", "fhir/R4/Patient", token, map[string]any{"resourceType": "Patient"}), http.StatusForbidden)
			}
		},
		Entry("patient/*.rs", "openid patient/*.rs", "read Patient", "search Patient", "read Practitioner"),
		Entry("user/Patient.cruds", "openid fhirUser user/Patient.cruds",
			"create Patient", "read Patient", "search Patient", "update Patient", "delete Patient"),
		Entry("user/Patient.r (read without search)", "openid user/Patient.r", "read Patient"),
		Entry("SMART 1.0 patient/*.read", "openid patient/*.read", "read Patient", "search Patient", "read Practitioner"),
		Entry("SMART 1.0 user/Patient.write", "openid user/Patient.write", "create Patient", "update Patient", "delete Patient"),
		Entry("a query filter Roster cannot apply grants nothing", "openid patient/Patient.rs?gender=female"),
		Entry("letters out of order grant nothing", "openid user/Patient.rc"),
		Entry("no resource scope: the membership's full access", "openid fhirUser offline_access",
			"create Patient", "read Patient", "search Patient", "update Patient", "delete Patient", "read Practitioner"),
	)

	It("keeps full access for a token of Medplum's /auth/login", func() {
		for name, do := range interactions {
			Expect(do(admin.Token)).To(Equal(allowed[name]), name)
		}
	})

	It("applies SMART backend services' system scopes to client_credentials", func() {
		r := h.do("POST", "admin/projects/"+admin.Project+"/client", admin.Token, map[string]any{"name": "Backend"})
		Expect(r.Status).To(Equal(http.StatusCreated))
		id, secret := r.JSON()["id"].(string), r.JSON()["secret"].(string)
		token := func(scope string) string {
			GinkgoHelper()
			t := h.form("oauth2/token", map[string][]string{"grant_type": {"client_credentials"}, "scope": {scope}},
				"Authorization", basic(id, secret))
			Expect(t.Status).To(Equal(http.StatusOK), string(t.Body))
			return t.JSON()["access_token"].(string)
		}
		narrow := token("system/Patient.rs")
		Expect(interactions["read Patient"](narrow)).To(Equal(http.StatusOK))
		Expect(interactions["create Patient"](narrow)).To(Equal(http.StatusForbidden))
		Expect(interactions["create Patient"](token(""))).To(Equal(http.StatusCreated), "no scope: the client's membership decides")
	})

	It("keeps a refreshed token's scopes", func() {
		rp.conf.Scopes = []string{"openid", "patient/*.rs", "offline_access"}
		f := rp.start()
		tok, err := rp.exchange(newWebBrowser().code(f, admin.Email, admin.Password), f)
		Expect(err).NotTo(HaveOccurred())
		r := h.form("oauth2/token", map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
			"client_id": {rp.conf.ClientID}})
		Expect(r.Status).To(Equal(http.StatusOK), string(r.Body))
		Expect(r.JSON()).To(HaveKeyWithValue("scope", "openid patient/*.rs offline_access"))
		refreshed := r.JSON()["access_token"].(string)
		Expect(interactions["read Patient"](refreshed)).To(Equal(http.StatusOK))
		Expect(interactions["create Patient"](refreshed)).To(Equal(http.StatusForbidden))
	})
})
