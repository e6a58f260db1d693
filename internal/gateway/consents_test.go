package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

var blockZero = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is committed state with a patient, an organization with a
// practitioner, and a few consents, served by a gateway without a
// consensus node: the consent endpoints read state, a block time, and the
// outcome of the reader's signed query, which the fixture supplies. Who
// the ledger lets read what is the app's to decide (TestConsentQueries in
// internal/app); TestConsentReadsOnANode runs the whole path.
type fixture struct {
	t        *testing.T
	store    *state.Store
	srv      *httptest.Server
	cl       *client.Client
	actors   map[string]*identity.Actor
	patient  string
	doctor   string
	org      string
	nonces   map[string]uint64
	granted  string // an active consent
	revoked  string // a revoked one
	delegate string
	// denied are the signers whose queries the fake ledger refuses.
	denied map[string]bool
	// queries are the queries the fake ledger was asked to run.
	queries []*tx.QueryConsents
}

// key returns a key file for actor id. The fake ledger checks no
// signature, so any key will do.
func (f *fixture) key(id string) *keyfile.Key {
	k, err := keyfile.GenerateFor(id)
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

// runQuery is the fake ledger: it permits every query except those of
// denied signers, and remembers what it was asked.
func (f *fixture) runQuery(_ context.Context, raw []byte) (*client.TxResult, int, error) {
	t, err := tx.Decode(raw)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	m, err := tx.DecodeMsg(t.Type, t.Body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	if q, ok := m.(*tx.QueryConsents); ok {
		f.queries = append(f.queries, q)
	}
	if f.denied[t.Signer] {
		return &client.TxResult{Code: uint32(tx.CodeAccessDenied), CodeName: tx.CodeAccessDenied.String(), Log: "not yours"}, http.StatusOK, nil
	}
	return &client.TxResult{Hash: "ab", Height: 1}, http.StatusOK, nil
}

func actorKey(label string) (ed25519.PublicKey, []byte) {
	seed := sha256.Sum256([]byte("carechain/gateway-test/" + label))
	ikm := sha256.Sum256([]byte("carechain/gateway-test/hpke/" + label))
	h, err := tx.HPKE.DeriveKeyPair(ikm[:])
	if err != nil {
		panic(err) // a fixed 32-byte seed always derives
	}
	return ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey), h.PublicKey().Bytes()
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, store: state.OpenMemory(), actors: map[string]*identity.Actor{}, nonces: map[string]uint64{}, denied: map[string]bool{}}
	w := f.store.Working()
	adminPub, adminHPKE := actorKey("admin")
	if err := identity.InitGenesis(w, identity.Genesis{Admin: identity.GenesisKeys{SignKey: adminPub, HPKEKey: adminHPKE}}); err != nil {
		t.Fatal(err)
	}
	admin, _ := identity.Get(w, tx.ActorID(adminPub))
	register := func(label string, kind tx.Kind, name, org string, sponsor *identity.Actor) string {
		pub, hpkePub := actorKey(label)
		m := &tx.RegisterActor{Kind: kind, Name: name, Org: org, SignKey: pub, HPKEKey: hpkePub}
		ev, err := identity.Apply(w, identity.Signer{Actor: sponsor}, tx.ActorID(pub), m, 1)
		if err != nil {
			t.Fatalf("register %s: %v", label, err)
		}
		a, _ := identity.Get(w, ev.Actor)
		f.actors[a.ID] = a
		return a.ID
	}
	f.patient = register("patient", tx.KindPatient, "", "", nil)
	f.delegate = register("delegate", tx.KindDelegate, "", "", nil)
	f.org = register("org", tx.KindOrganization, "General Hospital", "", admin)
	f.doctor = register("doctor", tx.KindPractitioner, "Dr. Ng", f.org, f.actors[f.org])

	permit := consent.Consent{Status: consent.StatusActive, Patient: f.patient, Provision: consent.Provision{
		Type: consent.Permit, Actors: []consent.Actor{consent.Organization(f.org)}, Purposes: []consent.Purpose{consent.PurposeTreatment},
		Classes: []string{"Observation"}, Provisions: []consent.Provision{{Type: consent.Deny, Labels: []string{"PSY"}}}}}
	f.granted = f.apply(w, f.patient, &tx.GrantConsent{Patient: f.patient, Consent: consent.Encode(permit)}).ConsentID
	other := permit
	other.Provision.Actors = []consent.Actor{consent.Role("gp")}
	other.Provision.Provisions = nil
	f.revoked = f.apply(w, f.patient, &tx.GrantConsent{Patient: f.patient, Consent: consent.Encode(other)}).ConsentID
	f.apply(w, f.patient, &tx.RevokeConsent{Patient: f.patient, ConsentID: f.revoked})
	f.apply(w, f.patient, &tx.SetDelegate{Delegation: consent.EncodeDelegation(consent.Delegation{Patient: f.patient, Delegate: f.delegate,
		Operations: []consent.Operation{consent.OpGrant}, Period: consent.Period{End: blockZero.Add(24 * time.Hour)}})})
	if _, _, err := f.store.Commit(); err != nil {
		t.Fatal(err)
	}
	g := &Gateway{state: f.store, consents: ledgerstate.NewIndexCache(16), submitQuery: f.runQuery,
		blockTime: func(_ context.Context, h int64) (time.Time, error) {
			return blockZero.Add(time.Duration(h) * time.Second), nil
		}}
	mux := http.NewServeMux()
	// The client asks the chain id once, from the status a node serves.
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, client.Status{ChainID: "gateway-fixture"})
	})
	mux.Handle("/", g.Handler())
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.cl = client.New(f.srv.URL)
	return f
}

