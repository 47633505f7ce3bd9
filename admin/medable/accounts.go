package medable

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/samber/lo"

	"github.com/rosterhq/roster/admin/dialect"
	"github.com/rosterhq/roster/resources"
)

// Paging of GET /accounts (Medable's limit and skip).
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// list: GET /accounts — org admins only; every account of the org, by email.
func (h *Handler) list(c echo.Context) error {
	ctx, org := c.Request().Context(), orgOf(c)
	cl := resources.CallerFrom(ctx)
	if !isAdmin(cl, org) {
		return fault(ErrInstanceRead, "Only the org's administrators list its accounts", "")
	}
	limit, skip := DefaultLimit, 0
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return fault(ErrInvalidArgument, "limit must be between 1 and 1000", "limit")
		}
		limit = n
	}
	if v := c.QueryParam("skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fault(ErrInvalidArgument, "skip must be a non-negative integer", "skip")
		}
		skip = n
	}
	mems, err := dialect.SearchAll[*resources.ProjectMembership](ctx, h.res, org.ID, "ProjectMembership", url.Values{"active": {"true"}})
	if err != nil {
		return err
	}
	byUser := map[string]*resources.ProjectMembership{}
	for _, m := range mems {
		if id, ok := strings.CutPrefix(m.User.Reference, "User/"); ok && byUser[id] == nil {
			byUser[id] = m
		}
	}
	var users []*resources.User
	for _, chunk := range lo.Chunk(lo.Keys(byUser), 200) {
		page, err := dialect.SearchAll[*resources.User](ctx, h.res, "", "User", url.Values{"_id": {strings.Join(chunk, ",")}})
		if err != nil {
			return err
		}
		users = append(users, page...)
	}
	sort.Slice(users, func(i, j int) bool {
		if users[i].Email != users[j].Email {
			return users[i].Email < users[j].Email
		}
		return users[i].ID < users[j].ID
	})
	out := List{Object: "list", Data: []Account{}, HasMore: len(users) > skip+limit}
	for _, u := range dialect.Window(users, skip, limit) {
		a, err := h.withProfile(ctx, u, byUser[u.ID])
		if err != nil {
			if e, ok := resources.AsError(err); ok && e.Code == ErrAccountNotFound {
				continue
			}
			return err
		}
		v, err := h.view(ctx, a)
		if err != nil {
			return err
		}
		out.Data = append(out.Data, v)
	}
	return writeJSON(c, http.StatusOK, out)
}

// target resolves the account a read or write names ("me" or an id) and
// checks the caller may see it: itself, or any account for an org admin.
// Others' accounts are not found, as if they did not exist.
func (h *Handler) target(c echo.Context) (*account, error) {
	ctx, org := c.Request().Context(), orgOf(c)
	cl := resources.CallerFrom(ctx)
	id := c.Param("id")
	if id == "" || id == "me" {
		id = cl.UserID
	}
	if id != cl.UserID && !isAdmin(cl, org) {
		return nil, fault(ErrAccountNotFound, "", "")
	}
	return h.load(ctx, org, id)
}

func (h *Handler) answer(c echo.Context, a *account) error {
	v, err := h.view(c.Request().Context(), a)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, v)
}

// me: GET /accounts/me.
func (h *Handler) me(c echo.Context) error {
	a, err := h.target(c)
	if err != nil {
		return err
	}
	return h.answer(c, a)
}

// read: GET /accounts/{id}.
func (h *Handler) read(c echo.Context) error { return h.me(c) }

// Account properties a write may name but not change.
var readOnly = map[string]bool{
	"_id": true, "object": true, "access": true, "age": true, "roles": true, "inherited_roles": true, "state": true,
	"created": true, "updated": true, "updater": true, "locked": true, "activationRequired": true, "favorite": true,
	"shared": true, "key": true, "connections": true, "image": true, "preferences": true, "profile": true, "password": true,
}

// change is one property a PUT or PATCH sets (value) or clears (unset).
type change struct {
	path  string // name.first, name.last, mobile, dob, gender, tz or email
	value json.RawMessage
	unset bool
}

