package check

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cometbft/cometbft/store"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/state"
)

// CorruptError is Startup's refusal: what it found, and the command that
// finds the rest.
type CorruptError struct {
	Home     string
	Findings []Finding
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	b.WriteString("store corrupted: ")
	b.WriteString(e.Findings[0].String())
	if n := len(e.Findings) - 1; n > 0 {
		fmt.Fprintf(&b, " (and %d more)", n)
	}
	fmt.Fprintf(&b, "; run 'carechain check --home %s'", e.Home)
	return b.String()
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Keys of the audit log's head and events (docs/audit-log.md, "Key
// layout"): Startup proves the two it reads against the state root.
var auditHeadKey = []byte("audit/head")

func auditEventKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("audit/e/"), seq)
}

// Startup is the check node.Start runs before CometBFT opens the stores.
// It reads O(log n) records of each store:
//
//   - the last block: its parts against the part-set hash, its internal
//     hashes, its hash against the block id, and its commit against the
//     validator set of its height;
//   - the application state's latest root: equal to the app hash in the
//     header of the block after it, or for a version no block carries yet
//     to the app hash CometBFT recorded;
//   - the audit log: its head and newest event, each proven against that
//     root as the node reads them, and the event proven against the head's
//     root through the stored subtree hashes.
//
// A change anywhere else — an older block, a value the last blocks did not
// touch — is what Run is for. app is the node's open state store, which
// holds its database's lock, so the state is read through it.
func Startup(p Paths, app *state.Store) error {
	genesis, err := cmttypes.GenesisDocFromFile(p.Genesis)
	if err != nil {
		return fmt.Errorf("read the genesis: %w", err)
	}
	c := &checker{paths: p, genesis: genesis, report: &Report{},
		blockFile:     rel(p.Home, filepath.Join(p.CometData, cometBlockDB+".db")),
		consensusFile: rel(p.Home, filepath.Join(p.CometData, cometStateDB+".db")),
		appFile:       rel(p.Home, filepath.Join(p.AppData, appStateDB+".db")),
	}
	blockDB, err := openComet(p.CometData, cometBlockDB)
	if err != nil {
		return err
	}
	if blockDB != nil {
		defer blockDB.Close()
	}
	stateDB, err := openComet(p.CometData, cometStateDB)
	if err != nil {
		return err
	}
	if stateDB != nil {
		defer stateDB.Close()
	}

	ch := &chain{appHash: map[int64][]byte{}}
	if stateDB != nil {
		if ch.state, err = loadConsensusState(stateDB); err != nil {
			c.add(StoreConsensus, c.consensusFile, 0, stateKey, "CometBFT's state: %v", err)
		}
	}
	var bs *store.BlockStore
	if blockDB != nil {
		if err := guard(func() error { bs = store.NewBlockStore(blockDB); return nil }); err != nil {
			c.add(StoreBlocks, c.blockFile, 0, blockStoreKey, "the record of the store's base and height: %v", err)
		} else {
			ch.base, ch.height = bs.Base(), bs.Height()
		}
	}
	if ch.height > 0 {
		before := c.found.count()
		meta, block := c.checkBlock(bs, ch.height)
		vals := newValidators(stateDB)
		if vals == nil {
			c.add(StoreConsensus, c.consensusFile, 0, "", "CometBFT's state database is missing: there are no validator sets to verify the commits with")
		}
		c.checkValidators(vals, ch.height, block)
		if meta != nil && block != nil {
			c.checkSeenCommit(bs, vals, ch.height, map[int64]cmttypes.BlockID{ch.height: meta.BlockID})
		}
		if block != nil && c.found.count() == before {
			ch.appHash[ch.height] = block.AppHash
		}
	}

	var (
		version int64
		root    []byte
	)
	if err := guard(func() error { version, root = app.LastCommit(); return nil }); err != nil {
		c.add(StoreApp, c.appFile, 0, "", "the latest state root does not load: %v", err)
	} else {
		c.startupLink(bs, ch, version, root)
		if version > 0 {
			if err := guard(func() error { c.startupAudit(app, version, root); return nil }); err != nil {
				c.add(StoreAudit, c.appFile, version, "", "reading the audit log: %v", err)
			}
		}
	}
	if c.found.count() > 0 {
		return &CorruptError{Home: p.Home, Findings: c.found.list}
	}
	return nil
}

