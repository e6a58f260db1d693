// Package state is carechain's authenticated application state: an IAVL
// tree (cosmos/iavl) over an embedded LevelDB, whose root hash is the app
// hash and which proves any key's presence or absence with an ICS23 proof.
//
// Changes go to a working tree during a block and reach disk only in Commit,
// which saves one tree version per block height. After a crash the store
// reopens at its last saved version and CometBFT replays the blocks after it.
// docs/state.md says why IAVL was chosen.
package state

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"
	ics23 "github.com/cosmos/ics23/go"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/carechain/carechain/internal/kv"
)

// cacheNodes bounds IAVL's in-memory node cache.
const cacheNodes = 200_000

// Store is the authenticated state. Working-tree methods are for the ABCI
// adapter, which calls them from one goroutine; Snapshot and Prove are safe
// for concurrent use by queries.
//
// Snapshots share tree nodes with the working tree through IAVL's node
// cache, and IAVL writes to shared nodes when it changes the working tree
// (Node.clone drops a persisted node's child pointers) and when it saves a
// version. So every snapshot read holds mu for reading and every
// working-tree write and Commit holds it for writing: a read never sees a
// node half-changed, and writes wait at most for one read call.
type Store struct {
	mu   sync.RWMutex
	db   dbm.DB
	tree *iavl.MutableTree
}

// Open opens (or creates) the state database in dir and loads the latest
// saved version.
func Open(dir string) (*Store, error) {
	db, err := dbm.NewGoLevelDBWithOpts("state", dir, &opt.Options{
		// Most reads that miss are existence checks (is this id taken?):
		// a bloom filter answers them without touching every level.
		Filter: filter.NewBloomFilter(10),
		// IAVL writes several nodes per key; a larger memtable means fewer,
		// larger compactions.
		WriteBuffer:        32 << 20,
		BlockCacheCapacity: 64 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("open state database: %w", err)
	}
	return load(db)
}

// OpenMemory returns a store held in memory, for unit tests only.
func OpenMemory() *Store {
	s, err := load(dbm.NewMemDB())
	if err != nil {
		panic(err) // an empty in-memory database cannot fail to load
	}
	return s
}

func load(db dbm.DB) (*Store, error) {
	// Fast storage (skipFastStorageUpgrade=false) keeps a flat index of the
	// latest values beside the tree, so reads of the latest version — every
	// CheckTx and recheck — take one lookup instead of a walk down the tree.
	tree := iavl.NewMutableTree(idb.NewWrapper(db), cacheNodes, false, iavl.NewNopLogger(), iavl.SyncOption(true))
	if _, err := tree.Load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("load state tree: %w", err)
	}
	return &Store{db: db, tree: tree}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Working returns the working tree as a kv.Store: reads see the block's
// uncommitted writes.
func (s *Store) Working() kv.Store { return working{s} }

// WorkingHash is the root hash the working tree will have once committed.
func (s *Store) WorkingHash() []byte { return s.tree.WorkingHash() }

// Rollback discards uncommitted changes.
func (s *Store) Rollback() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree.Rollback()
}

// Commit saves the working tree as the next version.
func (s *Store) Commit() (hash []byte, version int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hash, version, err = s.tree.SaveVersion()
	if err != nil {
		return nil, 0, fmt.Errorf("save state version: %w", err)
	}
	return hash, version, nil
}

// LastCommit returns the last saved version and its root hash; version 0 is
// the empty tree before the first block.
func (s *Store) LastCommit() (version int64, hash []byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tree.Version(), s.tree.Hash()
}

// ErrVersionUnavailable is returned for a version that was never saved or
// was pruned.
var ErrVersionUnavailable = errors.New("state version not available")

// Snapshot returns a read-only view of a saved version; version 0 means the
// latest.
func (s *Store) Snapshot(version int64) (kv.Reader, int64, error) {
	t, err := s.immutable(version)
	if err != nil {
		return nil, 0, err
	}
	return snapshot{t, &s.mu}, t.Version(), nil
}

func (s *Store) immutable(version int64) (*iavl.ImmutableTree, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if version == 0 {
		version = s.tree.Version()
	}
	if version == 0 {
		return iavl.NewImmutableTree(idb.NewMemDB(), 0, false, iavl.NewNopLogger()), nil
	}
	if !s.tree.VersionExists(version) {
		return nil, fmt.Errorf("%w: %d", ErrVersionUnavailable, version)
	}
	t, err := s.tree.GetImmutable(version)
	if err != nil {
		return nil, fmt.Errorf("%w: %d: %v", ErrVersionUnavailable, version, err)
	}
	return t, nil
}

