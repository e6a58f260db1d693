package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cometbft/cometbft/rpc/client/local"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/smart"
	"github.com/carechain/carechain/internal/tx"
)

// lockedBuffer is a log sink the node writes from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFHIRNegativeMatrix refuses, through the FHIR API on a record the
// patient wrote, every way a read can fail: at the token endpoint (a
// forged assertion, a client of another organization) and at the token
// (no token, expired, wrong scope, unknown client, revoked key, another
// organization's, no purpose) with 401/403 and the reason,
// each logged by the node; and at the ledger (no consent, wrong purpose, a
// sensitive label the consent does not cover, an expired consent, a
// revoked consent) with 403 and the consent reason, each a deny event in
// the patient's audit trail naming the practitioner. A search counts only
// what the caller may read.
func TestFHIRNegativeMatrix(t *testing.T) {
	logs := &lockedBuffer{}
	f := startFHIRNet(t, logs)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The patient's own records: their Patient resource, an observation
	// and a psychiatric one.
	write := func(typ string, res map[string]any, labels ...string) string {
		b, _ := json.Marshal(res)
		w, err := f.c.WriteRecord(ctx, f.patient, client.RecordWrite{Patient: f.patient.ID, ResourceType: typ, Labels: labels, Resource: b})
		if err != nil {
			t.Fatal(err)
		}
		return w.ID
	}
	pid := write("Patient", patientResource(f.patient.ID))
	plain := write("Observation", observation("Patient/"+pid, "29463-7", "2024-01-01"))
	psy := write("Observation", observation("Patient/"+pid, "44249-1", "2024-01-02"), "PSY")
	path := "/Observation/" + plain

	// Token and gateway refusals.
	key, err := smart.LoadOrCreateTokenKey(filepath.Join(f.home, node.TokenKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := smart.NewTokens(key, f.n.APIURL, f.n.APIURL+smart.FHIRPath)
	scopes, _ := smart.ParseScopes("system/*.rs")
	mint := func(id, org string, issued time.Time) string {
		raw, err := tokens.Mint(&smart.Principal{ClientID: id, Kind: tx.KindPractitioner, Org: org, KeyVersion: 1, Scopes: scopes,
			Purpose: consent.PurposeTreatment, TokenID: "t", IssuedAt: issued, Expires: issued.Add(smart.TokenLifetime)})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	stranger, _ := keyfile.Generate()
	rotating := register(t, f.c, tx.KindApplication, f.org)
	rotTok := f.token(t, rotating, "system/*.rs", "TREAT")
	next, _ := keyfile.GenerateFor(rotating.ID)
	if _, err := f.c.Send(ctx, rotating, tx.NewRotation("gateway-test", rotating.ID, next.Sign, next.HPKEPublic())); err != nil {
		t.Fatal(err)
	}
	otherOrg := register(t, f.c, tx.KindOrganization, f.admin)
	outsider := register(t, f.c, tx.KindPractitioner, otherOrg)
	if status, oauth, reason, _ := postToken(t, f.n.APIURL+smart.TokenPath, stranger, f.doctor.ID, f.n.APIURL+smart.TokenPath, "forged", "system/*.rs"); status != 401 || oauth != "invalid_client" || reason != string(smart.ReasonAssertionSignature) {
		t.Errorf("forged assertion: %d %s/%s", status, oauth, reason)
	}
	// This gateway acts for f.org: another organization and its members
	// get no token here, while f.org's own do (f.token below).
	for _, k := range []*keyfile.Key{otherOrg, outsider} {
		if status, oauth, reason, _ := postToken(t, f.n.APIURL+smart.TokenPath, k, k.ID, f.n.APIURL+smart.TokenPath, "foreign", "system/*.rs"); status != 401 || oauth != "invalid_client" || reason != string(smart.ReasonOrganizationMismatch) {
			t.Errorf("another organization's client at this gateway's token endpoint: %d %s/%s", status, oauth, reason)
		}
	}
	if !strings.Contains(logs.String(), "reason="+string(smart.ReasonOrganizationMismatch)) {
		t.Error("the token endpoint's refusal of another organization's client is not in the node's log")
	}
	for _, c := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", 401, "token_missing"},
		{"expired token", mint(f.doctor.ID, f.org.ID, time.Now().Add(-smart.TokenLifetime-time.Minute)), 401, "token_expired"},
		{"unknown client", mint(stranger.ID, f.org.ID, time.Now()), 401, "client_unknown"},
		{"revoked key", rotTok, 401, "client_key_changed"},
		{"wrong scope", f.token(t, f.doctor, "system/Patient.rs", "TREAT"), 403, "scope_insufficient"},
		// Only a token this node minted outside its token endpoint gets
		// this far: the check beside the signing still holds.
		{"another organization", mint(outsider.ID, otherOrg.ID, time.Now()), 403, "organization_mismatch"},
		{"no purpose", f.token(t, f.doctor, "system/*.rs", ""), 403, "purpose_missing"},
	} {
		r := f.do(t, "GET", path, c.token, nil)
		if r.status != c.status || r.code() != c.code {
			t.Errorf("%s: %d %s, want %d %s: %s", c.name, r.status, r.code(), c.status, c.code, r.raw)
		}
		if !strings.Contains(logs.String(), "code="+c.code) {
			t.Errorf("%s: the refusal is not in the node's log", c.name)
		}
	}
	// The refusals of a client this node can name (its token is this
	// node's) are on the ledger too, as access.refused audit events the
	// gateway's organization signed; the others (no token, a stranger's)
	// are only in the log.
	rpc := local.New(f.n.Comet)
	for _, want := range []struct{ actor, code string }{
		{f.doctor.ID, "scope_insufficient"}, {outsider.ID, "organization_mismatch"}, {f.doctor.ID, "purpose_missing"},
		{f.doctor.ID, "token_expired"}, {rotating.ID, "client_key_changed"},
	} {
		found := false
		for deadline := time.Now().Add(30 * time.Second); !found && time.Now().Before(deadline); {
			res, err := rpc.TxSearch(ctx, "audit.refusal.actor='"+want.actor+"'", false, nil, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Txs {
				for _, e := range r.TxResult.Events {
					for _, a := range e.Attributes {
						found = found || e.Type == "audit.refusal" && a.Key == "code" && a.Value == want.code
					}
				}
			}
			if !found {
				time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
			}
		}
		if !found {
			t.Errorf("no audit.refusal of %s (%s) committed", want.actor, want.code)
		}
	}

	// Ledger refusals: each a 403 naming the rule, and a deny event.
	treat := f.token(t, f.doctor, "system/*.rs", "TREAT")
	denied := func(name, token, path, rule string) {
		t.Helper()
		r := f.do(t, "GET", path, token, nil)
		if r.status != 403 || r.code() != "access_denied" || !strings.Contains(string(r.raw), rule) {
			t.Errorf("%s: %d %s, want 403 access_denied naming %s: %s", name, r.status, r.code(), rule, r.raw)
		}
	}
	denied("no consent", treat, path, "no-consent")

	grant := func(p consent.Provision) string {
		t.Helper()
		res, err := f.c.Send(ctx, f.patient, &tx.GrantConsent{Patient: f.patient.ID, Consent: consent.Encode(consent.Consent{
			Status: consent.StatusActive, Patient: f.patient.ID, Provision: p})})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Events {
			if id := e.Attributes["consent_id"]; id != "" {
				return id
			}
		}
		t.Fatalf("no consent id in %+v", res.Events)
		return ""
	}
	until := time.Now().Add(3 * time.Second).UTC()
	grant(consent.Provision{Type: consent.Permit, Period: consent.Period{End: until},
		Actors: []consent.Actor{consent.Organization(f.org.ID)}, Actions: []consent.Action{consent.ActionAccess},
		Classes: []string{"Observation", "Patient"}, Purposes: []consent.Purpose{consent.PurposeTreatment}})
	f.expect(t, f.do(t, "GET", path, treat, nil), 200, "")
	denied("wrong purpose", f.token(t, f.doctor, "system/*.rs", "HPAYMT"), path, "no-consent")
	denied("sensitive label", treat, "/Observation/"+psy, "sensitive-label-not-named")
	search := f.do(t, "GET", "/Observation?patient="+pid, treat, nil)
	f.expect(t, search, 200, "")
	if search.total() != 1 || strings.Contains(string(search.raw), psy) {
		t.Errorf("a search shows what the caller may not read: %s", search.raw)
	}

	// Expiry is at block time: wait for a block past the end.
	for {
		st, err := f.c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.LatestBlockTime.After(until) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no block after the consent's end")
		case <-time.After(100 * time.Millisecond): // polling block time, which has no event to await here
		}
	}
	denied("expired consent", treat, path, "deny expired")

	revocable := grant(consent.Provision{Type: consent.Permit, Actors: []consent.Actor{consent.Identity(f.doctor.ID)},
		Actions: []consent.Action{consent.ActionAccess}, Classes: []string{"Observation"}, Purposes: []consent.Purpose{consent.PurposeTreatment}})
	f.expect(t, f.do(t, "GET", path, treat, nil), 200, "")
	if _, err := f.c.Send(ctx, f.patient, &tx.RevokeConsent{Patient: f.patient.ID, ConsentID: revocable}); err != nil {
		t.Fatal(err)
	}
	denied("revoked consent", treat, path, "deny ")

	// Every ledger refusal is a deny event naming the practitioner, the
	// organization and the purpose.
	_, events, err := f.c.AuditHistory(ctx, f.patient, f.patient.ID, client.HistoryFilter{Decision: "deny"})
	if err != nil {
		t.Fatal(err)
	}
	var denials []string
	for _, e := range events {
		if e.Action != audit.ActionRecordRead {
			continue
		}
		if e.Actor != f.doctor.ID || e.ActorOrg != f.org.ID || e.Recipient != f.org.ID {
			t.Errorf("deny event %d: actor %s org %s recipient %s", e.Seq, e.Actor, e.ActorOrg, e.Recipient)
		}
		denials = append(denials, e.Purpose+":"+e.Reason.Rule)
	}
	t.Logf("deny events: %v", denials)
	if len(denials) != 5 {
		t.Errorf("%d deny events (%v), want 5: no consent, wrong purpose, sensitive label, expired, revoked", len(denials), denials)
	}
}
