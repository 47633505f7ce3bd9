package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// MaxBundleEntries caps batch and transaction Bundles of a Handler that
// sets no cap of its own (ROSTER_MAX_BUNDLE_ENTRIES sets one).
var MaxBundleEntries = 1000

// Bundle is a FHIR Bundle (search results, history, batch and transaction).
type Bundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id,omitempty"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []BundleLink  `json:"link,omitempty"`
	Entry        []BundleEntry `json:"entry,omitempty"`
}

// BundleLink is a paging link.
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is one entry; Resource is raw JSON so stored resources are
// written without decoding them.
type BundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *BundleSearch   `json:"search,omitempty"`
	Request  *BundleRequest  `json:"request,omitempty"`
	Response *BundleResponse `json:"response,omitempty"`
}

// BundleSearch says why an entry is in a searchset.
type BundleSearch struct {
	Mode string `json:"mode"`
}

// BundleRequest is an entry's request in a batch, transaction or history.
type BundleRequest struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	IfMatch     string `json:"ifMatch,omitempty"`
	IfNoneExist string `json:"ifNoneExist,omitempty"`
}

// BundleResponse is an entry's outcome.
type BundleResponse struct {
	Status       string          `json:"status"`
	Location     string          `json:"location,omitempty"`
	Etag         string          `json:"etag,omitempty"`
	LastModified string          `json:"lastModified,omitempty"`
	Outcome      json.RawMessage `json:"outcome,omitempty"`
}

func (h *Handler) bundle(c echo.Context) error {
	body, err := ReadBody(c)
	if err != nil {
		return err
	}
	out, err := h.RunBundle(c.Request().Context(), body, preferReturn(c))
	if err != nil {
		return err
	}
	return WriteJSON(c, http.StatusOK, out)
}

// RunBundle processes a batch or transaction Bundle as the context's caller;
// ret is what each write entry answers with (reads always carry their
// resources).
func (h *Handler) RunBundle(ctx context.Context, body []byte, ret Return) (*Bundle, error) {
	var in Bundle
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, resources.Invalid("Bundle", "Invalid Bundle: %s", jsonReason(err))
	}
	if in.ResourceType != "Bundle" {
		return nil, resources.Invalid("resourceType", "Expected a Bundle")
	}
	if in.Type != "batch" && in.Type != "transaction" {
		return nil, resources.Invalid("Bundle.type", "Bundle.type must be batch or transaction")
	}
	limit := h.MaxBundleEntries
	if limit <= 0 {
		limit = MaxBundleEntries
	}
	if len(in.Entry) > limit {
		return nil, &resources.Error{Kind: resources.KindTooLarge, Code: "too-costly",
			Message: "Bundle has " + strconv.Itoa(len(in.Entry)) + " entries; the limit is " + strconv.Itoa(limit)}
	}
	for i, e := range in.Entry {
		if e.Request == nil || e.Request.Method == "" || e.Request.URL == "" {
			return nil, resources.Invalid("Bundle.entry["+strconv.Itoa(i)+"].request", "Every entry needs request.method and request.url")
		}
	}
	out := &Bundle{ResourceType: "Bundle", Type: in.Type + "-response", Entry: make([]BundleEntry, len(in.Entry))}
	if in.Type == "batch" {
		for i := range in.Entry {
			res, err := h.runEntry(ctx, &in.Entry[i], nil)
			out.Entry[i] = h.entryResult(res, err, ret)
		}
		return out, nil
	}
	// A transaction: server ids for every POST first, so entries can refer to
	// each other by their urn:uuid fullUrls in any order.
	ids := map[string]string{}
	for _, e := range in.Entry {
		if creates(e.Request) && strings.HasPrefix(e.FullURL, "urn:uuid:") {
			ids[e.FullURL] = typeFromURL(e.Request.URL) + "/" + uuid.NewString()
		}
	}
	// Creates in a transaction have server-assigned ids and fail or succeed
	// together: the store may write them in batches.
	written := map[string]int{} // "Type/id" → the entry that wrote it
	err := h.svc.InTx(resources.DeferInserts(ctx), func(ctx context.Context) error {
		for i := range in.Entry {
			res, err := h.runEntry(ctx, &in.Entry[i], ids)
			if err != nil {
				if e, ok := resources.AsError(err); ok && e.Resource != "" {
					return err // a held-back create's: its entry is named below
				}
				return withEntry(err, i)
			}
			if res.rec != nil {
				written[res.rec.Type+"/"+res.rec.ID] = i
			}
			out.Entry[i] = h.entryResult(res, nil, ret)
		}
		return nil
	})
	if e, ok := resources.AsError(err); ok && e.Resource != "" {
		// A held-back create failed when the batch was written: name its
		// entry, not the one being run then.
		if i, ok := written[e.Resource]; ok {
			return nil, withEntry(err, i)
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func withEntry(err error, i int) error {
	e, ok := resources.AsError(err)
	if !ok {
		return err
	}
	cp := *e
	prefix := "Transaction entry " + strconv.Itoa(i) + ": "
	cp.Message = prefix + e.Message
	if len(cp.Issues) == 0 {
		cp.Issues = []resources.Issue{{Code: e.Code, Expression: "Bundle.entry[" + strconv.Itoa(i) + "]", Message: cp.Message}}
		return &cp
	}
	// The outcome shows the issues, so they must say which entry failed.
	cp.Issues = make([]resources.Issue, len(e.Issues))
	for j, is := range e.Issues {
		is.Message = prefix + is.Message
		cp.Issues[j] = is
	}
	return &cp
}

func jsonReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "json: "); i >= 0 {
		return msg[i+6:]
	}
	return "malformed JSON"
}

