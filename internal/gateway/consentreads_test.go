package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/tx"
)

// TestConsentReadsOnANode runs the audited consent reads through a real
// node: each is a consent.query the block decides, and each, permitted or
// refused, lands in the patient's access history.
func TestConsentReadsOnANode(t *testing.T) {
	n := startNode(t)
	c := client.New(n.APIURL)
	ctx := context.Background()
	patient := register(t, c, tx.KindPatient, nil)
	doctor := register(t, c, tx.KindPatient, nil)
	stranger := register(t, c, tx.KindPatient, nil)
	grantFor(t, c, patient, doctor)

	list, err := c.PatientConsents(ctx, patient, patient.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Consents) != 1 || list.Query == nil || list.Query.Height < 1 {
		t.Fatalf("list %+v", list)
	}
	// The answer carries the query's committed result: its rule and the
	// audit event that recorded it.
	var rule, seq string
	for _, e := range list.Query.Events {
		switch e.Type {
		case "consent.query":
			rule = e.Attributes["rule"]
		case "audit":
			seq = e.Attributes["seq"]
		}
	}
	if rule != "patient" || seq == "" || list.Query.CodeName != "ok" {
		t.Fatalf("query result %+v", list.Query)
	}
	id := list.Consents[0].ID
	// The grantee the consent names may read it, and preview its access.
	if res, err := c.Consent(ctx, doctor, patient.ID, id); err != nil || res.Consent.ID != id {
		t.Fatalf("the grantee's read: %v", err)
	}
	d, err := c.Decide(ctx, doctor, client.DecideQuery{Patient: patient.ID, Requester: doctor.ID, Purpose: "TREAT", Type: "Observation"})
	if err != nil || !d.Allowed || d.ConsentID != id {
		t.Fatalf("the grantee's preview: %+v, %v", d, err)
	}
	// A stranger learns nothing, and the attempts are on the record.
	var ce *client.Error
	if _, err := c.PatientConsents(ctx, stranger, patient.ID); !errors.As(err, &ce) || ce.HTTPStatus != http.StatusForbidden {
		t.Fatalf("a stranger's list: %v", err)
	}
	if _, err := c.Consent(ctx, stranger, patient.ID, id); !errors.As(err, &ce) || ce.HTTPStatus != http.StatusForbidden {
		t.Fatalf("a stranger's read: %v", err)
	}
	if _, err := c.Decide(ctx, stranger, client.DecideQuery{Patient: patient.ID, Requester: doctor.ID, Purpose: "TREAT", Type: "Observation"}); !errors.As(err, &ce) || ce.HTTPStatus != http.StatusForbidden {
		t.Fatalf("a stranger's preview: %v", err)
	}
	if _, err := c.PatientConsents(ctx, patient, doctor.ID+"x"); !errors.As(err, &ce) || ce.HTTPStatus/100 != 4 {
		t.Fatalf("list of nobody: %v", err)
	}

	_, events, err := c.AuditHistory(ctx, patient, patient.ID, client.HistoryFilter{OldestFirst: true})
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		action audit.Action
		actor  string
		rule   string
	}
	var got []seen
	for _, e := range events {
		if e.Action != audit.ActionConsentGrant && e.Action != audit.ActionAuditQuery {
			got = append(got, seen{e.Action, e.Actor, e.Reason.Rule})
		}
	}
	want := []seen{
		{audit.ActionConsentList, patient.ID, "patient"},
		{audit.ActionConsentRead, doctor.ID, "named-in-consent"},
		{audit.ActionConsentDecide, doctor.ID, "requester"},
		{audit.ActionConsentList, stranger.ID, "not-authorized-for-consents"},
		{audit.ActionConsentRead, stranger.ID, "not-authorized-for-consents"},
		{audit.ActionConsentDecide, stranger.ID, "not-authorized-for-consents"},
	}
	if len(got) != len(want) {
		t.Fatalf("recorded %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
