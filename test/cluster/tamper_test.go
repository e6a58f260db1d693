package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/check"
	"github.com/carechain/carechain/internal/check/tamper"
	"github.com/carechain/carechain/internal/identity"
)

// TestTamperedValidator changes one validator's store and shows that the
// change costs the network nothing but that validator.
//
// First a change the start-up check does not look at: one byte of a
// patient's signing key in the validator's state, in the tree leaf and the
// fast index alike, so that the node reads the new key without an error.
// The node starts. A client reading the key from it gets a proof that does
// not verify. When the patient next signs a transaction, the three honest
// validators accept it and the tampered one, holding another key for the
// patient, does not: its state departs from the chain, it stops at that
// block, and the others keep committing with the roots they had. carechain
// check on its home names the key.
//
// Then a change the start-up check does look at, the audit log's head: the
// node refuses to start and says to run carechain check.
func TestTamperedValidator(t *testing.T) {
	c := newTestnet(t, 4)
	const victim = 3
	v := c.nodes[victim]
	ctx := t.Context()

	k, res, err := registerPatient(ctx, c.nodes[0].api, c.chainID)
	if err != nil || res.Code != 0 {
		t.Fatalf("register a patient: %v %+v", err, res)
	}
	// One read of its history first, so the audit log has a head: the
	// start-up check proves it, and with an empty log it would prove the
	// head's absence, a proof that may pass through the patient's record.
	if _, _, err := c.nodes[0].api.AuditHistory(ctx, k, k.ID, client.HistoryFilter{}); err != nil {
		t.Fatalf("the patient's signed read through %s: %v", c.nodes[0].name, err)
	}
	key := identity.ActorKey(k.ID)
	before := c.commonHeight()
	rootBefore := c.stateAt(key, before).Root

	c.stop(victim)
	appData := filepath.Join(v.home, "data", "app")
	e, err := tamper.StateValue(appData, key, k.SignPublic())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: changed %s", v.name, e)
	// Its gateway is watched through /healthz: the harness's own probe
	// reads the admin's record with a proof, which may pass through the
	// changed leaf and fail on this node.
	c.start(victim)
	c.waitHealthy(victim, before)
	if _, err := v.api.StateAt(ctx, key, 0); err == nil {
		t.Fatalf("%s serves the changed actor record with a proof that verifies", v.name)
	} else {
		t.Logf("%s serves the changed record; the client rejects it: %v", v.name, err)
	}

	// The patient reads its own history through an honest gateway: a
	// transaction it signs, recorded in the audit log.
	if _, _, err := c.nodes[0].api.AuditHistory(ctx, k, k.ID, client.HistoryFilter{}); err != nil {
		t.Fatalf("the patient's signed read through %s: %v", c.nodes[0].name, err)
	}
	signedAt := c.maxHeight()
	honest := []int{0, 1, 2}
	for _, i := range honest {
		c.waitHeight(i, signedAt+3, catchUpTimeout)
	}
	h := signedAt + 3
	c.sameRoots(honest, key, before, rootBefore)
	c.sameRoots(honest, key, h, nil)
	// The changed node halts its consensus at the block it disagrees with
	// (CometBFT stops rather than follow a chain its state does not fit);
	// had it been syncing blocks instead, it would have exited. Either way
	// it stops.
	stopped := "exited"
	if v.exited() == nil {
		health, err := v.api.Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if health.Height >= h {
			t.Fatalf("%s kept up (height %d) with a state the others do not share", v.name, health.Height)
		}
		stopped = fmt.Sprintf("stopped at height %d", health.Height)
	}
	t.Logf("the honest validators reached height %d with the roots they had; %s %s", h, v.name, stopped)

	c.stop(victim)
	r := run(t, "check", "--home", v.home, "--json")
	var rep check.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("check --json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	named := false
	for _, f := range rep.Findings {
		t.Logf("finding: %s", f)
		named = named || f.Store == check.StoreApp && f.Key == check.KeyString(key)
	}
	if r.code != 1 || !named {
		t.Fatalf("carechain check: exit %d, the changed key %s named: %v\n%s", r.code, key, named, r.stderr)
	}

	// A change the start-up check reads: the node does not start.
	if _, err := tamper.StateValue(appData, []byte("audit/head"), nil); err != nil {
		t.Fatal(err)
	}
	code, log := c.startExpectingExit(victim)
	if code != 1 || !strings.Contains(log, "carechain: error: store corrupted: ") || !strings.Contains(log, "run 'carechain check --home "+v.home+"'") {
		t.Fatalf("%s with a changed audit head: exit %d\n%s", v.name, code, log)
	}
	t.Logf("%s refuses to start: %s", v.name, lastLine(log))
	for _, i := range honest {
		c.waitHeight(i, h+2, catchUpTimeout)
	}
}

// stop ends node i with SIGTERM, as an operator would, and waits for it.
func (c *cluster) stop(i int) {
	c.t.Helper()
	n := c.nodes[i]
	n.up.Store(false)
	if err := n.signalAndWait(syscall.SIGTERM); err != nil {
		c.t.Fatalf("stop %s: %v", n.name, err)
	}
}

// waitHealthy waits until node i's gateway reports a committed height of
// at least h and that it is no longer catching up.
func (c *cluster) waitHealthy(i int, h int64) {
	c.t.Helper()
	n := c.nodes[i]
	err := poll(c.t.Context(), startTimeout, func(ctx context.Context) (bool, error) {
		if err := n.exited(); err != nil {
			return false, err
		}
		health, err := n.api.Health(ctx)
		if err != nil {
			return false, err
		}
		// Caught up means consensus, not block sync, runs the node.
		return health.Height >= h && !health.CatchingUp, fmt.Errorf("at height %d, catching up: %v", health.Height, health.CatchingUp)
	})
	if err != nil {
		c.t.Fatalf("%s did not come up: %v", n.name, err)
	}
}

// sameRoots requires nodes to prove key at height h under one root, and
// under want when it is given.
func (c *cluster) sameRoots(nodes []int, key []byte, h int64, want []byte) {
	c.t.Helper()
	for _, i := range nodes {
		p, err := c.nodes[i].api.StateAt(c.t.Context(), key, h)
		if err != nil {
			c.t.Fatalf("%s: %q at height %d: %v", c.nodes[i].name, key, h, err)
		}
		if want == nil {
			want = p.Root
		}
		if !bytes.Equal(p.Root, want) {
			c.t.Fatalf("%s: root %X at height %d, want %X", c.nodes[i].name, p.Root, h, want)
		}
	}
}

// startExpectingExit starts node i, waits for the process to exit on its
// own and returns its exit status and what it logged in this run.
func (c *cluster) startExpectingExit(i int) (int, string) {
	c.t.Helper()
	n := c.nodes[i]
	before, _ := os.ReadFile(n.log)
	c.start(i)
	n.mu.Lock()
	cmd, exit := n.cmd, n.exit
	n.mu.Unlock()
	select {
	case <-exit:
	case <-time.After(startTimeout):
		c.t.Fatalf("%s did not exit", n.name)
	}
	n.mu.Lock()
	n.cmd, n.exit = nil, nil
	n.mu.Unlock()
	after, _ := os.ReadFile(n.log)
	return cmd.ProcessState.ExitCode(), string(after[min(len(before), len(after)):])
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
