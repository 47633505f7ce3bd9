package resources

import (
	"regexp"
	"strings"
)

func init() {
	// Summary elements are FHIR R4's (isSummary); Medplum's definitions of
	// its own types mark none, so those keep only their mandatory ones.
	Register(&Type{Name: "Patient", New: func() Resource { return &Patient{} },
		Summary: []string{"identifier", "active", "name", "telecom", "gender", "birthDate", "deceased", "address",
			"managingOrganization", "link"},
		Params: personParams(), Validate: validatePerson})
	Register(&Type{Name: "Practitioner", New: func() Resource { return &Practitioner{} },
		Summary: []string{"identifier", "active", "name", "telecom", "address", "gender", "birthDate"},
		Params:  personParams(), Validate: validatePerson})
	Register(&Type{Name: "RelatedPerson", New: func() Resource { return &RelatedPerson{} },
		Summary: []string{"identifier", "active", "patient", "relationship", "name", "telecom", "gender", "birthDate",
			"address", "period"},
		Mandatory: []string{"patient"},
		Params: append(personParams(), SearchParam{Code: "patient", Type: ParamReference, Target: "Patient", Description: "The patient this person is related to",
			Values: func(r Resource) []IndexValue { return refValue(&r.(*RelatedPerson).Patient) }}),
		Validate: func(r Resource) []Issue {
			p := r.(*RelatedPerson)
			issues := validatePerson(p)
			if !strings.HasPrefix(p.Patient.Reference, "Patient/") || len(p.Patient.Reference) <= len("Patient/") {
				issues = append(issues, Issue{Code: "required", Expression: "RelatedPerson.patient", Message: "RelatedPerson.patient must reference a Patient"})
			}
			return issues
		},
	})
	Register(&Type{Name: "User", New: func() Resource { return &User{} }, AdminOnly: true,
		Params: []SearchParam{
			{Code: "email", Type: ParamToken, FoldCase: true, Description: "The user's email address",
				Values: func(r Resource) []IndexValue { return strs(r.(*User).Email) }},
			{Code: "external-id", Type: ParamToken, Description: "The user's external id",
				Values: func(r Resource) []IndexValue { return codeValue(r.(*User).ExternalID) }},
			{Code: "name", Type: ParamString, Description: "The user's first or last name",
				Values: func(r Resource) []IndexValue {
					u := r.(*User)
					return strs(u.FirstName, u.LastName, strings.TrimSpace(u.FirstName+" "+u.LastName))
				}},
			{Code: "project", Type: ParamReference, Target: "Project", Description: "The project a project-scoped user belongs to",
				Values: func(r Resource) []IndexValue { return refValue(r.(*User).Project) }},
		},
		Unique: func(r Resource, _ string) []string {
			u := r.(*User)
			scope := ""
			if u.Project != nil {
				scope = u.Project.Reference
			}
			var keys []string
			if u.Email != "" {
				keys = append(keys, "User.email|"+scope+"|"+EmailKey(u.Email))
			}
			if u.ExternalID != "" {
				keys = append(keys, "User.externalId|"+scope+"|"+u.ExternalID)
			}
			return keys
		},
		// User.admin makes a super admin: a project admin may write Users,
		// but must not be able to promote one (or itself).
		CheckWrite: superAdminFlag("User.admin", func(r Resource) *bool { return r.(*User).Admin }),
		Validate: func(r Resource) []Issue {
			u := r.(*User)
			if u.Email != "" {
				if _, err := NormalizeEmail(u.Email); err != nil {
					return []Issue{{Code: "invalid", Expression: "User.email", Message: err.Error()}}
				}
			}
			return nil
		},
	})
	Register(&Type{Name: "ProjectMembership", New: func() Resource { return &ProjectMembership{} }, AdminOnly: true,
		Mandatory: []string{"project", "user", "profile"},
		Params: []SearchParam{
			{Code: "user", Type: ParamReference, Target: "User", Description: "The member's User",
				Values: func(r Resource) []IndexValue { return refValue(&r.(*ProjectMembership).User) }},
			{Code: "profile", Type: ParamReference, Description: "The member's profile resource",
				Values: func(r Resource) []IndexValue { return refValue(&r.(*ProjectMembership).Profile) }},
			{Code: "project", Type: ParamReference, Target: "Project", Description: "The project",
				Values: func(r Resource) []IndexValue { return refValue(&r.(*ProjectMembership).Project) }},
			{Code: "active", Type: ParamToken, Description: "Whether the membership is active",
				Values: func(r Resource) []IndexValue { return boolValue(r.(*ProjectMembership).Active, true) }},
			{Code: "admin", Type: ParamToken, Description: "Whether the member is a project admin",
				Values: func(r Resource) []IndexValue { return boolValue(r.(*ProjectMembership).Admin, false) }},
			{Code: "external-id", Type: ParamToken, Description: "The membership's external id",
				Values: func(r Resource) []IndexValue { return codeValue(r.(*ProjectMembership).ExternalID) }},
			{Code: "access-policy", Type: ParamReference, Target: "AccessPolicy", Description: "The membership's access policy",
				Values: func(r Resource) []IndexValue { return refValue(r.(*ProjectMembership).AccessPolicy) }},
		},
		Prepare: func(r Resource, project string) {
			r.(*ProjectMembership).Project = Reference{Reference: "Project/" + project}
		},
		Unique: func(r Resource, project string) []string {
			m := r.(*ProjectMembership)
			var keys []string
			if !m.Additional() {
				keys = append(keys, "ProjectMembership|"+project+"|"+m.User.Reference+"|"+m.Profile.Reference)
			}
			if m.ExternalID != "" {
				keys = append(keys, "ProjectMembership.externalId|"+project+"|"+m.ExternalID)
			}
			return keys
		},
		Validate: func(r Resource) []Issue {
			m := r.(*ProjectMembership)
			var issues []Issue
			if !strings.HasPrefix(m.User.Reference, "User/") && !strings.HasPrefix(m.User.Reference, "ClientApplication/") {
				issues = append(issues, Issue{Code: "required", Expression: "ProjectMembership.user", Message: "ProjectMembership.user must reference a User or ClientApplication"})
			}
			if m.Profile.Reference == "" {
				issues = append(issues, Issue{Code: "required", Expression: "ProjectMembership.profile", Message: "ProjectMembership.profile is required"})
			}
			return issues
		},
	})
	Register(&Type{Name: "Project", New: func() Resource { return &Project{} }, AdminOnly: true, SuperAdminCreate: true,
		Params: []SearchParam{
			{Code: "name", Type: ParamString, Description: "The project's name",
				Values: func(r Resource) []IndexValue { return strs(r.(*Project).Name) }},
		},
		CheckWrite: superAdminFlag("Project.superAdmin", func(r Resource) *bool { return r.(*Project).SuperAdmin }),
		Validate: func(r Resource) []Issue {
			p := r.(*Project)
			issues := p.IdentityProvider.Issues("Project.identityProvider")
			if strings.TrimSpace(p.Name) == "" {
				issues = append(issues, Issue{Code: "required", Expression: "Project.name", Message: "Project.name is required"})
			}
			return issues
		},
	})
	Register(&Type{Name: "ClientApplication", New: func() Resource { return &ClientApplication{} }, AdminOnly: true,
		Params: []SearchParam{
			{Code: "name", Type: ParamString, Description: "The application's name",
				Values: func(r Resource) []IndexValue { return strs(r.(*ClientApplication).Name) }},
		},
		Validate: func(r Resource) []Issue {
			return r.(*ClientApplication).IdentityProvider.Issues("ClientApplication.identityProvider")
		},
	})
	Register(&Type{Name: "AccessPolicy", New: func() Resource { return &AccessPolicy{} }, AdminOnly: true,
		Params: []SearchParam{
			{Code: "name", Type: ParamString, Description: "The policy's name",
				Values: func(r Resource) []IndexValue { return strs(r.(*AccessPolicy).Name) }},
		},
		Validate: func(r Resource) []Issue {
			var issues []Issue
			for i, res := range r.(*AccessPolicy).Resource {
				if _, ok := Lookup(res.ResourceType); !ok && res.ResourceType != "*" {
					issues = append(issues, Issue{Code: "invalid", Expression: "AccessPolicy.resource[" + itoa(i) + "].resourceType",
						Message: "Unknown resource type " + res.ResourceType})
				}
			}
			return issues
		},
	})
}

