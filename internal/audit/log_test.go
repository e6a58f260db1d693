package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/bits"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/kv"
)

// countingStore counts the reads and writes a call makes.
type countingStore struct {
	kv.Store
	gets, sets, iterates int
}

func (c *countingStore) Get(k []byte) ([]byte, error) { c.gets++; return c.Store.Get(k) }
func (c *countingStore) Set(k, v []byte) error        { c.sets++; return c.Store.Set(k, v) }
func (c *countingStore) Iterate(s, e []byte, rev bool, fn func(k, v []byte) bool) error {
	c.iterates++
	return c.Store.Iterate(s, e, rev, fn)
}
func (c *countingStore) reset() { c.gets, c.sets, c.iterates = 0, 0, 0 }

func TestEmptyLog(t *testing.T) {
	s := kv.NewMemory()
	size, root, err := Root(s)
	empty := sha256.Sum256(nil)
	if err != nil || size != 0 || !bytes.Equal(root, empty[:]) {
		t.Fatalf("empty log: size %d root %x err %v", size, root, err)
	}
	if _, err := Get(s, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get on empty log: %v", err)
	}
	if _, err := InclusionProof(s, 0, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("InclusionProof on empty log: %v", err)
	}
	if p, err := ConsistencyProof(s, 0, 0); err != nil || len(p) != 0 {
		t.Errorf("ConsistencyProof(0, 0) = %x, %v", p, err)
	}
	if err := Check(s); err != nil {
		t.Errorf("Check on empty log: %v", err)
	}
}

func TestAppendRejectsWithoutWriting(t *testing.T) {
	s, _ := buildLog(t, []Event{vectorEvent(0), vectorEvent(3)})
	before := snapshot(s)
	last := vectorEvent(3)
	bad := map[string]Event{}
	e := last
	e.Time = last.Time.Add(-time.Nanosecond)
	bad["time goes backwards"] = e
	e = last
	e.Height = last.Height - 1
	bad["height goes backwards"] = e
	e = last
	e.Action = "record.teleport"
	bad["unregistered action"] = e
	e = last
	e.Reason = Reason{}
	bad["no reason"] = e
	for name, e := range bad {
		if _, _, err := Append(s, e); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: err = %v, want ErrInvalidEvent", name, err)
		}
		if after := snapshot(s); after != before {
			t.Errorf("%s: store changed by a rejected append", name)
		}
	}
	// Same block, same time: fine. The caller's Seq is ignored.
	e = last
	e.Seq = 99
	if seq, _, err := Append(s, e); err != nil || seq != 2 {
		t.Fatalf("append in the same block: seq %d, %v", seq, err)
	}
}

func snapshot(s *kv.Memory) string {
	var b bytes.Buffer
	_ = s.Iterate(nil, nil, false, func(k, v []byte) bool {
		b.Write(k)
		b.WriteByte(0)
		b.Write(v)
		b.WriteByte(0)
		return true
	})
	return b.String()
}

func TestGetAndProve(t *testing.T) {
	g := newEventGen(4, 5)
	events := make([]Event, 100)
	for i := range events {
		events[i] = g.next()
	}
	s, _ := buildLog(t, events)
	size, root, err := Root(s)
	if err != nil || size != 100 {
		t.Fatalf("Root: %d, %v", size, err)
	}
	for _, seq := range []uint64{0, 1, 50, 99} {
		got, err := Get(s, seq)
		if err != nil {
			t.Fatal(err)
		}
		want := events[seq]
		want.Seq = seq
		if !sameEvent(got, want) {
			t.Fatalf("Get(%d) = %+v, want %+v", seq, got, want)
		}
		ep, err := ProveEvent(s, seq, 0)
		if err != nil {
			t.Fatal(err)
		}
		if ep.Size != 100 || !bytes.Equal(ep.Root, root) {
			t.Fatalf("ProveEvent(%d) against size %d root %x", seq, ep.Size, ep.Root)
		}
		// Through JSON, as a bundle travels.
		b, err := json.Marshal(ep)
		if err != nil {
			t.Fatal(err)
		}
		var back EventProof
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if ev, err := back.Verify(); err != nil || ev.Seq != seq {
			t.Fatalf("verify proof of %d: %v", seq, err)
		}
		// Every flipped bit of the event is caught.
		for i := range back.Event {
			tampered := back
			tampered.Event = bytes.Clone(back.Event)
			tampered.Event[i] ^= 0x10
			if _, err := tampered.Verify(); err == nil {
				t.Fatalf("event %d with byte %d flipped verified", seq, i)
			}
		}
		// And an older root, with its own proof.
		old, err := ProveEvent(s, seq, seq+1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.Verify(); err != nil {
			t.Fatalf("proof of %d in size %d: %v", seq, seq+1, err)
		}
	}
	if _, err := Get(s, 100); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get past the end: %v", err)
	}
	if _, err := InclusionProof(s, 5, 101); !errors.Is(err, ErrNotFound) {
		t.Errorf("proof in a size beyond the log: %v", err)
	}
	if _, err := InclusionProof(s, 5, 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("proof of a leaf beyond the size: %v", err)
	}
	if _, err := ConsistencyProof(s, 6, 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("consistency with old > new: %v", err)
	}
	if _, err := RootAt(s, 101); !errors.Is(err, ErrNotFound) {
		t.Errorf("RootAt beyond the log: %v", err)
	}
}

