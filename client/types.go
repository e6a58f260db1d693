package client

import (
	"encoding/json"
	"time"
)

// Health is the body of GET /healthz. Height is the last height whose
// state the node has committed (reads at it succeed) and AppHash the state
// root after it, which the header of block Height+1 carries.
type Health struct {
	Status     string `json:"status"` // "ok", "catching_up", or "stalled" (with HTTP 503)
	ChainID    string `json:"chain_id"`
	Height     int64  `json:"height"`
	AppHash    string `json:"app_hash"` // hex
	CatchingUp bool   `json:"catching_up"`
}

// Status is the body of GET /v1/status. Height and AppHash mean what they
// do in Health; LatestBlockTime is the time of block Height.
type Status struct {
	ChainID         string      `json:"chain_id"`
	NodeID          string      `json:"node_id"`
	Moniker         string      `json:"moniker"`
	Height          int64       `json:"height"`
	AppHash         string      `json:"app_hash"`
	LatestBlockTime time.Time   `json:"latest_block_time"`
	CatchingUp      bool        `json:"catching_up"`
	Validators      []Validator `json:"validators"`
}

// Validator is one member of the validator set.
type Validator struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"` // hex
	Power   int64  `json:"power"`
	HPKEKey []byte `json:"hpke_key,omitempty"`
}

// TxRequest is the body of POST /v1/txs.
type TxRequest struct {
	Tx []byte `json:"tx"` // the encoded, signed transaction (base64 in JSON)
}

// TxResult is the outcome of a submitted transaction.
type TxResult struct {
	Hash     string  `json:"hash"` // hex SHA-256 of the transaction bytes
	Height   int64   `json:"height"`
	Code     uint32  `json:"code"`
	CodeName string  `json:"code_name"`
	Log      string  `json:"log,omitempty"`
	Events   []Event `json:"events,omitempty"`
}

// Event is a typed event a transaction emitted.
type Event struct {
	Type       string            `json:"type"`
	Attributes map[string]string `json:"attributes"`
}

// Actor is an identity as the ledger holds it.
type Actor struct {
	ID           string `json:"id"`
	Kind         string `json:"kind"`
	Name         string `json:"name,omitempty"`
	Org          string `json:"org,omitempty"`
	SignKey      []byte `json:"sign_key"`
	HPKEKey      []byte `json:"hpke_key"`
	Sponsor      string `json:"sponsor,omitempty"`
	RegisteredAt int64  `json:"registered_at"`
	KeyVersion   uint32 `json:"key_version"`
	Revoked      bool   `json:"revoked"`
	RevokedAt    int64  `json:"revoked_at,omitempty"`
}

// StateProof proves a state key's value (or absence, when Value is null) at
// a height. Root is the state root after Height, which the header of block
// Height+1 carries as its AppHash.
type StateProof struct {
	Height int64  `json:"height"`
	Root   []byte `json:"root"`
	Key    []byte `json:"key"`
	Value  []byte `json:"value"`
	Proof  []byte `json:"proof"` // ICS23 CommitmentProof, protobuf
}

// ActorResponse is the body of GET /v1/actors/{id}.
type ActorResponse struct {
	Actor Actor       `json:"actor"`
	Proof *StateProof `json:"proof,omitempty"`
}

// Nonce is the body of GET /v1/actors/{id}/nonce.
type Nonce struct {
	Last uint64 `json:"last"`
	Next uint64 `json:"next"`
}

