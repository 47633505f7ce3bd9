package resources

import "strings"

// AuditEvent is a FHIR R4 (4.0.1) AuditEvent: a record of a security-relevant
// act (a sign-in, a membership change, a password set, …). Roster writes
// them itself, in the transaction of the act they record (see package
// audit); no caller may create, change or delete one, and only a
// project's admins (and the super admin) read them.
type AuditEvent struct {
	DomainResource
	Type           Coding             `json:"type,omitzero"`
	Subtype        []Coding           `json:"subtype,omitempty"`
	Action         string             `json:"action,omitempty"`
	Period         *Period            `json:"period,omitempty"`
	Recorded       string             `json:"recorded,omitempty"`
	Outcome        string             `json:"outcome,omitempty"`
	OutcomeDesc    string             `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []CodeableConcept  `json:"purposeOfEvent,omitempty"`
	Agent          []AuditEventAgent  `json:"agent,omitempty"`
	Source         AuditEventSource   `json:"source,omitzero"`
	Entity         []AuditEventEntity `json:"entity,omitempty"`
}

// AuditEventAgent is AuditEvent.agent: an actor taking part in the event.
type AuditEventAgent struct {
	BackboneElement
	Type         *CodeableConcept   `json:"type,omitempty"`
	Role         []CodeableConcept  `json:"role,omitempty"`
	Who          *Reference         `json:"who,omitempty"`
	AltID        string             `json:"altId,omitempty"`
	Name         string             `json:"name,omitempty"`
	Requestor    *bool              `json:"requestor,omitempty"`
	Location     *Reference         `json:"location,omitempty"`
	Policy       []string           `json:"policy,omitempty"`
	Media        *Coding            `json:"media,omitempty"`
	Network      *AuditEventNetwork `json:"network,omitempty"`
	PurposeOfUse []CodeableConcept  `json:"purposeOfUse,omitempty"`
}

// AuditEventNetwork is AuditEvent.agent.network: where the agent acted from.
type AuditEventNetwork struct {
	BackboneElement
	Address string `json:"address,omitempty"`
	Type    string `json:"type,omitempty"`
}

// AuditEventSource is AuditEvent.source: the system that reported the event.
type AuditEventSource struct {
	BackboneElement
	Site     string    `json:"site,omitempty"`
	Observer Reference `json:"observer,omitzero"`
	Type     []Coding  `json:"type,omitempty"`
}

// AuditEventEntity is AuditEvent.entity: a resource or object the event concerns.
type AuditEventEntity struct {
	BackboneElement
	What          *Reference         `json:"what,omitempty"`
	Type          *Coding            `json:"type,omitempty"`
	Role          *Coding            `json:"role,omitempty"`
	Lifecycle     *Coding            `json:"lifecycle,omitempty"`
	SecurityLabel []Coding           `json:"securityLabel,omitempty"`
	Name          string             `json:"name,omitempty"`
	Description   string             `json:"description,omitempty"`
	Query         string             `json:"query,omitempty"`
	Detail        []AuditEventDetail `json:"detail,omitempty"`
}

// AuditEventDetail is AuditEvent.entity.detail: a named value about the entity.
type AuditEventDetail struct {
	BackboneElement
	Type              string `json:"type,omitempty"`
	ValueString       string `json:"valueString,omitempty"`
	ValueBase64Binary string `json:"valueBase64Binary,omitempty"`
}

func init() {
	Register(&Type{Name: "AuditEvent", New: func() Resource { return &AuditEvent{} }, AdminOnly: true, SystemWrite: true,
		Summary:   []string{"type", "subtype", "action", "recorded", "outcome", "outcomeDesc", "purposeOfEvent"},
		Mandatory: []string{"type", "recorded", "agent", "source"},
		Params: []SearchParam{
			{Code: "date", Type: ParamDate, Description: "When the event was recorded",
				Values: func(r Resource) []IndexValue { return dateValue(r.(*AuditEvent).Recorded) }},
			{Code: "agent", Type: ParamReference, Description: "Who took part in the event (agent.who)",
				Values: func(r Resource) []IndexValue {
					return each(r.(*AuditEvent).Agent, func(a AuditEventAgent) []IndexValue { return refValue(a.Who) })
				}},
			{Code: "altid", Type: ParamToken, Description: "Alternative identity of an agent (Roster: the User)",
				Values: func(r Resource) []IndexValue {
					return each(r.(*AuditEvent).Agent, func(a AuditEventAgent) []IndexValue { return codeValue(a.AltID) })
				}},
			{Code: "address", Type: ParamString, Description: "Network address of an agent",
				Values: func(r Resource) []IndexValue {
					var out []string
					for _, a := range r.(*AuditEvent).Agent {
						if a.Network != nil {
							out = append(out, a.Network.Address)
						}
					}
					return strs(out...)
				}},
			{Code: "entity", Type: ParamReference, Description: "What the event concerns (entity.what)",
				Values: func(r Resource) []IndexValue {
					return each(r.(*AuditEvent).Entity, func(e AuditEventEntity) []IndexValue { return refValue(e.What) })
				}},
			{Code: "type", Type: ParamToken, Description: "Type of the event, as system|code",
				Values: func(r Resource) []IndexValue { return codingValues([]Coding{r.(*AuditEvent).Type}) }},
			{Code: "subtype", Type: ParamToken, Description: "More specific type of the event, as system|code",
				Values: func(r Resource) []IndexValue { return codingValues(r.(*AuditEvent).Subtype) }},
			{Code: "outcome", Type: ParamToken, Description: "Whether the event succeeded (0) or failed (4, 8, 12)",
				Values: func(r Resource) []IndexValue { return codeValue(r.(*AuditEvent).Outcome) }},
			{Code: "action", Type: ParamToken, Description: "Type of action: C, R, U, D or E",
				Values: func(r Resource) []IndexValue { return codeValue(r.(*AuditEvent).Action) }},
		},
		Validate: func(r Resource) []Issue {
			e := r.(*AuditEvent)
			var issues []Issue
			if e.Type.Code == "" {
				issues = append(issues, Issue{Code: "required", Expression: "AuditEvent.type", Message: "AuditEvent.type is required"})
			}
			if _, _, err := DateRange(e.Recorded); err != nil || !strings.Contains(e.Recorded, "T") {
				issues = append(issues, Issue{Code: "required", Expression: "AuditEvent.recorded", Message: "AuditEvent.recorded must be an instant"})
			}
			if len(e.Agent) == 0 {
				issues = append(issues, Issue{Code: "required", Expression: "AuditEvent.agent", Message: "AuditEvent.agent is required"})
			}
			return issues
		},
	})
}
