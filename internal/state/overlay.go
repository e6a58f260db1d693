package state

import (
	"bytes"
	"sort"

	"github.com/carechain/carechain/internal/kv"
)

// Overlay buffers writes over a base store so that a transaction's changes
// apply all together or not at all: Write flushes them in key order,
// Discard drops them. Reads see the buffered writes.
type Overlay struct {
	base    kv.Store
	writes  map[string][]byte // nil value: deleted
	deleted map[string]bool
}

// NewOverlay returns an empty overlay over base.
func NewOverlay(base kv.Store) *Overlay {
	return &Overlay{base: base, writes: map[string][]byte{}, deleted: map[string]bool{}}
}

func (o *Overlay) Get(k []byte) ([]byte, error) {
	if o.deleted[string(k)] {
		return nil, nil
	}
	if v, ok := o.writes[string(k)]; ok {
		return bytes.Clone(v), nil
	}
	return o.base.Get(k)
}

func (o *Overlay) Set(k, v []byte) error {
	o.writes[string(k)] = bytes.Clone(v)
	delete(o.deleted, string(k))
	return nil
}

func (o *Overlay) Delete(k []byte) error {
	delete(o.writes, string(k))
	o.deleted[string(k)] = true
	return nil
}

// Iterate merges the base's keys with the buffered writes.
func (o *Overlay) Iterate(start, end []byte, reverse bool, fn func(k, v []byte) bool) error {
	var pending []string
	for k := range o.writes {
		if k >= string(start) && (end == nil || k < string(end)) {
			pending = append(pending, k)
		}
	}
	sort.Strings(pending)
	if reverse {
		for i, j := 0, len(pending)-1; i < j; i, j = i+1, j-1 {
			pending[i], pending[j] = pending[j], pending[i]
		}
	}
	before := func(a, b string) bool { // a comes before b in iteration order
		if reverse {
			return a > b
		}
		return a < b
	}
	stopped := false
	err := o.base.Iterate(start, end, reverse, func(k, v []byte) bool {
		for len(pending) > 0 && before(pending[0], string(k)) {
			if !fn([]byte(pending[0]), o.writes[pending[0]]) {
				stopped = true
				return false
			}
			pending = pending[1:]
		}
		if len(pending) > 0 && pending[0] == string(k) {
			pending = pending[1:]
			if !fn(k, o.writes[string(k)]) {
				stopped = true
				return false
			}
			return true
		}
		if o.deleted[string(k)] {
			return true
		}
		if !fn(k, v) {
			stopped = true
			return false
		}
		return true
	})
	if err != nil || stopped {
		return err
	}
	for _, k := range pending {
		if !fn([]byte(k), o.writes[k]) {
			break
		}
	}
	return nil
}

// Write applies the buffered changes to the base in key order, so the
// result does not depend on map order.
func (o *Overlay) Write() error {
	keys := make([]string, 0, len(o.writes)+len(o.deleted))
	for k := range o.writes {
		keys = append(keys, k)
	}
	for k := range o.deleted {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var err error
		if o.deleted[k] {
			err = o.base.Delete([]byte(k))
		} else {
			err = o.base.Set([]byte(k), o.writes[k])
		}
		if err != nil {
			return err
		}
	}
	o.Discard()
	return nil
}

// Discard drops the buffered changes.
func (o *Overlay) Discard() {
	clear(o.writes)
	clear(o.deleted)
}