// TestLogarithmicCost counts store operations: appending and proving must
// touch O(log n) keys.
func TestLogarithmicCost(t *testing.T) {
	c := &countingStore{Store: kv.NewMemory()}
	g := newEventGen(5, 30)
	const n = 5000
	worstAppend := 0
	for range n {
		c.reset()
		if _, _, err := Append(c, g.next()); err != nil {
			t.Fatal(err)
		}
		worstAppend = max(worstAppend, c.gets+c.sets)
		if c.iterates != 0 {
			t.Fatal("Append iterated")
		}
	}
	logN := bits.Len64(n)
	// Reads: head, the right border (≤ log n nodes, one an event), the
	// patient count. Writes: the event, completed nodes (≤ log n), the
	// patient entry and count, the head.
	if limit := 2*logN + 8; worstAppend > limit {
		t.Errorf("worst append touched %d keys, limit %d", worstAppend, limit)
	}
	for _, seq := range []uint64{0, 1234, n - 1} {
		c.reset()
		if _, err := InclusionProof(c, seq, n); err != nil {
			t.Fatal(err)
		}
		// The proof's nodes plus, for the ephemeral node on the right
		// border, the perfect subtrees it is rebuilt from.
		if limit := 2*logN + 3; c.gets > limit || c.iterates != 0 {
			t.Errorf("inclusion proof of %d read %d keys (%d scans), limit %d", seq, c.gets, c.iterates, limit)
		}
	}
	c.reset()
	if _, err := ConsistencyProof(c, 1000, n); err != nil {
		t.Fatal(err)
	}
	if limit := 2*logN + 3; c.gets > limit {
		t.Errorf("consistency proof read %d keys, limit %d", c.gets, limit)
	}
}

func TestCheckDetectsTampering(t *testing.T) {
	g := newEventGen(6, 4)
	events := make([]Event, 77)
	for i := range events {
		events[i] = g.next()
	}
	fresh := func() *kv.Memory {
		s, _ := buildLog(t, events)
		return s
	}
	if err := Check(fresh()); err != nil {
		t.Fatalf("Check on a good log: %v", err)
	}
	e5, _ := GetEncoded(fresh(), 5)
	cases := map[string]func(s *kv.Memory){
		"node changed": func(s *kv.Memory) {
			k := nodeKey(nodeID(2, 3))
			v, _ := s.Get(k)
			v[0] ^= 1
			_ = s.Set(k, v)
		},
		"node missing": func(s *kv.Memory) { _ = s.Delete(nodeKey(nodeID(1, 10))) },
		"event changed": func(s *kv.Memory) {
			tampered := bytes.Replace(e5, []byte("prac-"), []byte("prak-"), 1)
			_ = s.Set(eventKey(5), tampered)
		},
		"event missing": func(s *kv.Memory) { _ = s.Delete(eventKey(40)) },
		"event swapped": func(s *kv.Memory) {
			a, _ := s.Get(eventKey(1))
			b, _ := s.Get(eventKey(2))
			_ = s.Set(eventKey(1), b)
			_ = s.Set(eventKey(2), a)
		},
		"root changed": func(s *kv.Memory) {
			h, _ := s.Get(keyHead)
			h[len(h)-1] ^= 1
			_ = s.Set(keyHead, h)
		},
		"patient entry changed": func(s *kv.Memory) { _ = s.Set(patientEntryKey("pat-0", 0), []byte{76}) },
		"patient count changed": func(s *kv.Memory) { _ = s.Set(patientCountKey("pat-1"), []byte{0}) },
		"stray key":             func(s *kv.Memory) { _ = s.Set([]byte("audit/zzz"), []byte("x")) },
		"extra patient entry":   func(s *kv.Memory) { _ = s.Set(patientEntryKey("pat-2", 1000), []byte{1}) },
	}
	for name, tamper := range cases {
		s := fresh()
		tamper(s)
		if err := Check(s); err == nil {
			t.Errorf("%s: Check passed", name)
		}
	}
}

func TestVerifyRejectsMalformedInput(t *testing.T) {
	h := make([]byte, 32)
	cases := map[string]error{
		"short leaf":        VerifyInclusion(0, 1, h[:31], nil, h),
		"short root":        VerifyInclusion(0, 1, h, nil, h[:1]),
		"short proof hash":  VerifyInclusion(0, 2, h, [][]byte{h[:31]}, h),
		"index beyond size": VerifyInclusion(1, 1, h, nil, h),
		"long proof":        VerifyInclusion(0, 2, h, make([][]byte, maxProofHashes+1), h),
		"consistency short": VerifyConsistency(1, 2, [][]byte{h[:5]}, h, h),
		"consistency order": VerifyConsistency(2, 1, [][]byte{h}, h, h),
	}
	for name, err := range cases {
		if !errors.Is(err, ErrBadProof) {
			t.Errorf("%s: err = %v, want ErrBadProof", name, err)
		}
	}
	if _, err := DecodeProof(make([]byte, 33)); !errors.Is(err, ErrBadProof) {
		t.Errorf("DecodeProof with trailing byte: %v", err)
	}
	if _, err := DecodeProof(make([]byte, 32*(maxProofHashes+1))); !errors.Is(err, ErrBadProof) {
		t.Errorf("DecodeProof too long: %v", err)
	}
	if _, err := VerifyEvent([]byte{1, 2, 3}, 1, nil, h); !errors.Is(err, ErrBadProof) {
		t.Errorf("VerifyEvent of garbage: %v", err)
	}
}
