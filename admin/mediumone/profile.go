package mediumone

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/rosterhq/roster/admin"
	"github.com/rosterhq/roster/resources"
)

// allFields marks every Medium One field as changed (a new profile).
var allFields = map[string]bool{
	fieldFullName: true, fieldPhone: true, fieldStreet: true, fieldStreet2: true, fieldCity: true,
	fieldState: true, fieldZip: true, fieldCountry: true,
}

// person points at the elements of a profile (Patient, Practitioner or
// RelatedPerson) that mirror a Medium One user: its first name, its first
// phone and its first address.
type person struct {
	name    *[]resources.HumanName
	telecom *[]resources.ContactPoint
	address *[]resources.Address
}

func personOf(r resources.Resource) (person, bool) {
	switch p := r.(type) {
	case *resources.Patient:
		return person{&p.Name, &p.Telecom, &p.Address}, true
	case *resources.Practitioner:
		return person{&p.Name, &p.Telecom, &p.Address}, true
	case *resources.RelatedPerson:
		return person{&p.Name, &p.Telecom, &p.Address}, true
	}
	return person{}, false
}

// apply copies the user's Medium One fields that changed into the profile.
func (p person) apply(u *resources.User, changed map[string]bool) {
	if changed[fieldFullName] {
		n := humanName(u.FirstName, u.LastName)
		if len(*p.name) == 0 {
			*p.name = []resources.HumanName{n}
		} else {
			cur := &(*p.name)[0]
			cur.Text, cur.Given, cur.Family = n.Text, n.Given, n.Family
		}
	}
	if changed[fieldPhone] {
		p.setPhone(userPhone(u))
	}
	if changed[fieldStreet] || changed[fieldStreet2] || changed[fieldCity] || changed[fieldState] || changed[fieldZip] || changed[fieldCountry] {
		addr := userAddress(u)
		empty := len(addr.Line) == 0 && addr.City == "" && addr.State == "" && addr.PostalCode == "" && addr.Country == ""
		switch {
		case len(*p.address) > 0 && empty:
			*p.address = (*p.address)[1:]
		case len(*p.address) > 0:
			cur := &(*p.address)[0]
			cur.Line, cur.City, cur.State, cur.PostalCode, cur.Country = addr.Line, addr.City, addr.State, addr.PostalCode, addr.Country
		case !empty:
			*p.address = []resources.Address{addr}
		}
	}
}

func (p person) setPhone(phone *string) {
	i := -1
	for j, cp := range *p.telecom {
		if cp.System == "phone" {
			i = j
			break
		}
	}
	switch {
	case phone == nil && i >= 0:
		*p.telecom = append((*p.telecom)[:i:i], (*p.telecom)[i+1:]...)
	case phone != nil && i >= 0:
		(*p.telecom)[i].Value = *phone
	case phone != nil:
		*p.telecom = append(*p.telecom, resources.ContactPoint{System: "phone", Use: "work", Value: *phone})
	}
}

// editProfile applies edit to a profile and stores it if anything changed.
func (h *Handler) editProfile(ctx context.Context, r resources.Resource, edit func(person)) error {
	p, ok := personOf(r)
	if !ok {
		return nil
	}
	b := r.Base()
	before, _ := json.Marshal(r)
	edit(p)
	after, _ := json.Marshal(r)
	if bytes.Equal(before, after) {
		return nil
	}
	version, project := "", ""
	if b.Meta != nil {
		version, project = b.Meta.VersionID, b.Meta.Project
	}
	b.Meta = nil
	_, err := h.res.Update(admin.AsAuthor(ctx, project), r, b.ID, version)
	return err
}

// editProfileRef reads the profile "Type/id" of project and edits it; a
// profile that is gone is skipped.
func (h *Handler) editProfileRef(ctx context.Context, project, ref string, edit func(person)) error {
	typ, id, ok := strings.Cut(ref, "/")
	if !ok {
		return nil
	}
	rec, err := h.res.Read(admin.AsAuthor(ctx, project), typ, id)
	if err != nil {
		if resources.IsKind(err, resources.KindNotFound, resources.KindGone) {
			return nil
		}
		return err
	}
	r, err := resources.Unmarshal(rec)
	if err != nil {
		return err
	}
	return h.editProfile(ctx, r, edit)
}

// jsonInto decodes a stored record into v.
func jsonInto(rec *resources.Record, v any) error {
	return json.Unmarshal(rec.Content, v)
}