func (f *fixture) apply(st kv.Store, signer string, m tx.Msg) ledgerstate.Event {
	f.t.Helper()
	f.nonces[signer]++
	ev, err := ledgerstate.Apply(st, ledgerstate.Context{Signer: f.actors[signer], Nonce: f.nonces[signer],
		TxHash: sha256.Sum256([]byte{byte(f.nonces[signer])}), Block: consent.Block{Height: 1, Time: blockZero}}, m)
	if err != nil {
		f.t.Fatalf("%s: %v", m.Type(), err)
	}
	return ev
}

func TestConsentEndpoints(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pk := f.key(f.patient)

	res, err := f.cl.Consent(ctx, pk, f.patient, f.granted)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Consent
	if c.ID != f.granted || c.Patient != f.patient || c.Grantor != f.patient || c.Status != "active" || c.GrantedAt != 1 {
		t.Fatalf("consent %+v", c)
	}
	if !strings.Contains(c.Summary, "permit org:"+f.org+" for TREAT, types Observation, 1 exception") {
		t.Fatalf("summary %q", c.Summary)
	}
	back, err := consent.FromFHIR(c.FHIR)
	if err != nil || back.ID != f.granted || back.Patient != f.patient {
		t.Fatalf("the FHIR rendering does not read back: %v", err)
	}
	if res.Proof == nil || res.Proof.Height != 1 || res.Query == nil || res.Query.Height != 1 {
		t.Fatalf("proof %+v, query %+v", res.Proof, res.Query)
	}
	if q := f.queries[len(f.queries)-1]; q.Patient != f.patient || q.ConsentID != f.granted || q.Requester != "" {
		t.Fatalf("the node ran the query %+v", q)
	}
	if res, err := f.cl.Consent(ctx, pk, f.patient, f.revoked); err != nil || res.Consent.Status != "inactive" || res.Consent.RevokedBy != f.patient {
		t.Fatalf("revoked consent: %+v, %v", res, err)
	}
	var ce *client.Error
	if _, err := f.cl.Consent(ctx, pk, f.patient, "csnosuchconsent"); !errors.As(err, &ce) || ce.HTTPStatus != http.StatusNotFound || tx.Code(ce.Code) != tx.CodeNotFound {
		t.Fatalf("unknown consent: %v", err)
	}
	// A consent of another patient is as absent as one that does not exist.
	if _, err := f.cl.Consent(ctx, pk, f.delegate, f.granted); !errors.As(err, &ce) || ce.HTTPStatus != http.StatusNotFound {
		t.Fatalf("consent under another patient: %v", err)
	}
	// A refusal by the ledger is 403, and nothing is served.
	f.denied[f.doctor] = true
	if _, err := f.cl.Consent(ctx, f.key(f.doctor), f.patient, f.granted); !errors.As(err, &ce) || ce.HTTPStatus != http.StatusForbidden ||
		tx.Code(ce.Code) != tx.CodeAccessDenied {
		t.Fatalf("denied read: %v", err)
	}
	if _, err := f.cl.PatientConsents(ctx, f.key(f.doctor), f.patient); !errors.As(err, &ce) || ce.HTTPStatus != http.StatusForbidden {
		t.Fatalf("denied list: %v", err)
	}

	list, err := f.cl.PatientConsents(ctx, pk, f.patient)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Consents) != 2 || len(list.Delegations) != 1 || list.OptedOut || list.Height != 1 || len(list.Revision) != 64 {
		t.Fatalf("list %+v", list)
	}
	if d := list.Delegations[0]; d.Delegate != f.delegate || d.Operations[0] != "grant" || d.End == nil || d.Start != nil {
		t.Fatalf("delegation %+v", d)
	}
	if list.Query == nil || list.Query.Height != 1 {
		t.Fatalf("list query %+v", list.Query)
	}
	// A query of the wrong shape, or another kind of transaction, is
	// refused before it reaches the ledger.
	asked := len(f.queries)
	for name, body := range map[string]any{
		"read asked of the list endpoint": client.ConsentQueryRequest{Tx: f.signed(pk, &tx.QueryConsents{Patient: f.patient, ConsentID: f.granted})},
		"history query":                   client.ConsentQueryRequest{Tx: f.signed(pk, &tx.QueryAuditHistory{Patient: f.patient})},
		"no transaction":                  map[string]string{},
		"patient not an id":               client.ConsentQueryRequest{Tx: f.signed(pk, &tx.QueryConsents{Patient: "a b"})},
	} {
		if status := f.post("/v1/consents/list", body); status != http.StatusBadRequest {
			t.Errorf("%s: status %d", name, status)
		}
	}
	if len(f.queries) != asked {
		t.Fatalf("%d bad requests reached the ledger", len(f.queries)-asked)
	}
}