// startupLink compares the state's latest root with the app hash that
// commits to it. A state behind the blocks by more than one is legal: the
// node replays the missing blocks, and the replay checks every app hash.
func (c *checker) startupLink(bs *store.BlockStore, ch *chain, version int64, root []byte) {
	switch {
	case version > ch.height:
		c.add(StoreApp, c.appFile, version, "", "the application state is at version %d, past the last stored block %d", version, ch.height)
	case version+1 <= ch.height && version >= ch.base-1:
		want, ok := ch.appHash[version+1]
		if !ok && version+1 != ch.height {
			// The state is more than one block behind: take the app hash
			// from the next block's stored header, if it is the header
			// its block id names.
			var meta *cmttypes.BlockMeta
			err := guard(func() error { meta = bs.LoadBlockMeta(version + 1); return nil })
			if err == nil && meta != nil && bytes.Equal(meta.Header.Hash(), meta.BlockID.Hash) {
				want, ok = meta.Header.AppHash, true
			}
		}
		if ok && version > 0 && !bytes.Equal(root, want) {
			c.add(StoreApp, c.appFile, version, "", "the state root saved for version %d is %X; block %d's app hash is %X", version, root, version+1, want)
		}
	case version == ch.height && version > 0 && ch.state != nil && ch.state.LastBlockHeight == version:
		if !bytes.Equal(root, ch.state.AppHash) {
			c.add(StoreApp, c.appFile, version, "", "the state root saved for version %d is %X; CometBFT's state recorded %X", version, root, []byte(ch.state.AppHash))
		}
	}
}

// startupAudit proves the audit head and newest event against the state
// root, reading them as the node does (through IAVL's fast index), and the
// event against the head's root.
func (c *checker) startupAudit(app *state.Store, version int64, root []byte) {
	r, _, err := app.Snapshot(version)
	if err != nil {
		c.add(StoreApp, c.appFile, version, "", "the latest state version does not load: %v", err)
		return
	}
	size, logRoot, err := audit.Root(r)
	if err != nil {
		c.add(StoreAudit, c.appFile, version, KeyString(auditHeadKey), "%v", err)
		return
	}
	keys := [][]byte{auditHeadKey}
	if size > 0 {
		keys = append(keys, auditEventKey(size-1))
	}
	for _, k := range keys {
		p, err := app.Prove(k, version)
		switch {
		case err != nil:
			c.add(StoreAudit, c.appFile, version, KeyString(k), "no proof can be built for this key: %v", err)
		case p.Value == nil && size == 0:
			// An empty log has no head; the proof shows it absent.
			if !state.Verify(root, k, nil, p.Proof) {
				c.add(StoreAudit, c.appFile, version, KeyString(k), "the absence of the audit head does not prove against the state root: a value beside it in the tree, or a tree node on the path, was changed")
			}
		case p.Value == nil || !state.Verify(root, k, p.Value, p.Proof):
			c.add(StoreAudit, c.appFile, version, KeyString(k), "the value the node reads does not prove against the state root: it, a value beside it in the tree, or a tree node on its path was changed")
		}
	}
	if size == 0 {
		return
	}
	ep, err := audit.ProveEvent(r, size-1, size)
	if err == nil {
		_, err = ep.Verify()
	}
	if err == nil && !bytes.Equal(ep.Root, logRoot) {
		err = errors.New("the proof is against another root")
	}
	if err != nil {
		c.add(StoreAudit, c.appFile, version, KeyString(auditEventKey(size-1)), "the newest event does not prove against the head's root: %v", err)
	}
}