// creates tells whether an entry may create a resource: a POST, or a
// conditional update (PUT {type}?criteria).
func creates(r *BundleRequest) bool {
	switch strings.ToUpper(r.Method) {
	case http.MethodPost:
		return true
	case http.MethodPut:
		path, _, _ := strings.Cut(strings.TrimPrefix(r.URL, "/"), "?")
		return !strings.Contains(path, "/")
	}
	return false
}

// retarget points the references to an entry's urn:uuid at the existing
// resource a conditional entry matched instead of creating one.
func retarget(ids map[string]string, fullURL string, rec *resources.Record) {
	ref, ok := ids[fullURL]
	if !ok {
		return
	}
	for k, v := range ids {
		if v == ref {
			ids[k] = rec.Type + "/" + rec.ID
		}
	}
}

// patchOf is the JSON Patch of a PATCH entry: FHIR carries it in a Binary
// (base64 data); the patch array itself is accepted too.
func patchOf(body []byte) []byte {
	var bin struct {
		ResourceType string `json:"resourceType"`
		Data         []byte `json:"data"`
	}
	if json.Unmarshal(body, &bin) == nil && bin.ResourceType == "Binary" {
		return bin.Data
	}
	return body
}

// criteria parses an entry's conditional search (the url's query).
func criteria(rawQuery string) (url.Values, error) {
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, resources.Invalid("request.url", "Invalid search criteria")
	}
	return vals, nil
}

func typeFromURL(u string) string {
	u = strings.TrimPrefix(u, "/")
	t, _, _ := strings.Cut(u, "?")
	t, _, _ = strings.Cut(t, "/")
	return t
}

type entryOutcome struct {
	status string
	rec    *resources.Record
	body   any
	write  bool // a create, update or patch: Prefer: return= applies
}

func (h *Handler) entryResult(res *entryOutcome, err error, ret Return) BundleEntry {
	if err != nil {
		e := ToError(err)
		if e == nil {
			e = &resources.Error{Code: "exception", Message: "Internal server error"}
		}
		status := http.StatusInternalServerError
		if e.Kind != 0 {
			status = Status(e)
		}
		o, _ := json.Marshal(OutcomeOf(e))
		return BundleEntry{Response: &BundleResponse{Status: strconv.Itoa(status) + " " + http.StatusText(status), Outcome: o}}
	}
	entry := BundleEntry{Response: &BundleResponse{Status: res.status}}
	if res.rec != nil {
		entry.FullURL = h.base + "fhir/R4/" + res.rec.Type + "/" + res.rec.ID
		switch {
		case !res.write || ret == ReturnRepresentation:
			entry.Resource = res.rec.Content
		case ret == ReturnOutcome:
			status := http.StatusOK
			if strings.HasPrefix(res.status, "201") {
				status = http.StatusCreated
			}
			entry.Response.Outcome, _ = json.Marshal(writtenOutcome(status))
		}
		entry.Response.Location = h.location(res.rec)
		entry.Response.Etag = res.rec.ETag()
		entry.Response.LastModified = res.rec.LastUpdated.Format("2006-01-02T15:04:05.000Z07:00")
	} else if res.body != nil {
		entry.Resource, _ = json.Marshal(res.body)
	}
	return entry
}

// urnMarker opens a JSON string holding a urn:uuid.
var urnMarker = []byte(`"urn:uuid:`)

// resolveURNs replaces every JSON string that is exactly one of the
// transaction's urn:uuid fullUrls with the reference it was given, in one
// pass over body (a Bundle of n entries would otherwise cost n² scans).
func resolveURNs(body []byte, ids map[string]string) []byte {
	if !bytes.Contains(body, urnMarker) {
		return body
	}
	out := make([]byte, 0, len(body)+64)
	rest := body
	for {
		i := bytes.Index(rest, urnMarker)
		if i < 0 {
			break
		}
		j := bytes.IndexByte(rest[i+1:], '"')
		if j < 0 {
			break
		}
		end := i + 1 + j // the closing quote
		ref, ok := ids[string(rest[i+1:end])]
		out = append(out, rest[:i+1]...)
		if ok {
			out = append(out, ref...)
		} else {
			out = append(out, rest[i+1:end]...)
		}
		out = append(out, '"')
		rest = rest[end+1:]
	}
	return append(out, rest...)
}

