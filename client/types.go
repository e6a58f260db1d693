package client

import "time"

// Health is the body of GET /healthz.
type Health struct {
	Status     string `json:"status"` // "ok" or "catching_up"
	ChainID    string `json:"chain_id"`
	Height     int64  `json:"height"`
	AppHash    string `json:"app_hash"` // hex; state root after Height
	CatchingUp bool   `json:"catching_up"`
}

// Status is the body of GET /v1/status.
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
