// Package check verifies a stopped node's stores offline and names whatever
// in them was changed: CometBFT's blocks and commits, CometBFT's state,
// carechain's authenticated state, and the audit log inside it, together
// with the links between them (each block's app hash against the state tree
// saved for the height before it).
//
// Run reads everything and reports every problem it finds rather than the
// first, so an operator learns the extent of a corruption at once. Startup
// is the small subset node.Start runs before it lets CometBFT touch the
// stores; it reads O(log n) of each.
//
// The stores are opened read-only. LevelDB lets a read-only opener share a
// database with other readers but not with its writer, so a running node is
// reported as ErrNodeRunning instead of being read mid-write.
//
// What a check can and cannot prove is written down in docs/operations.md
// ("Integrity check"). In short: blocks are proven by the validators'
// signatures from the genesis validator set on; the state tree is proven key
// by key against the app hash of the block after it, with the same ICS23
// proofs clients verify; the latest state, whose app hash no block carries
// yet, is proven against CometBFT's own record of it, which nobody signed.
package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	cmtdb "github.com/cometbft/cometbft-db"
	cosmosdb "github.com/cosmos/cosmos-db"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// Paths locates a node's stores. node.StorePaths fills it from a home's
// configuration.
type Paths struct {
	Home      string // the node home; findings name files relative to it
	CometData string // CometBFT's data directory, holding blockstore.db and state.db
	AppData   string // carechain's state directory, holding state.db
	Genesis   string // the chain's genesis.json
	Blobs     string // the custody blob store; empty to skip it
}

// Database names inside the data directories: CometBFT names its databases
// "blockstore" and "state" (config.DefaultDBProvider), carechain's state
// store names its own "state" (state.Open). Each is a directory NAME.db.
const (
	cometBlockDB = "blockstore"
	cometStateDB = "state"
	appStateDB   = "state"
)

// Options tune Run.
type Options struct {
	// AllVersions proves every key of every saved state version against
	// the app hash of the block after it, not only the latest version. It
	// catches a change to a value that the latest state no longer holds;
	// its cost grows with versions × keys.
	AllVersions bool
}

// Store names the part of a node's data a finding is about.
type Store string

const (
	// StoreBlocks is CometBFT's block store: blocks, their parts, commits.
	StoreBlocks Store = "blocks"
	// StoreConsensus is CometBFT's state: validator sets, the last block's
	// results and the app hash CometBFT recorded.
	StoreConsensus Store = "consensus"
	// StoreApp is carechain's authenticated state tree (IAVL).
	StoreApp Store = "app"
	// StoreAudit is the audit log kept inside the app state.
	StoreAudit Store = "audit"
)

// Finding is one thing found wrong.
type Finding struct {
	Store Store `json:"store"`
	// File is the database it was found in, relative to the home.
	File string `json:"file"`
	// Height is the block height, or for the app and audit stores the
	// state version (the block height whose execution saved it).
	Height int64 `json:"height,omitempty"`
	// Key is the database key (block store, CometBFT state) or the state
	// key (app, audit), as KeyString renders it.
	Key     string `json:"key,omitempty"`
	Problem string `json:"problem"`
}

func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", f.Store, f.File)
	if f.Height != 0 {
		fmt.Fprintf(&b, " height %d", f.Height)
	}
	if f.Key != "" {
		fmt.Fprintf(&b, " key %s", f.Key)
	}
	fmt.Fprintf(&b, ": %s", f.Problem)
	return b.String()
}

// KeyString renders a key as findings name it: as it is when it is
// printable ASCII, as a quoted Go string otherwise, so that
// "audit/e/\x00\x00\x00\x00\x00\x00\x00\x03" names an event unambiguously.
func KeyString(k []byte) string {
	for _, b := range k {
		if b <= ' ' || b >= 0x7f || b == '"' || b == '\\' {
			return fmt.Sprintf("%+q", k)
		}
	}
	return string(k)
}

// Report is what Run found.
type Report struct {
	Home     string        `json:"home"`
	ChainID  string        `json:"chain_id"`
	Blocks   BlocksSummary `json:"blocks"`
	State    StateSummary  `json:"state"`
	Audit    AuditSummary  `json:"audit"`
	Blobs    BlobsSummary  `json:"blobs"`
	Findings []Finding     `json:"findings"`
	// Omitted counts findings beyond the first maxFindings, which are not
	// listed: a store that bad needs restoring, not reading line by line.
	Omitted int  `json:"omitted,omitempty"`
	Clean   bool `json:"clean"`
	// Took is how long the check ran.
	Took time.Duration `json:"took_ns"`
}

