package audit

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/carechain/carechain/internal/kv"
)

// The tree is RFC 6962 with SHA-256, as implemented by transparency-dev/merkle.
// This file stores and reads its nodes; it knows nothing about events, so
// tests can drive it with arbitrary leaves.
var (
	hasher       = rfc6962.DefaultHasher
	rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}
)

const hashLen = 32

// nodes reads tree nodes: complete subtrees of level ≥ 1 from the store,
// leaves (level 0) from leaf.
type nodes struct {
	r    kv.Reader
	leaf func(index uint64) ([]byte, error)
}

func (t nodes) get(id compact.NodeID) ([]byte, error) {
	if id.Level == 0 {
		return t.leaf(id.Index)
	}
	b, err := t.r.Get(nodeKey(id))
	if err != nil {
		return nil, fmt.Errorf("load tree node (%d, %d): %w", id.Level, id.Index, err)
	}
	if len(b) != hashLen {
		return nil, fmt.Errorf("load tree node (%d, %d): %w: %d bytes", id.Level, id.Index, ErrCorrupt, len(b))
	}
	return b, nil
}

func (t nodes) getAll(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.get(id)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// border returns the compact range [0, size): the hashes of the perfect
// subtrees along the tree's right edge, at most log2(size)+1 of them.
func (t nodes) border(size uint64) (*compact.Range, error) {
	hashes, err := t.getAll(compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	return rangeFactory.NewRange(0, size, hashes)
}

// rootAt returns the root hash of the tree's first size leaves.
func (t nodes) rootAt(size uint64) ([]byte, error) {
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	rng, err := t.border(size)
	if err != nil {
		return nil, err
	}
	return rng.GetRootHash(nil)
}

// appendLeaf adds leaf as leaf number size, stores every subtree that it
// completes, and returns the new root. It reads and writes O(log size) nodes.
func (t nodes) appendLeaf(s kv.Store, size uint64, leaf []byte) ([]byte, error) {
	rng, err := t.border(size)
	if err != nil {
		return nil, err
	}
	var setErr error
	err = rng.Append(leaf, func(id compact.NodeID, hash []byte) {
		if id.Level == 0 || setErr != nil {
			return
		}
		if err := s.Set(nodeKey(id), bytes.Clone(hash)); err != nil {
			setErr = fmt.Errorf("store tree node (%d, %d): %w", id.Level, id.Index, err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("append leaf %d: %w: %w", size, ErrCorrupt, err)
	}
	if setErr != nil {
		return nil, setErr
	}
	return rng.GetRootHash(nil)
}

// inclusion returns the RFC 6962 inclusion proof of leaf index in the tree of
// the given size; it requires index < size ≤ the tree's size.
func (t nodes) inclusion(index, size uint64) ([][]byte, error) {
	ns, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	hashes, err := t.getAll(ns.IDs)
	if err != nil {
		return nil, err
	}
	return ns.Rehash(hashes, hasher.HashChildren)
}

// consistency returns the RFC 6962 consistency proof between two sizes; it
// requires size1 ≤ size2 ≤ the tree's size.
func (t nodes) consistency(size1, size2 uint64) ([][]byte, error) {
	ns, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	hashes, err := t.getAll(ns.IDs)
	if err != nil {
		return nil, err
	}
	return ns.Rehash(hashes, hasher.HashChildren)
}