// person is what Patient, Practitioner and RelatedPerson have in common:
// the elements their shared search parameters index and validatePerson
// checks.
type person struct {
	typ        string
	name       []HumanName
	telecom    []ContactPoint
	identifier []Identifier
	gender     string
	birthDate  string
	active     *bool
}

// personal is a resource with a person's elements.
type personal interface{ person() person }

func (p *Patient) person() person {
	return person{"Patient", p.Name, p.Telecom, p.Identifier, p.Gender, p.BirthDate, p.Active}
}

func (p *Practitioner) person() person {
	return person{"Practitioner", p.Name, p.Telecom, p.Identifier, p.Gender, p.BirthDate, p.Active}
}

func (p *RelatedPerson) person() person {
	return person{"RelatedPerson", p.Name, p.Telecom, p.Identifier, p.Gender, p.BirthDate, p.Active}
}

func personOf(r Resource) person { return r.(personal).person() }

// personParams are the search parameters of every person type.
func personParams() []SearchParam {
	return []SearchParam{
		{Code: "name", Type: ParamString, Description: "Any part of the name", Covers: []string{"family", "given"},
			Values: func(r Resource) []IndexValue { return nameValues(personOf(r).name) }},
		{Code: "family", Type: ParamString, Description: "The family name",
			Values: func(r Resource) []IndexValue { return familyValues(personOf(r).name) }},
		{Code: "given", Type: ParamString, Description: "A given name",
			Values: func(r Resource) []IndexValue { return givenValues(personOf(r).name) }},
		{Code: "email", Type: ParamToken, FoldCase: true, Description: "An email address in telecom",
			Of: "telecom", OfSystem: "email"},
		{Code: "phone", Type: ParamToken, Description: "A phone number in telecom",
			Of: "telecom", OfSystem: "phone"},
		{Code: "telecom", Type: ParamToken, FoldSystem: "email", Description: "Any telecom value, as system|value",
			Values: func(r Resource) []IndexValue { return telecomValues(personOf(r).telecom) }},
		{Code: "identifier", Type: ParamToken, Description: "An identifier, as system|value",
			Values: func(r Resource) []IndexValue { return identifierValues(personOf(r).identifier) }},
		{Code: "gender", Type: ParamToken, Description: "Administrative gender",
			Values: func(r Resource) []IndexValue { return codeValue(personOf(r).gender) }},
		{Code: "birthdate", Type: ParamDate, Description: "Date of birth",
			Values: func(r Resource) []IndexValue { return dateValue(personOf(r).birthDate) }},
		{Code: "active", Type: ParamToken, Description: "Whether the record is active",
			Values: func(r Resource) []IndexValue {
				if active := personOf(r).active; active != nil {
					return boolValue(active, true)
				}
				return nil
			}},
	}
}

