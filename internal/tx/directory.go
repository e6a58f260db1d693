package tx

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/carechain/carechain/internal/codec"
)

// Directory message types (range 70–79). Numbers are part of the protocol
// and never reused.
const TypePutDirectory Type = 70

// DirectoryTypes are the FHIR resource types of the directory: who and
// where care is given (organizations, practitioners, locations), never
// anything about a patient. They are public reference data and are kept
// on the ledger in the clear.
var DirectoryTypes = []string{"Endpoint", "HealthcareService", "Location", "Organization", "Practitioner", "PractitionerRole"}

// MaxDirectoryResource bounds a directory resource's JSON.
const MaxDirectoryResource = 16 << 10

// PutDirectory publishes a version of a directory resource. Version 1
// creates an entry whose id the ledger derives from the transaction
// (DirectoryID); later versions come from the organization that created
// it. Resource is the FHIR R4 JSON object without id, meta.versionId and
// meta.lastUpdated, which the ledger supplies. OnBehalfOf is as on
// PutRecord: the member of the signing organization who publishes.
type PutDirectory struct {
	ID           string
	Version      uint64
	ResourceType string
	Resource     []byte
	OnBehalfOf   string
}

func (*PutDirectory) Type() Type { return TypePutDirectory }

func (m *PutDirectory) Encode() []byte {
	w := codec.NewWriter(64 + len(m.Resource))
	w.String(m.ID)
	w.Uvarint(m.Version)
	w.String(m.ResourceType)
	w.BytesField(m.Resource)
	writeOnBehalfOf(w, m.OnBehalfOf)
	return w.Bytes()
}

func decodeDirectoryMsg(t Type, r *codec.Reader) Msg {
	if t != TypePutDirectory {
		return nil
	}
	m := &PutDirectory{ID: r.String(MaxIDLen), Version: r.Uvarint(), ResourceType: r.String(MaxIDLen),
		Resource: r.BytesField(MaxDirectoryResource)}
	m.OnBehalfOf = readOnBehalfOf(r)
	return m
}

func validateDirectoryMsg(t *Tx, m Msg) (bool, error) {
	d, ok := m.(*PutDirectory)
	if !ok {
		return false, nil
	}
	return true, checkPutDirectory(t, d, DirectoryID(t.Signer, t.Nonce))
}

// checkPutDirectory checks a directory version without state; newID is
// the id a version 1 must have, as for checkPutRecord.
func checkPutDirectory(t *Tx, d *PutDirectory, newID string) error {
	if err := checkID("directory entry", d.ID); err != nil {
		return err
	}
	if d.Version == 0 {
		return Errorf(CodeInvalid, "directory versions start at 1")
	}
	if d.Version == 1 && d.ID != newID {
		return Errorf(CodeInvalid, "a new directory entry's id is %s, derived from its transaction, not %s", newID, d.ID)
	}
	if !slices.Contains(DirectoryTypes, d.ResourceType) {
		return Errorf(CodeInvalid, "%q is not a directory resource type (%s)", d.ResourceType, strings.Join(DirectoryTypes, ", "))
	}
	var head struct {
		ResourceType string          `json:"resourceType"`
		ID           json.RawMessage `json:"id"`
	}
	dec := json.NewDecoder(bytes.NewReader(d.Resource))
	if err := dec.Decode(&head); err != nil || dec.More() || !json.Valid(d.Resource) || bytes.TrimSpace(d.Resource)[0] != '{' {
		return Errorf(CodeInvalid, "the directory resource is not one JSON object")
	}
	if head.ResourceType != d.ResourceType {
		return Errorf(CodeInvalid, "the resource is a %q, the message says %s", head.ResourceType, d.ResourceType)
	}
	if head.ID != nil {
		return Errorf(CodeInvalid, "the resource must not carry an id: the ledger's entry id is its id")
	}
	return checkOnBehalfOf(t, d.OnBehalfOf)
}

const directoryIDDomain = "carechain/directory-id/v1\x00"

// DirectoryID is the id of the directory entry a version-1 PutDirectory
// from signer with nonce creates: "dr" and 24 base32 letters, like
// RecordID.
func DirectoryID(signer string, nonce uint64) string {
	return derivedID("dr", directoryIDDomain, signer, nonce)
}
