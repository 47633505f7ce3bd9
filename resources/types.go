package resources

// This file holds Roster's eight resource types. Patient, Practitioner and
// RelatedPerson follow FHIR R4 (4.0.1); Project, User, ProjectMembership,
// ClientApplication and AccessPolicy follow Medplum's StructureDefinitions,
// minus the elements that hold server-owned secrets (User.passwordHash,
// User.mfaSecret, ClientApplication.secret, ClientApplication.retiringSecret,
// Project.secret): those live outside the resource and Decode rejects them.
//
// Required (1..1) complex elements are struct values tagged omitzero; every
// other element is omitted when empty.

// Patient is a FHIR R4 Patient: a person receiving care.
type Patient struct {
	DomainResource
	Identifier           []Identifier     `json:"identifier,omitempty"`
	Active               *bool            `json:"active,omitempty"`
	Name                 []HumanName      `json:"name,omitempty"`
	Telecom              []ContactPoint   `json:"telecom,omitempty"`
	Gender               string           `json:"gender,omitempty"`
	BirthDate            string           `json:"birthDate,omitempty"`
	DeceasedBoolean      *bool            `json:"deceasedBoolean,omitempty"`
	DeceasedDateTime     string           `json:"deceasedDateTime,omitempty"`
	Address              []Address        `json:"address,omitempty"`
	MaritalStatus        *CodeableConcept `json:"maritalStatus,omitempty"`
	MultipleBirthBoolean *bool            `json:"multipleBirthBoolean,omitempty"`
	MultipleBirthInteger *int             `json:"multipleBirthInteger,omitempty"`
	Photo                []Attachment     `json:"photo,omitempty"`
	Contact              []PatientContact `json:"contact,omitempty"`
	Communication        []Communication  `json:"communication,omitempty"`
	GeneralPractitioner  []Reference      `json:"generalPractitioner,omitempty"`
	ManagingOrganization *Reference       `json:"managingOrganization,omitempty"`
	Link                 []PatientLink    `json:"link,omitempty"`
}

// PatientContact is Patient.contact: a guardian, partner, friend or other contact.
type PatientContact struct {
	BackboneElement
	Relationship []CodeableConcept `json:"relationship,omitempty"`
	Name         *HumanName        `json:"name,omitempty"`
	Telecom      []ContactPoint    `json:"telecom,omitempty"`
	Address      *Address          `json:"address,omitempty"`
	Gender       string            `json:"gender,omitempty"`
	Organization *Reference        `json:"organization,omitempty"`
	Period       *Period           `json:"period,omitempty"`
}

// Communication is Patient.communication and RelatedPerson.communication,
// which FHIR defines alike: a language the person speaks.
type Communication struct {
	BackboneElement
	Language  CodeableConcept `json:"language,omitzero"`
	Preferred *bool           `json:"preferred,omitempty"`
}

// PatientLink is Patient.link: another Patient or RelatedPerson resource about the same person.
type PatientLink struct {
	BackboneElement
	Other Reference `json:"other,omitzero"`
	Type  string    `json:"type,omitempty"`
}

// Practitioner is a FHIR R4 Practitioner: a person who provides care.
type Practitioner struct {
	DomainResource
	Identifier    []Identifier                `json:"identifier,omitempty"`
	Active        *bool                       `json:"active,omitempty"`
	Name          []HumanName                 `json:"name,omitempty"`
	Telecom       []ContactPoint              `json:"telecom,omitempty"`
	Address       []Address                   `json:"address,omitempty"`
	Gender        string                      `json:"gender,omitempty"`
	BirthDate     string                      `json:"birthDate,omitempty"`
	Photo         []Attachment                `json:"photo,omitempty"`
	Qualification []PractitionerQualification `json:"qualification,omitempty"`
	Communication []CodeableConcept           `json:"communication,omitempty"`
}

// PractitionerQualification is Practitioner.qualification: a certification, license or training.
type PractitionerQualification struct {
	BackboneElement
	Identifier []Identifier    `json:"identifier,omitempty"`
	Code       CodeableConcept `json:"code,omitzero"`
	Period     *Period         `json:"period,omitempty"`
	Issuer     *Reference      `json:"issuer,omitempty"`
}

// RelatedPerson is a FHIR R4 RelatedPerson: someone involved in a patient's care.
type RelatedPerson struct {
	DomainResource
	Identifier    []Identifier      `json:"identifier,omitempty"`
	Active        *bool             `json:"active,omitempty"`
	Patient       Reference         `json:"patient,omitzero"`
	Relationship  []CodeableConcept `json:"relationship,omitempty"`
	Name          []HumanName       `json:"name,omitempty"`
	Telecom       []ContactPoint    `json:"telecom,omitempty"`
	Gender        string            `json:"gender,omitempty"`
	BirthDate     string            `json:"birthDate,omitempty"`
	Address       []Address         `json:"address,omitempty"`
	Photo         []Attachment      `json:"photo,omitempty"`
	Period        *Period           `json:"period,omitempty"`
	Communication []Communication   `json:"communication,omitempty"`
}