// put: PUT /accounts/{id} with the properties to set.
func (h *Handler) put(c echo.Context) error {
	body, err := decodeObject(c)
	if err != nil {
		return err
	}
	var changes []change
	for _, k := range lo.Keys(body) {
		changes = append(changes, expand(k, body[k])...)
	}
	return h.update(c, changes)
}

// expand turns a property into changes; a name object becomes its parts.
func expand(path string, value json.RawMessage) []change {
	if path == "name" && len(value) > 0 && value[0] == '{' {
		var parts map[string]json.RawMessage
		if json.Unmarshal(value, &parts) == nil {
			var out []change
			for _, k := range lo.Keys(parts) {
				out = append(out, change{path: "name." + k, value: parts[k]})
			}
			return out
		}
	}
	return []change{{path: path, value: value, unset: string(value) == "null"}}
}

// patch: PATCH /accounts/{id} with one {op, path, value} or a list of them.
// Ops are Medable's set and unset (remove is taken as unset).
func (h *Handler) patch(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var entries []json.RawMessage
	trimmed := strings.TrimSpace(string(body))
	switch {
	case strings.HasPrefix(trimmed, "["):
		if err := json.Unmarshal(body, &entries); err != nil {
			return fault(ErrInvalidJSON, "", "")
		}
	case strings.HasPrefix(trimmed, "{"):
		entries = []json.RawMessage{body}
	default:
		return fault(ErrInvalidJSON, "", "")
	}
	if len(entries) == 0 {
		return fault(ErrEmptyPatch, "", "")
	}
	var changes []change
	for _, raw := range entries {
		var op map[string]json.RawMessage
		if json.Unmarshal(raw, &op) != nil || op == nil {
			return fault(ErrPatchEntry, "", "")
		}
		var path string
		if p, ok := op["path"]; !ok || json.Unmarshal(p, &path) != nil {
			return fault(ErrPatchPath, "", "")
		}
		var name string
		_ = json.Unmarshal(op["op"], &name)
		value, hasValue := op["value"]
		switch name {
		case "set":
			if !hasValue {
				return fault(ErrPatchValue, "", path)
			}
			changes = append(changes, expand(path, value)...)
		case "unset", "remove":
			changes = append(changes, change{path: path, unset: true})
		default:
			return fault(ErrPatchOp, "Supported ops: set, unset", "")
		}
	}
	return h.update(c, changes)
}

// update applies changes to the target account, all or nothing. A change
// of email is refused before anything else is looked at.
func (h *Handler) update(c echo.Context, changes []change) error {
	ctx := c.Request().Context()
	a, err := h.target(c)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		if ch.path != "email" {
			continue
		}
		var email string
		if ch.unset || json.Unmarshal(ch.value, &email) != nil || resources.EmailKey(email) != resources.EmailKey(a.user.Email) {
			return fault(ErrNotWritable, "For security reasons, the email address of an account cannot be modified.", "account.email")
		}
	}
	var p props
	var v validation
	for _, ch := range changes {
		switch {
		case ch.path == "email":
		case readOnly[ch.path] || strings.HasPrefix(ch.path, "roles."):
			return fault(ErrNotWritable, "", "account."+ch.path)
		default:
			dst := map[string]**string{"name.first": &p.first, "name.last": &p.last, "mobile": &p.mobile,
				"dob": &p.dob, "gender": &p.gender, "tz": &p.tz}[ch.path]
			if dst == nil {
				return fault(ErrPropertyNotFound, "", "account."+ch.path)
			}
			empty := ""
			if ch.unset {
				*dst = &empty
				continue
			}
			*dst = stringProp(map[string]json.RawMessage{"v": ch.value}, "v", "account."+ch.path, &v)
			if *dst == nil && string(ch.value) == "null" {
				*dst = &empty
			}
		}
	}
	checkName(&v, "account.name.first", p.first, false)
	checkName(&v, "account.name.last", p.last, false)
	checkProps(&v, &p, h.now())
	if err := v.err(); err != nil {
		return err
	}
	err = h.res.InTx(ctx, func(ctx context.Context) error {
		return h.save(ctx, a, p, nil)
	})
	if err != nil {
		return err
	}
	return h.answer(c, a)
}
