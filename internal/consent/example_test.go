package consent_test

import (
	"fmt"
	"time"

	"github.com/carechain/carechain/internal/consent"
)

// The ledger's side of a consent: validate and encode at submission, keep
// an index per patient, decide each access at its block.
func Example() {
	c := consent.Consent{
		ID: "c1", Status: consent.StatusActive, Patient: "pat", Grantor: "pat",
		Provision: consent.Provision{
			Type:     consent.Permit,
			Actors:   []consent.Actor{consent.Organization("h1")},
			Purposes: []consent.Purpose{consent.PurposeTreatment},
			Period:   consent.Period{End: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
			Provisions: []consent.Provision{
				{Type: consent.Deny, Labels: []string{"PSY"}},
			},
		},
	}
	if err := consent.Validate(c); err != nil {
		fmt.Println(err)
		return
	}
	stored := consent.Encode(c) // what goes into state

	loaded, err := consent.Decode(stored)
	if err != nil {
		fmt.Println(err)
		return
	}
	ix := consent.NewIndex("pat")
	if err := ix.Put(loaded); err != nil {
		fmt.Println(err)
		return
	}

	req := consent.Request{
		Requester: "dr1", RequesterOrg: "h1", Patient: "pat",
		Action: consent.ActionAccess, Purpose: consent.PurposeTreatment,
		Record: consent.Record{ID: "r1", Type: "Observation"},
	}
	at := consent.Circumstances{Block: consent.Block{Height: 42, Time: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)}}
	fmt.Println(consent.Decide(ix, req, at))

	req.Record.Labels = []string{"PSY"}
	fmt.Println(consent.Decide(ix, req, at))

	at.Block.Time = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	req.Record.Labels = nil
	fmt.Println(consent.Decide(ix, req, at))

	// Output:
	// allow consent-permit consent=c1 provision=provision
	// deny consent-deny consent=c1 provision=provision.provision[0]
	// deny expired consent=c1 provision=provision detail="period ended 2025-01-01T00:00:00Z"
}

// Authorize tells the ledger whether a signer may act on a patient's
// consents and to whom the act is attributed.
func ExampleAuthorize() {
	c := consent.Consent{
		ID: "c2", Status: consent.StatusActive, Patient: "child", Grantor: "mum",
		Provision: consent.Provision{Type: consent.Permit, Actors: []consent.Actor{consent.Organization("clinic")}},
	}
	delegations := []consent.Delegation{{
		Patient: "child", Delegate: "mum",
		Operations: []consent.Operation{consent.OpGrant, consent.OpRevoke},
	}}
	a := consent.Authorize(consent.OperationRequest{
		Signer: "mum", Patient: "child", Operation: consent.OpGrant, Consent: &c,
	}, delegations, consent.Block{Height: 1, Time: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
	fmt.Println(a.Allowed, a.Reason, a.Delegate)
	// Output: true delegate mum
}