// BlocksSummary says what was checked in CometBFT's stores.
type BlocksSummary struct {
	Base   int64 `json:"base"`   // first stored block; 0 when there is none
	Height int64 `json:"height"` // last stored block
	// Commits counts commits whose signatures were verified against the
	// validator set of their height.
	Commits int64 `json:"commits_verified"`
	// Anchored reports that the first block's validator set is the
	// genesis one, so every signature chains back to the genesis.
	Anchored bool `json:"anchored_to_genesis"`
	// ConsensusHeight is the last block CometBFT's state says it executed.
	ConsensusHeight int64 `json:"consensus_height"`
}

// StateSummary says what was checked in the application state.
type StateSummary struct {
	Version int64 `json:"version"` // latest saved version
	// Linked counts saved versions whose root was compared with the app
	// hash of the block after them.
	Linked int `json:"versions_linked"`
	// Proven lists the versions whose every key was proven against an
	// expected root, latest first, and Keys how many keys the latest holds.
	Proven []int64 `json:"versions_proven"`
	Keys   int64   `json:"keys"`
	// Signed is the newest version proven against a block header the
	// validators signed; 0 when none was.
	Signed int64 `json:"signed_version"`
	// Anchor says what the latest version was proven against: "block N"
	// (its signed header's app hash), "consensus state" (CometBFT's record
	// of the app hash, not yet in a block) or "stored root" (only the
	// tree's own root: nothing else records it).
	Anchor string `json:"anchor"`
	// FastIndex is "matches" when IAVL's flat copy of the latest values,
	// from which the node serves reads, equals the tree; "not in use" or
	// "stale" (rebuilt from the tree when the node starts) otherwise.
	FastIndex string `json:"fast_index"`
}

// AuditSummary says what was checked in the audit log.
type AuditSummary struct {
	Events  uint64 `json:"events"`
	Checked bool   `json:"checked"`
}

// maxFindings bounds the report.
const maxFindings = 1000

// ErrNodeRunning reports that a store is locked by the node using it.
var ErrNodeRunning = errors.New("the node is running")

// ErrCorrupt is wrapped by the error Startup returns for a corrupted store.
var ErrCorrupt = errors.New("store corrupted")

// findings collects findings up to maxFindings.
type findings struct {
	list    []Finding
	omitted int
}

func (f *findings) add(x Finding) {
	if len(f.list) >= maxFindings {
		f.omitted++
		return
	}
	f.list = append(f.list, x)
}

func (f *findings) count() int { return len(f.list) + f.omitted }

// guard runs fn and turns a panic into an error. CometBFT's block store and
// IAVL panic on some undecodable records (they treat them as fatal to a
// running node); here undecodable records are exactly what is being looked
// for, so they become findings.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("undecodable record: %v", r)
		}
	}()
	return fn()
}

// readOnly opens LevelDB without writing to it: no compaction, no new
// journal. Strict checksums are on by default, so a byte flipped on disk
// under a record's checksum is reported when that record is read.
func readOnly() *opt.Options { return &opt.Options{ReadOnly: true} }

// exists reports whether the database NAME.db is in dir. A node that has
// not run yet has none, which is not a finding.
func exists(dir, name string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, name+".db"))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, err
}

// openComet opens one of CometBFT's databases read-only; nil when absent.
func openComet(dir, name string) (cmtdb.DB, error) {
	ok, err := exists(dir, name)
	if err != nil || !ok {
		return nil, err
	}
	db, err := cmtdb.NewGoLevelDBWithOpts(name, dir, readOnly())
	if err != nil {
		return nil, openError(filepath.Join(dir, name+".db"), err)
	}
	return db, nil
}

// openApp opens carechain's state database read-only; nil when absent.
func openApp(dir string) (cosmosdb.DB, error) {
	ok, err := exists(dir, appStateDB)
	if err != nil || !ok {
		return nil, err
	}
	db, err := cosmosdb.NewGoLevelDBWithOpts(appStateDB, dir, readOnly())
	if err != nil {
		return nil, openError(filepath.Join(dir, appStateDB+".db"), err)
	}
	return db, nil
}

// openError explains a failed open: LevelDB's lock held by a writer means
// the node is running.
func openError(path string, err error) error {
	if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) {
		return fmt.Errorf("%w: %s is locked by another process; stop the node first", ErrNodeRunning, path)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// rel names path relative to home when it lies inside it.
func rel(home, path string) string {
	if r, err := filepath.Rel(home, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
