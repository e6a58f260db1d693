package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
)

// Bounds on waits. They are generous because CI runs this suite beside the
// unit tests on a few shared cores; every wait returns as soon as its
// condition holds, so they cost nothing when the machine is idle.
const (
	startTimeout   = 60 * time.Second // a fresh network commits its first block
	catchUpTimeout = 90 * time.Second // a restarted node reaches the others
	exitTimeout    = 15 * time.Second // a signalled process exits
	pollInterval   = 100 * time.Millisecond
	logTailLines   = 40
)

// cluster is a network of validator processes created by the carechain
// binary in a test's temporary directory.
type cluster struct {
	t       *testing.T
	dir     string
	chainID string
	admin   *keyfile.Key
	nodes   []*node

	lastCommit int64 // the highest height a transaction the test sent committed at

	// historyReader reads historyPatient's audit events, with a signed
	// query as everyone must.
	historyReader  *keyfile.Key
	historyPatient string
}

// node is one validator process and the client of its gateway.
type node struct {
	name string
	home string
	log  string
	api  *client.Client
	rpc  *rpchttp.HTTP // CometBFT's own RPC, for signed headers

	up   atomic.Bool // its gateway answers: false from just before a kill until it is back
	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd has been waited for
}

// member is one entry of `carechain testnet --json` and `carechain init --json`.
type member struct {
	Name string `json:"name"`
	Home string `json:"home"`
	RPC  string `json:"rpc"`
	API  string `json:"api"`
}

// newTestnet creates a network of n validators with `carechain testnet`,
// starts every node and waits until all of them have committed a block.
func newTestnet(t *testing.T, n int) *cluster {
	t.Helper()
	skipIfShort(t)
	dir := t.TempDir()
	base := freeBasePort(t, n)
	var members []member
	decodeJSON(t, runOK(t, "testnet", "--validators", strconv.Itoa(n), "--dir", dir,
		"--base-port", strconv.Itoa(base), "--json"), &members)
	return startCluster(t, dir, filepath.Join(dir, "admin.key.json"), members)
}

// newSingleValidator creates a one-validator node with `carechain init` and
// starts it.
func newSingleValidator(t *testing.T) *cluster {
	t.Helper()
	skipIfShort(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "node0")
	var m member
	decodeJSON(t, runOK(t, "init", "--home", home, "--base-port", strconv.Itoa(freeBasePort(t, 1)), "--json"), &m)
	return startCluster(t, dir, filepath.Join(home, "admin.key.json"), []member{m})
}

func skipIfShort(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster test; skipped in -short mode")
	}
}

func startCluster(t *testing.T, dir, adminKey string, members []member) *cluster {
	t.Helper()
	admin, err := keyfile.Load(adminKey)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dir: dir, admin: admin}
	for _, m := range members {
		rpc, err := rpchttp.New(m.RPC, "/websocket")
		if err != nil {
			t.Fatal(err)
		}
		api := client.New(m.API)
		api.AllShares = true // the tests check every custodian's answer
		c.nodes = append(c.nodes, &node{name: m.Name, home: m.Home, log: filepath.Join(dir, m.Name+".log"), api: api, rpc: rpc})
	}
	// Registered after t.TempDir's own cleanup, so it runs first: the nodes
	// stop, and their logs are printed, before the directory goes.
	t.Cleanup(c.shutdown)
	for i := range c.nodes {
		c.start(i)
	}
	for i := range c.nodes {
		c.waitUp(i)
	}
	s, err := c.nodes[0].api.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c.chainID = s.ChainID
	return c
}

// start runs `carechain start` for node i, appending to its log. The
// process gets SIGKILL if the test binary dies, so no validator outlives
// the suite.
func (c *cluster) start(i int) {
	c.t.Helper()
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		c.t.Fatalf("%s is already running", n.name)
	}
	logf, err := os.OpenFile(n.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== carechain start --home %s (%s)\n", n.home, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(binary, "start", "--home", n.home)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		c.t.Fatalf("start %s: %v", n.name, err)
	}
	exit := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exit)
	}()
	n.cmd, n.exit = cmd, exit
}

