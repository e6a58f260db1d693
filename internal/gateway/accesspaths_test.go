package gateway_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/tx"
)

// TestEveryAccessPathRecordsOneEvent walks every gateway path that touches
// a patient's records or consents and requires each to add exactly one
// event to the audit log: a write, a read (the access, its share releases
// and its ciphertext together), a refusal, a consent change, a metadata or
// history read. The CLI calls the same client functions, and its scripts
// check their audit lines. Paths that disclose nothing about a patient
// (status, validators, a consistency proof) must add none.
func TestEveryAccessPathRecordsOneEvent(t *testing.T) {
	rn := startRecordNode(t)
	c := rn.c
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	patient := register(t, c, tx.KindPatient, nil)
	guardian := register(t, c, tx.KindDelegate, nil)
	hospital, clinic := rn.org(t, "General"), rn.org(t, "Clinic")
	writer := registerMember(t, c, tx.KindPractitioner, hospital)
	doctor := registerMember(t, c, tx.KindPractitioner, clinic)

	size := func() uint64 {
		t.Helper()
		p, err := c.StateAt(ctx, []byte("audit/head"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Value) < 8 {
			return 0
		}
		return binary.BigEndian.Uint64(p.Value[:8])
	}
	step := func(name string, want uint64, fn func() error) {
		t.Helper()
		before := size()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := size() - before; got != want {
			t.Errorf("%s added %d audit events, want %d", name, got, want)
		}
	}
	denied := func(err error) error {
		if codeOf(err) != tx.CodeAccessDenied {
			return err
		}
		return nil
	}
	resource := []byte(`{"resourceType":"Observation","status":"final"}`)

	var recordID, consentID string
	step("record put (create)", 1, func() error {
		w, err := c.WriteRecord(ctx, writer, client.RecordWrite{Patient: patient.ID, ResourceType: "Observation", Resource: resource})
		if w != nil {
			recordID = w.ID
		}
		return err
	})
	step("record put (update)", 1, func() error {
		_, err := c.WriteRecord(ctx, writer, client.RecordWrite{RecordID: recordID, ResourceType: "Observation", Resource: resource})
		return err
	})
	step("record read refused", 1, func() error {
		_, err := c.ReadRecord(ctx, doctor, recordID, 0, "TREAT", false)
		return denied(err)
	})
	step("consent grant", 1, func() error {
		g := consent.Consent{Status: consent.StatusActive, Patient: patient.ID, Provision: consent.Provision{Type: consent.Permit,
			Actors: []consent.Actor{consent.Organization(clinic.ID)}, Actions: []consent.Action{consent.ActionAccess},
			Purposes: []consent.Purpose{consent.PurposeTreatment}}}
		res, err := c.Send(ctx, patient, &tx.GrantConsent{Patient: patient.ID, Consent: consent.Encode(g)})
		if err == nil {
			consentID = eventAttr(res, "consent.grant", "consent_id")
		}
		return err
	})
	step("record read (access, share releases, ciphertext)", 1, func() error {
		_, err := c.ReadRecord(ctx, doctor, recordID, 0, "TREAT", false)
		return err
	})
	step("record read by the patient", 1, func() error {
		_, err := c.ReadRecord(ctx, patient, recordID, 1, "PATRQT", false)
		return err
	})
	step("record list", 1, func() error { _, err := c.PatientRecords(ctx, patient, patient.ID); return err })
	step("record metadata read", 1, func() error { _, err := c.Record(ctx, writer, recordID); return err })
	step("record list refused", 1, func() error { _, err := c.PatientRecords(ctx, doctor, patient.ID); return denied(err) })
	step("consent list", 1, func() error { _, err := c.PatientConsents(ctx, patient, patient.ID); return err })
	step("consent read", 1, func() error { _, err := c.Consent(ctx, patient, patient.ID, consentID); return err })
	step("consent decision preview", 1, func() error {
		_, err := c.Decide(ctx, doctor, client.DecideQuery{Patient: patient.ID, Requester: doctor.ID, Purpose: "TREAT", Type: "Observation"})
		return err
	})
	step("consent list refused", 1, func() error { _, err := c.PatientConsents(ctx, doctor, patient.ID); return denied(err) })
	step("delegate set", 1, func() error {
		d := consent.Delegation{Patient: patient.ID, Delegate: guardian.ID, Operations: []consent.Operation{consent.OpReadHistory}}
		_, err := c.Send(ctx, patient, &tx.SetDelegate{Delegation: consent.EncodeDelegation(d)})
		return err
	})
	step("history read", 1, func() error {
		_, _, err := c.AuditHistory(ctx, guardian, patient.ID, client.HistoryFilter{})
		return err
	})
	step("history read refused", 1, func() error {
		_, _, err := c.AuditHistory(ctx, doctor, patient.ID, client.HistoryFilter{})
		return denied(err)
	})
	step("proof bundle", 1, func() error { _, err := c.AuditProof(ctx, patient, patient.ID, 0); return err })
	step("delegate remove", 1, func() error {
		_, err := c.Send(ctx, patient, &tx.RemoveDelegate{Patient: patient.ID, Delegate: guardian.ID})
		return err
	})
	step("break-the-glass opt-out", 1, func() error {
		_, err := c.Send(ctx, patient, &tx.SetBreakGlassOptOut{Patient: patient.ID, OptOut: true})
		return err
	})
	step("consent revoke", 1, func() error {
		_, err := c.Send(ctx, patient, &tx.RevokeConsent{Patient: patient.ID, ConsentID: consentID})
		return err
	})
	step("record erase", 1, func() error { _, err := c.EraseRecord(ctx, patient, recordID, "patient request"); return err })
	step("status and validators", 0, func() error { _, err := c.Status(ctx); return err })
	step("consistency proof", 0, func() error { _, err := c.AuditConsistency(ctx, 1, 0); return err })
}
