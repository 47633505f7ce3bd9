package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rosterhq/roster/resources"
)

// FHIRJSON is the media type of every FHIR response.
const FHIRJSON = "application/fhir+json; charset=utf-8"

// Handler is the one generic FHIR REST handler set.
type Handler struct {
	svc  *resources.Service
	base string // public base URL ending in "/"

	// MaxBundleEntries caps batch and transaction Bundles (0: the package
	// default, MaxBundleEntries).
	MaxBundleEntries int
	// Idempotency, when set, wraps create so it honours Idempotency-Key.
	Idempotency echo.MiddlewareFunc
}

// NewHandler returns handlers over svc; baseURL is ROSTER_BASE_URL.
func NewHandler(svc *resources.Service, baseURL string) *Handler {
	if !strings.HasSuffix(baseURL, "/") {
		baseURL += "/"
	}
	return &Handler{svc: svc, base: baseURL}
}

// Register mounts the FHIR routes under /fhir/R4 on e; every route but
// metadata runs behind authn. Middleware is per route: a group with
// middleware would catch unknown paths and methods and answer 401 instead of
// 404 or 405.
func (h *Handler) Register(e *echo.Echo, authn echo.MiddlewareFunc) {
	const base = "/fhir/R4"
	e.GET(base+"/metadata", h.metadata)
	e.POST(base, h.bundle, authn)
	e.POST(base+"/", h.bundle, authn)
	e.GET(base+"/:type", h.search, authn)
	e.POST(base+"/:type/_search", h.searchPost, authn)
	e.POST(base+"/:type", h.create, authn, h.idempotent)
	e.PUT(base+"/:type", h.conditionalUpdate, authn)
	e.PATCH(base+"/:type", h.conditionalPatch, authn)
	e.DELETE(base+"/:type", h.conditionalDelete, authn)
	e.GET(base+"/:type/_history", h.typeHistory, authn)
	e.GET(base+"/:type/:id", h.read, prefetch, authn)
	e.PUT(base+"/:type/:id", h.update, prefetch, authn)
	e.PATCH(base+"/:type/:id", h.patch, prefetch, authn)
	e.DELETE(base+"/:type/:id", h.delete, prefetch, authn)
	e.GET(base+"/:type/:id/_history", h.instanceHistory, authn)
	e.GET(base+"/:type/:id/_history/:vid", h.vread, prefetch, authn)
}

// prefetch lets authentication read the requested resource in its own
// round trip (resources.Prefetch).
func prefetch(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		c.SetRequest(req.WithContext(resources.WithPrefetch(req.Context(), c.Param("type"), c.Param("id"))))
		return next(c)
	}
}

// idempotent applies h.Idempotency, if any.
func (h *Handler) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	if h.Idempotency == nil {
		return next
	}
	return h.Idempotency(next)
}

// WriteJSON writes v as FHIR JSON.
func WriteJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Blob(status, FHIRJSON, b)
}

// ReadBody reads a JSON request body (ReadBodyOf JSONTypes); an empty
// body is a 400.
func ReadBody(c echo.Context) ([]byte, error) { return ReadBodyOf(c, JSONTypes) }

func (h *Handler) typeOf(c echo.Context) (*resources.Type, error) {
	t, ok := resources.Lookup(c.Param("type"))
	if !ok {
		return nil, resources.NotFound("Unknown resource type %s", c.Param("type"))
	}
	return t, nil
}

func (h *Handler) location(rec *resources.Record) string {
	return h.base + "fhir/R4/" + rec.Type + "/" + rec.ID + "/_history/" + strconv.FormatInt(rec.Version, 10)
}

// writeRecord answers with a stored resource and its version headers.
func (h *Handler) writeRecord(c echo.Context, status int, rec *resources.Record) error {
	return h.writeResult(c, status, rec, ReturnRepresentation)
}

// writeResult answers a write with its version headers and, as the client
// preferred, the resource, nothing, or an OperationOutcome.
func (h *Handler) writeResult(c echo.Context, status int, rec *resources.Record, ret Return) error {
	hd := c.Response().Header()
	hd.Set("ETag", rec.ETag())
	hd.Set("Last-Modified", rec.LastUpdated.Format(http.TimeFormat))
	if status == http.StatusCreated {
		hd.Set("Location", h.location(rec))
	}
	switch ret {
	case ReturnMinimal:
		return c.NoContent(status)
	case ReturnOutcome:
		return WriteJSON(c, status, writtenOutcome(status))
	}
	return c.Blob(status, FHIRJSON, rec.Content)
}

