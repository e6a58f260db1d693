package gateway

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/fhir"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/smart"
	"github.com/carechain/carechain/internal/tx"
)

// Paging: a page holds at most maxPage resources, the most one access
// transaction names, so a page is one audit event when consent allows it.
const (
	defaultPage = 50
	maxPage     = tx.MaxAccessRecords
)

// searchQuery is a parsed search.
type searchQuery struct {
	patient string          // the ledger patient
	types   map[string]bool // the resource types searched
	ids     map[string]bool // _id, if given
	dates   []dateRange
	tokens  map[string]string // element (code, category) → token search value
	sort    []sortKey         // _sort, if given
	count   int
	offset  int
}

// sortKey is one _sort key: the clinical date, the time of the latest
// version, or the id, ascending unless desc. Every key is ledger metadata,
// so a search is sorted before anything is decrypted.
type sortKey struct {
	field string
	desc  bool
}

// sortFields are the _sort keys a search takes.
var sortFields = []string{"date", "_lastUpdated", "_id"}

func (k sortKey) compare(a, b candidate) int {
	var c int
	switch k.field {
	case "date":
		c = cmp.Compare(a.v.Date, b.v.Date)
	case "_lastUpdated":
		c = cmp.Compare(a.v.Time, b.v.Time)
	case "_id":
		c = cmp.Compare(a.rec.ID, b.rec.ID)
	}
	if k.desc {
		return -c
	}
	return c
}

// dateRange is one date= condition: the record's clinical date must fall
// in [from, to).
type dateRange struct{ from, to int64 }

// parseDate turns a date search value with its prefix into a range of
// Unix seconds. The value's precision (a year, a month, a day, a time)
// is the interval it names.
func parseDate(v string) (dateRange, bool) {
	pre, val := prefix(v)
	start, ok := fhir.ParseDate(val)
	if !ok {
		return dateRange{}, false
	}
	var end time.Time
	switch len(val) {
	case 4:
		end = start.AddDate(1, 0, 0)
	case 7:
		end = start.AddDate(0, 1, 0)
	case 10:
		end = start.AddDate(0, 0, 1)
	default:
		end = start.Add(time.Second)
	}
	const minT, maxT = int64(-1 << 62), int64(1 << 62)
	switch pre {
	case "eq", "ap":
		return dateRange{start.Unix(), end.Unix()}, true
	case "gt", "sa":
		return dateRange{end.Unix(), maxT}, true
	case "ge":
		return dateRange{start.Unix(), maxT}, true
	case "lt", "eb":
		return dateRange{minT, start.Unix()}, true
	case "le":
		return dateRange{minT, end.Unix()}, true
	}
	return dateRange{}, false
}

