package tx_test

import (
	"testing"

	"github.com/carechain/carechain/internal/tx"
)

func TestPutDirectoryValidateBasic(t *testing.T) {
	const signer = "ccorg"
	newID := tx.DirectoryID(signer, 1) // envelopeFor uses nonce 1
	org := []byte(`{"resourceType":"Organization","name":"General"}`)
	for _, c := range []struct {
		name string
		msg  *tx.PutDirectory
		want tx.Code
	}{
		{"new entry", &tx.PutDirectory{ID: newID, Version: 1, ResourceType: "Organization", Resource: org}, tx.CodeOK},
		{"later version", &tx.PutDirectory{ID: "drother", Version: 2, ResourceType: "Organization", Resource: org}, tx.CodeOK},
		{"new entry with another id", &tx.PutDirectory{ID: "drother", Version: 1, ResourceType: "Organization", Resource: org}, tx.CodeInvalid},
		{"version 0", &tx.PutDirectory{ID: newID, ResourceType: "Organization", Resource: org}, tx.CodeInvalid},
		{"a patient's resource", &tx.PutDirectory{ID: newID, Version: 1, ResourceType: "Observation", Resource: []byte(`{"resourceType":"Observation"}`)}, tx.CodeInvalid},
		{"type mismatch", &tx.PutDirectory{ID: newID, Version: 1, ResourceType: "Location", Resource: org}, tx.CodeInvalid},
		{"not JSON", &tx.PutDirectory{ID: newID, Version: 1, ResourceType: "Organization", Resource: []byte(`{"resourceType":`)}, tx.CodeInvalid},
		{"two values", &tx.PutDirectory{ID: newID, Version: 1, ResourceType: "Organization", Resource: append(org, org...)}, tx.CodeInvalid},
		{"an array", &tx.PutDirectory{ID: newID, Version: 1, ResourceType: "Organization", Resource: []byte(`[1]`)}, tx.CodeInvalid},
		{"carrying an id", &tx.PutDirectory{ID: newID, Version: 1, ResourceType: "Organization", Resource: []byte(`{"resourceType":"Organization","id":"x"}`)}, tx.CodeInvalid},
		{"on behalf of itself", &tx.PutDirectory{ID: newID, Version: 1, ResourceType: "Organization", Resource: org, OnBehalfOf: signer}, tx.CodeInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := tx.CodeOf(tx.ValidateBasic(testChain, envelopeFor(c.msg, signer), c.msg)); got != c.want {
				t.Fatalf("code %s, want %s", got, c.want)
			}
		})
	}
}
