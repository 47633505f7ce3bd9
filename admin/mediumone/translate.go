package mediumone

import (
	"bytes"
	"encoding/json"
	"io"
	"sort"
	"strings"

	"github.com/rosterhq/roster/resources"
)

// TenantRole is one tenant a user belongs to, with the role there.
type TenantRole struct {
	TenantRole string `json:"tenant_role"`
	TenantID   string `json:"tenant_id"`
	TenantName string `json:"tenant_name"`
}

// UserEntry is one user of /user_list and /user_list_in_tenant.
type UserEntry struct {
	FullName     string       `json:"full_name"`
	UserName     string       `json:"user_name"`
	UserID       string       `json:"user_id"`
	APIBasicUser string       `json:"api_basic_user"`
	TenantRoles  []TenantRole `json:"tenant_roles"`
}

// UserList is the answer of both user lists: {"user_list": […]}.
type UserList struct {
	UserList []UserEntry `json:"user_list"`
}

// WhoAmI is the answer of /whoami; user_phone is null when unknown.
type WhoAmI struct {
	UserID       string  `json:"user_id"`
	APIBasicUser string  `json:"api_basic_user"`
	UserPhone    *string `json:"user_phone"`
	Role         string  `json:"role"`
	FullName     string  `json:"full_name"`
	UserName     string  `json:"user_name"`
}

// MyRole is the answer of /myrole.
type MyRole struct {
	TenantRoles       []TenantRole `json:"tenant_roles"`
	CurrentTenantID   string       `json:"current_tenant_id"`
	CurrentTenantName string       `json:"current_tenant_name"`
	CurrentTenantRole string       `json:"current_tenant_role"`
}

// basicUser is a user's Medium One basic user name.
func basicUser(userID string) string { return "u_" + userID }

// fullName is the name Medium One shows for a User.
func fullName(u *resources.User) string {
	return strings.TrimSpace(u.FirstName + " " + u.LastName)
}

// splitName splits a full name into first and last: the last word is the
// last name, the rest the first name; a single word is a first name.
func splitName(full string) (first, last string) {
	words := strings.Fields(full)
	switch len(words) {
	case 0:
		return "", ""
	case 1:
		return words[0], ""
	}
	return strings.Join(words[:len(words)-1], " "), words[len(words)-1]
}

// humanName is the profile name for a full name.
func humanName(first, last string) resources.HumanName {
	n := resources.HumanName{Text: strings.TrimSpace(first + " " + last), Family: last}
	if first != "" {
		n.Given = []string{first}
	}
	return n
}

// roleOf names a membership's tenant role.
func roleOf(m *resources.ProjectMembership) string {
	if m.Admin != nil && *m.Admin {
		return RoleTenantAdmin
	}
	return RoleTenantUser
}

// userPhone reads the Medium One phone of a User.
func userPhone(u *resources.User) *string {
	var s string
	if resources.ExtensionValue(u.Extension, ExtPhone, "valueString", &s) && s != "" {
		return &s
	}
	return nil
}

// userAddress reads the Medium One address of a User.
func userAddress(u *resources.User) resources.Address {
	var a resources.Address
	resources.ExtensionValue(u.Extension, ExtAddress, "valueAddress", &a)
	return a
}

// entryOf is a user's list entry with the given tenant roles.
func entryOf(u *resources.User, roles []TenantRole) UserEntry {
	if roles == nil {
		roles = []TenantRole{}
	}
	return UserEntry{FullName: fullName(u), UserName: u.Email, UserID: u.ID, APIBasicUser: basicUser(u.ID), TenantRoles: roles}
}

// sortRoles orders tenant roles by tenant name, then id.
func sortRoles(roles []TenantRole) {
	sort.Slice(roles, func(i, j int) bool {
		a, b := strings.ToLower(roles[i].TenantName), strings.ToLower(roles[j].TenantName)
		if a != b {
			return a < b
		}
		return roles[i].TenantID < roles[j].TenantID
	})
}

// sortEntries orders list entries by user name.
func sortEntries(es []UserEntry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].UserName != es[j].UserName {
			return es[i].UserName < es[j].UserName
		}
		return es[i].UserID < es[j].UserID
	})
}

// The fields /user_update accepts in a param_list entry.
const (
	fieldFullName = "full_name"
	fieldPhone    = "user_phone"
	fieldStreet   = "street"
	fieldStreet2  = "street2"
	fieldCity     = "city"
	fieldState    = "state"
	fieldZip      = "zip"
	fieldCountry  = "country"
	fieldRole     = "role"
)

var updatable = map[string]bool{
	fieldFullName: true, fieldPhone: true, fieldStreet: true, fieldStreet2: true, fieldCity: true,
	fieldState: true, fieldZip: true, fieldCountry: true, fieldRole: true,
}

// paramSep is how Medium One's own published example separates param_list
// entries: its "&param_list" lost "&para" to an HTML entity and became "¶".
const paramSep = "\u00b6m_list="

// update is one parsed param_list entry; a nil value clears the field.
type update struct {
	field string
	value *string
}

// parseParamList decodes every param_list value, each a JSON object
// {"field": "...", "value": "..."}. Anything malformed or unknown is a 400
// before anything is written.
func parseParamList(raw []string) ([]update, error) {
	var out []update
	for _, v := range raw {
		for _, part := range strings.Split(v, paramSep) {
			u, err := parseParam(part)
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, resources.Invalid("param_list", "param_list is required")
	}
	return out, nil
}

func parseParam(s string) (update, error) {
	bad := resources.Invalid("param_list", `Malformed param_list: each must be {"field": "<field>", "value": "<value>"}`)
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	var p struct {
		Field *string          `json:"field"`
		Value *json.RawMessage `json:"value"`
	}
	if err := dec.Decode(&p); err != nil || p.Field == nil || p.Value == nil {
		return update{}, bad
	}
	if _, err := dec.Token(); err != io.EOF {
		return update{}, bad
	}
	if !updatable[*p.Field] {
		return update{}, resources.Invalid("param_list", "Unknown field %q", *p.Field)
	}
	u := update{field: *p.Field}
	if string(*p.Value) == "null" {
		return u, nil
	}
	var val string
	if err := json.Unmarshal(*p.Value, &val); err != nil {
		return update{}, resources.Invalid("param_list", "The value of %s must be a string", *p.Field)
	}
	val = strings.TrimSpace(val)
	u.value = &val
	return u, nil
}

// valueOr is an update's value, "" when cleared.
func (u update) valueOr() string {
	if u.value == nil {
		return ""
	}
	return *u.value
}
