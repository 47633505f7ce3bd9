package resources

import (
	"context"
	"net/http"
	"net/url"
	"slices"
)

// Conditional writes (FHIR R4 http.html#cond-update, #3.1.0.7.1 and
// #patch): PUT, PATCH and DELETE of /{type}?criteria act on what the
// search criteria match among the type's resources in the caller's project,
// never another project's.
//
// Concurrency: a write to the one match is checked against the version the
// search found, in the write itself, so it never lands on a resource that
// changed after it matched; without If-Match the operation is then tried
// again (at most conditionalTries times in all), searching and writing in
// one transaction holding a lock on its criteria (PostgreSQL's advisory
// lock; on SQLite the single writer). A conditional update that matches
// nothing does the same at once, so concurrent conditional updates with
// the same criteria create one resource and update it in turn. Writers
// with different criteria that match the same resource (or a plain create
// of one) are not serialized with them: only a unique key (a User's email,
// …) stops a duplicate then.

// conditionalTries bounds how often a conditional write whose match changed
// under it is tried again.
const conditionalTries = 5

// ConditionalUpdate writes r over the one resource of its type that
// criteria match in the caller's project, or creates it when none does
// (created is true; newID, when set, is the id it takes, as a transaction
// Bundle's urn:uuid entries choose theirs in advance). Several matches are
// 412. A body id other than the match's is 400, and so is any body id on a
// create: Roster has no update-as-create. ifMatch is checked against the
// match; given when nothing matches, it fails (412).
func (s *Service) ConditionalUpdate(ctx context.Context, r Resource, criteria url.Values, ifMatch, newID string) (rec *Record, created bool, err error) {
	bodyID := r.Base().ID
	rec, err = s.conditional(ctx, r.Base().ResourceType, criteria, "update", ifMatch == "", true,
		func(ctx context.Context, c *Caller, t *Type, match *Record) (*Record, error) {
			r.Base().ID = bodyID
			if match == nil {
				if ifMatch != "" {
					return nil, Precondition("not-found", "If-Match names a version, but no %s matches the criteria", t.Name)
				}
				if bodyID != "" {
					return nil, Invalid("id", "No %s matches the criteria, and Roster does not create one with a client-assigned id", t.Name)
				}
				created = true
				return s.create(ctx, r, "", newID, http.MethodPut)
			}
			if err := checkBodyID(r, match.ID); err != nil {
				return nil, err
			}
			return s.replace(ctx, c, t, match, r, ifMatch, http.MethodPut)
		})
	return rec, created && err == nil, err
}

// ConditionalCreate creates r unless criteria match one resource of its
// type in the caller's project (If-None-Exist, FHIR R4 http.html#ccreate):
// the match is returned then, with created false; several are 412. newID,
// when set, is the id a create takes. Concurrent conditional creates with
// the same criteria take turns on the criteria's lock, so they create one
// resource.
func (s *Service) ConditionalCreate(ctx context.Context, r Resource, criteria url.Values, newID string) (rec *Record, created bool, err error) {
	rec, err = s.conditional(ctx, r.Base().ResourceType, criteria, "create", false, true,
		func(ctx context.Context, _ *Caller, _ *Type, match *Record) (*Record, error) {
			if match != nil {
				return match, nil
			}
			created = true
			return s.create(ctx, r, "", newID, http.MethodPost)
		})
	return rec, created && err == nil, err
}

// ConditionalPatch applies a JSON Patch document to the one resource of typ
// that criteria match in the caller's project: none is 404, several 412.
func (s *Service) ConditionalPatch(ctx context.Context, typ string, criteria url.Values, patch []byte, ifMatch string) (*Record, error) {
	return s.conditional(ctx, typ, criteria, "patch", ifMatch == "", false,
		func(ctx context.Context, c *Caller, t *Type, match *Record) (*Record, error) {
			if match == nil {
				return nil, NotFound("No %s matches the criteria", t.Name)
			}
			return s.patch(ctx, c, t, match, patch, ifMatch)
		})
}