// parseSearch reads a search's parameters for the given types. Patient
// searches take _id or identifier; the others need the patient (patient=
// or subject=), because the ledger indexes records by patient and a search
// across every patient would be a scan of the whole ledger.
func parseSearch(snap kv.Reader, params url.Values, types []string) (searchQuery, *fhir.Error) {
	q := searchQuery{types: map[string]bool{}, tokens: map[string]string{}, count: defaultPage}
	for _, t := range types {
		q.types[t] = true
	}
	onlyPatient := len(types) == 1 && types[0] == "Patient"
	for name, vals := range params {
		if len(vals) == 0 {
			continue
		}
		v := vals[0]
		switch name {
		case "_count":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return q, fhir.Invalid("_count", "_count must be a whole number, not %q", v)
			}
			q.count = min(n, maxPage)
		case "_offset":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return q, fhir.Invalid("_offset", "_offset must be a whole number, not %q", v)
			}
			q.offset = n
		case "_format", "_type":
			// Negotiated by the server, or read by the caller.
		case "patient", "subject":
			if onlyPatient {
				return q, fhir.Invalid(name, "a Patient search takes _id or identifier")
			}
			pid, ferr := patientOfRef(snap, strip(v, "Patient"), name)
			if ferr != nil {
				return q, ferr
			}
			q.patient = pid
		case "_id":
			q.ids = map[string]bool{}
			for _, id := range strings.Split(v, ",") {
				q.ids[id] = true
			}
			if onlyPatient && q.patient == "" {
				for id := range q.ids {
					if pid, ferr := patientOfRef(snap, id, "_id"); ferr == nil {
						q.patient = pid
						break
					}
				}
			}
		case "identifier":
			if !onlyPatient {
				return q, fhir.Invalid(name, "identifier is searched on Patient only")
			}
			id, ok := strings.CutPrefix(v, fhir.PatientIdentifierSystem+"|")
			if !ok {
				return q, fhir.Invalid(name, "Patient identifiers are searched by %s|<ledger patient id>", fhir.PatientIdentifierSystem)
			}
			q.patient = id
		case "date":
			for _, d := range vals {
				r, ok := parseDate(d)
				if !ok {
					return q, fhir.Invalid("date", "%q is not a FHIR date search value", d)
				}
				q.dates = append(q.dates, r)
			}
		case "_sort":
			for _, f := range strings.Split(v, ",") {
				k := sortKey{field: strings.TrimPrefix(f, "-"), desc: strings.HasPrefix(f, "-")}
				if !slices.Contains(sortFields, k.field) {
					return q, fhir.Invalid("_sort", "a search sorts by %s (each ascending, or descending with '-'), not %.40q", strings.Join(sortFields, ", "), f)
				}
				q.sort = append(q.sort, k)
			}
		case "code", "category":
			if onlyPatient {
				return q, fhir.Invalid(name, "a Patient search takes _id or identifier")
			}
			q.tokens[name] = v
		default:
			return q, fhir.Invalid(name, "search parameter %s is not supported here (see the CapabilityStatement)", name)
		}
	}
	if q.patient == "" {
		if onlyPatient {
			if q.ids != nil {
				return q, nil // no such Patient: an empty result, not an error
			}
			return q, fhir.Invalid("_id", "a Patient search needs _id or identifier")
		}
		return q, fhir.Invalid("patient", "a search needs the patient (patient=Patient/<id>)")
	}
	return q, nil
}

// patientOfRef is the ledger patient of Patient resource id.
func patientOfRef(snap kv.Reader, id, param string) (string, *fhir.Error) {
	rec, vs, err := records.Versions(snap, id)
	if tx.CodeOf(err) == tx.CodeNotFound || (err == nil && (len(vs) == 0 || vs[len(vs)-1].ResourceType != "Patient")) {
		return "", fhir.Unprocessable(param, "Patient/%s is not on this ledger", id)
	}
	if err != nil {
		return "", stateError(err)
	}
	return rec.Patient, nil
}

// candidate is a record a search may return, with its latest version.
type candidate struct {
	rec *records.Record
	v   *records.Version
}

