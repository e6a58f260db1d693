package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/gateway"
	"github.com/carechain/carechain/internal/tx"
)

// TestFHIRConsentAndAuditEvent grants a consent through the FHIR API with
// the patient's signed transaction in a header (the gateway holds no
// patient key), reads and searches it, reads a record under it, and finds
// the organization's own accesses as BALP AuditEvents.
func TestFHIRConsentAndAuditEvent(t *testing.T) {
	f := startFHIRNet(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rb, _ := json.Marshal(observation("Patient/none", "29463-7", "2024-01-01"))
	rec, err := f.c.WriteRecord(ctx, f.patient, client.RecordWrite{Patient: f.patient.ID, ResourceType: "Observation", Resource: rb})
	if err != nil {
		t.Fatal(err)
	}
	tok := f.token(t, f.doctor, "system/*.cruds", "TREAT")

	grant := consent.Consent{Status: consent.StatusActive, Patient: f.patient.ID, Provision: consent.Provision{Type: consent.Permit,
		Actors: []consent.Actor{consent.Identity(f.doctor.ID)}, Actions: []consent.Action{consent.ActionAccess},
		Classes: []string{"Observation"}, Purposes: []consent.Purpose{consent.PurposeTreatment}}}
	// The resource's id is the ledger's to give; ToFHIR needs one.
	draft := grant
	draft.ID, draft.Grantor = "new", f.patient.ID
	body, err := consent.ToFHIR(draft)
	if err != nil {
		t.Fatal(err)
	}
	signed := func(c consent.Consent) string {
		n, err := f.c.Nonce(ctx, f.patient.ID)
		if err != nil {
			t.Fatal(err)
		}
		raw := tx.Build("gateway-test", f.patient.ID, n.Next, &tx.GrantConsent{Patient: f.patient.ID, Consent: consent.Encode(c)}, f.patient.Sign)
		return base64.StdEncoding.EncodeToString(raw)
	}
	f.expect(t, f.do(t, "POST", "/Consent", tok, body), 422, "consent_unsigned")
	other := grant
	other.Provision.Purposes = []consent.Purpose{consent.PurposePayment}
	f.expect(t, f.do(t, "POST", "/Consent", tok, body, gateway.SignedTxHeader, signed(other)), 422, "unprocessable")
	f.expect(t, f.do(t, "GET", "/Observation/"+rec.ID, tok, nil), 403, "access_denied")

	created := f.do(t, "POST", "/Consent", tok, body, gateway.SignedTxHeader, signed(grant))
	f.expect(t, created, 201, "")
	cid, _ := created.body["id"].(string)
	if !strings.HasPrefix(cid, "cs") || created.body["status"] != "active" {
		t.Fatalf("created consent: %s", created.raw)
	}
	// Consent reads are recorded queries the ledger decides on the
	// client: it reads the consent that names it, is refused one that
	// does not, and its search finds only the one that names it. The
	// patient's own signed query lists both.
	res, err := f.c.Send(ctx, f.patient, &tx.GrantConsent{Patient: f.patient.ID, Consent: consent.Encode(consent.Consent{
		Status: consent.StatusActive, Patient: f.patient.ID, Provision: consent.Provision{Type: consent.Permit,
			Actors: []consent.Actor{consent.Organization("ccsomeotherorganization")}, Actions: []consent.Action{consent.ActionAccess}}})})
	if err != nil {
		t.Fatal(err)
	}
	otherID := eventAttr(res, "consent.grant", "consent_id")
	f.expect(t, f.do(t, "GET", "/Consent/"+cid, tok, nil), 200, "")
	f.expect(t, f.do(t, "GET", "/Consent/"+otherID, tok, nil), 403, "access_denied")
	f.expect(t, f.do(t, "GET", "/Consent/csnosuchconsent", tok, nil), 404, "")
	list := f.do(t, "GET", "/Consent?patient="+f.patient.ID, tok, nil)
	f.expect(t, list, 200, "")
	if list.total() != 1 || !strings.Contains(string(list.raw), cid) {
		t.Errorf("consent search as the doctor: %s", list.raw)
	}
	patientQuery := func(q *tx.QueryConsents) string {
		n, err := f.c.Nonce(ctx, f.patient.ID)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(tx.Build("gateway-test", f.patient.ID, n.Next, q, f.patient.Sign))
	}
	all := f.do(t, "GET", "/Consent?patient="+f.patient.ID, tok, nil, gateway.SignedTxHeader, patientQuery(&tx.QueryConsents{Patient: f.patient.ID}))
	f.expect(t, all, 200, "")
	if all.total() != 2 {
		t.Errorf("consent search with the patient's signed query: %s", all.raw)
	}
	f.expect(t, f.do(t, "GET", "/Consent/"+cid, tok, nil, gateway.SignedTxHeader, patientQuery(&tx.QueryConsents{Patient: f.patient.ID})), 422, "unprocessable")
	f.expect(t, f.do(t, "GET", "/Observation/"+rec.ID, tok, nil), 200, "")

	ae := f.do(t, "GET", "/AuditEvent?patient="+f.patient.ID, tok, nil)
	f.expect(t, ae, 200, "")
	// The organization's own accesses: the denied record read, the two
	// consent reads it was permitted (by id and by search) and the one it
	// was refused, and the permitted record read.
	if ae.total() != 5 || strings.Count(string(ae.raw), "named-in-consent") != 2 || strings.Count(string(ae.raw), "not-authorized-for-consents") != 1 {
		t.Fatalf("AuditEvent search: %s", ae.raw)
	}
	var permitted map[string]any
	for _, e := range ae.entries() {
		res := e["resource"].(map[string]any)
		if res["resourceType"] != "AuditEvent" {
			t.Errorf("not an AuditEvent: %v", res)
		}
		if res["outcome"] == "0" {
			permitted = res
		}
	}
	if permitted == nil || !strings.Contains(mustJSON(permitted), "IHE.BasicAudit.PatientRead") || !strings.Contains(mustJSON(permitted), f.doctor.ID) {
		t.Errorf("permitted read as AuditEvent: %v", permitted)
	}
	one := f.do(t, "GET", "/AuditEvent/"+permitted["id"].(string), tok, nil)
	f.expect(t, one, 200, "")
	// The consent grant is the patient's act, not the organization's.
	if strings.Contains(string(ae.raw), "consent.grant") {
		t.Errorf("the organization's view holds the patient's own acts: %s", ae.raw)
	}

	// The patient changes the consent over FHIR (PUT with the signed
	// consent.update), then revokes it (DELETE with the signed
	// consent.revoke); the doctor's next read is refused.
	patientSigned := func(m tx.Msg) string {
		n, err := f.c.Nonce(ctx, f.patient.ID)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(tx.Build("gateway-test", f.patient.ID, n.Next, m, f.patient.Sign))
	}
	changed := grant
	changed.ID, changed.Grantor = cid, f.patient.ID
	changed.Provision.Purposes = []consent.Purpose{consent.PurposeTreatment, consent.PurposePayment}
	changedBody, err := consent.ToFHIR(changed)
	if err != nil {
		t.Fatal(err)
	}
	update := &tx.UpdateConsent{Patient: f.patient.ID, Consent: consent.Encode(changed)}
	f.expect(t, f.do(t, "PUT", "/Consent/"+cid, tok, changedBody), 422, "consent_unsigned")
	unchanged := grant
	unchanged.ID, unchanged.Grantor = cid, f.patient.ID
	unchangedBody, err := consent.ToFHIR(unchanged)
	if err != nil {
		t.Fatal(err)
	}
	f.expect(t, f.do(t, "PUT", "/Consent/"+cid, tok, unchangedBody, gateway.SignedTxHeader, patientSigned(update)), 422, "unprocessable")
	up := f.do(t, "PUT", "/Consent/"+cid, tok, changedBody, gateway.SignedTxHeader, patientSigned(update))
	f.expect(t, up, 200, "")
	if !strings.Contains(string(up.raw), "HPAYMT") {
		t.Errorf("updated consent: %s", up.raw)
	}
	revoke := &tx.RevokeConsent{Patient: f.patient.ID, ConsentID: cid}
	f.expect(t, f.do(t, "DELETE", "/Consent/"+cid, tok, nil), 422, "consent_unsigned")
	f.expect(t, f.do(t, "DELETE", "/Consent/"+otherID, tok, nil, gateway.SignedTxHeader, patientSigned(revoke)), 422, "unprocessable")
	f.expect(t, f.do(t, "DELETE", "/Consent/"+cid, tok, nil, gateway.SignedTxHeader, patientSigned(revoke)), 204, "")
	after := f.do(t, "GET", "/Consent/"+cid, tok, nil)
	f.expect(t, after, 200, "")
	if after.body["status"] != "inactive" {
		t.Errorf("revoked consent reads %v", after.body["status"])
	}
	f.expect(t, f.do(t, "GET", "/Observation/"+rec.ID, tok, nil), 403, "access_denied")

	// A PUT with status inactive and the signed consent.revoke revokes too.
	inactive := consent.Consent{ID: otherID, Grantor: f.patient.ID, Status: consent.StatusInactive, Patient: f.patient.ID,
		Provision: consent.Provision{Type: consent.Permit, Actors: []consent.Actor{consent.Organization("ccsomeotherorganization")},
			Actions: []consent.Action{consent.ActionAccess}}}
	inactiveBody, err := consent.ToFHIR(inactive)
	if err != nil {
		t.Fatal(err)
	}
	revokeOther := &tx.RevokeConsent{Patient: f.patient.ID, ConsentID: otherID}
	f.expect(t, f.do(t, "PUT", "/Consent/"+otherID, tok, changedBody, gateway.SignedTxHeader, patientSigned(revokeOther)), 400, "invalid")
	f.expect(t, f.do(t, "PUT", "/Consent/"+otherID, tok, inactiveBody, gateway.SignedTxHeader, patientSigned(revokeOther)), 200, "")
	final := f.do(t, "GET", "/Consent?patient="+f.patient.ID, tok, nil, gateway.SignedTxHeader, patientQuery(&tx.QueryConsents{Patient: f.patient.ID}))
	if strings.Count(string(final.raw), `"status":"inactive"`) != 2 {
		t.Errorf("after both revocations: %s", final.raw)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
