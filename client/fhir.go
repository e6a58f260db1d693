package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// FHIR sends one request to the node's FHIR API (path below /fhir, e.g.
// "/Observation/rc…" or "" for a transaction Bundle) with a bearer token
// from Token, and returns the status and the body as they came: a FHIR
// failure is an OperationOutcome body, not an error. An error means the
// node could not be reached or read.
func (c *Client) FHIR(ctx context.Context, token, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/fhir"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot reach node at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("read response from %s: %w", c.base, err)
	}
	return resp.StatusCode, data, nil
}
