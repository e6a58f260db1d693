package cluster

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/tx"
)

// TestCLISmoke drives the carechain binary against a running 4-validator
// network: status, key creation, registration through one node and lookup
// through another, an organization admitted with the admin key, and a
// revoked identity's next command failing the documented way.
func TestCLISmoke(t *testing.T) {
	c := newTestnet(t, 4)
	url := func(i int) string { return c.nodes[i].api.URL() }

	var s client.Status
	decodeJSON(t, runOK(t, "status", "--node", url(1), "--wait", "30s", "--json"), &s)
	if len(s.Validators) != 4 || s.Height < 1 || s.ChainID != c.chainID || s.Moniker != "node1" {
		t.Fatalf("status: %d validators at height %d on chain %q from %q; want 4 validators of %q from node1",
			len(s.Validators), s.Height, s.ChainID, s.Moniker, c.chainID)
	}

	keyPath := filepath.Join(c.dir, "patient.key.json")
	id := strings.TrimSpace(runOK(t, "keys", "new", "--out", keyPath))
	var reg struct {
		ID     string `json:"id"`
		Kind   string `json:"kind"`
		Height int64  `json:"height"`
	}
	decodeJSON(t, runOK(t, "identity", "register", "--key", keyPath, "--kind", "patient", "--node", url(0), "--json"), &reg)
	if reg.ID != id || reg.Kind != "patient" || reg.Height < 1 {
		t.Fatalf("identity register: %+v; want patient %s at a height", reg, id)
	}

	// Another node shows it, with a proof the CLI checked, once it has the
	// block.
	c.waitHeight(2, reg.Height, catchUpTimeout)
	var shown client.ActorResponse
	decodeJSON(t, runOK(t, "identity", "show", id, "--node", url(2), "--json"), &shown)
	if shown.Actor.ID != id || shown.Actor.Kind != "patient" || shown.Actor.RegisteredAt != reg.Height || shown.Actor.Revoked {
		t.Fatalf("identity show: %+v; want active patient %s registered at %d", shown.Actor, id, reg.Height)
	}
	if shown.Proof == nil || shown.Proof.Height < reg.Height {
		t.Fatalf("identity show: proof %+v, want one at height %d or later", shown.Proof, reg.Height)
	}

	orgKey := filepath.Join(c.dir, "org.key.json")
	orgID := strings.TrimSpace(runOK(t, "keys", "new", "--out", orgKey))
	admin := filepath.Join(c.dir, "admin.key.json")
	if got := strings.TrimSpace(runOK(t, "identity", "register", "--key", orgKey, "--kind", "organization",
		"--name", "General Hospital", "--by", admin, "--node", url(3))); got != orgID {
		t.Fatalf("identity register printed %q, want the organization's id %s", got, orgID)
	}

	c.waitHeight(1, c.maxHeight(), catchUpTimeout)
	runOK(t, "identity", "revoke", "--key", keyPath, "--reason", "lost phone", "--node", url(1))
	decodeJSON(t, runOK(t, "identity", "show", id, "--node", url(1), "--json"), &shown)
	if !shown.Actor.Revoked {
		t.Fatalf("identity show after revoke: %+v; want it revoked", shown.Actor)
	}
	r := run(t, "identity", "rotate", "--key", keyPath, "--out", filepath.Join(c.dir, "patient.next.key.json"), "--node", url(1))
	requireFailure(t, r, 1, tx.CodeSignerRevoked)
}

// errorLine is the CLI's error report: the first line on stderr that starts
// with "carechain: error:".
var errorLine = regexp.MustCompile(`(?m)^carechain: error: .*$`)

// requireFailure checks that a command exited with status code and said why
// in a "carechain: error:" line naming the result code.
func requireFailure(t *testing.T, r cliResult, code int, reason tx.Code) {
	t.Helper()
	line := errorLine.FindString(r.stderr)
	if r.code != code || !strings.Contains(line, reason.String()) {
		t.Fatalf("carechain %s: exit status %d, error line %q; want status %d and an error naming %s\nstderr:\n%s",
			strings.Join(r.args, " "), r.code, line, code, reason, r.stderr)
	}
}