// ConditionalDelete deletes the one resource of typ that criteria match in
// the caller's project and returns its last version; none is not an error
// (nil: nothing to delete), several are 412. Roster has no mode deleting
// several.
func (s *Service) ConditionalDelete(ctx context.Context, typ string, criteria url.Values) (*Record, error) {
	return s.conditional(ctx, typ, criteria, "delete", true, false,
		func(ctx context.Context, c *Caller, t *Type, match *Record) (*Record, error) {
			if match == nil {
				return nil, nil
			}
			return match, s.remove(ctx, c, t, match)
		})
}

// conditional runs act on what criteria match among typ's resources in the
// caller's project: the one match, or nil when there is none. Several are
// 412. When act's write to a match that changed since the search fails
// (412 from the store) and retry is set, it is tried again from a fresh
// search. creates says act writes when nothing matches.
func (s *Service) conditional(ctx context.Context, typ string, criteria url.Values, what string, retry, creates bool,
	act func(ctx context.Context, c *Caller, t *Type, match *Record) (*Record, error)) (*Record, error) {
	c, t, err := callerAndType(ctx, typ)
	if err != nil {
		return nil, err
	}
	q, err := conditionQuery(t, criteria, what)
	if err != nil {
		return nil, err
	}
	key := "conditional|" + c.Project + "|" + t.Name + "?" + criteria.Encode()
	for try := 1; ; try++ {
		rec, err := s.attempt(ctx, c, t, q, key, creates, try > 1, act)
		if !retry || try == conditionalTries || !IsKind(err, KindPrecondition) {
			return rec, err
		}
	}
}

// attempt runs act once. A first try at an existing match is optimistic:
// the search, then a write checked against the version it found. A create,
// and any try after a lost race, search and write in one transaction
// holding the criteria's lock (key), so conditional writers with the same
// criteria take turns.
func (s *Service) attempt(ctx context.Context, c *Caller, t *Type, q *Query, key string, creates, locked bool,
	act func(ctx context.Context, c *Caller, t *Type, match *Record) (*Record, error)) (*Record, error) {
	if !locked {
		match, err := s.matchOne(ctx, c, t, q)
		if err != nil {
			return nil, err
		}
		if match != nil || !creates {
			return act(ctx, c, t, match)
		}
	}
	var rec *Record
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.Lock(ctx, key); err != nil {
			return err
		}
		match, err := s.matchOne(ctx, c, t, q)
		if err != nil {
			return err
		}
		rec, err = act(ctx, c, t, match)
		return err
	})
	return rec, err
}

// conditionQuery parses a conditional write's criteria: a search of t with
// at least one filter (an unknown parameter is 400, naming it), asking for
// the two matches that tell one from several.
func conditionQuery(t *Type, criteria url.Values, what string) (*Query, error) {
	q, err := ParseQuery(t, criteria)
	if err != nil {
		return nil, err
	}
	if len(q.Filters) == 0 {
		return nil, Invalid("", "A conditional %s of %s needs search criteria (%s?identifier=…)", what, t.Name, t.Name)
	}
	q.Count, q.Offset, q.Sort, q.Total = 2, 0, nil, false
	return q, nil
}

// matchOne runs q in c's project only (a super admin's too): the one
// match, nil for none, 412 for several. The caller's guards see the search
// and may narrow it, as they do any search.
func (s *Service) matchOne(ctx context.Context, c *Caller, t *Type, q *Query) (*Record, error) {
	cp := *q // a guard's narrowing must not pile up over tries
	cp.Filters = slices.Clone(q.Filters)
	q = &cp
	if err := s.authorize(ctx, c, t, c.Project, Access{Type: t.Name, Project: c.Project, Query: q}, false); err != nil {
		return nil, err
	}
	q.Project, q.All = c.Project, c.System && c.Project == ""
	p, err := s.store.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	switch recs := p.Matches; {
	case len(recs) > 1:
		return nil, Precondition("multiple-matches", "More than one %s matches the criteria; make them more selective", t.Name)
	case len(recs) == 1:
		return recs[0], nil
	}
	return nil, nil
}
