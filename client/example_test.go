package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/proof"
)

// A patient's portal lists the patient's consents. The read is a signed
// query the ledger decides and records: it appears in the patient's own
// access history.
func ExampleClient_PatientConsents() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:26680")
	patient, err := keyfile.Load("alice.json")
	if err != nil {
		log.Fatal(err)
	}
	list, err := c.PatientConsents(ctx, patient, patient.ID)
	var ce *client.Error
	if errors.As(err, &ce) && ce.HTTPStatus == 403 {
		log.Fatalf("the ledger refused the read (and recorded it): %s", ce.Message)
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, cs := range list.Consents {
		fmt.Println(cs.ID, cs.Status, cs.Summary)
	}
	fmt.Println("recorded by transaction", list.Query.Hash, "at height", list.Query.Height)
}

// A watchdog keeps a checkpoint of the audit log and checks, trusting only
// the genesis, that the log the validators sign now extends it.
func ExampleClient_VerifyAuditConsistency() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:26680")
	genesis, err := types.GenesisDocFromFile("genesis.json")
	if err != nil {
		log.Fatal(err)
	}
	checkpoint := proof.EmptyLog() // or the last one kept
	v, _, err := c.VerifyAuditConsistency(ctx, genesis, checkpoint)
	if errors.Is(err, proof.ErrNotVerified) {
		log.Fatalf("the signed log does not extend %s: %v", checkpoint, err)
	}
	if err != nil {
		log.Fatal(err)
	}
	checkpoint = v.To() // keep it for next time
	fmt.Println("the log grew to", checkpoint)
}
