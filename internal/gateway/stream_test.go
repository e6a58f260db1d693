package gateway_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

func register(t *testing.T, c *client.Client, kind tx.Kind, by *keyfile.Key) *keyfile.Key {
	t.Helper()
	k, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	signer, org := k, ""
	if by != nil {
		signer = by
	}
	if kind == tx.KindPractitioner || kind == tx.KindApplication {
		org = by.ID // an organization admits its own members
	}
	if _, err := c.Send(context.Background(), signer, tx.NewRegistration("gateway-test", kind, "", org, k.Sign, k.HPKEPublic())); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAccessStream checks that a patient who opens the access stream hears
// of a change to their consents as soon as it commits, and that a stranger
// cannot open it.
func TestAccessStream(t *testing.T) {
	n := startNode(t)
	c := client.New(n.APIURL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	patient := register(t, c, tx.KindPatient, nil)
	stranger := register(t, c, tx.KindPatient, nil)

	before, err := c.Nonce(ctx, patient.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan client.AccessEvent, 4)
	done := make(chan error, 1)
	go func() {
		done <- c.WatchAccess(ctx, patient, patient.ID, func(e client.AccessEvent) error {
			got <- e
			return nil
		})
	}()
	// The stream is open once its audited query has committed, which
	// spends one of the patient's nonces.
	for {
		n, err := c.Nonce(ctx, patient.ID)
		if err == nil && n.Last > before.Last {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("stream ended before it opened: %v", err)
		case <-ctx.Done():
			t.Fatal("the stream's query never committed")
		case <-time.After(20 * time.Millisecond): // polling a condition with a deadline
		}
	}

	grant := consent.Consent{Status: consent.StatusActive, Patient: patient.ID, Provision: consent.Provision{Type: consent.Permit,
		Actors: []consent.Actor{consent.Identity(stranger.ID)}, Actions: []consent.Action{consent.ActionAccess},
		Purposes: []consent.Purpose{consent.PurposeTreatment}}}
	if _, err := c.Send(ctx, patient, &tx.GrantConsent{Patient: patient.ID, Consent: consent.Encode(grant)}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.Kind != "access" || e.Event.Action != audit.ActionConsentGrant || e.Event.Patient != patient.ID || e.Event.Actor != patient.ID {
			t.Fatalf("streamed %+v", e)
		}
	case err := <-done:
		t.Fatalf("stream ended: %v", err)
	case <-ctx.Done():
		t.Fatal("the grant was not streamed")
	}

	// A stranger's stream is refused, with the denial on the record.
	err = c.WatchAccess(ctx, stranger, patient.ID, func(client.AccessEvent) error { return nil })
	var ce *client.Error
	if !errors.As(err, &ce) || tx.Code(ce.Code) != tx.CodeAccessDenied || ce.HTTPStatus != 403 {
		t.Fatalf("stranger's stream: %v", err)
	}
}
