package check

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	cosmosdb "github.com/cosmos/cosmos-db"
	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"
	"github.com/cosmos/iavl/fastnode"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/state"
)

// cacheNodes bounds IAVL's node cache while proving. Proofs of neighbouring
// keys share their upper nodes, so a cache of the upper levels saves most
// reads.
const cacheNodes = 200_000

// IAVL's layout in its database (cosmos/iavl v1, nodedb.go): tree nodes
// under 's', the fast index under 'f' followed by the state key, metadata
// under 'm'. Only the fast index and its metadata are read raw; the tree is
// read through IAVL.
const (
	fastPrefix        = 'f'
	storageVersionKey = "mstorage_version"
	fastStorageTag    = "1.1.0" // storage version from which the fast index exists
)

// checkApp checks carechain's state tree: each saved version's root against
// the app hash of the block after it and against CometBFT's state, every
// key of the latest version (or all versions) against the expected root,
// the fast index against the tree, and the audit log.
//
// Why proofs: IAVL stores each inner node's hash beside it and trusts it on
// load; only leaves are rehashed, and nothing compares a rehashed child with
// the hash its parent stored. A changed value therefore reads back without
// error under an unchanged root. Proving each key recomputes its leaf and
// every inner node on its path from what is stored and compares the result
// with the expected root, so a changed value, node hash, size, height or
// version on any path fails, and a key is proven only by the bytes that are
// stored for it. An alternative, exporting the tree into a fresh one
// (Exporter/Importer, which recompute every hash in one pass), was not
// used: the exporter walks the tree on a goroutine of its own and stops
// silently at a node it cannot read, where a malformed node could also
// crash the check, while proofs run here, under guard, one key at a time.
func (c *checker) checkApp(db cosmosdb.DB, ch *chain) {
	if db == nil {
		if ch.height > 0 {
			c.add(StoreApp, c.appFile, 0, "", "the application state is missing, but the block store holds blocks up to %d", ch.height)
		}
		c.report.State.FastIndex = "not in use"
		return
	}
	// skipFastStorageUpgrade: read the tree itself, never the fast index,
	// and never write (an upgrade would rebuild the index).
	tree := iavl.NewMutableTree(idb.NewWrapper(db), cacheNodes, true, iavl.NewNopLogger())
	var latest int64
	err := guard(func() error {
		var err error
		latest, err = tree.Load()
		return err
	})
	if err != nil {
		c.add(StoreApp, c.appFile, 0, "", "the state tree does not load: %v", err)
		return
	}
	c.report.State.Version = latest
	if latest == 0 {
		c.report.State.FastIndex = "not in use"
		c.linkConsensus(ch, latest, nil)
		return
	}

	var versions []int
	_ = guard(func() error { versions = tree.AvailableVersions(); return nil })
	roots := map[int64][]byte{}
	for _, v := range versions {
		t, err := immutable(tree, int64(v))
		var root []byte
		if err == nil {
			// Hash returns the root's stored hash; one stored empty makes
			// IAVL recompute it from children it never loaded, and panic.
			err = guard(func() error { root = t.Hash(); return nil })
		}
		if err != nil {
			c.add(StoreApp, c.appFile, int64(v), "", "the root of version %d does not load: %v", v, err)
			continue
		}
		roots[int64(v)] = root
		if want, ok := ch.appHash[int64(v)+1]; ok {
			c.report.State.Linked++
			if !bytes.Equal(root, want) {
				c.add(StoreApp, c.appFile, int64(v), "", "the state root saved for version %d is %X; block %d's app hash is %X", v, root, v+1, want)
			}
		}
	}
	if latest > ch.height {
		c.add(StoreApp, c.appFile, latest, "", "the application state is at version %d, past the last stored block %d", latest, ch.height)
	}
	c.linkConsensus(ch, latest, roots)

	// The latest version's root is in no block yet: it proves against
	// CometBFT's record of it, which no validator signed. The version
	// before it proves against the last block's signed header and shares
	// every node the last block did not rewrite, so it is proven too.
	prove := []int64{latest}
	_, latestSigned := ch.appHash[latest+1]
	if _, prevSigned := ch.appHash[latest]; !latestSigned && prevSigned && latest > 1 {
		prove = append(prove, latest-1)
	}
	if c.opt.AllVersions {
		prove = prove[:1]
		for i := len(versions) - 1; i >= 0; i-- {
			if int64(versions[i]) != latest {
				prove = append(prove, int64(versions[i]))
			}
		}
	}
	for _, v := range prove {
		var fast *fastIndex
		if v == latest {
			fast = c.openFastIndex(db, latest)
			if fast != nil {
				defer fast.close()
			}
		}
		want, anchor := c.expectedRoot(ch, v, roots[v])
		keys := c.proveVersion(tree, v, want, anchor, fast)
		c.report.State.Proven = append(c.report.State.Proven, v)
		if strings.HasPrefix(anchor, "block ") {
			c.report.State.Signed = max(c.report.State.Signed, v)
		}
		if v == latest {
			c.report.State.Keys, c.report.State.Anchor = keys, anchor
		}
	}
	c.checkAudit(tree, latest)
	c.checkBlobs(tree, latest)
}

