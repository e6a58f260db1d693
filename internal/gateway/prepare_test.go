package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// signPrepared signs a prepared transaction as the portal does: the sign
// bytes, appended to the unsigned envelope.
func signPrepared(t *testing.T, p *client.PreparedTx, k *keyfile.Key) []byte {
	t.Helper()
	if !bytes.Equal(p.SignBytes, append([]byte("carechain/tx/v1\x00"), p.Unsigned...)) {
		t.Fatalf("sign bytes are not the domain and the envelope")
	}
	envelope := &tx.Tx{ChainID: p.ChainID, Signer: p.Signer, Nonce: p.Nonce, Type: tx.Type(p.Type), Body: p.Body}
	if !bytes.Equal(envelope.Encode(), p.Unsigned) {
		t.Fatalf("the envelope does not encode its fields")
	}
	return append(append([]byte(nil), p.Unsigned...), ed25519.Sign(k.Sign, p.SignBytes)...)
}

// TestPrepare checks that transactions the node prepares, signed with
// nothing but the sign bytes, are accepted, and that it refuses
// descriptions the ledger would refuse.
func TestPrepare(t *testing.T) {
	n := startNode(t)
	c := client.New(n.APIURL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	patient := register(t, c, tx.KindPatient, nil)
	friend := register(t, c, tx.KindPatient, nil)

	until := time.Date(2030, 1, 31, 23, 59, 59, 0, time.UTC)
	form := &client.ConsentForm{Actors: []client.FormActor{{Kind: "id", ID: friend.ID}}, Purposes: []string{"TREAT"},
		Types: []string{"Observation"}, Labels: []string{"PSY"}, Until: &until}
	p, err := c.Prepare(ctx, client.PrepareRequest{Signer: patient.ID, Op: "consent.grant", Patient: patient.ID, Consent: form})
	if err != nil {
		t.Fatal(err)
	}
	if p.TypeName != "consent.grant" || p.Nonce != 2 || p.ConsentID != tx.ConsentID(patient.ID, 2) || p.ChainID != "gateway-test" {
		t.Fatalf("prepared %+v", p)
	}
	res, err := c.Submit(ctx, signPrepared(t, p, patient), client.WaitCommit)
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.PatientConsents(ctx, patient, patient.ID)
	if err != nil || len(list.Consents) != 1 || list.Consents[0].ID != p.ConsentID || list.Consents[0].Form == nil {
		t.Fatalf("after grant at %d: %+v, %v", res.Height, list, err)
	}
	got := list.Consents[0].Form
	if got.ID != p.ConsentID || got.Until == nil || !got.Until.Equal(until) || len(got.Actions) != 1 || got.Actions[0] != "access" {
		t.Fatalf("the form read back: %+v", got)
	}

	// An edit keeps the id; a revocation ends it.
	form.ID, form.Labels = p.ConsentID, nil
	p, err = c.Prepare(ctx, client.PrepareRequest{Signer: patient.ID, Op: "consent.update", Patient: patient.ID, Consent: form})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, signPrepared(t, p, patient), client.WaitCommit); err != nil {
		t.Fatal(err)
	}
	p, err = c.Prepare(ctx, client.PrepareRequest{Signer: patient.ID, Op: "consent.revoke", Patient: patient.ID, ConsentID: form.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, signPrepared(t, p, patient), client.WaitCommit); err != nil {
		t.Fatal(err)
	}
	list, err = c.PatientConsents(ctx, patient, patient.ID)
	if err != nil || list.Consents[0].Status != "inactive" || list.Consents[0].Form.Labels != nil {
		t.Fatalf("after update and revoke: %+v, %v", list, err)
	}

	// Refusals come with stable codes, before anything is signed.
	for _, bad := range []struct {
		req  client.PrepareRequest
		code tx.Code
	}{
		{client.PrepareRequest{Signer: "not an id", Op: "audit.query", Patient: patient.ID}, tx.CodeInvalid},
		{client.PrepareRequest{Signer: patient.ID, Op: "identity.revoke", Patient: patient.ID}, tx.CodeUnknownType},
		{client.PrepareRequest{Signer: patient.ID, Op: "consent.grant", Patient: patient.ID}, tx.CodeInvalid},
		{client.PrepareRequest{Signer: patient.ID, Op: "consent.grant", Patient: patient.ID,
			Consent: &client.ConsentForm{Purposes: []string{"TREAT"}}}, tx.CodeInvalid},
		{client.PrepareRequest{Signer: patient.ID, Op: "consent.grant", Patient: patient.ID,
			Consent: &client.ConsentForm{Actors: []client.FormActor{{Kind: "team", ID: "x"}}}}, tx.CodeInvalid},
		{client.PrepareRequest{Signer: patient.ID, Op: "delegate.remove", Patient: patient.ID, Delegate: patient.ID}, tx.CodeInvalid},
	} {
		_, err := c.Prepare(ctx, bad.req)
		var ce *client.Error
		if !errors.As(err, &ce) || tx.Code(ce.Code) != bad.code || ce.HTTPStatus != 400 {
			t.Errorf("%+v: %v, want %s", bad.req, err, bad.code)
		}
	}
}
