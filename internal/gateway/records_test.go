package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/tx"
)

func registerMember(t *testing.T, c *client.Client, kind tx.Kind, org *keyfile.Key) *keyfile.Key {
	t.Helper()
	k, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), org, tx.NewRegistration("gateway-test", kind, "Dr. Test", org.ID, k.Sign, k.HPKEPublic())); err != nil {
		t.Fatal(err)
	}
	return k
}

// recordNode is a single-validator node and what record tests start from:
// its home, a client of its gateway, and the consortium admin's key.
type recordNode struct {
	home  string
	url   string // the gateway's base URL
	c     *client.Client
	admin *keyfile.Key
}

func startRecordNode(t *testing.T) *recordNode {
	t.Helper()
	home := filepath.Join(t.TempDir(), "node")
	n := nodetest.Start(t, home, "gateway-test")
	admin, err := keyfile.Load(filepath.Join(home, "admin.key.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &recordNode{home: home, url: n.APIURL, c: client.New(n.APIURL), admin: admin}
}

// org registers an organization, admitted by the admin.
func (r *recordNode) org(t *testing.T, name string) *keyfile.Key {
	t.Helper()
	k, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Send(context.Background(), r.admin, tx.NewRegistration("gateway-test", tx.KindOrganization, name, "", k.Sign, k.HPKEPublic())); err != nil {
		t.Fatal(err)
	}
	return k
}

func codeOf(err error) tx.Code {
	var ce *client.Error
	if errors.As(err, &ce) {
		return tx.Code(ce.Code)
	}
	return tx.CodeOK
}

// TestRecordLifecycle writes an encrypted record, reads it back as the
// patient and as a practitioner with consent, is refused after the
// consent is revoked, and after erasure finds the record gone: from the
// blob store too. Every step is in the patient's audit trail.
func TestRecordLifecycle(t *testing.T) {
	rn := startRecordNode(t)
	c, home := rn.c, rn.home
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	patient := register(t, c, tx.KindPatient, nil)
	hospital, clinic := rn.org(t, "General"), rn.org(t, "Clinic")
	writer := registerMember(t, c, tx.KindPractitioner, hospital)
	doctor := registerMember(t, c, tx.KindPractitioner, clinic)

	marker := "carechain-marker-" + strings.Repeat("x", 8)
	resource := []byte(`{"resourceType":"Observation","status":"final","code":{"text":"` + marker + `"}}`)
	w, err := c.WriteRecord(ctx, writer, client.RecordWrite{Patient: patient.ID, ResourceType: "Observation", Resource: resource})
	if err != nil {
		t.Fatal(err)
	}
	if w.Version != 1 || !strings.HasPrefix(w.ID, "rc") {
		t.Fatalf("wrote %+v", w)
	}

	// The patient always reads their own records.
	got, err := c.ReadRecord(ctx, patient, w.ID, 0, "PATRQT", false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Resource, resource) {
		t.Fatalf("read back %q", got.Resource)
	}

	// The authoring organization reads what it wrote; another one needs
	// the patient's consent, and without it is refused, and the refusal is recorded.
	if _, err := c.ReadRecord(ctx, doctor, w.ID, 0, "TREAT", false); codeOf(err) != tx.CodeAccessDenied {
		t.Fatalf("read without consent: %v", err)
	}
	grant := consent.Consent{Status: consent.StatusActive, Patient: patient.ID, Provision: consent.Provision{Type: consent.Permit,
		Actors: []consent.Actor{consent.Organization(clinic.ID)}, Actions: []consent.Action{consent.ActionAccess},
		Purposes: []consent.Purpose{consent.PurposeTreatment}, Classes: []string{"Observation"}}}
	res, err := c.Send(ctx, patient, &tx.GrantConsent{Patient: patient.ID, Consent: consent.Encode(grant)})
	if err != nil {
		t.Fatal(err)
	}
	consentID := eventAttr(res, "consent.grant", "consent_id")
	got, err = c.ReadRecord(ctx, doctor, w.ID, 0, "TREAT", false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Resource, resource) || len(got.BadShares) != 0 {
		t.Fatalf("doctor read %q, faults %v", got.Resource, got.BadShares)
	}

	// A version the ledger refuses leaves nothing behind in the blob store.
	blobs := filepath.Join(home, "data", "blobs")
	before := countFiles(t, blobs)
	if _, err := c.WriteRecord(ctx, doctor, client.RecordWrite{RecordID: w.ID, ResourceType: "Observation", Resource: resource}); codeOf(err) != tx.CodeUnauthorized {
		t.Fatalf("another organization's version: %v", err)
	}
	if after := countFiles(t, blobs); after != before {
		t.Fatalf("a refused version left %d blob files (before %d)", after, before)
	}

	// A new version has its own key; both stay readable.
	v2 := []byte(`{"resourceType":"Observation","status":"amended"}`)
	w2, err := c.WriteRecord(ctx, writer, client.RecordWrite{RecordID: w.ID, ResourceType: "Observation", Resource: v2})
	if err != nil {
		t.Fatal(err)
	}
	if w2.Version != 2 {
		t.Fatalf("second version is %d", w2.Version)
	}
	if got, err = c.ReadRecord(ctx, doctor, w.ID, 1, "TREAT", false); err != nil || !bytes.Equal(got.Resource, resource) {
		t.Fatalf("read version 1: %v", err)
	}
	if got, err = c.ReadRecord(ctx, doctor, w.ID, 0, "TREAT", false); err != nil || !bytes.Equal(got.Resource, v2) {
		t.Fatalf("read version 2: %v", err)
	}

	// An audit event of another read is no licence for this one.
	if _, err := c.Send(ctx, patient, &tx.RevokeConsent{Patient: patient.ID, ConsentID: consentID}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadRecord(ctx, doctor, w.ID, 0, "TREAT", false); codeOf(err) != tx.CodeAccessDenied {
		t.Fatalf("read after revocation: %v", err)
	}

	// Erasure removes the blobs; a later read says erased.
	if _, err := c.EraseRecord(ctx, patient, w.ID, "patient request"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadRecord(ctx, patient, w.ID, 0, "PATRQT", false); codeOf(err) != tx.CodeErased {
		t.Fatalf("read after erasure: %v", err)
	}
	waitFor(t, ctx, "blobs deleted", func() bool { return countFiles(t, filepath.Join(home, "data", "blobs")) == 0 })

	_, events, err := c.AuditHistory(ctx, patient, patient.ID, client.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		if strings.HasPrefix(string(e.Action), "record.") {
			actions = append(actions, string(e.Action)+":"+e.Decision.String())
		}
	}
	// Newest first, as the history lists them.
	want := "record.erase:permit record.read:deny record.read:permit record.read:permit record.update:permit record.read:permit record.read:deny record.read:permit record.create:permit"
	if strings.Join(actions, " ") != want {
		t.Fatalf("record events in the audit trail:\n got %s\nwant %s", strings.Join(actions, " "), want)
	}
}

func eventAttr(res *client.TxResult, typ, key string) string {
	for _, e := range res.Events {
		if e.Type == typ {
			return e.Attributes[key]
		}
	}
	return ""
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not before the deadline", what)
		case <-time.After(20 * time.Millisecond): // polling a condition with a deadline
		}
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return n
}

// TestBreakGlassRead: a practitioner whose organization gave it the
// emergency role reads a record without consent by breaking the glass,
// loudly; one without the role cannot; after the patient opts out nobody
// can.
func TestBreakGlassRead(t *testing.T) {
	rn := startRecordNode(t)
	c := rn.c
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	patient := register(t, c, tx.KindPatient, nil)
	hospital, er := rn.org(t, "General"), rn.org(t, "Emergency Department")
	writer := registerMember(t, c, tx.KindPractitioner, hospital)
	medic := registerMember(t, c, tx.KindPractitioner, er)
	colleague := registerMember(t, c, tx.KindPractitioner, er)
	if _, err := c.Send(ctx, er, &tx.SetRoles{Actor: medic.ID, Roles: []string{"emergency"}}); err != nil {
		t.Fatal(err)
	}
	// Only the organization gives its staff roles.
	if _, err := c.Send(ctx, colleague, &tx.SetRoles{Actor: colleague.ID, Roles: []string{"emergency"}}); codeOf(err) != tx.CodeUnauthorized {
		t.Fatalf("self-assigned role: %v", err)
	}
	resource := []byte(`{"resourceType":"AllergyIntolerance","code":{"text":"penicillin"}}`)
	w, err := c.WriteRecord(ctx, writer, client.RecordWrite{Patient: patient.ID, ResourceType: "AllergyIntolerance", Resource: resource})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadRecord(ctx, medic, w.ID, 0, "ETREAT", true)
	if err != nil {
		t.Fatalf("break-the-glass read: %v", err)
	}
	if !bytes.Equal(got.Resource, resource) {
		t.Fatal("break-the-glass read returned other content")
	}
	if _, err := c.ReadRecord(ctx, colleague, w.ID, 0, "ETREAT", true); codeOf(err) != tx.CodeAccessDenied {
		t.Fatalf("break-the-glass without the emergency role: %v", err)
	}
	if _, err := c.Send(ctx, patient, &tx.SetBreakGlassOptOut{Patient: patient.ID, OptOut: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadRecord(ctx, medic, w.ID, 0, "ETREAT", true); codeOf(err) != tx.CodeAccessDenied {
		t.Fatalf("break-the-glass after the patient opted out: %v", err)
	}
	_, events, err := c.AuditHistory(ctx, patient, patient.ID, client.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var flagged int
	for _, e := range events {
		if e.Action == "record.read" && e.BreakGlass {
			flagged++
			if e.Decision.String() != "permit" || e.Actor != medic.ID {
				t.Fatalf("break-the-glass event %+v", e)
			}
		}
	}
	if flagged != 1 {
		t.Fatalf("%d break-the-glass reads in the audit trail, want 1", flagged)
	}
}