// waitUp waits until node i's gateway answers with a committed block, and
// only then offers it to the load as a gateway: clients of a node that is
// still starting would only collect connection errors.
func (c *cluster) waitUp(i int) {
	c.t.Helper()
	c.waitHeight(i, 1, startTimeout)
	// A node still catching up refuses submissions; it is up once it
	// takes part in consensus.
	err := poll(c.t.Context(), startTimeout, func(ctx context.Context) (bool, error) {
		s, err := c.nodes[i].api.Status(ctx)
		return err == nil && !s.CatchingUp, nil
	})
	if err != nil {
		c.t.Fatalf("%s did not finish catching up: %v", c.nodes[i].name, err)
	}
	c.nodes[i].up.Store(true)
}

// startAndWait restarts node i and waits until it is up.
func (c *cluster) startAndWait(i int) {
	c.t.Helper()
	c.start(i)
	c.waitUp(i)
}

// kill SIGKILLs node i and waits for the process to be gone: a crash, with
// no chance to flush or close anything.
func (c *cluster) kill(i int) {
	c.t.Helper()
	n := c.nodes[i]
	n.up.Store(false)
	if err := n.signalAndWait(syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill %s: %v", n.name, err)
	}
}

// signalAndWait sends sig and waits for the process to exit.
func (n *node) signalAndWait(sig syscall.Signal) error {
	n.mu.Lock()
	cmd, exit := n.cmd, n.exit
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exit:
	case <-time.After(exitTimeout):
		return fmt.Errorf("%s did not exit within %s of %s", n.name, exitTimeout, sig)
	}
	n.mu.Lock()
	n.cmd, n.exit = nil, nil
	n.mu.Unlock()
	return nil
}

// exited returns an errGaveUp error if node n's process is not running.
func (n *node) exited() error {
	n.mu.Lock()
	cmd, exit := n.cmd, n.exit
	n.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%w: %s is not running", errGaveUp, n.name)
	}
	select {
	case <-exit:
		return fmt.Errorf("%w: %s exited (%v)", errGaveUp, n.name, cmd.ProcessState)
	default:
		return nil
	}
}

// shutdown stops every node with SIGTERM, as an operator would, and prints
// the tail of every log if the test failed.
func (c *cluster) shutdown() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		n.up.Store(false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.signalAndWait(syscall.SIGTERM); err != nil {
				c.t.Errorf("stop: %v", err)
				_ = n.signalAndWait(syscall.SIGKILL)
			}
		}()
	}
	wg.Wait()
	if c.t.Failed() {
		for _, n := range c.nodes {
			c.t.Logf("last %d lines of %s:\n%s", logTailLines, n.log, tail(n.log, logTailLines))
		}
	}
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// height returns the latest height whose state node i serves. The tests
// go by the state rather than by /v1/status, whose height is CometBFT's
// block store: it counts a block a moment before the application has
// committed it, when its state cannot be read yet.
func (c *cluster) height(ctx context.Context, i int) (int64, error) {
	p, err := c.nodes[i].api.StateAt(ctx, identity.ActorKey(c.admin.ID), 0)
	if err != nil {
		return 0, err
	}
	return p.Height, nil
}

// waitHeight waits until node i has committed height h.
func (c *cluster) waitHeight(i int, h int64, timeout time.Duration) {
	c.t.Helper()
	err := poll(c.t.Context(), timeout, func(ctx context.Context) (bool, error) {
		if err := c.nodes[i].exited(); err != nil {
			return false, err
		}
		got, err := c.height(ctx, i)
		if err != nil {
			return false, err
		}
		return got >= h, fmt.Errorf("at height %d", got)
	})
	if err != nil {
		c.t.Fatalf("%s did not reach height %d: %v", c.nodes[i].name, h, err)
	}
}

// maxHeight returns the highest height any running node has committed.
func (c *cluster) maxHeight() int64 {
	c.t.Helper()
	var top int64
	for i, n := range c.nodes {
		if !n.up.Load() {
			continue
		}
		h, err := c.height(c.t.Context(), i)
		if err != nil {
			c.t.Fatalf("height of %s: %v", n.name, err)
		}
		top = max(top, h)
	}
	return top
}

// commonHeight waits until every node has committed the highest height any
// of them has, and returns it: the height at which to compare them. A node
// one block behind would answer "version not available" for it.
func (c *cluster) commonHeight() int64 {
	c.t.Helper()
	h := c.maxHeight()
	for i := range c.nodes {
		c.waitHeight(i, h, catchUpTimeout)
	}
	return h
}

