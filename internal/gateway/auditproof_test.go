package gateway_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/proof"
	"github.com/carechain/carechain/internal/tx"
)

// grantFor has patient grant grantee access and returns the sequence
// number of the audit event the grant recorded, read from the result's
// audit event.
func grantFor(t testing.TB, c *client.Client, patient, grantee *keyfile.Key) uint64 {
	t.Helper()
	grant := consent.Consent{Status: consent.StatusActive, Patient: patient.ID, Provision: consent.Provision{Type: consent.Permit,
		Actors: []consent.Actor{consent.Identity(grantee.ID)}, Actions: []consent.Action{consent.ActionAccess},
		Purposes: []consent.Purpose{consent.PurposeTreatment}}}
	res, err := c.Send(context.Background(), patient, &tx.GrantConsent{Patient: patient.ID, Consent: consent.Encode(grant)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Events {
		if e.Type == "audit" {
			seq, err := strconv.ParseUint(e.Attributes["seq"], 10, 64)
			if err != nil {
				t.Fatalf("audit event seq %q: %v", e.Attributes["seq"], err)
			}
			return seq
		}
	}
	t.Fatalf("grant result has no audit event: %+v", res.Events)
	return 0
}

// TestAuditProofBundle fetches the bundle of a consent grant right after
// it commits and verifies it offline against the genesis file on disk.
func TestAuditProofBundle(t *testing.T) {
	n := startNode(t)
	c := client.New(n.APIURL)
	ctx := context.Background()
	patient := register(t, c, tx.KindPatient, nil)
	doctor := register(t, c, tx.KindPatient, nil)
	first := grantFor(t, c, patient, doctor)
	second := grantFor(t, c, patient, doctor)

	genesis, err := types.GenesisDocFromFile(n.Comet.Config().GenesisFile())
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{first, second} {
		data, err := c.AuditProof(ctx, patient, patient.ID, seq)
		if err != nil {
			t.Fatalf("proof of %d: %v", seq, err)
		}
		ev, err := proof.Verify(data, genesis)
		if err != nil {
			t.Fatalf("proof of %d: %v", seq, err)
		}
		if ev.Seq != seq || ev.Action != audit.ActionConsentGrant || ev.Patient != patient.ID || ev.Actor != patient.ID {
			t.Fatalf("proof of %d proves %+v", seq, ev)
		}
	}

	// Unknown events are 404, malformed ids 400.
	var ce *client.Error
	if _, err := c.AuditProof(ctx, patient, patient.ID, 1<<40); !errors.As(err, &ce) || ce.HTTPStatus != 404 || tx.Code(ce.Code) != tx.CodeNotFound {
		t.Fatalf("proof of a missing event: %v", err)
	}
	// Reading a proof is reading the patient's history: a stranger is
	// refused (and the attempt recorded), an event of another patient is
	// as good as missing, and no query at all is unauthorized.
	if _, err := c.AuditProof(ctx, doctor, patient.ID, first); !errors.As(err, &ce) || ce.HTTPStatus != 403 || tx.Code(ce.Code) != tx.CodeAccessDenied {
		t.Fatalf("stranger's proof: %v", err)
	}
	if _, err := c.AuditProof(ctx, doctor, doctor.ID, first); !errors.As(err, &ce) || ce.HTTPStatus != 404 {
		t.Fatalf("proof of another patient's event: %v", err)
	}
	if status, body := get(t, n.APIURL+"/v1/audit/0/proof"); status != 401 {
		t.Fatalf("proof without a query: %d %s", status, body)
	}
	if status, body := get(t, n.APIURL+"/v1/audit/first/proof"); status != 400 {
		t.Fatalf("malformed id: %d %s", status, body)
	}
}

// BenchmarkAuditProof measures building a bundle on a single-validator
// node, through the gateway as a client sees it, and reports its size.
func BenchmarkAuditProof(b *testing.B) {
	n := nodetest.Start(b, b.TempDir()+"/node", "gateway-test")
	c := client.New(n.APIURL)
	ctx := context.Background()
	patient := registerPatient(b, c)
	doctor := registerPatient(b, c)
	var seq uint64
	for i := 0; i < 8; i++ {
		seq = grantFor(b, c, patient, doctor)
	}
	// The first request waits for the block that signs the event's state.
	data, err := c.AuditProof(ctx, patient, patient.ID, seq)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if data, err = c.AuditProof(ctx, patient, patient.ID, seq); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bundle-bytes")
}

// registerPatient is register for benchmarks.
func registerPatient(tb testing.TB, c *client.Client) *keyfile.Key {
	tb.Helper()
	k, err := keyfile.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Send(context.Background(), k, tx.NewRegistration("gateway-test", tx.KindPatient, "", "", k.Sign, k.HPKEPublic())); err != nil {
		tb.Fatal(err)
	}
	return k
}
