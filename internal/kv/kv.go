// Package kv defines the key-value interface that every pure carechain module
// reads and writes its state through, and an in-memory implementation for
// tests.
//
// The modules (identity, consent, records, audit) never open files or talk to
// a database: the ABCI adapter hands them a Store backed by the authenticated
// state tree, and unit tests hand them a Memory. Each module documents its own
// key layout beside the code that defines it, always under a prefix of its own
// so that modules cannot collide.
//
// An error returned by a Store is a storage failure (disk, corruption), never
// a judgement about user input: modules pass it up wrapped, and the node stops
// rather than guess.
package kv

import (
	"bytes"
	"sort"
)

// Reader reads state. Get returns (nil, nil) for a missing key.
type Reader interface {
	Get(key []byte) ([]byte, error)
	// Iterate calls fn for each key in [start, end) in ascending order, or
	// descending order when reverse is set, until fn returns false. A nil end
	// means no upper bound. Keys and values passed to fn must not be retained
	// or modified.
	Iterate(start, end []byte, reverse bool, fn func(key, value []byte) bool) error
}

// Store reads and writes state.
type Store interface {
	Reader
	Set(key, value []byte) error
	Delete(key []byte) error
}

// PrefixEnd returns the smallest key greater than every key that starts with
// prefix, for use as the end of an Iterate over a prefix. It returns nil when
// no such key exists (prefix is empty or all 0xff).
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Memory is an in-memory Store for unit tests. It is not safe for concurrent
// use.
type Memory struct {
	m map[string][]byte
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{m: make(map[string][]byte)} }

func (s *Memory) Get(key []byte) ([]byte, error) {
	v, ok := s.m[string(key)]
	if !ok {
		return nil, nil
	}
	return bytes.Clone(v), nil
}

func (s *Memory) Set(key, value []byte) error {
	s.m[string(key)] = bytes.Clone(value)
	return nil
}

func (s *Memory) Delete(key []byte) error {
	delete(s.m, string(key))
	return nil
}

func (s *Memory) Iterate(start, end []byte, reverse bool, fn func(key, value []byte) bool) error {
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		if k >= string(start) && (end == nil || k < string(end)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if reverse {
		for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
			keys[i], keys[j] = keys[j], keys[i]
		}
	}
	for _, k := range keys {
		if !fn([]byte(k), s.m[k]) {
			return nil
		}
	}
	return nil
}

// Len reports the number of keys held, for tests that measure storage.
func (s *Memory) Len() int { return len(s.m) }