var (
	datePattern = regexp.MustCompile(`^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$`)
	genders     = map[string]bool{"male": true, "female": true, "other": true, "unknown": true}
	telecomSys  = map[string]bool{"phone": true, "fax": true, "email": true, "pager": true, "url": true, "sms": true, "other": true}
)

// validatePerson checks the elements every person type has.
func validatePerson(r Resource) []Issue {
	p := personOf(r)
	var issues []Issue
	if p.gender != "" && !genders[p.gender] {
		issues = append(issues, Issue{Code: "value", Expression: p.typ + ".gender", Message: "gender must be male, female, other or unknown"})
	}
	if p.birthDate != "" && !datePattern.MatchString(p.birthDate) {
		issues = append(issues, Issue{Code: "value", Expression: p.typ + ".birthDate", Message: "birthDate must be a date (YYYY, YYYY-MM or YYYY-MM-DD)"})
	}
	for i, cp := range p.telecom {
		if cp.System != "" && !telecomSys[cp.System] {
			issues = append(issues, Issue{Code: "value", Expression: p.typ + ".telecom[" + itoa(i) + "].system", Message: "Unknown telecom system " + cp.System})
		}
		if cp.System == "email" {
			if _, err := NormalizeEmail(cp.Value); err != nil {
				issues = append(issues, Issue{Code: "value", Expression: p.typ + ".telecom[" + itoa(i) + "].value", Message: err.Error()})
			}
		}
	}
	return issues
}

// superAdminFlag is the CheckWrite of a type whose flag (read by get) only
// the super admin may set or clear.
func superAdminFlag(element string, get func(Resource) *bool) func(c *Caller, r, prev Resource) error {
	return func(c *Caller, r, prev Resource) error {
		var was *bool
		if prev != nil {
			was = get(prev)
		}
		if !c.SuperAdmin && isTrue(get(r)) != isTrue(was) {
			return Forbidden("Only the super admin may change %s", element)
		}
		return nil
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
