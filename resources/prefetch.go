package resources

import "context"

// Prefetch lets the session lookup that authenticates a request also read
// the one resource the request is for, in the same database round trip: a
// read by id (or of its current version) then costs one statement instead
// of two, an update or a delete two instead of three, and the session is
// still checked on every request (logout and deactivation keep taking
// effect on the next one). The store fills it; Service.current and VRead
// take it.
type Prefetch struct {
	Type, ID string
	Done     bool    // the store looked the resource up
	Record   *Record // what it found: nil when there is no such resource
	taken    bool
}

type prefetchKey struct{}

// WithPrefetch asks the request's session lookup to read typ/id too.
func WithPrefetch(ctx context.Context, typ, id string) context.Context {
	return context.WithValue(ctx, prefetchKey{}, &Prefetch{Type: typ, ID: id})
}

// PrefetchFrom returns the request's pending prefetch, if any.
func PrefetchFrom(ctx context.Context) *Prefetch {
	p, _ := ctx.Value(prefetchKey{}).(*Prefetch)
	if p == nil || p.Done {
		return nil
	}
	return p
}

// prefetched takes the record prefetched for typ/id, once: later reads in
// the same request see the database as it is then.
func prefetched(ctx context.Context, typ, id string) (*Record, bool) {
	p, _ := ctx.Value(prefetchKey{}).(*Prefetch)
	if p == nil || !p.Done || p.taken || p.Type != typ || p.ID != id {
		return nil, false
	}
	p.taken = true
	return p.Record, true
}