func (f *fixture) signed(k *keyfile.Key, m tx.Msg) []byte {
	return tx.Build("gateway-fixture", k.ID, 1, m, k.Sign)
}

func (f *fixture) post(path string, body any) int {
	f.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := http.Post(f.srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDecideEndpoint(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	base := client.DecideQuery{Patient: f.patient, Requester: f.doctor, Purpose: "TREAT", Type: "Observation"}
	// The patient previews; the doctor may preview its own access too.
	pk, dk := f.key(f.patient), f.key(f.doctor)

	d, err := f.cl.Decide(ctx, dk, base)
	if err != nil {
		t.Fatal(err)
	}
	// The practitioner's organization and role come from its identity.
	if !d.Allowed || d.Reason != "consent-permit" || d.ConsentID != f.granted || d.Provision != "provision" ||
		d.Request.RequesterOrg != f.org || len(d.Request.Roles) != 1 || d.Request.Roles[0] != "practitioner" ||
		d.Height != 1 || !d.BlockTime.Equal(blockZero.Add(time.Second)) || d.Request.Action != "access" || d.Query == nil {
		t.Fatalf("decision %+v", d)
	}
	cases := []struct {
		name    string
		q       func(*client.DecideQuery)
		allowed bool
		reason  string
	}{
		{"PSY record", func(q *client.DecideQuery) { q.Labels = []string{"PSY"} }, false, "consent-deny"},
		{"research", func(q *client.DecideQuery) { q.Purpose = "HRESCH" }, false, "no-consent"},
		{"another type", func(q *client.DecideQuery) { q.Type = "Condition" }, false, "no-consent"},
		// The revoked consent named the role gp: it decides nothing.
		{"role of the revoked consent", func(q *client.DecideQuery) { q.Requester, q.Roles = f.delegate, []string{"gp"} }, false, "no-consent"},
		{"the patient", func(q *client.DecideQuery) { q.Requester = f.patient }, true, "patient-self"},
		{"break-the-glass", func(q *client.DecideQuery) {
			q.Purpose, q.BreakGlass, q.Roles, q.Labels = "ETREAT", true, []string{"emergency"}, []string{"PSY"}
		}, true, "break-the-glass"},
		{"unknown purpose", func(q *client.DecideQuery) { q.Purpose = "SHOPPING" }, false, "invalid-request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := base
			c.q(&q)
			d, err := f.cl.Decide(ctx, pk, q)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != c.allowed || d.Reason != c.reason {
				t.Fatalf("decision %s", d.Text)
			}
		})
	}
	var ce *client.Error
	for name, q := range map[string]client.DecideQuery{
		"no type":             {Patient: f.patient, Requester: f.doctor, Purpose: "TREAT"},
		"no purpose":          {Patient: f.patient, Requester: f.doctor, Type: "Observation"},
		"unknown requester":   {Patient: f.patient, Requester: "ccnobody", Purpose: "TREAT", Type: "Observation"},
		"requester not an id": {Patient: f.patient, Requester: "x/y", Purpose: "TREAT", Type: "Observation"},
	} {
		if _, err := f.cl.Decide(ctx, pk, q); !errors.As(err, &ce) || ce.HTTPStatus/100 != 4 {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A requester may not assert roles in its own preview: it could probe
	// which roles the patient's consents name. Refused before the ledger.
	asked := len(f.queries)
	probe := base
	probe.Roles = []string{"gp"}
	if _, err := f.cl.Decide(ctx, dk, probe); !errors.As(err, &ce) || ce.HTTPStatus != http.StatusBadRequest ||
		!strings.Contains(ce.Message, "may be asserted only by") {
		t.Fatalf("a requester asserting roles: %v", err)
	}
	if len(f.queries) != asked {
		t.Fatal("the refused preview reached the ledger")
	}
}

// TestConsentProofDetectsTampering: a node that changes what it shows
// about a consent is caught by the client, which holds every field to the
// proven record.
func TestConsentProofDetectsTampering(t *testing.T) {
	f := newFixture(t)
	tamper := map[string]func(*client.ConsentResponse){
		"status":     func(r *client.ConsentResponse) { r.Consent.Status = "active" },
		"revoked at": func(r *client.ConsentResponse) { r.Consent.RevokedAt = 0 },
		"encoding":   func(r *client.ConsentResponse) { r.Consent.Encoded = append(bytes.Clone(r.Consent.Encoded), 0) },
		"value":      func(r *client.ConsentResponse) { r.Proof.Value = append(bytes.Clone(r.Proof.Value), 0) },
		"patient":    func(r *client.ConsentResponse) { r.Consent.Patient = f.doctor },
		"no proof":   func(r *client.ConsentResponse) { r.Proof = nil },
	}
	for name, change := range tamper {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				resp, err := http.Post(f.srv.URL+r.URL.String(), "application/json", r.Body)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if r.URL.Path != "/v1/consents/read" {
					w.WriteHeader(resp.StatusCode)
					_, _ = w.Write(body)
					return
				}
				var cr client.ConsentResponse
				if err := json.Unmarshal(body, &cr); err != nil {
					t.Error(err)
					return
				}
				change(&cr)
				writeJSON(w, http.StatusOK, cr)
			}))
			defer srv.Close()
			if _, err := client.New(srv.URL).Consent(context.Background(), f.key(f.patient), f.patient, f.revoked); err == nil {
				t.Fatal("the client accepted a tampered consent")
			}
		})
	}
	// Untampered through the same relay: accepted.
	if _, err := f.cl.Consent(context.Background(), f.key(f.patient), f.patient, f.revoked); err != nil {
		t.Fatal(err)
	}
}