// Project is Medplum's Project: an isolated tenant owning its resources.
// Medplum's Project.secret is deliberately absent (server-owned).
type Project struct {
	DomainResource
	Identifier                 []Identifier            `json:"identifier,omitempty"`
	Name                       string                  `json:"name,omitempty"`
	Description                string                  `json:"description,omitempty"`
	SuperAdmin                 *bool                   `json:"superAdmin,omitempty"`
	StrictMode                 *bool                   `json:"strictMode,omitempty"`
	CheckReferencesOnWrite     *bool                   `json:"checkReferencesOnWrite,omitempty"`
	Owner                      *Reference              `json:"owner,omitempty"`
	Features                   []string                `json:"features,omitempty"`
	DefaultPatientAccessPolicy *Reference              `json:"defaultPatientAccessPolicy,omitempty"`
	Setting                    []ProjectSetting        `json:"setting,omitempty"`
	SystemSetting              []ProjectSetting        `json:"systemSetting,omitempty"`
	SystemSecret               []ProjectSetting        `json:"systemSecret,omitempty"`
	Site                       []ProjectSite           `json:"site,omitempty"`
	Link                       []ProjectLink           `json:"link,omitempty"`
	DefaultProfile             []ProjectDefaultProfile `json:"defaultProfile,omitempty"`
	ExportedResourceType       []string                `json:"exportedResourceType,omitempty"`
	// IdentityProvider signs the project's members in through an external
	// OpenID Connect provider, beside their passwords. Medplum keeps one on
	// ClientApplication and DomainConfiguration; Roster's Project has one
	// too, for every client of the project.
	IdentityProvider *IdentityProvider `json:"identityProvider,omitempty"`
}

// MFARequiredSetting names the Project.setting whose valueBoolean true
// makes every member enroll a second factor (Medplum keeps the flag on
// User; a setting keeps Project within Medplum's definition).
const MFARequiredSetting = "mfaRequired"

// MFARequired reports whether p's mfaRequired setting is on.
func (p *Project) MFARequired() bool {
	for _, s := range p.Setting {
		if s.Name == MFARequiredSetting && s.ValueBoolean != nil {
			return *s.ValueBoolean
		}
	}
	return false
}

// ProjectSetting is Project.setting (also used by systemSetting and systemSecret): a named value.
type ProjectSetting struct {
	BackboneElement
	Name         string  `json:"name,omitempty"`
	ValueString  string  `json:"valueString,omitempty"`
	ValueBoolean *bool   `json:"valueBoolean,omitempty"`
	ValueDecimal Decimal `json:"valueDecimal,omitempty"`
	ValueInteger *int    `json:"valueInteger,omitempty"`
}

// ProjectSite is Project.site: a web application or site associated with the project.
type ProjectSite struct {
	BackboneElement
	Name               string   `json:"name,omitempty"`
	Domain             []string `json:"domain,omitempty"`
	GoogleClientID     string   `json:"googleClientId,omitempty"`
	GoogleClientSecret string   `json:"googleClientSecret,omitempty"`
	RecaptchaSiteKey   string   `json:"recaptchaSiteKey,omitempty"`
	RecaptchaSecretKey string   `json:"recaptchaSecretKey,omitempty"`
}

// ProjectLink is Project.link: a linked project whose contents are made available to this one.
type ProjectLink struct {
	BackboneElement
	Project Reference `json:"project,omitzero"`
}

// ProjectDefaultProfile is Project.defaultProfile: profiles applied by default to a resource type.
type ProjectDefaultProfile struct {
	BackboneElement
	ResourceType string   `json:"resourceType,omitempty"`
	Profile      []string `json:"profile,omitempty"`
}

// User is Medplum's User: a human account. Its password hash and MFA secret
// are server-owned and kept outside the resource.
type User struct {
	DomainResource
	Identifier    []Identifier `json:"identifier,omitempty"`
	FirstName     string       `json:"firstName,omitempty"`
	LastName      string       `json:"lastName,omitempty"`
	ExternalID    string       `json:"externalId,omitempty"`
	Email         string       `json:"email,omitempty"`
	EmailVerified *bool        `json:"emailVerified,omitempty"`
	Admin         *bool        `json:"admin,omitempty"`
	MfaRequired   *bool        `json:"mfaRequired,omitempty"`
	MfaEnrolled   *bool        `json:"mfaEnrolled,omitempty"`
	Project       *Reference   `json:"project,omitempty"`
}