// immutable loads version v, guarded against a malformed root.
func immutable(tree *iavl.MutableTree, v int64) (*iavl.ImmutableTree, error) {
	var t *iavl.ImmutableTree
	err := guard(func() error {
		var err error
		t, err = tree.GetImmutable(v)
		return err
	})
	return t, err
}

// linkConsensus compares the state's versions with CometBFT's state: the
// app commits a block before CometBFT saves its state, so the latest
// version is the block CometBFT executed last or, after a crash between
// the two, the one after; and CometBFT recorded the root of its last block.
func (c *checker) linkConsensus(ch *chain, latest int64, roots map[int64][]byte) {
	st := ch.state
	if st == nil {
		return
	}
	last := st.LastBlockHeight
	if latest != last && latest != last+1 {
		c.add(StoreApp, c.appFile, latest, "", "the application state is at version %d, but CometBFT's state says block %d was the last executed (on start the node would replay or refuse; if the state was not deliberately reset, versions were lost)", latest, last)
	}
	if root, ok := roots[last]; ok && last > 0 && !bytes.Equal(root, st.AppHash) {
		c.add(StoreApp, c.appFile, last, "", "the state root saved for version %d is %X; CometBFT's state recorded %X", last, root, []byte(st.AppHash))
	}
}

// expectedRoot returns the root version v must prove against and says
// where it comes from: the signed header of the next block when it is
// stored, else CometBFT's record of the app's answer, else (nothing else
// names it) the tree's own root.
func (c *checker) expectedRoot(ch *chain, v int64, stored []byte) ([]byte, string) {
	if h, ok := ch.appHash[v+1]; ok {
		return h, fmt.Sprintf("block %d", v+1)
	}
	if ch.state != nil && ch.state.LastBlockHeight == v && len(ch.state.AppHash) > 0 {
		return ch.state.AppHash, "consensus state"
	}
	return stored, "stored root"
}

// proveVersion walks version v in key order and proves every key against
// root; for the latest version it also compares the fast index. It returns
// the number of keys walked.
func (c *checker) proveVersion(tree *iavl.MutableTree, v int64, root []byte, anchor string, fast *fastIndex) int64 {
	t, err := immutable(tree, v)
	if err != nil {
		c.add(StoreApp, c.appFile, v, "", "the root of version %d does not load: %v", v, err)
		return 0
	}
	var (
		n    int64
		prev []byte
	)
	err = guard(func() error {
		it, err := t.Iterator(nil, nil, true)
		if err != nil {
			return err
		}
		defer it.Close()
		for ; it.Valid(); it.Next() {
			k, val := it.Key(), it.Value()
			if n > 0 && bytes.Compare(k, prev) <= 0 {
				c.add(StoreApp, c.appFile, v, KeyString(k), "the tree yields this key after %s: its order is broken", KeyString(prev))
			}
			c.proveKey(t, v, k, val, root, anchor)
			if fast != nil {
				fast.match(c, k, val)
			}
			prev = append(prev[:0], k...)
			n++
		}
		return it.Error()
	})
	if err != nil {
		c.add(StoreApp, c.appFile, v, KeyString(prev), "the walk of version %d stopped after this key: %v", v, err)
		return n
	}
	if fast != nil {
		fast.rest(c)
	}
	if size := t.Size(); size != n { // the root's stored size; 0 for an empty tree
		c.add(StoreApp, c.appFile, v, "", "the root of version %d says the tree holds %d keys; walking it found %d", v, size, n)
	}
	return n
}

// proveKey builds key's ICS23 proof from the stored tree, as a node serves
// it, and verifies it against root as a client would.
func (c *checker) proveKey(t *iavl.ImmutableTree, v int64, k, val, root []byte, anchor string) {
	var ok bool
	err := guard(func() error {
		p, err := t.GetMembershipProof(k)
		if err != nil {
			return err
		}
		ok = state.Verify(root, k, val, p)
		return nil
	})
	switch {
	case err != nil:
		c.add(StoreApp, c.appFile, v, KeyString(k), "no proof can be built for this key: %v", err)
	case !ok:
		c.add(StoreApp, c.appFile, v, KeyString(k), "the value does not prove against the app hash of %s: this value, a value beside it in the tree, or a tree node on its path was changed", anchor)
	}
}

// fastIndex walks IAVL's fast index — a flat copy of the latest version's
// values, from which the node serves reads of the latest state — beside the
// tree, to find any value the node would serve that the tree does not hold.
type fastIndex struct {
	it      cosmosdb.Iterator
	latest  int64
	key     []byte
	value   []byte
	version int64
	valid   bool
}

