package resources_test

import (
	"context"
	"encoding/json"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/resources"
)

// Fuzz targets for what Roster reads from clients before anything is
// stored: resource bodies, search parameters and JSON Patch documents. The
// property of each: no panic, and every refusal is a typed *resources.Error
// of a 4xx kind — never an untyped error, which the HTTP layer would answer
// with 500. Seed corpora live in testdata/fuzz/<FuzzName>/; run one with
//
//	go test -run='^$' -fuzz='^FuzzDecode$' -fuzztime=10s ./resources

// clientKinds are the error kinds a bad request may get.
var clientKinds = map[resources.Kind]bool{
	resources.KindInvalid: true, resources.KindForbidden: true, resources.KindNotFound: true,
	resources.KindConflict: true, resources.KindGone: true, resources.KindPrecondition: true,
	resources.KindTooLarge: true, resources.KindBusiness: true,
}

func requireClientError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	e, ok := resources.AsError(err)
	if !ok {
		t.Fatalf("untyped error (a 500): %T %v", err, err)
	}
	if !clientKinds[e.Kind] {
		t.Fatalf("error of kind %d, not a client error: %v", e.Kind, e)
	}
}

// typeNames are the registered types, in a fixed order, for the fuzzer to
// pick from by a byte.
func typeNames() []string {
	var out []string
	for _, t := range resources.Types() {
		out = append(out, t.Name)
	}
	return out
}

// FuzzDecode feeds bodies to the strict decoder of every type: a body is
// either a resource that marshals back and validates without an untyped
// error, or a typed 400.
func FuzzDecode(f *testing.F) {
	names := typeNames()
	f.Fuzz(func(t *testing.T, pick byte, body []byte) {
		name := names[int(pick)%len(names)]
		tp, _ := resources.Lookup(name)
		// The bare decoder reports *DecodeError and nothing else.
		if err := resources.Decode(body, tp.New()); err != nil {
			if _, ok := err.(*resources.DecodeError); !ok {
				t.Fatalf("Decode: %T %v", err, err)
			}
		}
		r, err := resources.DecodeAs(name, body)
		requireClientError(t, err)
		if err != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("a decoded %s does not marshal (the write would answer 500): %v", name, err)
		}
		// What Roster stores reads back as the same type.
		if err := json.Unmarshal(out, tp.New()); err != nil {
			t.Fatalf("a stored %s does not read back: %v\n%s", name, err, out)
		}
		if tp.Validate != nil {
			_ = tp.Validate(r)
		}
	})
}

// FuzzParseQuery feeds raw query strings to the search parser of every
// type, as GET /fhir/R4/{type}?… does.
func FuzzParseQuery(f *testing.F) {
	names := typeNames()
	f.Fuzz(func(t *testing.T, pick byte, raw string) {
		tp, _ := resources.Lookup(names[int(pick)%len(names)])
		params, err := url.ParseQuery(raw)
		if err != nil {
			return // the router refuses these before Roster sees them
		}
		q, err := resources.ParseQuery(tp, params)
		requireClientError(t, err)
		if err != nil {
			return
		}
		if q.Count < 0 || q.Count > resources.MaxCount || q.Offset < 0 {
			t.Fatalf("paging out of bounds: count %d offset %d", q.Count, q.Offset)
		}
		for _, f := range q.Filters {
			if len(f.Values) == 0 && f.Plain() {
				t.Fatalf("filter %s without values", f.Code)
			}
			if f.Chain != nil && len(f.Chain.Of) == 0 {
				t.Fatalf("chain %s leading nowhere", f.Code)
			}
		}
	})
}

// FuzzPatch applies JSON Patch documents to a stored Patient through
// Service.Patch (the path PATCH /fhir/R4/Patient/{id} takes), on an
// in-memory store: the patch either applies and stores a valid Patient or
// is refused with a typed 4xx.
func FuzzPatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, patch []byte, ifMatch string) {
		st := newMemStore()
		svc := resources.NewService(st, func() time.Time { return time.Unix(1700000000, 0) })
		ctx := resources.WithCaller(context.Background(), &resources.Caller{Project: "p1", Admin: true, Profile: "Practitioner/me"})
		p := &resources.Patient{Name: []resources.HumanName{{Family: "Fuzz", Given: []string{"Ada"}}}, Gender: "female",
			Telecom: []resources.ContactPoint{{System: "email", Value: "ada@example.com"}}}
		p.ResourceType = "Patient"
		rec, err := svc.Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		out, err := svc.Patch(ctx, "Patient", rec.ID, patch, ifMatch)
		requireClientError(t, err)
		if err != nil {
			return
		}
		var back resources.Patient
		if err := resources.Decode(out.Content, &back); err != nil {
			t.Fatalf("the patched Patient does not decode: %v\n%s", err, out.Content)
		}
		if back.ID != rec.ID || back.ResourceType != "Patient" || out.Version != 2 {
			t.Fatalf("patch changed identity or version: %s/%s v%d", back.ResourceType, back.ID, out.Version)
		}
	})
}

// memStore is the least of a resources.Store the patch path needs.
type memStore struct {
	mu   sync.Mutex
	recs map[string]*resources.Record
}

func newMemStore() *memStore { return &memStore{recs: map[string]*resources.Record{}} }

func (m *memStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return fn(ctx)
}
func (m *memStore) Lock(context.Context, ...string) error { return nil }

func (m *memStore) Insert(_ context.Context, rec *resources.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := rec.Type + "/" + rec.ID
	if _, ok := m.recs[key]; ok {
		return resources.Conflict("exists")
	}
	m.recs[key] = rec
	return nil
}

func (m *memStore) Replace(_ context.Context, rec *resources.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := rec.Type + "/" + rec.ID
	cur, ok := m.recs[key]
	if !ok || cur.Version != rec.Version-1 {
		return resources.Precondition("conflict", "changed")
	}
	m.recs[key] = rec
	return nil
}

func (m *memStore) Get(_ context.Context, typ, id string) (*resources.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.recs[typ+"/"+id]
	if !ok {
		return nil, resources.NotFound("Not found")
	}
	return rec, nil
}

func (m *memStore) GetVersion(ctx context.Context, typ, id string, _ int64) (*resources.Record, error) {
	return m.Get(ctx, typ, id)
}

func (m *memStore) Search(context.Context, *resources.Query) (*resources.Page, error) {
	return &resources.Page{}, nil
}

func (m *memStore) Referenced(context.Context, string, []string, *resources.Follow) ([]*resources.Record, error) {
	return nil, nil
}

func (m *memStore) History(context.Context, *resources.HistoryQuery) ([]*resources.Record, error) {
	return nil, nil
}
