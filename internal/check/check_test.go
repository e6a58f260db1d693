package check_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cmtdb "github.com/cometbft/cometbft-db"
	sm "github.com/cometbft/cometbft/state"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/check"
	"github.com/carechain/carechain/internal/check/tamper"
	"github.com/carechain/carechain/internal/cli"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// The tests share one node home, made once by running a real node in this
// process: patients register and read their own history (one audit event
// each), then the node stops. Each test changes a copy of it.

type fixture struct {
	home     string
	patients []*keyfile.Key
	heights  []int64 // the block that committed each patient's registration
	blob     string  // hash of the custody blob of the one record
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	theFixture  *fixture
	fixtureErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

const patients = 3

func buildFixture() (*fixture, error) {
	dir, err := os.MkdirTemp("", "carechain-check-")
	if err != nil {
		return nil, err
	}
	fixtureDir = dir
	f := &fixture{home: filepath.Join(dir, "node")}
	base, err := nodetest.FreeBasePort()
	if err != nil {
		return nil, err
	}
	if _, err := node.Init(f.home, "check-test", base); err != nil {
		return nil, err
	}
	n, err := node.Start(f.home, node.Options{NoMetrics: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		return nil, err
	}
	defer n.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := client.New(n.APIURL)
	for {
		if s, err := c.Status(ctx); err == nil && s.Height >= 1 {
			break
		}
		if ctx.Err() != nil {
			return nil, errors.New("the node did not commit a block in time")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	for range patients {
		k, err := keyfile.Generate()
		if err != nil {
			return nil, err
		}
		res, err := c.Send(ctx, k, tx.NewRegistration("check-test", tx.KindPatient, "", "", k.Sign, k.HPKEPublic()))
		if err != nil || res.Code != 0 {
			return nil, fmt.Errorf("register a patient: %v %+v", err, res)
		}
		if _, _, err := c.AuditHistory(ctx, k, k.ID, client.HistoryFilter{}); err != nil {
			return nil, fmt.Errorf("read a history: %w", err)
		}
		f.patients = append(f.patients, k)
		f.heights = append(f.heights, res.Height)
	}
	// One encrypted record, so the home holds a custody blob.
	w, err := c.WriteRecord(ctx, f.patients[0], client.RecordWrite{Patient: f.patients[0].ID, ResourceType: "Observation",
		Resource: []byte(`{"resourceType":"Observation","status":"final"}`)})
	if err != nil {
		return nil, fmt.Errorf("write a record: %w", err)
	}
	info, err := c.Record(ctx, f.patients[0], w.ID)
	if err != nil {
		return nil, err
	}
	f.blob = info.Versions[0].BlobHash
	return f, n.Stop()
}

// home returns a fresh copy of the shared node home.
func home(t *testing.T) (*fixture, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a node; skipped in -short mode")
	}
	fixtureOnce.Do(func() { theFixture, fixtureErr = buildFixture() })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	dst := filepath.Join(t.TempDir(), "node")
	if err := os.CopyFS(dst, os.DirFS(theFixture.home)); err != nil {
		t.Fatal(err)
	}
	// CopyFS does not keep permissions; the node refuses a secret others
	// can read.
	if err := os.Chmod(filepath.Join(dst, node.TokenKeyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	return theFixture, dst
}

func paths(t *testing.T, home string) check.Paths {
	t.Helper()
	p, err := node.StorePaths(home)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, home string, opt check.Options) *check.Report {
	t.Helper()
	r, err := check.Run(paths(t, home), opt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// find returns the findings in store whose key is key ("" for any).
func find(r *check.Report, store check.Store, key string) []check.Finding {
	var out []check.Finding
	for _, f := range r.Findings {
		if f.Store == store && (key == "" || f.Key == key) {
			out = append(out, f)
		}
	}
	return out
}

func logFindings(t *testing.T, r *check.Report) {
	t.Helper()
	for _, f := range r.Findings {
		t.Logf("finding: %s", f)
	}
}

func quote(k []byte) string { return check.KeyString(k) }

func TestCleanHomePasses(t *testing.T) {
	f, h := home(t)
	r := run(t, h, check.Options{})
	logFindings(t, r)
	if !r.Clean || len(r.Findings) != 0 {
		t.Fatalf("a clean home has findings")
	}
	b, s := r.Blocks, r.State
	if b.Height < f.heights[len(f.heights)-1] || b.Base != 1 || !b.Anchored || b.Commits != b.Height-b.Base+1 {
		t.Fatalf("blocks summary %+v", b)
	}
	// 3 registrations and 3 history reads, plus the genesis admin and
	// validator: well over a dozen keys.
	if s.Version < b.Height-1 || s.Keys < 12 || s.FastIndex != "matches" || s.Linked < int(b.Height-1) || len(s.Proven) != 2 || s.Signed != s.Version-1 {
		t.Fatalf("state summary %+v", s)
	}
	// One history read per patient, the first patient's record, and its
	// audited metadata read.
	if !r.Audit.Checked || r.Audit.Events != patients+2 {
		t.Fatalf("audit summary %+v", r.Audit)
	}
	t.Logf("clean home: %d blocks, %d keys (anchor %s), %d audit events, checked in %s", b.Height, s.Keys, s.Anchor, r.Audit.Events, r.Took)

	all := run(t, h, check.Options{AllVersions: true})
	logFindings(t, all)
	if !all.Clean || len(all.State.Proven) != int(all.State.Version) {
		t.Fatalf("every version: clean %v, proven %d of %d", all.Clean, len(all.State.Proven), all.State.Version)
	}
	t.Logf("every version proven in %s", all.Took)
}

// TestNewHomePasses checks a home that has never run: nothing to check is
// not a finding, and the check creates nothing.
func TestNewHomePasses(t *testing.T) {
	h := filepath.Join(t.TempDir(), "node")
	if _, err := node.Init(h, "check-test", 0); err != nil {
		t.Fatal(err)
	}
	r := run(t, h, check.Options{})
	if !r.Clean || r.Blocks.Height != 0 || r.State.Version != 0 {
		t.Fatalf("new home: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(h, "data", "app")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the check created the state directory: %v", err)
	}
}

// TestValidatorLoaderMatchesCometBFT compares check's validator loader,
// which returns errors where CometBFT's exits the process, with CometBFT's
// own on every height of a real node.
func TestValidatorLoaderMatchesCometBFT(t *testing.T) {
	_, h := home(t)
	p := paths(t, h)
	db, err := cmtdb.NewGoLevelDB("state", p.CometData)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := sm.NewStore(db, sm.StoreOptions{})
	last, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	for height := int64(1); height <= last.LastBlockHeight+1; height++ {
		want, err := st.LoadValidators(height)
		if err != nil {
			t.Fatal(err)
		}
		got, err := check.LoadValidators(db, height)
		if err != nil || !bytes.Equal(got.Hash(), want.Hash()) {
			t.Fatalf("height %d: loaded %v (%v), CometBFT loads %X", height, got, err, want.Hash())
		}
	}
}

func TestChangedBlockIsNamed(t *testing.T) {
	f, h := home(t)
	// The first patient's registration carries its public key; change a
	// byte of it in the block that committed it.
	height := f.heights[0]
	e, err := tamper.BlockPart(paths(t, h).CometData, height, f.patients[0].SignPublic())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("changed %s", e)
	r := run(t, h, check.Options{})
	logFindings(t, r)
	named := find(r, check.StoreBlocks, "P:"+strconv.FormatInt(height, 10)+":0")
	if r.Clean || len(named) == 0 || named[0].Height != height || named[0].File != filepath.Join("data", "blockstore.db") {
		t.Fatalf("the changed block part of height %d is not named", height)
	}
	for _, f := range r.Findings {
		if f.Store != check.StoreBlocks {
			t.Errorf("a changed block should not implicate %s", f.Store)
		}
	}
}

func TestChangedStateValueIsNamed(t *testing.T) {
	f, h := home(t)
	p := f.patients[1]
	key := identity.ActorKey(p.ID)
	// Only the tree leaf: IAVL trusts the hash its parent stored, so the
	// node would read no error, and its fast index still holds the old value.
	e, err := tamper.StateLeaf(paths(t, h).AppData, key, p.SignPublic())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("changed %s", e)
	requireLeafChanged(t, h, key)
	r := run(t, h, check.Options{})
	logFindings(t, r)
	// Named by its proof and by the fast index in the latest version, and
	// by its proof against the last block's signed header in the one before.
	var latest, signed int
	for _, f := range find(r, check.StoreApp, quote(key)) {
		switch {
		case f.File != filepath.Join("data", "app", "state.db"):
			t.Errorf("finding %s: wrong file", f)
		case f.Height == r.State.Version:
			latest++
		case f.Height == r.State.Signed && strings.Contains(f.Problem, fmt.Sprintf("block %d", f.Height+1)):
			signed++
		default:
			t.Errorf("finding %s: unexpected", f)
		}
	}
	if r.Clean || latest != 2 || signed != 1 {
		t.Fatalf("the changed value of %s is named %d times in the latest version and %d times against a signed header", key, latest, signed)
	}
}

// requireLeafChanged requires that key no longer proves against the
// state root as the node serves it: the change landed in key's leaf.
func requireLeafChanged(t *testing.T, home string, key []byte) {
	t.Helper()
	s, err := state.Open(paths(t, home).AppData)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.Prove(key, 0)
	if err != nil {
		t.Fatal(err)
	}
	if state.Verify(p.Root, key, p.Value, p.Proof) {
		t.Fatalf("%s still proves after the change", key)
	}
}

func TestChangedAuditEventIsNamed(t *testing.T) {
	f, h := home(t)
	// Event 0 is the first patient reading its own history. Change its
	// actor id in the tree and in the fast index alike, as someone would
	// who wanted the node to serve the changed event without an error.
	key := check.AuditEventKey(0)
	e, err := tamper.StateValue(paths(t, h).AppData, key, []byte(f.patients[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("changed %s", e)
	r := run(t, h, check.Options{})
	logFindings(t, r)
	if len(find(r, check.StoreApp, quote(key))) == 0 {
		t.Fatalf("the changed event's key %s is not named", quote(key))
	}
	audit := find(r, check.StoreAudit, "")
	if len(audit) == 0 || !strings.Contains(audit[0].Problem, "corrupt") {
		t.Fatalf("the audit log's recomputation does not report the changed event")
	}
}

func TestChangedBlobIsNamed(t *testing.T) {
	f, h := home(t)
	path := filepath.Join(h, "data", "blobs", f.blob[:2], f.blob[2:])
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clean := run(t, h, check.Options{})
	if !clean.Clean || clean.Blobs.Stored != 1 || clean.Blobs.Anchored != 1 || clean.Blobs.Missing != 0 {
		t.Fatalf("before the change: clean %v, blobs %+v", clean.Clean, clean.Blobs)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, h, check.Options{})
	logFindings(t, r)
	if got := find(r, check.StoreBlobs, f.blob); len(got) != 1 || !strings.Contains(got[0].Problem, "does not hash") {
		t.Fatalf("the changed blob %s is not named", f.blob)
	}
	// A missing blob is not tampering: a running node fetches it again.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if r := run(t, h, check.Options{}); !r.Clean || r.Blobs.Missing != 1 {
		t.Fatalf("with the blob gone: clean %v, blobs %+v", r.Clean, r.Blobs)
	}
}

func TestStartRefusesCorruptedStore(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, f *fixture, p check.Paths) (tamper.Edit, error)
		store  check.Store
	}{
		{"last block", func(t *testing.T, f *fixture, p check.Paths) (tamper.Edit, error) {
			r := run(t, p.Home, check.Options{})
			return tamper.BlockPart(p.CometData, r.Blocks.Height, nil)
		}, check.StoreBlocks},
		{"audit head", func(t *testing.T, f *fixture, p check.Paths) (tamper.Edit, error) {
			return tamper.StateValue(p.AppData, check.AuditHeadKey, nil)
		}, check.StoreAudit},
		{"newest audit event", func(t *testing.T, f *fixture, p check.Paths) (tamper.Edit, error) {
			return tamper.StateValue(p.AppData, check.AuditEventKey(patients-1), []byte(f.patients[patients-1].ID))
		}, check.StoreAudit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, h := home(t)
			p := paths(t, h)
			e, err := tc.change(t, f, p)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("changed %s", e)
			n, err := node.Start(h, node.Options{NoMetrics: true, Registerer: prometheus.NewRegistry()})
			if err == nil {
				n.Stop()
				t.Fatal("a node with a changed store started")
			}
			t.Logf("start: %v", err)
			var ce *check.CorruptError
			if !errors.Is(err, check.ErrCorrupt) || !errors.As(err, &ce) || ce.Findings[0].Store != tc.store ||
				!strings.HasPrefix(err.Error(), "store corrupted: ") || !strings.HasSuffix(err.Error(), "; run 'carechain check --home "+h+"'") {
				t.Fatalf("start refused with %v", err)
			}
			if r := run(t, h, check.Options{}); r.Clean {
				t.Fatal("carechain check finds nothing where the start-up check refused")
			}
		})
	}
}

// TestStartupCost measures the start-up check on a clean home, and shows a
// clean home starts.
func TestStartupCost(t *testing.T) {
	_, h := home(t)
	p := paths(t, h)
	s, err := state.Open(p.AppData)
	if err != nil {
		t.Fatal(err)
	}
	const runs = 20
	var total, worst time.Duration
	for range runs {
		start := time.Now()
		if err := check.Startup(p, s); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		total += d
		worst = max(worst, d)
	}
	s.Close()
	t.Logf("start-up check: %s on average over %d runs, %s at most", total/runs, runs, worst)

	n, err := node.Start(h, node.Options{NoMetrics: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatalf("a clean home does not start: %v", err)
	}
	// While it runs, the check cannot read its stores, and says why.
	_, err = check.Run(p, check.Options{})
	n.Stop()
	if !errors.Is(err, check.ErrNodeRunning) {
		t.Fatalf("check of a running node: %v", err)
	}
	t.Logf("check of a running node: %v", err)
}

func TestCLI(t *testing.T) {
	f, h := home(t)
	var out, errOut bytes.Buffer
	if code := cli.Main(context.Background(), []string{"check", "--home", h}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "no problems found") {
		t.Fatalf("clean home: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	t.Logf("clean home:\n%s", out.String())

	key := identity.ActorKey(f.patients[2].ID)
	if _, err := tamper.StateValue(paths(t, h).AppData, key, f.patients[2].SignPublic()); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	code := cli.Main(context.Background(), []string{"check", "--home", h, "--json"}, &out, &errOut)
	var r check.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if code != 1 || r.Clean || len(find(&r, check.StoreApp, quote(key))) == 0 || !strings.HasPrefix(errOut.String(), "carechain: error: ") {
		t.Fatalf("changed home: exit %d, report %+v\n%s", code, r, errOut.String())
	}
	out.Reset()
	errOut.Reset()
	cli.Main(context.Background(), []string{"check", "--home", h}, &out, &errOut)
	t.Logf("changed home:\n%s%s", out.String(), errOut.String())
}