// errGaveUp marks a condition that can no longer come true, such as a node
// reaching a height after its process has died: poll stops at once.
var errGaveUp = errors.New("gave up")

// poll calls cond every pollInterval until it reports done, timeout passes,
// ctx ends or cond gives up. On failure it returns the last error cond
// gave, which says what was still missing.
func poll(ctx context.Context, timeout time.Duration, cond func(ctx context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		done, err := cond(ctx)
		if done {
			return nil
		}
		if errors.Is(err, errGaveUp) {
			return err
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("not within %s: %w", timeout, err)
		case <-tick.C:
		}
	}
}

// stateAt reads key at height h from every node, each proof verified by
// the client, and fails the test unless all nodes prove it under the same
// state root with the same value.
func (c *cluster) stateAt(key []byte, h int64) *client.StateProof {
	c.t.Helper()
	var first *client.StateProof
	for i, n := range c.nodes {
		p, err := n.api.StateAt(c.t.Context(), key, h)
		if err != nil {
			c.t.Fatalf("%s: state %q at height %d: %v", n.name, key, h, err)
		}
		if p.Height != h {
			c.t.Fatalf("%s answered for height %d, asked for %d", n.name, p.Height, h)
		}
		if i == 0 {
			first = p
			continue
		}
		if !bytes.Equal(p.Root, first.Root) {
			c.t.Fatalf("state roots differ at height %d: %s has %X, %s has %X", h, c.nodes[0].name, first.Root, n.name, p.Root)
		}
		if !bytes.Equal(p.Value, first.Value) {
			c.t.Fatalf("%q at height %d differs: %s has %x, %s has %x", key, h, c.nodes[0].name, first.Value, n.name, p.Value)
		}
	}
	return first
}

// Loopback ports already handed to a network in this process: probing
// alone cannot tell two parallel tests apart before either has started
// its nodes.
var (
	portsMu sync.Mutex
	claimed = map[int]bool{}
)

// freeBasePort returns a base port P such that every port a network of n
// nodes uses (P+10i, P+10i+1, P+10i+2) is free on 127.0.0.1 now. The search
// starts at a random place in 20000–32700 so that concurrent test processes
// rarely even probe the same ports.
func freeBasePort(t *testing.T, n int) int {
	t.Helper()
	// Below Linux's ephemeral range (32768–60999 by default), so that the
	// outgoing connections of a busy machine do not take the ports a
	// network is about to listen on.
	const lo, hi = 20000, 32700
	span := 10 * n
	slots := (hi - lo) / span
	start := rand.IntN(slots)
	portsMu.Lock()
	defer portsMu.Unlock()
	for try := range 200 {
		base := lo + ((start+try)%slots)*span
		ports := networkPorts(base, n)
		if anyClaimed(ports) || !allFree(ports) {
			continue
		}
		for _, p := range ports {
			claimed[p] = true
		}
		return base
	}
	t.Fatal("no free loopback port range for the network")
	return 0
}

func networkPorts(base, n int) []int {
	var ports []int
	for i := range n {
		ports = append(ports, base+10*i, base+10*i+1, base+10*i+2)
	}
	return ports
}

func anyClaimed(ports []int) bool {
	for _, p := range ports {
		if claimed[p] {
			return true
		}
	}
	return false
}

// allFree reports whether it could listen on every port at once.
func allFree(ports []int) bool {
	var open []net.Listener
	defer func() {
		for _, l := range open {
			l.Close()
		}
	}()
	for _, p := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		open = append(open, l)
	}
	return true
}

// cliResult is what one run of the carechain binary produced.
type cliResult struct {
	args   []string
	stdout string
	stderr string
	code   int
}

// run executes the carechain binary and reports its exit status; it fails
// the test only if the binary could not be run at all.
func run(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		r.code = exitErr.ExitCode()
	default:
		t.Fatalf("carechain %s: %v\nstderr:\n%s", strings.Join(args, " "), err, r.stderr)
	}
	return r
}

// runOK executes the carechain binary, requires exit status 0 and returns
// its standard output.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	r := run(t, args...)
	if r.code != 0 {
		t.Fatalf("carechain %s: exit status %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, s)
	}
}
