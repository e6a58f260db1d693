package gateway_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cometbft/cometbft/rpc/client/local"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/app"
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
// (no token, expired, forged, wrong scope, unknown client, revoked key,
// another organization's, no purpose) with 401/403 and the reason, each
// logged by the node and on the ledger — attributed to the client when
// the token is this node's, else as an unauthenticated refusal with the
// client it claimed and how many such attempts there were; and at the
// ledger (no consent, wrong purpose, a sensitive label the consent does
// not cover, an expired consent, a revoked consent) with 403 and the
// consent reason, each a deny event in the patient's audit trail naming
// the practitioner. A search counts only what the caller may read.
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
	// A token signed with another key, as a forger would, for the doctor.
	forger, _ := smart.NewTokens(bytes.Repeat([]byte{7}, smart.MinTokenKeyBytes), f.n.APIURL, f.n.APIURL+smart.FHIRPath)
	forge := func(id string) string {
		raw, err := forger.Mint(&smart.Principal{ClientID: id, Kind: tx.KindPractitioner, Org: f.org.ID, KeyVersion: 1, Scopes: scopes,
			Purpose: consent.PurposeTreatment, TokenID: "t", IssuedAt: time.Now(), Expires: time.Now().Add(smart.TokenLifetime)})
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
		{"forged token", forge(f.doctor.ID), 401, "token_invalid"},
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
	// gateway's organization signed; the others (no token, a forged one,
	// an unknown client, and every refused token request: a forged
	// assertion, another organization's clients) as well, as
	// access.refused events of the unauthenticated actor naming the client
	// claimed.
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
	for _, want := range []struct{ rule, claimed string }{
		{"token_missing", ""}, {"token_invalid", f.doctor.ID}, {"client_unknown", stranger.ID},
		{"assertion_bad_signature", f.doctor.ID},
		{string(smart.ReasonOrganizationMismatch), otherOrg.ID}, {string(smart.ReasonOrganizationMismatch), outsider.ID},
	} {
		if e := awaitUnauthenticatedRefusal(t, ctx, rpc, f.org.ID, want.rule, want.claimed); e.Count != 0 {
			t.Errorf("%s claiming %q: %d attempts, want one", want.rule, want.claimed, e.Count)
		}
	}
	// Two identical attempts within one interval are one event counting
	// two. Everything refused so far is on the ledger, so the first of
	// them opens the interval and the second, a moment later, falls in it.
	// The client they claim is registered with the organization's key
	// behind its gateway's back, as an operator might: the gateway's next
	// nonce is taken, and its report must still go through.
	twice := register(t, f.c, tx.KindPractitioner, f.org)
	forgedTwice := forge(twice.ID)
	for range 2 {
		if r := f.do(t, "GET", path, forgedTwice, nil); r.status != 401 || r.code() != "token_invalid" {
			t.Fatalf("forged token: %d %s", r.status, r.code())
		}
	}
	if e := awaitUnauthenticatedRefusal(t, ctx, rpc, f.org.ID, "token_invalid", twice.ID); e.Count != 2 {
		t.Errorf("two identical attempts recorded as %+v", e)
	}
	if n := len(unauthenticatedRefusals(t, ctx, rpc, f.org.ID, "token_invalid", twice.ID)); n != 1 {
		t.Errorf("two identical attempts are %d events", n)
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

	// The refused requests name no patient. An auditor reads all of them
	// through the API, its read recorded among them; the organization's
	// gateway shows it its own clients' as AuditEvents.
	auditor := register(t, f.c, tx.KindAuditor, f.admin)
	_, refused, err := f.c.AuditHistory(ctx, auditor, "", client.HistoryFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range refused {
		if e.Patient != "" {
			t.Errorf("event %d about patient %s among the refused requests", e.Seq, e.Patient)
		}
		seen[string(e.Action)+" "+e.Actor+" "+e.Reason.Rule] = true
	}
	for _, want := range []string{
		"access.refused " + f.doctor.ID + " " + string(smart.ReasonScopeInsufficient),
		"access.refused " + audit.Unauthenticated + " token_missing",
		"access.refused " + audit.Unauthenticated + " assertion_bad_signature",
		"audit.review " + auditor.ID + " auditor",
	} {
		if !seen[want] {
			t.Errorf("the auditor's review lacks %q (has %v)", want, seen)
		}
	}
	if _, _, err := f.c.AuditHistory(ctx, f.patient, "", client.HistoryFilter{}); codeOf(err) != tx.CodeAccessDenied {
		t.Errorf("a patient reading the refused requests: %v", err)
	}
	own := f.do(t, "GET", "/AuditEvent", treat, nil)
	f.expect(t, own, 200, "")
	if !strings.Contains(string(own.raw), string(smart.ReasonScopeInsufficient)) || strings.Contains(string(own.raw), audit.Unauthenticated) {
		t.Errorf("the organization's refused requests as AuditEvents: %s", own.raw)
	}
}

// unauthenticatedRefusals reads from the committed state the access.refused
// events of the unauthenticated actor with rule and claimed client that
// org's gateway put on the ledger (audit.refusals).
func unauthenticatedRefusals(t *testing.T, ctx context.Context, rpc *local.Local, org, rule, claimed string) []audit.Event {
	t.Helper()
	res, err := rpc.TxSearch(ctx, "audit.refusals.by='"+org+"'", false, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, r := range res.Txs {
		for _, ev := range r.TxResult.Events {
			for _, a := range ev.Attributes {
				if ev.Type != "audit" || a.Key != "seq" {
					continue
				}
				seq, err := strconv.ParseUint(a.Value, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				q, err := rpc.ABCIQuery(ctx, app.QueryStore, binary.BigEndian.AppendUint64([]byte("audit/e/"), seq))
				if err != nil {
					t.Fatal(err)
				}
				e, err := audit.DecodeEvent(q.Response.Value)
				if err != nil {
					t.Fatalf("event %d: %v", seq, err)
				}
				if e.Actor != audit.Unauthenticated || e.Action != audit.ActionAccessRefused || e.Decision != audit.Deny || e.ActorOrg != "" {
					t.Fatalf("audit.refusals recorded %+v", e)
				}
				if e.Reason.Rule == rule && e.Target == claimed {
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// awaitUnauthenticatedRefusal waits until the gateway's report of an
// unauthenticated refusal with rule and claimed client is committed.
func awaitUnauthenticatedRefusal(t *testing.T, ctx context.Context, rpc *local.Local, org, rule, claimed string) audit.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if es := unauthenticatedRefusals(t, ctx, rpc, org, rule, claimed); len(es) > 0 {
			return es[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no unauthenticated refusal %s claiming %q committed", rule, claimed)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}
