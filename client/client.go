// Package client is the Go SDK for a carechain node's native API: it reads
// status, submits signed transactions and reads state, checking every state
// proof it is given. The CLI and the tests use it; so can integrators.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain/internal/records"
)

// Client talks to one node's gateway.
type Client struct {
	base string
	http *http.Client
	// nonces, if set, hands out signers' nonces instead of the node's
	// committed next nonce (see WithNonces).
	nonces NonceSource

	// AllShares makes record reads ask every custodian for its share
	// rather than k of them: each read then checks every validator's
	// answer (and reports the ones that fail), at the cost of n−k more
	// re-sealings.
	AllShares bool

	mu      sync.Mutex
	chainID string
	// proven caches what was read with a state proof and cannot change
	// under the same key: validator entries (by their encoded value) and
	// record versions, which are written once.
	provenValidator map[string]bool
	provenVersion   map[string]*records.Version
}

// New returns a client for the gateway at baseURL (for example
// http://127.0.0.1:26680).
func New(baseURL string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), http: &http.Client{Timeout: 60 * time.Second}}
}

// NewWithHTTP returns a client for the gateway at baseURL that sends its
// requests with hc: a gateway that acts for its organization talks to its
// own handler in-process this way.
func NewWithHTTP(baseURL string, hc *http.Client) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), http: hc}
}

// NonceSource hands out the next nonce of a signer.
type NonceSource func(ctx context.Context, signer string) (uint64, error)

// WithNonces makes the client take the nonces of the transactions it signs
// (Send, WriteRecord, ReadRecords…) from src instead of asking the node for
// the committed next nonce each time. A caller that keeps several
// transactions of one signer in flight needs this: the committed nonce
// lags behind those still in the mempool. It returns c.
func (c *Client) WithNonces(src NonceSource) *Client {
	c.nonces = src
	return c
}

// nextNonce is the nonce the next transaction of signer takes.
func (c *Client) nextNonce(ctx context.Context, signer string) (uint64, error) {
	if c.nonces != nil {
		return c.nonces(ctx, signer)
	}
	n, err := c.Nonce(ctx, signer)
	if err != nil {
		return 0, err
	}
	return n.Next, nil
}

// URL returns the gateway's base URL.
func (c *Client) URL() string { return c.base }

// Error is a failure the node reported, with its stable code.
type Error struct {
	HTTPStatus int
	Code       uint32
	Name       string
	Message    string
	Result     *TxResult // set when a transaction was rejected
}

func (e *Error) Error() string {
	if e.Name != "" && e.Code == 0 {
		return fmt.Sprintf("%s: %s", e.Name, e.Message) // a refusal without a ledger code, e.g. from the token endpoint
	}
	if e.Name != "" {
		return fmt.Sprintf("%s (code %d): %s", e.Name, e.Code, e.Message)
	}
	return fmt.Sprintf("HTTP %d: %s", e.HTTPStatus, e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	data, err := c.roundTrip(ctx, method, path, body)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode response from %s%s: %w", c.base, path, err)
	}
	return nil
}

// raw GETs path and returns the response body as it came.
func (c *Client) raw(ctx context.Context, path string) ([]byte, error) {
	return c.roundTrip(ctx, http.MethodGet, path, nil)
}

// roundTrip sends a request and returns a successful response's body, or
// the node's error with its code.
func (c *Client) roundTrip(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach node at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read response from %s: %w", c.base, err)
	}
	if resp.StatusCode == http.StatusUnprocessableEntity {
		var res TxResult
		if json.Unmarshal(data, &res) == nil && res.Code != 0 {
			return nil, &Error{HTTPStatus: resp.StatusCode, Code: res.Code, Name: res.CodeName, Message: res.Log, Result: &res}
		}
	}
	if resp.StatusCode/100 != 2 {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
			return nil, &Error{HTTPStatus: resp.StatusCode, Code: eb.Error.Code, Name: eb.Error.Name, Message: eb.Error.Message}
		}
		return nil, &Error{HTTPStatus: resp.StatusCode, Message: strings.TrimSpace(string(data))}
	}
	return data, nil
}

// Health returns the node's health.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	return &h, c.do(ctx, http.MethodGet, "/healthz", nil, &h)
}

// Status returns the node's chain status and validator set.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.chainID = s.ChainID
	c.mu.Unlock()
	return &s, nil
}

// ChainID returns the node's chain id, asking once.
func (c *Client) ChainID(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.chainID
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	s, err := c.Status(ctx)
	if err != nil {
		return "", err
	}
	return s.ChainID, nil
}

// Wait modes for Submit.
const (
	WaitCommit = "commit" // return once a block commits the transaction
	WaitSync   = "sync"   // return once the mempool admits it
)

// Submit sends an encoded, signed transaction. A rejection is an *Error
// carrying the result code.
func (c *Client) Submit(ctx context.Context, raw []byte, wait string) (*TxResult, error) {
	var res TxResult
	if err := c.do(ctx, http.MethodPost, "/v1/txs?wait="+wait, TxRequest{Tx: raw}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Tx looks up a committed transaction by its hex hash.
func (c *Client) Tx(ctx context.Context, hash string) (*TxResult, error) {
	var res TxResult
	return &res, c.do(ctx, http.MethodGet, "/v1/txs/"+hash, nil, &res)
}

// Nonce returns an actor's last and next nonce.
func (c *Client) Nonce(ctx context.Context, id string) (*Nonce, error) {
	var n Nonce
	return &n, c.do(ctx, http.MethodGet, "/v1/actors/"+id+"/nonce", nil, &n)
}

// Get reads path (with its query) from the gateway into out, as JSON.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}
