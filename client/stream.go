package client

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// AccessEvent is one event of a patient's access stream. Kind is "access",
// or "breakglass" for emergency access the patient must hear of at once.
type AccessEvent struct {
	Kind  string
	Event audit.Event
}

// WatchAccess opens patient's access stream as key's actor and calls fn
// for each new audit event, oldest first, until ctx ends, fn returns an
// error, or the node ends the stream. Opening it is an audited read of the
// history, decided by the ledger like AuditHistory.
func (c *Client) WatchAccess(ctx context.Context, key *keyfile.Key, patient string, fn func(AccessEvent) error) error {
	raw, err := c.signAs(ctx, key.ID, key, &tx.QueryAuditHistory{Patient: patient})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/audit/stream?tx="+base64.RawURLEncoding.EncodeToString(raw), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	// The stream outlives the client's usual request timeout.
	resp, err := (&http.Client{Transport: c.http.Transport}).Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach node at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var eb ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
			return &Error{HTTPStatus: resp.StatusCode, Code: eb.Error.Code, Name: eb.Error.Name, Message: eb.Error.Message}
		}
		return &Error{HTTPStatus: resp.StatusCode, Message: strings.TrimSpace(string(data))}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var kind, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" && kind != "end" {
				var e audit.Event
				if err := json.Unmarshal([]byte(data), &e); err != nil {
					return fmt.Errorf("decode access event: %w", err)
				}
				if err := fn(AccessEvent{Kind: kind, Event: e}); err != nil {
					return err
				}
			}
			if kind == "end" {
				return nil
			}
			kind, data = "", ""
		case strings.HasPrefix(line, "event: "):
			kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("access stream: %w", err)
	}
	return ctx.Err()
}
