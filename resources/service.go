package resources

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/uuid"
)

// Record is one stored version of a resource.
type Record struct {
	Type        string
	ID          string
	Project     string
	Version     int64
	LastUpdated time.Time
	Deleted     bool
	Content     []byte // the resource JSON with its meta; nil when deleted
	Index       []IndexRow
	Unique      []string
	// Method is the interaction that wrote this version (POST, PUT, PATCH
	// or DELETE), as history reports it; "" on versions stored before
	// Roster recorded it.
	Method string
}

// ETag is the record's weak entity tag.
func (r *Record) ETag() string { return `W/"` + strconv.FormatInt(r.Version, 10) + `"` }

// IndexRow is one search-index entry of a record. Value is bounded
// (IndexKey, StringKey). String parameters store the folded value's key in
// Value and the value as sent in System, or, for a value longer than the
// key, the whole folded value (see StringKey).
type IndexRow struct {
	Param  string
	System string
	Value  string
	Num    int64 // dates: start of the covered interval, UTC microseconds
}

// Page is a page of a search's results.
type Page struct {
	Matches []*Record
	// Included is what _include and _revinclude add (search mode
	// "include"), each once and none a match; from the store, what
	// Query.Follow leads to.
	Included []*Record
	Total    int  // the number of matches; -1 unless counted (Query.Total, or Count 0)
	More     bool // a next page exists (when Query.Next asked)
}

// HistoryQuery selects versions for a history Bundle.
type HistoryQuery struct {
	Type    string
	ID      string // "" for type history
	Project string
	All     bool
	Count   int
	Offset  int
	Since   int64 // UTC microseconds; 0 for all
}

// Store is what the generic pipeline needs from storage.
type Store interface {
	// InTx runs fn in one transaction carried by the context; nested calls join it.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// Lock takes transaction-scoped locks on keys, in the order given,
	// serializing writers that decide on the same data (e.g. invites of
	// one email).
	Lock(ctx context.Context, keys ...string) error
	Insert(ctx context.Context, rec *Record) error
	// Replace writes rec as the next version; ErrPrecondition when the stored
	// version is no longer rec.Version-1.
	Replace(ctx context.Context, rec *Record) error
	Get(ctx context.Context, typ, id string) (*Record, error)
	GetVersion(ctx context.Context, typ, id string, version int64) (*Record, error)
	// Search answers a page of q's matches, and with it what q.Follow
	// leads to.
	Search(ctx context.Context, q *Query) (*Page, error)
	// Referenced returns the live resources the typ resources ids point at
	// as f says (by their literal "Type/id" references), each once.
	Referenced(ctx context.Context, typ string, ids []string, f *Follow) ([]*Record, error)
	History(ctx context.Context, q *HistoryQuery) ([]*Record, error)
}

// Service is the one pipeline every resource write and read goes through,
// whichever HTTP surface (FHIR, admin, dialect) it came from.
type Service struct {
	store  Store
	now    func() time.Time
	guards []Guard
	hooks  []writeHook
}

// NewService returns a Service over store; now is the clock (nil: time.Now).
func NewService(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

// Now reads the service's clock, Roster's one clock: code that dates or
// judges something by time and holds the Service reads it here.
func (s *Service) Now() time.Time { return s.now() }

// Store returns the underlying store (for transactions and locks).
func (s *Service) Store() Store { return s.store }

// InTx runs fn in one transaction.
func (s *Service) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.store.InTx(ctx, fn)
}

// callerAndType resolves what every operation starts from: the caller (401
// without one) and the registered type it names (404 for an unknown type).
func callerAndType(ctx context.Context, typ string) (*Caller, *Type, error) {
	c := CallerFrom(ctx)
	if c == nil {
		return nil, nil, Unauthorized("Unauthorized")
	}
	t, err := lookup(typ)
	if err != nil {
		return nil, nil, err
	}
	return c, t, nil
}

// lookup resolves a type name, 404 for an unknown type.
func lookup(name string) (*Type, error) {
	t, ok := Lookup(name)
	if !ok {
		return nil, NotFound("Unknown resource type %s", name)
	}
	return t, nil
}