// candidates are the patient's records matching the query's metadata
// (type, _id, date) that consent permits the caller to read now. Only
// these count towards Bundle.total, so a total never reveals a record the
// caller may not see.
func (g *Gateway) candidates(ctx context.Context, snap kv.Reader, height int64, c caller, q searchQuery) ([]candidate, *fhir.Error) {
	if q.patient == "" {
		return nil, nil
	}
	ids, err := records.List(snap, q.patient)
	if err != nil {
		return nil, stateError(err)
	}
	actor, err := identity.Get(snap, c.actorID(g.org.key.ID))
	if err != nil {
		return nil, stateError(err)
	}
	at, err := g.blockTime(ctx, height)
	if err != nil {
		return nil, fhir.Errorf(http.StatusServiceUnavailable, fhir.IssueTransient, "ledger_unavailable", "read the time of block %d: %v", height, err)
	}
	org, roles := actor.Requester()
	var out []candidate
	for _, id := range ids {
		if q.ids != nil && !q.ids[id] {
			continue
		}
		rec, vs, err := records.Versions(snap, id)
		if err != nil {
			return nil, stateError(err)
		}
		if rec.Erased || len(vs) == 0 {
			continue
		}
		v := vs[len(vs)-1]
		if !q.types[v.ResourceType] || !inDates(v.Date, q.dates) {
			continue
		}
		req := consent.Request{Requester: actor.ID, RequesterOrg: org, Roles: roles, Patient: q.patient, Action: consent.ActionAccess,
			Purpose: c.p.Purpose, Record: consent.Record{ID: id, Type: v.ResourceType, Labels: v.Labels, AuthorOrg: v.AuthorOrg}}
		if v.Date != 0 {
			req.Record.Date = time.Unix(v.Date, 0).UTC()
		}
		d, err := g.consents.Decide(snap, req, consent.Circumstances{Block: consent.Block{Height: height, Time: at}})
		if err != nil {
			return nil, stateError(err)
		}
		if d.Allowed {
			out = append(out, candidate{rec, v})
		}
	}
	if len(q.sort) > 0 {
		// As asked; ties stay by id.
		slices.SortStableFunc(out, func(a, b candidate) int {
			for _, k := range q.sort {
				if c := k.compare(a, b); c != 0 {
					return c
				}
			}
			return 0
		})
		return out, nil
	}
	// The Patient first, as $everything promises; the rest by id.
	slices.SortStableFunc(out, func(a, b candidate) int {
		return boolOrder(b.v.ResourceType == "Patient") - boolOrder(a.v.ResourceType == "Patient")
	})
	return out, nil
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

func inDates(date int64, ranges []dateRange) bool {
	for _, r := range ranges {
		if date == 0 || date < r.from || date >= r.to {
			return false
		}
	}
	return true
}

// match is a record a search returns, decrypted.
type match struct {
	c   candidate
	res fhir.Resource
}

// readCandidates reads candidates through the ledger, a page's worth per
// access transaction (one audit event each). A batch the block refuses —
// a consent revoked since the candidates were chosen — is read record by
// record, and what is refused then is left out.
func (g *Gateway) readCandidates(ctx context.Context, c caller, cs []candidate) ([]match, *fhir.Error) {
	var out []match
	for start := 0; start < len(cs); start += maxPage {
		batch := cs[start:min(start+maxPage, len(cs))]
		reads, ferr := g.readBatch(ctx, c, batch)
		if ferr != nil && ferr.Code == tx.CodeAccessDenied.String() && len(batch) > 1 {
			for _, one := range batch {
				r, ferr := g.readBatch(ctx, c, []candidate{one})
				if ferr != nil && ferr.Code == tx.CodeAccessDenied.String() {
					continue
				}
				if ferr != nil {
					return nil, ferr
				}
				out = append(out, r...)
			}
			continue
		}
		if ferr != nil {
			return nil, ferr
		}
		out = append(out, reads...)
	}
	return out, nil
}

func (g *Gateway) readBatch(ctx context.Context, c caller, batch []candidate) ([]match, *fhir.Error) {
	refs := make([]tx.RecordRef, len(batch))
	for i, b := range batch {
		refs[i] = tx.RecordRef{ID: b.rec.ID, Version: b.v.Version}
	}
	reads, ferr := g.readRecords(ctx, c, refs)
	if ferr != nil {
		return nil, ferr
	}
	out := make([]match, len(batch))
	for i, rd := range reads {
		res, ferr := rendered(rd.Resource, rd.ID, batch[i].v)
		if ferr != nil {
			return nil, ferr
		}
		out[i] = match{batch[i], res}
	}
	return out, nil
}

// runSearch answers a search as a searchset Bundle. Metadata narrows the
// candidates on the ledger; code and category are in the encrypted
// content only, so with either the permitted candidates are all read
// (each read audited) and filtered here, and the total counts what
// matched.
func (g *Gateway) runSearch(w http.ResponseWriter, r *http.Request, c caller, q searchQuery, self string) *fhir.Error {
	snap, height, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	cs, ferr := g.candidates(r.Context(), snap, height, c, q)
	if ferr != nil {
		return ferr
	}
	var page []match
	total := len(cs)
	if len(q.tokens) > 0 {
		all, ferr := g.readCandidates(r.Context(), c, cs)
		if ferr != nil {
			return ferr
		}
		all = slices.DeleteFunc(all, func(m match) bool {
			for el, v := range q.tokens {
				if !fhir.MatchToken(v, m.res.Codes(el)) {
					return true
				}
			}
			return false
		})
		total = len(all)
		page = all[min(q.offset, len(all)):min(q.offset+q.count, len(all))]
	} else {
		var ferr *fhir.Error
		page, ferr = g.readCandidates(r.Context(), c, cs[min(q.offset, len(cs)):min(q.offset+q.count, len(cs))])
		if ferr != nil {
			return ferr
		}
	}
	b := bundle{ResourceType: "Bundle", Type: "searchset", Total: &total, Entry: []bundleEntry{}}
	for _, m := range page {
		b.Entry = append(b.Entry, bundleEntry{FullURL: g.resourceURL(m.c.v.ResourceType, m.c.rec.ID, 0), Resource: m.res, Search: &bundleSearch{Mode: "match"}})
	}
	b.Link = pageLinks(self, r.URL.Query(), q, total)
	fhir.WriteResource(w, http.StatusOK, b)
	return nil
}

// pageLinks are the self, previous and next links of a page.
func pageLinks(self string, params url.Values, q searchQuery, total int) []bundleLink {
	at := func(offset int) string {
		p := url.Values{}
		for k, v := range params {
			p[k] = v
		}
		p.Set("_offset", strconv.Itoa(offset))
		p.Set("_count", strconv.Itoa(q.count))
		return self + "?" + p.Encode()
	}
	links := []bundleLink{{Relation: "self", URL: at(q.offset)}}
	if q.offset > 0 {
		links = append(links, bundleLink{Relation: "previous", URL: at(max(0, q.offset-q.count))})
	}
	if q.count > 0 && q.offset+q.count < total {
		links = append(links, bundleLink{Relation: "next", URL: at(q.offset + q.count)})
	}
	return links
}

func searchParams(r *http.Request) (url.Values, *fhir.Error) {
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			return nil, fhir.Invalid("", "the search form does not parse: %v", err)
		}
		return r.Form, nil
	}
	return r.URL.Query(), nil
}