// runEntry performs one entry through the same service calls the REST
// handlers make.
func (h *Handler) runEntry(ctx context.Context, e *BundleEntry, ids map[string]string) (*entryOutcome, error) {
	method := strings.ToUpper(e.Request.Method)
	path, rawQuery, _ := strings.Cut(strings.TrimPrefix(e.Request.URL, "/"), "?")
	parts := strings.Split(path, "/")
	t, ok := resources.Lookup(parts[0])
	if !ok {
		return nil, resources.NotFound("Unknown resource type %s", parts[0])
	}
	body := []byte(e.Resource)
	if len(ids) > 0 && len(body) > 0 {
		body = resolveURNs(body, ids)
	}
	switch {
	case method == http.MethodPost && len(parts) == 1:
		r, err := resources.DecodeAs(t.Name, body)
		if err != nil {
			return nil, err
		}
		id := ""
		if ref, ok := ids[e.FullURL]; ok {
			_, id, _ = strings.Cut(ref, "/")
		}
		if e.Request.IfNoneExist == "" {
			rec, err := h.svc.CreateWithID(ctx, r, "", id)
			if err != nil {
				return nil, err
			}
			return &entryOutcome{status: "201 Created", rec: rec, write: true}, nil
		}
		vals, err := url.ParseQuery(e.Request.IfNoneExist)
		if err != nil {
			return nil, resources.Invalid("ifNoneExist", "Invalid ifNoneExist")
		}
		rec, created, err := h.svc.ConditionalCreate(ctx, r, vals, id)
		if err != nil {
			return nil, err
		}
		if !created {
			retarget(ids, e.FullURL, rec) // later entries point at the match
			return &entryOutcome{status: "200 OK", rec: rec, write: true}, nil
		}
		return &entryOutcome{status: "201 Created", rec: rec, write: true}, nil
	case method == http.MethodPut && len(parts) == 2:
		r, err := resources.DecodeAs(t.Name, body)
		if err != nil {
			return nil, err
		}
		rec, err := h.svc.Update(ctx, r, parts[1], e.Request.IfMatch)
		if err != nil {
			return nil, err
		}
		return &entryOutcome{status: "200 OK", rec: rec, write: true}, nil
	case method == http.MethodPut && len(parts) == 1:
		r, err := resources.DecodeAs(t.Name, body)
		if err != nil {
			return nil, err
		}
		vals, err := criteria(rawQuery)
		if err != nil {
			return nil, err
		}
		id := ""
		if ref, ok := ids[e.FullURL]; ok {
			_, id, _ = strings.Cut(ref, "/")
		}
		rec, created, err := h.svc.ConditionalUpdate(ctx, r, vals, e.Request.IfMatch, id)
		if err != nil {
			return nil, err
		}
		if !created {
			retarget(ids, e.FullURL, rec)
			return &entryOutcome{status: "200 OK", rec: rec, write: true}, nil
		}
		return &entryOutcome{status: "201 Created", rec: rec, write: true}, nil
	case method == http.MethodPatch && len(parts) == 2:
		rec, err := h.svc.Patch(ctx, t.Name, parts[1], patchOf(body), e.Request.IfMatch)
		if err != nil {
			return nil, err
		}
		return &entryOutcome{status: "200 OK", rec: rec, write: true}, nil
	case method == http.MethodPatch && len(parts) == 1:
		vals, err := criteria(rawQuery)
		if err != nil {
			return nil, err
		}
		rec, err := h.svc.ConditionalPatch(ctx, t.Name, vals, patchOf(body), e.Request.IfMatch)
		if err != nil {
			return nil, err
		}
		return &entryOutcome{status: "200 OK", rec: rec, write: true}, nil
	case method == http.MethodDelete && len(parts) == 2:
		if err := h.svc.Delete(ctx, t.Name, parts[1]); err != nil {
			return nil, err
		}
		return &entryOutcome{status: "200 OK", body: AllOK("Deleted")}, nil
	case method == http.MethodDelete && len(parts) == 1:
		vals, err := criteria(rawQuery)
		if err != nil {
			return nil, err
		}
		rec, err := h.svc.ConditionalDelete(ctx, t.Name, vals)
		if err != nil {
			return nil, err
		}
		return &entryOutcome{status: "200 OK", body: deletedOutcome(t.Name, rec)}, nil
	case method == http.MethodGet && len(parts) == 2:
		rec, err := h.svc.Read(ctx, t.Name, parts[1])
		if err != nil {
			return nil, err
		}
		return &entryOutcome{status: "200 OK", rec: rec}, nil
	case method == http.MethodGet && len(parts) == 1:
		vals, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, resources.Invalid("request.url", "Invalid search")
		}
		b, err := h.searchset(ctx, t, vals, false)
		if err != nil {
			return nil, err
		}
		return &entryOutcome{status: "200 OK", body: b}, nil
	}
	return nil, resources.Invalid("request", "Unsupported entry %s %s", method, e.Request.URL)
}