// authorize checks the caller may do a on a resource of t in project, then
// asks the registered guards.
func (s *Service) authorize(ctx context.Context, c *Caller, t *Type, project string, a Access, create bool) error {
	if c.System {
		return nil
	}
	if !c.Sees(project) {
		return NotFound("Not found")
	}
	if a.Write && t.SystemWrite {
		return Forbidden("Forbidden: %s is written only by Roster", t.Name)
	}
	if create && t.SuperAdminCreate && !c.SuperAdmin {
		return Forbidden("Only the super admin may create %s", t.Name)
	}
	if t.AdminOnly && !c.CanAdmin(project) {
		return Forbidden("Forbidden: %s requires project admin rights", t.Name)
	}
	for _, g := range s.guards {
		if err := g(ctx, c, &a); err != nil {
			return err
		}
	}
	return nil
}

// Access is one operation a caller attempts, as a Guard sees it.
type Access struct {
	Type    string
	ID      string // "" for a create, a search or a type history
	Project string
	Write   bool
	Delete  bool // a Write that deletes
	// Query is the search being run (nil otherwise); a guard may narrow it
	// by appending filters.
	Query *Query
}

// Guard may refuse an operation of a non-system caller (by returning a typed
// error) or narrow a search. Extension packages register guards to enforce
// what a membership's accessPolicy means to them.
type Guard func(ctx context.Context, c *Caller, a *Access) error

// AddGuard registers g for every later operation; call it while wiring the
// app, before serving.
func (s *Service) AddGuard(g Guard) { s.guards = append(s.guards, g) }

// Change is one stored write of a resource, as a WriteHook sees it.
type Change struct {
	Type *Type
	// Record is what was stored: the new version, or the deletion.
	Record *Record
	// Prev is the version replaced (nil on create); Current the resource
	// written (nil on delete).
	Prev, Current Resource
}

// WriteHook is told of every write of every type — whoever the caller,
// Roster itself included — inside the write's transaction: an error rolls
// the write back. It may write resources itself (they reach the hooks too).
type WriteHook func(ctx context.Context, ch *Change) error

type writeHook struct {
	fn    WriteHook
	types []string // nil: every type
}

// AddWriteHook registers h for every later write, or only for writes of the
// named types (a write no hook watches needs no transaction of its own);
// call it while wiring the app, before serving.
func (s *Service) AddWriteHook(h WriteHook, types ...string) {
	s.hooks = append(s.hooks, writeHook{fn: h, types: types})
}

// hooksFor says whether any hook watches writes of typ.
func (s *Service) hooksFor(typ string) bool {
	for _, h := range s.hooks {
		if h.types == nil || slices.Contains(h.types, typ) {
			return true
		}
	}
	return false
}

// stored runs one storage write and, in its transaction, the write hooks.
func (s *Service) stored(ctx context.Context, ch *Change, write func(ctx context.Context) error) error {
	if !s.hooksFor(ch.Type.Name) {
		return write(ctx)
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := write(ctx); err != nil {
			return err
		}
		for _, h := range s.hooks {
			if h.types != nil && !slices.Contains(h.types, ch.Type.Name) {
				continue
			}
			if err := h.fn(ctx, ch); err != nil {
				return err
			}
		}
		return nil
	})
}

// Decode parses a request body into a new resource of typ, strictly.
func DecodeAs(typ string, body []byte) (Resource, error) {
	t, err := lookup(typ)
	if err != nil {
		return nil, err
	}
	r := t.New()
	if err := Decode(body, r); err != nil {
		if de, ok := err.(*DecodeError); ok {
			return nil, Invalid(de.Element, "%s", de.Error())
		}
		return nil, Invalid("", "Invalid resource")
	}
	if rt := r.Base().ResourceType; rt != typ {
		return nil, Invalid("resourceType", "resourceType %q does not match %s", rt, typ)
	}
	return r, nil
}

// Create stores r as a new resource in the caller's project.
func (s *Service) Create(ctx context.Context, r Resource) (*Record, error) {
	return s.CreateIn(ctx, r, "")
}

// CreateIn stores r as a new resource in project ("" = the caller's project).
func (s *Service) CreateIn(ctx context.Context, r Resource, project string) (*Record, error) {
	return s.CreateWithID(ctx, r, project, "")
}