func (g *Gateway) fhirSearch(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	params, ferr := searchParams(r)
	if ferr != nil {
		return ferr
	}
	return g.searchTypes(w, r, c, params, []string{rt.Type}, g.fhir.BaseURL()+"/"+rt.Type)
}

// searchTypes runs a search of the given types and answers it.
func (g *Gateway) searchTypes(w http.ResponseWriter, r *http.Request, c caller, params url.Values, types []string, self string) *fhir.Error {
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	q, ferr := parseSearch(snap, params, types)
	if ferr != nil {
		return ferr
	}
	return g.runSearch(w, r, c, q, self)
}

// fhirEverything is Patient/{id}/$everything: every record of the patient
// the caller may read and has search scope for, the Patient first. _type
// narrows the types.
func (g *Gateway) fhirEverything(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	params := r.URL.Query()
	types, ferr := scopedTypes(r, params.Get("_type"))
	if ferr != nil {
		return ferr
	}
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	if _, _, ferr := g.lookup(snap, "Patient", rt.ID); ferr != nil {
		return ferr
	}
	p := url.Values{"patient": {"Patient/" + rt.ID}}
	for _, k := range []string{"_count", "_offset", "_sort", "date"} {
		if v, ok := params[k]; ok {
			p[k] = v
		}
	}
	q, ferr := parseSearch(snap, p, types)
	if ferr != nil {
		return ferr
	}
	return g.runSearch(w, r, c, q, g.fhir.BaseURL()+"/Patient/"+rt.ID+"/$everything")
}

// scopedTypes is the record types a system-level request covers: those
// _type names, each of which the token must allow searching, or, without
// _type, every record type the token allows searching.
func scopedTypes(r *http.Request, list string) ([]string, *fhir.Error) {
	var out []string
	if list != "" {
		for _, t := range strings.Split(list, ",") {
			if !slices.Contains(RecordTypes, t) {
				return nil, fhir.Invalid("_type", "%s is not a resource type this server stores", t)
			}
			if ferr := fhir.RequireScope(r, t, smart.PermSearch); ferr != nil {
				return nil, ferr
			}
			out = append(out, t)
		}
		return out, nil
	}
	for _, t := range RecordTypes {
		if fhir.RequireScope(r, t, smart.PermSearch) == nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// fhirSearchSystem is GET /fhir?patient=…&_type=…: a search across types.
func (g *Gateway) fhirSearchSystem(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	params, ferr := searchParams(r)
	if ferr != nil {
		return ferr
	}
	types, ferr := scopedTypes(r, params.Get("_type"))
	if ferr != nil {
		return ferr
	}
	return g.searchTypes(w, r, c, params, types, g.fhir.BaseURL())
}