// ErrorBody is the JSON body of every gateway error.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail names an error with a stable code.
type ErrorDetail struct {
	Code    uint32 `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// ConsentRecord is a consent as the ledger keeps it, with its history.
type ConsentRecord struct {
	ID        string `json:"id"`
	Patient   string `json:"patient"`
	Grantor   string `json:"grantor"` // who signed its current version: the patient or a delegate
	Status    string `json:"status"`  // FHIR ConsentState: active, or inactive once revoked
	GrantedAt int64  `json:"granted_at"`
	UpdatedAt int64  `json:"updated_at,omitempty"`
	RevokedAt int64  `json:"revoked_at,omitempty"`
	RevokedBy string `json:"revoked_by,omitempty"`
	// Summary is the consent on one line, for people.
	Summary string `json:"summary"`
	// FHIR is the consent as a FHIR R4 Consent resource.
	FHIR json.RawMessage `json:"fhir"`
	// Encoded is the consent's canonical encoding (base64 in JSON), the
	// bytes the ledger validated and proves.
	Encoded []byte `json:"encoded"`
	// Form is the consent as the portal's form edits it, when its rule
	// fits one (see ConsentForm); absent otherwise.
	Form *ConsentForm `json:"form,omitempty"`
}

// ConsentQueryRequest is the body of POST /v1/consents/list and POST
// /v1/consents/read: a signed consent.query transaction (base64 in JSON)
// naming the patient, and for a read the consent.
type ConsentQueryRequest struct {
	Tx []byte `json:"tx"`
}

// ConsentResponse is the answer of POST /v1/consents/read: one consent
// with a proof of its record against the state root.
type ConsentResponse struct {
	Consent ConsentRecord `json:"consent"`
	Proof   *StateProof   `json:"proof,omitempty"`
	// Query is the transaction that recorded this read; it is in the
	// patient's access history.
	Query *TxResult `json:"query,omitempty"`
}

// ConsentList is the answer of POST /v1/consents/list: everything about a
// patient's consents at one height.
type ConsentList struct {
	Patient  string `json:"patient"`
	Height   int64  `json:"height"`
	Revision string `json:"revision"` // hex; changes with every change to the patient's consents
	// OptedOut is the patient's break-the-glass opt-out.
	OptedOut    bool            `json:"break_glass_opt_out"`
	Consents    []ConsentRecord `json:"consents"`
	Delegations []Delegation    `json:"delegations"`
	// Query is the transaction that recorded this read.
	Query *TxResult `json:"query,omitempty"`
}

// Delegation lets a delegate act on a patient's consents.
type Delegation struct {
	Patient    string     `json:"patient"`
	Delegate   string     `json:"delegate"`
	Operations []string   `json:"operations"`
	Purposes   []string   `json:"purposes,omitempty"` // empty: any
	Types      []string   `json:"types,omitempty"`    // FHIR resource types; empty: any
	Start      *time.Time `json:"start,omitempty"`
	End        *time.Time `json:"end,omitempty"`
}

// DecideQuery is a hypothetical access to preview with Client.Decide.
// Patient and Requester go into the signed consent.query; the rest is the
// request's Access.
type DecideQuery struct {
	Patient    string
	Requester  string
	Purpose    string
	Type       string   // FHIR resource type of the record
	Action     string   // default access
	Labels     []string // the record's security labels
	Roles      []string // roles besides those the requester's identity implies
	Record     string   // a record id, for consents naming records
	AuthorOrg  string   // the organization that wrote the record
	BreakGlass bool
}

// DecideRequest is the body of POST /v1/consents/decide: a signed
// consent.query naming the patient and the requester, and the access to
// judge.
type DecideRequest struct {
	Tx     []byte       `json:"tx"`
	Access AccessDetail `json:"access"`
}

// AccessDetail is what a previewed access reads, and why.
type AccessDetail struct {
	Purpose    string   `json:"purpose"`
	Type       string   `json:"type"`             // FHIR resource type of the record
	Action     string   `json:"action,omitempty"` // default access
	Labels     []string `json:"labels,omitempty"` // the record's security labels
	Roles      []string `json:"roles,omitempty"`  // roles besides those the requester's identity implies
	Record     string   `json:"record,omitempty"` // a record id, for consents naming records
	AuthorOrg  string   `json:"author_org,omitempty"`
	BreakGlass bool     `json:"break_glass,omitempty"`
}

// Decision is what the ledger would decide for a DecideQuery at the latest
// block, and why.
type Decision struct {
	Allowed       bool       `json:"allowed"`
	Reason        string     `json:"reason"`
	ConsentID     string     `json:"consent_id,omitempty"`
	Provision     string     `json:"provision,omitempty"`
	Detail        string     `json:"detail,omitempty"`
	BreakGlass    bool       `json:"break_glass,omitempty"`
	Expires       *time.Time `json:"expires,omitempty"`
	NotifyPatient bool       `json:"notify_patient,omitempty"`
	// Text is the decision on one line, as the audit log writes it.
	Text      string          `json:"text"`
	Height    int64           `json:"height"`
	BlockTime time.Time       `json:"block_time"`
	Request   DecisionRequest `json:"request"`
	// Query is the transaction that recorded this preview.
	Query *TxResult `json:"query,omitempty"`
}

// DecisionRequest is the request as the ledger judged it, with the
// requester's organization and roles filled in from their identity.
type DecisionRequest struct {
	Patient      string   `json:"patient"`
	Requester    string   `json:"requester"`
	RequesterOrg string   `json:"requester_org,omitempty"`
	Roles        []string `json:"roles,omitempty"`
	Action       string   `json:"action"`
	Purpose      string   `json:"purpose"`
	Type         string   `json:"type"`
	Labels       []string `json:"labels,omitempty"`
	Record       string   `json:"record,omitempty"`
	AuthorOrg    string   `json:"author_org,omitempty"`
	BreakGlass   bool     `json:"break_glass,omitempty"`
}

// HistoryRequest is the body of POST /v1/audit/history: a signed
// audit.query transaction naming the patient, and the filters for the page.
type HistoryRequest struct {
	Tx     []byte        `json:"tx"`
	Filter HistoryFilter `json:"filter"`
}

// HistoryFilter narrows a patient's history. Zero values match everything.
type HistoryFilter struct {
	From        time.Time `json:"from,omitzero"`
	To          time.Time `json:"to,omitzero"`
	Actor       string    `json:"actor,omitempty"`
	Org         string    `json:"org,omitempty"`
	Purpose     string    `json:"purpose,omitempty"`
	Decision    string    `json:"decision,omitempty"` // permit, deny or empty for both
	OldestFirst bool      `json:"oldest_first,omitempty"`
	Limit       int       `json:"limit,omitempty"`
	Cursor      string    `json:"cursor,omitempty"`
}

// HistoryPage is one page of a patient's access history, newest first
// unless asked otherwise. Query is the transaction that recorded this read
// of the history; it is in the history too.
type HistoryPage struct {
	Patient    string          `json:"patient"`
	Height     int64           `json:"height"`
	Query      TxResult        `json:"query"`
	Events     json.RawMessage `json:"events"` // []audit.Event
	NextCursor string          `json:"next_cursor,omitempty"`
}