// ProjectMembership is Medplum's ProjectMembership: grants a user, bot or client access to a project.
type ProjectMembership struct {
	DomainResource
	Identifier        []Identifier              `json:"identifier,omitempty"`
	Active            *bool                     `json:"active,omitempty"`
	Project           Reference                 `json:"project,omitzero"`
	InvitedBy         *Reference                `json:"invitedBy,omitempty"`
	User              Reference                 `json:"user,omitzero"`
	Profile           Reference                 `json:"profile,omitzero"`
	UserName          string                    `json:"userName,omitempty"`
	ExternalID        string                    `json:"externalId,omitempty"`
	AccessPolicy      *Reference                `json:"accessPolicy,omitempty"`
	Access            []ProjectMembershipAccess `json:"access,omitempty"`
	UserConfiguration *Reference                `json:"userConfiguration,omitempty"`
	Admin             *bool                     `json:"admin,omitempty"`
}

// AdditionalMembershipURL is the extension (valueBoolean true) marking a
// ProjectMembership that an invite with forceNewMembership made beside
// one of the same user and profile, as Medplum allows. Such a membership
// has no one-per-user-and-profile unique key; every other keeps it, so
// ordinary invites still cannot make a second one.
const AdditionalMembershipURL = "https://roster.dev/fhir/StructureDefinition/additional-membership"

// Additional reports whether m carries AdditionalMembershipURL set true.
func (m *ProjectMembership) Additional() bool {
	var v bool
	return ExtensionValue(m.Extension, AdditionalMembershipURL, "valueBoolean", &v) && v
}

// IsActive says whether the membership grants access: one that does not say
// is active, as its "active" search parameter indexes it.
func (m *ProjectMembership) IsActive() bool { return m.Active == nil || *m.Active }

// ProjectMembershipAccess is ProjectMembership.access: a parameterized access policy.
type ProjectMembershipAccess struct {
	BackboneElement
	Policy    Reference                          `json:"policy,omitzero"`
	Parameter []ProjectMembershipAccessParameter `json:"parameter,omitempty"`
}

// ProjectMembershipAccessParameter is ProjectMembership.access.parameter: a value substituted into the policy.
type ProjectMembershipAccessParameter struct {
	BackboneElement
	Name           string     `json:"name,omitempty"`
	ValueString    string     `json:"valueString,omitempty"`
	ValueReference *Reference `json:"valueReference,omitempty"`
}

// ClientApplication is Medplum's ClientApplication: an OAuth client. Its
// secret and retiring secret are server-owned and kept outside the resource.
type ClientApplication struct {
	DomainResource
	Status               string                       `json:"status,omitempty"`
	Name                 string                       `json:"name,omitempty"`
	Description          string                       `json:"description,omitempty"`
	SignInForm           *ClientApplicationSignInForm `json:"signInForm,omitempty"`
	JwksURI              string                       `json:"jwksUri,omitempty"`
	RedirectURI          string                       `json:"redirectUri,omitempty"`
	RedirectURIs         []string                     `json:"redirectUris,omitempty"`
	LaunchURI            string                       `json:"launchUri,omitempty"`
	PkceOptional         *bool                        `json:"pkceOptional,omitempty"`
	IdentityProvider     *IdentityProvider            `json:"identityProvider,omitempty"`
	AccessTokenLifetime  string                       `json:"accessTokenLifetime,omitempty"`
	RefreshTokenLifetime string                       `json:"refreshTokenLifetime,omitempty"`
	AllowedOrigin        []string                     `json:"allowedOrigin,omitempty"`
	DefaultScope         []string                     `json:"defaultScope,omitempty"`
}

// ClientApplicationSignInForm is ClientApplication.signInForm: custom values for the log-in form.
type ClientApplicationSignInForm struct {
	BackboneElement
	WelcomeString string      `json:"welcomeString,omitempty"`
	Logo          *Attachment `json:"logo,omitempty"`
}

// AccessPolicy is Medplum's AccessPolicy: which resources and fields a member may read or write.
type AccessPolicy struct {
	DomainResource
	Name         string                     `json:"name,omitempty"`
	BasedOn      []Reference                `json:"basedOn,omitempty"`
	Compartment  *Reference                 `json:"compartment,omitempty"`
	Resource     []AccessPolicyResource     `json:"resource,omitempty"`
	IPAccessRule []AccessPolicyIPAccessRule `json:"ipAccessRule,omitempty"`
}

// AccessPolicyResource is AccessPolicy.resource: access details for one resource type.
type AccessPolicyResource struct {
	BackboneElement
	ResourceType    string       `json:"resourceType,omitempty"`
	Compartment     *Reference   `json:"compartment,omitempty"`
	Criteria        string       `json:"criteria,omitempty"`
	Readonly        *bool        `json:"readonly,omitempty"`
	Interaction     []string     `json:"interaction,omitempty"`
	HiddenFields    []string     `json:"hiddenFields,omitempty"`
	ReadonlyFields  []string     `json:"readonlyFields,omitempty"`
	WriteConstraint []Expression `json:"writeConstraint,omitempty"`
}

// AccessPolicyIPAccessRule is AccessPolicy.ipAccessRule: allow or block traffic by client IP address.
type AccessPolicyIPAccessRule struct {
	BackboneElement
	Name   string `json:"name,omitempty"`
	Value  string `json:"value,omitempty"`
	Action string `json:"action,omitempty"`
}
