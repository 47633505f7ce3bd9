package resources

import "context"

// IndexRows are the search-index rows the pipeline writes for r, a resource
// of t (for a migration that indexes what an older Roster did not).
func IndexRows(t *Type, r Resource) []IndexRow { return indexRows(t, r) }

// authorizeChains scopes every query q's chains lead to as q is scoped and
// checks the caller may search each one's type, as a search of it (so a
// guard may narrow it too). A chain that may lead to several types drops
// those the caller may not search; one that leads to a single type it may
// not search refuses the whole search.
func (s *Service) authorizeChains(ctx context.Context, c *Caller, q *Query) error {
	for _, f := range q.Filters {
		if f.Chain == nil {
			continue
		}
		var kept []*Query
		var refused error
		for _, sub := range f.Chain.Of {
			sub.Project, sub.All = q.Project, q.All
			t, err := lookup(sub.Type)
			if err == nil {
				err = s.authorize(ctx, c, t, c.Project, Access{Type: t.Name, Project: c.Project, Query: sub}, false)
			}
			if err == nil {
				err = s.authorizeChains(ctx, c, sub)
			}
			if err != nil && len(f.Chain.Of) > 1 && IsKind(err, KindForbidden, KindNotFound) {
				refused = err
				continue
			}
			if err != nil {
				return err
			}
			kept = append(kept, sub)
		}
		if len(kept) == 0 {
			return refused
		}
		f.Chain.Of = kept
	}
	return nil
}

// MaxIncluded bounds how many resources _include and _revinclude may add to
// one page; a page that would need more is refused rather than cut short.
const MaxIncluded = MaxCount

// maxIncludeRounds bounds how many rounds :iterate includes take.
const maxIncludeRounds = 5

// include returns what q's _include and _revinclude parameters add to
// matches, a page of q's results, of which followed, what the store read
// with the page for q.Follow, is the first round's forward includes: each
// as a search of its type by the caller would show it (another project's,
// or a type the caller may not search, stays out), none twice and none a
// match. :iterate includes then apply to what the previous round added,
// until a round adds nothing.
func (s *Service) include(ctx context.Context, q *Query, matches, followed []*Record) ([]*Record, error) {
	if len(q.Includes) == 0 || len(matches) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, r := range matches {
		seen[r.Type+"/"+r.ID] = true
	}
	var out, added []*Record
	add := func(recs []*Record) {
		for _, r := range recs {
			if k := r.Type + "/" + r.ID; !seen[k] {
				seen[k] = true
				added = append(added, r)
			}
		}
	}
	base := matches
	for round := 0; len(base) > 0 && round < maxIncludeRounds; round++ {
		added = nil
		if round == 0 {
			add(followed)
		}
		for _, inc := range q.Includes {
			if round == 0 && !inc.Reverse || round > 0 && !inc.Iterate {
				continue
			}
			var recs []*Record
			var err error
			if inc.Reverse {
				recs, err = s.revInclude(ctx, inc, base)
			} else {
				recs, err = s.forwardInclude(ctx, q, inc, base)
			}
			if err != nil {
				return nil, err
			}
			add(recs)
		}
		if len(out)+len(added) > MaxIncluded {
			return nil, tooManyIncluded()
		}
		out, base = append(out, added...), added
	}
	return out, nil
}

func tooManyIncluded() error {
	return Invalid("_include", "_include and _revinclude would add more than %d resources to the page: ask for a smaller page (_count)", MaxIncluded)
}

// follow resolves for the store the forward includes among incs that
// follow the references of source resources: their parameters, and the
// caller's search of each type they may lead to (q's project, a guard's
// narrowing); a type the caller may not search adds nothing. nil when
// nothing may be included.
func (s *Service) follow(ctx context.Context, c *Caller, q *Query, source string, incs []Include) (*Follow, error) {
	types := Types()
	targets := map[string]*Query{} // nil: a type the caller may not search
	searchable := func(t *Type) (bool, error) {
		if target, ok := targets[t.Name]; ok {
			return target != nil, nil
		}
		target := &Query{Type: t.Name, Project: q.Project, All: q.All}
		err := s.authorize(ctx, c, t, c.Project, Access{Type: t.Name, Project: c.Project, Query: target}, false)
		if IsKind(err, KindForbidden, KindNotFound) {
			target, err = nil, nil
		}
		targets[t.Name] = target
		return target != nil, err
	}
	f := &Follow{}
	for _, inc := range incs {
		if inc.Reverse || inc.Source != source {
			continue
		}
		ref := Ref{Param: inc.Param.Code}
		for _, t := range types {
			if inc.Target != "" && t.Name != inc.Target || inc.Param.Target != "" && t.Name != inc.Param.Target {
				continue
			}
			ok, err := searchable(t)
			if err != nil {
				return nil, err
			}
			if ok {
				ref.Types = append(ref.Types, t.Name)
			}
		}
		switch len(ref.Types) {
		case 0:
			continue
		case len(types):
			ref.Types = nil // any
		}
		f.Refs = append(f.Refs, ref)
	}
	if len(f.Refs) == 0 {
		return nil, nil
	}
	for _, t := range types {
		if target := targets[t.Name]; target != nil {
			f.Targets = append(f.Targets, target)
		}
	}
	return f, nil
}

// forwardInclude reads the resources inc.Param of the inc.Source resources
// of base points at, in one statement (Store.Referenced), as follow
// resolves them.
func (s *Service) forwardInclude(ctx context.Context, q *Query, inc Include, base []*Record) ([]*Record, error) {
	var ids []string
	for _, rec := range base {
		if rec.Type == inc.Source {
			ids = append(ids, rec.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	c := CallerFrom(ctx)
	if c == nil {
		return nil, Unauthorized("Unauthorized")
	}
	f, err := s.follow(ctx, c, q, inc.Source, []Include{inc})
	if f == nil || err != nil {
		return nil, err
	}
	return s.store.Referenced(ctx, inc.Source, ids, f)
}

// revInclude searches the inc.Source resources whose inc.Param points at a
// resource of base.
func (s *Service) revInclude(ctx context.Context, inc Include, base []*Record) ([]*Record, error) {
	f := Filter{Param: inc.Param, Code: inc.Param.Code}
	for _, rec := range base {
		if inc.Param.Target != "" && rec.Type != inc.Param.Target || inc.Target != "" && rec.Type != inc.Target {
			continue
		}
		f.Values = append(f.Values, FilterValue{Op: "eq", Value: rec.Type + "/" + rec.ID})
	}
	if len(f.Values) == 0 {
		return nil, nil
	}
	recs, err := s.includeSearch(ctx, &Query{Type: inc.Source, Filters: []Filter{f}, Count: MaxIncluded + 1})
	if len(recs) > MaxIncluded {
		return nil, tooManyIncluded()
	}
	return recs, err
}

// includeSearch runs an include's search as the caller; a type the caller
// may not search adds nothing, as its resources would be invisible to it.
func (s *Service) includeSearch(ctx context.Context, q *Query) ([]*Record, error) {
	recs, _, err := s.Search(ctx, q)
	if IsKind(err, KindForbidden, KindNotFound) {
		return nil, nil
	}
	return recs, err
}