// writtenOutcome is the OperationOutcome a write answers with under
// Prefer: return=OperationOutcome.
func writtenOutcome(status int) *OperationOutcome {
	if status == http.StatusCreated {
		return AllOK("Created")
	}
	return AllOK("Updated")
}

// decodeBody reads the request body and strictly decodes it as a resource
// of the path's type.
func (h *Handler) decodeBody(c echo.Context) (*resources.Type, resources.Resource, error) {
	t, err := h.typeOf(c)
	if err != nil {
		return nil, nil, err
	}
	body, err := ReadBody(c)
	if err != nil {
		return nil, nil, err
	}
	r, err := resources.DecodeAs(t.Name, body)
	if err != nil {
		return nil, nil, err
	}
	return t, r, nil
}

func (h *Handler) create(c echo.Context) error {
	t, r, err := h.decodeBody(c)
	if err != nil {
		return err
	}
	if cond := c.Request().Header.Get("If-None-Exist"); cond != "" {
		criteria, err := url.ParseQuery(strings.TrimPrefix(cond, t.Name+"?"))
		if err != nil {
			return resources.Invalid("If-None-Exist", "Invalid If-None-Exist search")
		}
		rec, created, err := h.svc.ConditionalCreate(c.Request().Context(), r, criteria, "")
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		return h.writeResult(c, status, rec, preferReturn(c))
	}
	rec, err := h.svc.Create(c.Request().Context(), r)
	if err != nil {
		return err
	}
	return h.writeResult(c, http.StatusCreated, rec, preferReturn(c))
}

func (h *Handler) read(c echo.Context) error {
	rec, err := h.svc.Read(c.Request().Context(), c.Param("type"), c.Param("id"))
	if err != nil {
		return err
	}
	return h.writeRecord(c, http.StatusOK, rec)
}

func (h *Handler) vread(c echo.Context) error {
	rec, err := h.svc.VRead(c.Request().Context(), c.Param("type"), c.Param("id"), c.Param("vid"))
	if err != nil {
		return err
	}
	return h.writeRecord(c, http.StatusOK, rec)
}

