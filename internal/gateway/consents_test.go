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
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

var blockZero = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is committed state with a patient, an organization with a
// practitioner, and a few consents, served by a gateway without a
// consensus node: the consent endpoints read state only, plus a block
// time, which the fixture supplies.
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
	f := &fixture{t: t, store: state.OpenMemory(), actors: map[string]*identity.Actor{}, nonces: map[string]uint64{}}
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
	g := &Gateway{state: f.store, consents: ledgerstate.NewIndexCache(16),
		blockTime: func(_ context.Context, h int64) (time.Time, error) {
			return blockZero.Add(time.Duration(h) * time.Second), nil
		}}
	f.srv = httptest.NewServer(g.Handler())
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

	res, err := f.cl.Consent(ctx, f.granted)
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
	if res.Proof == nil || res.Proof.Height != 1 {
		t.Fatalf("proof %+v", res.Proof)
	}
	if res, err := f.cl.Consent(ctx, f.revoked); err != nil || res.Consent.Status != "inactive" || res.Consent.RevokedBy != f.patient {
		t.Fatalf("revoked consent: %+v, %v", res, err)
	}
	var ce *client.Error
	if _, err := f.cl.Consent(ctx, "csnosuchconsent"); !errors.As(err, &ce) || ce.HTTPStatus != http.StatusNotFound || tx.Code(ce.Code) != tx.CodeNotFound {
		t.Fatalf("unknown consent: %v", err)
	}

	list, err := f.cl.PatientConsents(ctx, f.patient)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Consents) != 2 || len(list.Delegations) != 1 || list.OptedOut || list.Height != 1 || len(list.Revision) != 64 {
		t.Fatalf("list %+v", list)
	}
	if d := list.Delegations[0]; d.Delegate != f.delegate || d.Operations[0] != "grant" || d.End == nil || d.Start != nil {
		t.Fatalf("delegation %+v", d)
	}
	for _, id := range []string{f.doctor, "ccnobody", "a b"} {
		if _, err := f.cl.PatientConsents(ctx, id); !errors.As(err, &ce) || ce.HTTPStatus/100 != 4 {
			t.Fatalf("list for %q: %v", id, err)
		}
	}
}

func TestDecideEndpoint(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	base := client.DecideQuery{Patient: f.patient, Requester: f.doctor, Purpose: "TREAT", Type: "Observation"}

	d, err := f.cl.Decide(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	// The practitioner's organization and role come from its identity.
	if !d.Allowed || d.Reason != "consent-permit" || d.ConsentID != f.granted || d.Provision != "provision" ||
		d.Request.RequesterOrg != f.org || len(d.Request.Roles) != 1 || d.Request.Roles[0] != "practitioner" ||
		d.Height != 1 || !d.BlockTime.Equal(blockZero.Add(time.Second)) || d.Request.Action != "access" {
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
			d, err := f.cl.Decide(ctx, q)
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
		"no type":               {Patient: f.patient, Requester: f.doctor, Purpose: "TREAT"},
		"unknown requester":     {Patient: f.patient, Requester: "ccnobody", Purpose: "TREAT", Type: "Observation"},
		"requester not an id":   {Patient: f.patient, Requester: "x/y", Purpose: "TREAT", Type: "Observation"},
		"patient not a patient": {Patient: f.doctor, Requester: f.doctor, Purpose: "TREAT", Type: "Observation"},
	} {
		if _, err := f.cl.Decide(ctx, q); !errors.As(err, &ce) || ce.HTTPStatus/100 != 4 {
			t.Errorf("%s: %v", name, err)
		}
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
				resp, err := http.Get(f.srv.URL + r.URL.String())
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				var cr client.ConsentResponse
				if err := json.Unmarshal(body, &cr); err != nil {
					t.Error(err)
					return
				}
				change(&cr)
				writeJSON(w, http.StatusOK, cr)
			}))
			defer srv.Close()
			if _, err := client.New(srv.URL).Consent(context.Background(), f.revoked); err == nil {
				t.Fatal("the client accepted a tampered consent")
			}
		})
	}
	// Untampered through the same relay: accepted.
	if _, err := f.cl.Consent(context.Background(), f.revoked); err != nil {
		t.Fatal(err)
	}
}
