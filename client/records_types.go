package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// RecordUpload is a new record version: the signed record.put transaction
// and the custody blob it anchors (ciphertext and sealed shares).
type RecordUpload struct {
	Tx   []byte `json:"tx"`
	Blob []byte `json:"blob"`
}

// BatchUpload is a batch write: the signed record.batch transaction and
// the custody blobs of its record entries, in the entries' order.
type BatchUpload struct {
	Tx    []byte   `json:"tx"`
	Blobs [][]byte `json:"blobs"`
}

// RecordInfo is what the ledger holds about a record: no content.
type RecordInfo struct {
	ID        string          `json:"id"`
	Patient   string          `json:"patient"`
	AuthorOrg string          `json:"authorOrg,omitempty"`
	Version   uint64          `json:"version"` // the latest
	Type      string          `json:"type"`
	Labels    []string        `json:"labels"`
	Author    string          `json:"author"`
	Created   time.Time       `json:"created"`
	Updated   time.Time       `json:"updated"`
	Erased    bool            `json:"erased"`
	ErasedBy  string          `json:"erasedBy,omitempty"`
	Versions  []RecordVersion `json:"versions,omitempty"`
	// Height is the committed block whose state the answer is read from.
	Height int64 `json:"height,omitempty"`
}

// RecordVersion is one version's metadata and anchor.
type RecordVersion struct {
	Version   uint64    `json:"version"`
	Type      string    `json:"type"`
	Labels    []string  `json:"labels"`
	Author    string    `json:"author"`
	AuthorOrg string    `json:"authorOrg,omitempty"`
	Height    int64     `json:"height"`
	Time      time.Time `json:"time"`
	Size      uint64    `json:"size"`
	BlobHash  string    `json:"blobHash"`
	Threshold int       `json:"threshold"`
	Shares    int       `json:"shares"`
}

// RecordList is a patient's records.
type RecordList struct {
	Records []RecordInfo `json:"records"`
}

// ReleasedShare is one validator's answer to a share request: its share
// sealed to the reader, or why it gave none.
type ReleasedShare struct {
	Validator string `json:"validator"` // address, upper-case hex
	Index     int    `json:"index"`
	Share     []byte `json:"share,omitempty"` // keyshare.SealedShare encoding
	Error     string `json:"error,omitempty"`
	// NotAsked marks a custodian the gateway did not ask: enough others
	// answered for the shares wanted.
	NotAsked bool `json:"not_asked,omitempty"`
}

// ReleasedShares is every custodian's answer, collected by one gateway.
type ReleasedShares struct {
	Shares []ReleasedShare `json:"shares"`
}

// NetworkInfo is what a node tells one that wants to join its network.
type NetworkInfo struct {
	ChainID string          `json:"chain_id"`
	Genesis json.RawMessage `json:"genesis"`
	// P2P lists CometBFT peers as "id@host:port": this node and its own
	// persistent peers.
	P2P []string `json:"p2p"`
	// Gateways lists validators' gateways: this node's and its peers'.
	Gateways []Gateway `json:"gateways"`
}

// Gateway is a validator's gateway.
type Gateway struct {
	Address string `json:"address"` // validator address, upper-case hex
	API     string `json:"api"`
}

// Network reads what joining this node's network takes.
func (c *Client) Network(ctx context.Context) (*NetworkInfo, error) {
	var out NetworkInfo
	return &out, c.do(ctx, http.MethodGet, "/v1/network", nil, &out)
}
