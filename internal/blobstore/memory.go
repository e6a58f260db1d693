package blobstore

import (
	"bytes"
	"fmt"
	"iter"
	"slices"
	"sync"
)

// Memory is a Store in memory, for tests. It keeps the Disk's contract,
// including the size limit and the hash check on every read.
type Memory struct {
	mu    sync.RWMutex
	blobs map[Hash][]byte
	max   int64
}

// NewMemory returns an empty in-memory store.
func NewMemory(opts Options) (*Memory, error) {
	max, err := opts.maxBlobSize()
	if err != nil {
		return nil, err
	}
	return &Memory{blobs: make(map[Hash][]byte), max: max}, nil
}

func (m *Memory) Put(data []byte) (Hash, error) {
	if int64(len(data)) > m.max {
		return Hash{}, tooLarge(len(data), m.max)
	}
	h := Sum(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[h] = bytes.Clone(data)
	return h, nil
}

func (m *Memory) Get(h Hash) ([]byte, error) {
	m.mu.RLock()
	data, ok := m.blobs[h]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("get blob %s: %w", h, ErrNotFound)
	}
	if got := Sum(data); got != h {
		return nil, &CorruptError{Hash: h, Reason: fmt.Sprintf("holds %d bytes hashing to %s", len(data), got)}
	}
	return bytes.Clone(data), nil
}

func (m *Memory) Has(h Hash) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.blobs[h]
	return ok, nil
}

func (m *Memory) Delete(h Hash) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blobs, h)
	return nil
}

// All yields a snapshot of the hashes taken when iteration starts.
func (m *Memory) All() iter.Seq2[Hash, error] {
	return func(yield func(Hash, error) bool) {
		m.mu.RLock()
		hs := make([]Hash, 0, len(m.blobs))
		for h := range m.blobs {
			hs = append(hs, h)
		}
		m.mu.RUnlock()
		slices.SortFunc(hs, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
		for _, h := range hs {
			if !yield(h, nil) {
				return
			}
		}
	}
}