// Proof is a key's value at a version, with an ICS23 proof of its presence
// (or absence, when Value is nil) under Root.
type Proof struct {
	Version int64
	Root    []byte
	Value   []byte
	Proof   *ics23.CommitmentProof
}

// Prove returns key's value at version (0: latest) and its proof.
func (s *Store) Prove(key []byte, version int64) (*Proof, error) {
	t, err := s.immutable(version)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	value, err := t.Get(key)
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", key, err)
	}
	var p *ics23.CommitmentProof
	if value != nil {
		p, err = t.GetMembershipProof(key)
	} else {
		p, err = t.GetNonMembershipProof(key)
	}
	if err != nil {
		return nil, fmt.Errorf("prove %q: %w", key, err)
	}
	return &Proof{Version: t.Version(), Root: t.Hash(), Value: value, Proof: p}, nil
}

// Verify checks a proof of key against root: presence with value, or
// absence when value is nil. Clients use it; it needs no store.
func Verify(root, key, value []byte, p *ics23.CommitmentProof) bool {
	if p == nil {
		return false
	}
	if value == nil {
		return ics23.VerifyNonMembership(ics23.IavlSpec, root, p, key)
	}
	return ics23.VerifyMembership(ics23.IavlSpec, root, p, key, value)
}

// working is the working tree. Its reads run on the consensus goroutine,
// the only writer, so they need no lock; its writes exclude snapshot reads.
type working struct{ s *Store }

func (w working) Get(k []byte) ([]byte, error) { return w.s.tree.Get(k) }
func (w working) Set(k, v []byte) error {
	if len(v) == 0 {
		// IAVL stores it, but ICS23 cannot prove it: every value a client
		// may ask for must be provable.
		return fmt.Errorf("set %q: empty values cannot be proven", k)
	}
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	_, err := w.s.tree.Set(k, v)
	return err
}
func (w working) Delete(k []byte) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	_, _, err := w.s.tree.Remove(k)
	return err
}
func (w working) Iterate(start, end []byte, reverse bool, fn func(k, v []byte) bool) error {
	it, err := w.s.tree.Iterator(start, end, !reverse)
	if err != nil {
		return err
	}
	return drain(it, fn)
}

// snapshot is a saved version. Each read holds the store's lock for
// reading (see Store).
type snapshot struct {
	t  *iavl.ImmutableTree
	mu *sync.RWMutex
}

func (s snapshot) Get(k []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.t.Get(k)
}

// iterateChunk is how many entries a snapshot iteration reads under the
// lock at a time.
const iterateChunk = 256

// Iterate reads the range in chunks, each with a fresh iterator under the
// lock, and calls fn outside it. So fn may read the snapshot again (a
// second read lock taken while a writer waits would deadlock), and no
// iterator stays open while the consensus goroutine writes (an in-memory
// database's iterator holds that database's own lock).
func (s snapshot) Iterate(start, end []byte, reverse bool, fn func(k, v []byte) bool) error {
	for {
		keys, vals, more, err := s.chunk(start, end, reverse)
		if err != nil {
			return err
		}
		for i := range keys {
			if !fn(keys[i], vals[i]) {
				return nil
			}
		}
		if !more {
			return nil
		}
		last := keys[len(keys)-1]
		if reverse {
			end = last // exclusive
		} else {
			start = append(last, 0) // the least key after last
		}
	}
}

func (s snapshot) chunk(start, end []byte, reverse bool) (keys, vals [][]byte, more bool, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	it, err := s.t.Iterator(start, end, !reverse)
	if err != nil {
		return nil, nil, false, err
	}
	defer it.Close()
	for ; it.Valid() && len(keys) < iterateChunk; it.Next() {
		keys = append(keys, bytes.Clone(it.Key()))
		vals = append(vals, bytes.Clone(it.Value()))
	}
	return keys, vals, it.Valid(), it.Error()
}

func drain(it idb.Iterator, fn func(k, v []byte) bool) error {
	defer it.Close()
	for ; it.Valid(); it.Next() {
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	return it.Error()
}