// openFastIndex returns the fast index when the node reads from it: IAVL
// records the version it is current for, and rebuilds it from the tree at
// start when that is not the latest version.
func (c *checker) openFastIndex(db cosmosdb.DB, latest int64) *fastIndex {
	tag, err := db.Get([]byte(storageVersionKey))
	if err != nil {
		c.add(StoreApp, c.appFile, 0, KeyString([]byte(storageVersionKey)), "IAVL's storage version: %v", err)
		return nil
	}
	storage, at, _ := strings.Cut(string(tag), "-")
	switch {
	case storage != fastStorageTag:
		c.report.State.FastIndex = "not in use"
		return nil
	case at != strconv.FormatInt(latest, 10):
		c.report.State.FastIndex = "stale (rebuilt from the tree when the node starts)"
		return nil
	}
	it, err := db.Iterator([]byte{fastPrefix}, []byte{fastPrefix + 1})
	if err != nil {
		c.add(StoreApp, c.appFile, 0, "", "the fast index cannot be read: %v", err)
		return nil
	}
	c.report.State.FastIndex = "matches"
	f := &fastIndex{it: it, latest: latest}
	f.load(c)
	return f
}

func (f *fastIndex) close() { f.it.Close() }

// load decodes the entry under the iterator, skipping (and reporting) any
// that does not decode.
func (f *fastIndex) load(c *checker) {
	for f.valid = f.it.Valid(); f.valid; f.valid = f.it.Valid() {
		raw := f.it.Key()
		key := bytes.Clone(raw[1:])
		var node *fastnode.Node
		err := guard(func() error {
			var err error
			node, err = fastnode.DeserializeNode(key, f.it.Value())
			return err
		})
		if err == nil {
			f.key, f.value, f.version = key, bytes.Clone(node.GetValue()), node.GetVersionLastUpdatedAt()
			return
		}
		f.mismatch(c, key, "the fast index entry does not decode: %v", err)
		f.it.Next()
	}
}

func (f *fastIndex) advance(c *checker) {
	f.it.Next()
	f.load(c)
}

func (f *fastIndex) mismatch(c *checker, key []byte, format string, args ...any) {
	c.found.add(Finding{Store: StoreApp, File: c.appFile, Height: f.latest, Key: KeyString(key), Problem: fmt.Sprintf(format, args...)})
	c.report.State.FastIndex = "differs from the tree"
}

// match compares the tree's next key with the fast index.
func (f *fastIndex) match(c *checker, k, val []byte) {
	for f.valid && bytes.Compare(f.key, k) < 0 {
		f.mismatch(c, f.key, "the fast index, from which the node serves reads, holds this key but the tree does not: the node would serve a value no block wrote")
		f.advance(c)
	}
	if !f.valid || !bytes.Equal(f.key, k) {
		f.mismatch(c, k, "the tree holds this key but the fast index, from which the node serves reads, does not")
		return
	}
	switch {
	case !bytes.Equal(f.value, val):
		f.mismatch(c, k, "the fast index, from which the node serves reads, holds a different value than the tree: the node would serve it")
	case f.version > f.latest || f.version <= 0:
		f.mismatch(c, k, "the fast index says this value was written at version %d; the latest is %d", f.version, f.latest)
	}
	f.advance(c)
}

// rest reports fast index entries after the tree's last key.
func (f *fastIndex) rest(c *checker) {
	for f.valid {
		f.mismatch(c, f.key, "the fast index, from which the node serves reads, holds this key but the tree does not: the node would serve a value no block wrote")
		f.advance(c)
	}
	if err := f.it.Error(); err != nil {
		f.mismatch(c, nil, "reading the fast index: %v", err)
	}
}

// checkAudit recomputes the audit log of the latest version from its
// events (audit.Check), reading the tree that the proofs above covered.
func (c *checker) checkAudit(tree *iavl.MutableTree, latest int64) {
	t, err := immutable(tree, latest)
	if err != nil {
		return // reported with the versions
	}
	r := treeReader{t}
	err = guard(func() error {
		size, _, err := audit.Root(r)
		c.report.Audit.Events = size
		if err != nil {
			return err
		}
		return audit.Check(r)
	})
	c.report.Audit.Checked = true
	if err != nil {
		c.add(StoreAudit, c.appFile, latest, "", "%v", err)
	}
}

// treeReader reads an IAVL version as a kv.Reader.
type treeReader struct{ t *iavl.ImmutableTree }

func (r treeReader) Get(k []byte) ([]byte, error) { return r.t.Get(k) }

func (r treeReader) Iterate(start, end []byte, reverse bool, fn func(k, v []byte) bool) error {
	it, err := r.t.Iterator(start, end, !reverse)
	if err != nil {
		return err
	}
	defer it.Close()
	for ; it.Valid(); it.Next() {
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	return it.Error()
}