func (h *Handler) update(c echo.Context) error {
	_, r, err := h.decodeBody(c)
	if err != nil {
		return err
	}
	rec, err := h.svc.Update(c.Request().Context(), r, c.Param("id"), c.Request().Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return h.writeResult(c, http.StatusOK, rec, preferReturn(c))
}

// patchBody reads the request body of a PATCH to a known type: a JSON
// Patch, the only kind of patch Roster applies.
func (h *Handler) patchBody(c echo.Context) ([]byte, error) {
	if _, err := h.typeOf(c); err != nil {
		return nil, err
	}
	return ReadBodyOf(c, PatchTypes)
}

func (h *Handler) patch(c echo.Context) error {
	body, err := h.patchBody(c)
	if err != nil {
		return err
	}
	rec, err := h.svc.Patch(c.Request().Context(), c.Param("type"), c.Param("id"), body, c.Request().Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return h.writeResult(c, http.StatusOK, rec, preferReturn(c))
}

func (h *Handler) delete(c echo.Context) error {
	if _, err := h.typeOf(c); err != nil {
		return err
	}
	if err := h.svc.Delete(c.Request().Context(), c.Param("type"), c.Param("id")); err != nil {
		return err
	}
	return WriteJSON(c, http.StatusOK, AllOK("Deleted"))
}

// conditionalUpdate is PUT /{type}?criteria: update the one match, or
// create when nothing matches (resources.Service.ConditionalUpdate).
func (h *Handler) conditionalUpdate(c echo.Context) error {
	_, r, err := h.decodeBody(c)
	if err != nil {
		return err
	}
	rec, created, err := h.svc.ConditionalUpdate(c.Request().Context(), r, c.QueryParams(), c.Request().Header.Get("If-Match"), "")
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return h.writeResult(c, status, rec, preferReturn(c))
}

// conditionalPatch is PATCH /{type}?criteria: patch the one match.
func (h *Handler) conditionalPatch(c echo.Context) error {
	body, err := h.patchBody(c)
	if err != nil {
		return err
	}
	rec, err := h.svc.ConditionalPatch(c.Request().Context(), c.Param("type"), c.QueryParams(), body, c.Request().Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return h.writeResult(c, http.StatusOK, rec, preferReturn(c))
}

// conditionalDelete is DELETE /{type}?criteria: delete the one match; when
// nothing matches there is nothing to delete, and the outcome says so.
func (h *Handler) conditionalDelete(c echo.Context) error {
	if _, err := h.typeOf(c); err != nil {
		return err
	}
	rec, err := h.svc.ConditionalDelete(c.Request().Context(), c.Param("type"), c.QueryParams())
	if err != nil {
		return err
	}
	return WriteJSON(c, http.StatusOK, deletedOutcome(c.Param("type"), rec))
}

// deletedOutcome tells what a conditional delete deleted: rec, or nothing.
func deletedOutcome(typ string, rec *resources.Record) *OperationOutcome {
	if rec == nil {
		return AllOK("No " + typ + " matched the criteria; nothing was deleted")
	}
	return AllOK("Deleted " + rec.Type + "/" + rec.ID)
}

func (h *Handler) search(c echo.Context) error {
	return h.runSearch(c, c.QueryParams())
}

func (h *Handler) searchPost(c echo.Context) error {
	form, err := ReadForm(c)
	if err != nil {
		return err
	}
	for k, v := range c.QueryParams() {
		form[k] = append(form[k], v...)
	}
	return h.runSearch(c, form)
}

func (h *Handler) runSearch(c echo.Context, params url.Values) error {
	t, err := h.typeOf(c)
	if err != nil {
		return err
	}
	b, err := h.searchset(c.Request().Context(), t, params, preferLenient(c))
	if err != nil {
		return err
	}
	return writeStoredBundle(c, http.StatusOK, b)
}

// searchset runs a search of t and builds its Bundle: the page of matches,
// then what _include and _revinclude add (search mode "include"), each
// resource cut down as _summary and _elements ask (_elements applies to the
// matches only, as FHIR R5 clarified), and the paging links. Lenient
// handling ignores the parameters Roster does not support instead of
// refusing them, and its links leave them out.
func (h *Handler) searchset(ctx context.Context, t *resources.Type, params url.Values, lenient bool) (*Bundle, error) {
	parse := resources.ParseQuery
	if lenient {
		parse = resources.ParseLenient
	}
	q, err := parse(t, params)
	if err != nil {
		return nil, err
	}
	p, err := h.svc.SearchPage(ctx, q)
	if err != nil {
		return nil, err
	}
	b := &Bundle{ResourceType: "Bundle", Type: "searchset"}
	if p.Total >= 0 {
		b.Total = &p.Total
	}
	b.Link = h.pageLinks("fhir/R4/"+t.Name, q.RawQuery, q.Count, q.Offset, p.More)
	b.Entry = make([]BundleEntry, 0, len(p.Matches)+len(p.Included))
	for _, rec := range p.Matches {
		b.Entry = append(b.Entry, h.searchEntry(rec, "match", q.Summary, q.Elements))
	}
	for _, rec := range p.Included {
		b.Entry = append(b.Entry, h.searchEntry(rec, "include", q.Summary, nil))
	}
	if len(q.Ignored) > 0 {
		// Lenient handling tells what it ignored (search.mode "outcome").
		o := &OperationOutcome{ResourceType: "OperationOutcome"}
		for _, key := range q.Ignored {
			o.Issue = append(o.Issue, OutcomeIssue{Severity: "warning", Code: "not-supported", Expression: []string{key},
				Details: &resources.CodeableConcept{Text: "Ignored " + key + ": Roster does not support it"}})
		}
		raw, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		b.Entry = append(b.Entry, BundleEntry{Resource: raw, Search: &BundleSearch{Mode: "outcome"}})
	}
	return b, nil
}

// searchEntry is a searchset entry of rec, cut down to the elements a
// _summary or _elements keeps.
func (h *Handler) searchEntry(rec *resources.Record, mode string, summary resources.Summary, elements []string) BundleEntry {
	content := rec.Content
	if t, ok := resources.Lookup(rec.Type); ok {
		content = resources.Subset(t, content, summary, elements)
	}
	return BundleEntry{FullURL: h.base + "fhir/R4/" + rec.Type + "/" + rec.ID, Resource: content, Search: &BundleSearch{Mode: mode}}
}

// pageLinks builds self/first/next/previous for a page of count entries at
// offset of what path answers, from the query the client sent (raw).
func (h *Handler) pageLinks(path string, raw url.Values, count, offset int, more bool) []BundleLink {
	link := func(rel string, at int) BundleLink {
		v := url.Values{}
		for k, vals := range raw {
			if k != "_offset" && k != "_count" {
				v[k] = vals
			}
		}
		v.Set("_count", strconv.Itoa(count))
		if at > 0 {
			v.Set("_offset", strconv.Itoa(at))
		}
		return BundleLink{Relation: rel, URL: h.base + path + "?" + v.Encode()}
	}
	links := []BundleLink{link("self", offset), link("first", 0)}
	if more {
		links = append(links, link("next", offset+count))
	}
	if offset > 0 {
		links = append(links, link("previous", max(0, offset-count)))
	}
	return links
}

func (h *Handler) typeHistory(c echo.Context) error {
	return h.history(c, "")
}

func (h *Handler) instanceHistory(c echo.Context) error {
	return h.history(c, c.Param("id"))
}

func (h *Handler) history(c echo.Context, id string) error {
	t, err := h.typeOf(c)
	if err != nil {
		return err
	}
	hq := &resources.HistoryQuery{Type: t.Name, ID: id, Count: resources.DefaultCount}
	if v := c.QueryParam("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > resources.MaxCount {
			return resources.Invalid("_count", "_count must be an integer from 0 to %d", resources.MaxCount)
		}
		hq.Count = n
	}
	if v := c.QueryParam("_offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return resources.Invalid("_offset", "_offset must be a non-negative integer")
		}
		hq.Offset = n
	}
	if v := c.QueryParam("_since"); v != "" {
		from, _, err := resources.DateRange(v)
		if err != nil {
			return resources.Invalid("_since", "_since must be an instant")
		}
		hq.Since = from
	}
	// One version more than the page tells whether a next page exists.
	page := hq.Count
	if page > 0 {
		hq.Count++
	}
	recs, err := h.svc.History(c.Request().Context(), hq)
	if err != nil {
		return err
	}
	more := len(recs) > page
	recs = recs[:min(len(recs), page)]
	b := &Bundle{ResourceType: "Bundle", Type: "history"}
	path := "fhir/R4/" + t.Name
	if id != "" {
		path += "/" + id
	}
	b.Link = h.pageLinks(path+"/_history", c.QueryParams(), page, hq.Offset, more)
	for _, rec := range recs {
		e := BundleEntry{FullURL: h.base + "fhir/R4/" + rec.Type + "/" + rec.ID}
		method, status := historyRequest(rec)
		if !rec.Deleted {
			e.Resource = rec.Content
		}
		e.Request = &BundleRequest{Method: method, URL: rec.Type + "/" + rec.ID}
		e.Response = &BundleResponse{Status: status, Etag: rec.ETag(), LastModified: rec.LastUpdated.Format("2006-01-02T15:04:05.000Z07:00")}
		b.Entry = append(b.Entry, e)
	}
	return writeStoredBundle(c, http.StatusOK, b)
}

// historyRequest is the interaction that wrote a version and the status it
// answered, as a history entry reports them. Versions stored before Roster
// recorded their method have it inferred: a deletion, a create (version
// 1), else an update.
func historyRequest(rec *resources.Record) (method, status string) {
	method = rec.Method
	if method == "" {
		switch {
		case rec.Deleted:
			method = http.MethodDelete
		case rec.Version == 1:
			method = http.MethodPost
		default:
			method = http.MethodPut
		}
	}
	switch {
	case rec.Deleted:
		return method, "204 No Content"
	case rec.Version == 1:
		return method, "201 Created"
	}
	return method, "200 OK"
}