// CreateWithID is CreateIn with a server-chosen id assigned in advance (a
// transaction Bundle resolving urn:uuid references); "" generates one.
func (s *Service) CreateWithID(ctx context.Context, r Resource, project, id string) (*Record, error) {
	return s.create(ctx, r, project, id, http.MethodPost)
}

// create is CreateWithID by the interaction method (a conditional update
// creates by PUT).
func (s *Service) create(ctx context.Context, r Resource, project, id, method string) (*Record, error) {
	c, t, err := callerAndType(ctx, r.Base().ResourceType)
	if err != nil {
		return nil, err
	}
	b := r.Base()
	if project == "" {
		project = c.Project
	}
	if err := s.authorize(ctx, c, t, project, Access{Type: t.Name, Project: project, Write: true}, true); err != nil {
		return nil, err
	}
	b.ID = id
	if b.ID == "" {
		b.ID = uuid.NewString()
	}
	if t.Name == "Project" {
		project = b.ID // a Project belongs to itself, as in Medplum
	}
	return s.write(ctx, t, r, project, 1, c, nil, method)
}

// write validates r and stores it as version v, replacing prev (nil on
// create); method is the interaction, as history reports it.
func (s *Service) write(ctx context.Context, t *Type, r Resource, project string, v int64, c *Caller, prev Resource, method string) (*Record, error) {
	if t.CheckWrite != nil && !c.System {
		if err := t.CheckWrite(c, r, prev); err != nil {
			return nil, err
		}
	}
	b := r.Base()
	now := s.now().UTC().Truncate(time.Microsecond)
	meta := Meta{}
	if b.Meta != nil {
		meta.Profile, meta.Security, meta.Tag, meta.Source = b.Meta.Profile, b.Meta.Security, b.Meta.Tag, b.Meta.Source
	}
	meta.VersionID = strconv.FormatInt(v, 10)
	meta.LastUpdated = now.Format("2006-01-02T15:04:05.000000Z07:00")
	meta.Project = project
	meta.Author = c.ProfileRef()
	b.Meta = &meta
	if t.Prepare != nil {
		t.Prepare(r, project)
	}
	if t.Validate != nil {
		if issues := t.Validate(r); len(issues) > 0 {
			return nil, Invalids(issues)
		}
	}
	content, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	// Checked on what is stored, so resources built by the admin API and
	// the dialects are held to it as well as request bodies (PostgreSQL
	// refuses U+0000 in a search row outright).
	if controlChar(content) {
		return nil, Invalid("", "Strings must not contain control characters (U+0000 to U+001F other than tab, line feed and carriage return)")
	}
	rec := &Record{Type: t.Name, ID: b.ID, Project: project, Version: v, LastUpdated: now, Content: content, Method: method}
	rec.Index = indexRows(t, r)
	if t.Unique != nil {
		for _, key := range t.Unique(r, project) {
			rec.Unique = append(rec.Unique, IndexKey(key))
		}
	}
	err = s.stored(ctx, &Change{Type: t, Record: rec, Prev: prev, Current: r}, func(ctx context.Context) error {
		if v == 1 {
			return s.store.Insert(ctx, rec)
		}
		return s.store.Replace(ctx, rec)
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

func indexRows(t *Type, r Resource) []IndexRow {
	var rows []IndexRow
	for _, p := range t.Params {
		if p.Values == nil {
			continue // answered by another parameter's rows (Of)
		}
		for _, v := range p.Values(r) {
			row := IndexRow{Param: p.Code, System: v.System, Value: v.Value}
			if v.Identifier {
				row.Param = IdentifierParam(p.Code)
			}
			switch {
			case p.Type == ParamString:
				// Plain and prefix search ignore case; :exact compares the
				// value as sent, which strings keep in the unused System
				// (a long value's key decides :exact alone, and System
				// keeps the whole folded value: StringKey).
				row.System, row.Value = v.Value, StringKey(v.Value)
				if Long(row.Value) {
					row.System = Fold(v.Value)
				}
			case p.FoldCase, p.FoldSystem != "" && v.System == p.FoldSystem:
				row.Value = IndexKey(EmailKey(v.Value))
			default:
				row.Value = IndexKey(v.Value)
			}
			if p.Type == ParamDate {
				row.Num, _, _ = DateRange(v.Value)
				row.Value = DateKey(row.Num)
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// Read returns the current version of typ/id visible to the caller.
func (s *Service) Read(ctx context.Context, typ, id string) (*Record, error) {
	rec, _, err := s.read(ctx, typ, id)
	return rec, err
}

// read is Read, also telling whether the record is the session lookup's
// early copy (current).
func (s *Service) read(ctx context.Context, typ, id string) (*Record, bool, error) {
	c, t, err := callerAndType(ctx, typ)
	if err != nil {
		return nil, false, err
	}
	rec, early, err := s.current(ctx, typ, id)
	if err != nil {
		return nil, false, err
	}
	if err := s.authorize(ctx, c, t, rec.Project, Access{Type: typ, ID: id, Project: rec.Project}, false); err != nil {
		return nil, false, err
	}
	if rec.Deleted {
		return nil, false, Gone("%s/%s was deleted", typ, id)
	}
	return rec, early, nil
}

// ReadTyped reads typ/id and decodes it into a typed resource.
func ReadTyped[T Resource](ctx context.Context, s *Service, typ, id string) (T, *Record, error) {
	var zero T
	rec, err := s.Read(ctx, typ, id)
	if err != nil {
		return zero, nil, err
	}
	r, err := Unmarshal(rec)
	if err != nil {
		return zero, nil, err
	}
	typed, ok := r.(T)
	if !ok {
		return zero, nil, NotFound("Not found")
	}
	return typed, rec, nil
}

// Unmarshal decodes a stored record into its typed resource.
func Unmarshal(rec *Record) (Resource, error) {
	t, err := lookup(rec.Type)
	if err != nil {
		return nil, err
	}
	r := t.New()
	if err := json.Unmarshal(rec.Content, r); err != nil {
		return nil, err
	}
	return r, nil
}

// VRead returns one version.
func (s *Service) VRead(ctx context.Context, typ, id, vid string) (*Record, error) {
	c, t, err := callerAndType(ctx, typ)
	if err != nil {
		return nil, err
	}
	v, err := strconv.ParseInt(vid, 10, 64)
	if err != nil {
		return nil, NotFound("Version %s not found", vid)
	}
	// The current version is most often the one asked for, and the
	// session lookup may have read it (Prefetch); any other is looked up.
	rec, ok := prefetched(ctx, typ, id)
	if !ok || rec == nil || rec.Version != v {
		if rec, err = s.store.GetVersion(ctx, typ, id, v); err != nil {
			return nil, err
		}
	}
	if err := s.authorize(ctx, c, t, rec.Project, Access{Type: typ, ID: id, Project: rec.Project}, false); err != nil {
		return nil, err
	}
	if rec.Deleted {
		return nil, Gone("%s/%s version %s was a deletion", typ, id, vid)
	}
	return rec, nil
}

// Update replaces typ/id with r. ifMatch, when set, is the ETag or version
// the client last saw; a stale one is 412.
func (s *Service) Update(ctx context.Context, r Resource, id, ifMatch string) (*Record, error) {
	c, t, err := callerAndType(ctx, r.Base().ResourceType)
	if err != nil {
		return nil, err
	}
	if err := checkBodyID(r, id); err != nil {
		return nil, err
	}
	cur, early, err := s.current(ctx, t.Name, id)
	if err != nil {
		return nil, err
	}
	rec, err := s.replace(ctx, c, t, cur, r, ifMatch, http.MethodPut)
	if early && ifMatch == "" && IsKind(err, KindPrecondition) {
		return s.Update(ctx, r, id, ifMatch) // the prefetch is taken: this reads afresh
	}
	return rec, err
}

// checkBodyID gives r the id its write is for; a body naming another is 400.
func checkBodyID(r Resource, id string) error {
	b := r.Base()
	if b.ID != "" && b.ID != id {
		return Invalid("id", "Resource id %q does not match the URL id %q", b.ID, id)
	}
	b.ID = id
	return nil
}

// replace writes r as the version after cur, for c: the change's checks
// and the write, which fails with 412 when cur is no longer current.
func (s *Service) replace(ctx context.Context, c *Caller, t *Type, cur *Record, r Resource, ifMatch, method string) (*Record, error) {
	if err := s.authorize(ctx, c, t, cur.Project, Access{Type: t.Name, ID: cur.ID, Project: cur.Project, Write: true}, false); err != nil {
		return nil, err
	}
	if cur.Deleted {
		return nil, Gone("%s/%s was deleted", t.Name, cur.ID)
	}
	if err := checkIfMatch(ifMatch, cur.Version); err != nil {
		return nil, err
	}
	prev, err := Unmarshal(cur)
	if err != nil {
		return nil, err
	}
	return s.write(ctx, t, r, cur.Project, cur.Version+1, c, prev, method)
}

// current reads typ/id for a change to it. The request's session lookup
// may have read it already (Prefetch), saving a round trip; that copy was
// read before the request's body, so early reports it: a change made
// without If-Match that finds it outdated is retried with a fresh read,
// as it would have succeeded had the read come after the body.
func (s *Service) current(ctx context.Context, typ, id string) (rec *Record, early bool, err error) {
	rec, ok := prefetched(ctx, typ, id)
	switch {
	case !ok:
		rec, err = s.store.Get(ctx, typ, id)
		return rec, false, err
	case rec == nil:
		return nil, true, NotFound("%s/%s not found", typ, id)
	}
	return rec, true, nil
}

func checkIfMatch(ifMatch string, version int64) error {
	if ifMatch == "" {
		return nil
	}
	v := strings.TrimPrefix(strings.TrimSpace(ifMatch), "W/")
	v = strings.Trim(v, `"`)
	if v != strconv.FormatInt(version, 10) {
		return Precondition("conflict", "Version mismatch: If-Match %s, current version %d", ifMatch, version)
	}
	return nil
}

// Patch applies a JSON Patch document to typ/id.
func (s *Service) Patch(ctx context.Context, typ, id string, patch []byte, ifMatch string) (*Record, error) {
	c, t, err := callerAndType(ctx, typ)
	if err != nil {
		return nil, err
	}
	cur, early, err := s.current(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	rec, err := s.patch(ctx, c, t, cur, patch, ifMatch)
	if early && ifMatch == "" && IsKind(err, KindPrecondition) {
		return s.Patch(ctx, typ, id, patch, ifMatch)
	}
	return rec, err
}

// patch applies a JSON Patch document to cur and writes the result as the
// next version, for c.
func (s *Service) patch(ctx context.Context, c *Caller, t *Type, cur *Record, patch []byte, ifMatch string) (*Record, error) {
	if err := s.authorize(ctx, c, t, cur.Project, Access{Type: t.Name, ID: cur.ID, Project: cur.Project}, false); err != nil {
		return nil, err
	}
	if cur.Deleted {
		return nil, Gone("%s/%s was deleted", t.Name, cur.ID)
	}
	if err := checkIfMatch(ifMatch, cur.Version); err != nil {
		return nil, err
	}
	ops, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, Invalid("", "Invalid JSON Patch document")
	}
	out, err := ops.Apply(cur.Content)
	if err != nil {
		return nil, Invalid("", "JSON Patch could not be applied: %s", patchReason(err))
	}
	var head struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	_ = json.Unmarshal(out, &head)
	if head.ResourceType != t.Name || head.ID != cur.ID {
		return nil, Invalid("", "JSON Patch must not change resourceType or id")
	}
	r, err := DecodeAs(t.Name, out)
	if err != nil {
		return nil, err
	}
	return s.replace(ctx, c, t, cur, r, "", http.MethodPatch)
}

func patchReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "testing value"):
		return "a test operation failed"
	case strings.Contains(msg, "missing"), strings.Contains(msg, "not found"), strings.Contains(msg, "unable to"):
		return "a path does not exist"
	}
	return "invalid operation"
}

// Delete marks typ/id deleted; reading it afterwards is 410.
func (s *Service) Delete(ctx context.Context, typ, id string) error {
	c, t, err := callerAndType(ctx, typ)
	if err != nil {
		return err
	}
	cur, early, err := s.current(ctx, typ, id)
	if err != nil {
		return err
	}
	err = s.remove(ctx, c, t, cur)
	if early && IsKind(err, KindPrecondition) {
		return s.Delete(ctx, typ, id) // read afresh (current)
	}
	return err
}

// remove writes the deletion of cur as its next version, for c; deleting a
// deleted resource changes nothing.
func (s *Service) remove(ctx context.Context, c *Caller, t *Type, cur *Record) error {
	if err := s.authorize(ctx, c, t, cur.Project, Access{Type: t.Name, ID: cur.ID, Project: cur.Project, Write: true, Delete: true}, false); err != nil {
		return err
	}
	if cur.Deleted {
		return nil
	}
	rec := &Record{Type: t.Name, ID: cur.ID, Project: cur.Project, Version: cur.Version + 1,
		LastUpdated: s.now().UTC().Truncate(time.Microsecond), Deleted: true, Method: http.MethodDelete}
	ch := &Change{Type: t, Record: rec}
	if s.hooksFor(t.Name) {
		var err error
		if ch.Prev, err = Unmarshal(cur); err != nil {
			return err
		}
	}
	return s.stored(ctx, ch, func(ctx context.Context) error { return s.store.Replace(ctx, rec) })
}

// Search runs q in the caller's project (every project for the super
// admin), and any chain of it within the same.
func (s *Service) Search(ctx context.Context, q *Query) ([]*Record, int, error) {
	q.Next, q.Follow = false, nil
	if _, err := s.scope(ctx, q); err != nil {
		return nil, 0, err
	}
	p, err := s.store.Search(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	return p.Matches, p.Total, nil
}

// SearchPage runs q as Search does for one page of a searchset: the
// matches, whether a next page exists, and what q's _include and
// _revinclude parameters add (include). The first round of forward
// includes comes in the page's own statement.
func (s *Service) SearchPage(ctx context.Context, q *Query) (*Page, error) {
	c, err := s.scope(ctx, q)
	if err != nil {
		return nil, err
	}
	q.Next, q.Follow = true, nil
	if q.Count > 0 {
		if q.Follow, err = s.follow(ctx, c, q, q.Type, q.Includes); err != nil {
			return nil, err
		}
	}
	p, err := s.store.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	if p.Included, err = s.include(ctx, q, p.Matches, p.Included); err != nil {
		return nil, err
	}
	return p, nil
}

// scope checks that the caller may run q and scopes it: the caller's
// project (every project for the super admin), and any chain of it the same.
func (s *Service) scope(ctx context.Context, q *Query) (*Caller, error) {
	c, t, err := callerAndType(ctx, q.Type)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, t, c.Project, Access{Type: t.Name, Project: c.Project, Query: q}, false); err != nil {
		return nil, err
	}
	q.Project, q.All = c.Project, c.SuperAdmin && !c.System
	if c.System && c.Project == "" {
		q.All = true
	}
	return c, s.authorizeChains(ctx, c, q)
}

// SearchTyped runs q and decodes the matches.
func SearchTyped[T Resource](ctx context.Context, s *Service, q *Query) ([]T, error) {
	recs, _, err := s.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(recs))
	for _, rec := range recs {
		r, err := Unmarshal(rec)
		if err != nil {
			return nil, err
		}
		if typed, ok := r.(T); ok {
			out = append(out, typed)
		}
	}
	return out, nil
}

// History lists versions newest first.
func (s *Service) History(ctx context.Context, q *HistoryQuery) ([]*Record, error) {
	c, t, err := callerAndType(ctx, q.Type)
	if err != nil {
		return nil, err
	}
	if q.ID != "" {
		cur, err := s.store.Get(ctx, q.Type, q.ID)
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ctx, c, t, cur.Project, Access{Type: t.Name, ID: q.ID, Project: cur.Project}, false); err != nil {
			return nil, err
		}
	} else if err := s.authorize(ctx, c, t, c.Project, Access{Type: t.Name, Project: c.Project}, false); err != nil {
		return nil, err
	}
	q.Project, q.All = c.Project, c.SuperAdmin
	return s.store.History(ctx, q)
}
