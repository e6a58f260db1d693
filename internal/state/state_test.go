package state

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/carechain/carechain/internal/kv"
)

func TestCommitReopenAndProve(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := s.Working()
	_ = w.Set([]byte("a"), []byte("1"))
	_ = w.Set([]byte("b"), []byte("2"))
	want := s.WorkingHash()
	hash, v, err := s.Commit()
	if err != nil || v != 1 || !bytes.Equal(hash, want) {
		t.Fatalf("commit = %x, %d, %v; working hash was %x", hash, v, err, want)
	}
	// An uncommitted write is lost on reopen, as after a crash mid-block.
	_ = s.Working().Set([]byte("c"), []byte("3"))
	s.Close()

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ver, root := s.LastCommit()
	if ver != 1 || !bytes.Equal(root, hash) {
		t.Fatalf("reopened at %d/%x, want 1/%x", ver, root, hash)
	}
	if got, _ := s.Working().Get([]byte("c")); got != nil {
		t.Fatal("uncommitted write survived a reopen")
	}

	p, err := s.Prove([]byte("b"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(p.Root, []byte("b"), p.Value, p.Proof) || string(p.Value) != "2" {
		t.Fatal("membership proof does not verify")
	}
	if Verify(p.Root, []byte("b"), []byte("3"), p.Proof) {
		t.Fatal("membership proof verified a wrong value")
	}
	absent, err := s.Prove([]byte("zz"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if absent.Value != nil || !Verify(absent.Root, []byte("zz"), nil, absent.Proof) {
		t.Fatal("non-membership proof does not verify")
	}
	if _, err := s.Prove([]byte("a"), 7); err == nil {
		t.Fatal("proved at a version that does not exist")
	}
}

// IAVL's shape, and so its root, depends on the order of writes as well as
// on the final contents; determinism comes from every node applying the same
// writes in the same order. This test pins both facts.
func TestSameWritesSameHash(t *testing.T) {
	a, b, c := OpenMemory(), OpenMemory(), OpenMemory()
	for i := 0; i < 100; i++ {
		k, v := []byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(i))
		_ = a.Working().Set(k, v)
		_ = b.Working().Set(k, v)
	}
	for i := 99; i >= 0; i-- {
		_ = c.Working().Set([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(i)))
	}
	ha, _, _ := a.Commit()
	hb, _, _ := b.Commit()
	hc, _, _ := c.Commit()
	if !bytes.Equal(ha, hb) {
		t.Fatalf("same writes gave different hashes: %x vs %x", ha, hb)
	}
	if bytes.Equal(ha, hc) {
		t.Fatal("write order no longer affects the root; revisit the Overlay's sorted flush")
	}
}

// TestOverlayMatchesReference applies random operations through an Overlay
// and directly to a reference store, then compares every read and scan.
func TestOverlayMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		base, ref := kv.NewMemory(), kv.NewMemory()
		for i := 0; i < 20; i++ {
			k := []byte{byte('a' + rng.Intn(10))}
			_ = base.Set(k, []byte{byte(i)})
			_ = ref.Set(k, []byte{byte(i)})
		}
		o := NewOverlay(base)
		for i := 0; i < 15; i++ {
			k := []byte{byte('a' + rng.Intn(12))}
			if rng.Intn(3) == 0 {
				_ = o.Delete(k)
				_ = ref.Delete(k)
			} else {
				v := []byte{byte(100 + i)}
				_ = o.Set(k, v)
				_ = ref.Set(k, v)
			}
		}
		for _, reverse := range []bool{false, true} {
			start, end := []byte{byte('a' + rng.Intn(4))}, []byte{byte('f' + rng.Intn(6))}
			if got, want := scan(o, start, end, reverse), scan(ref, start, end, reverse); got != want {
				t.Fatalf("round %d reverse=%v: overlay scan %q, reference %q", round, reverse, got, want)
			}
		}
		if err := o.Write(); err != nil {
			t.Fatal(err)
		}
		if got, want := scan(base, nil, nil, false), scan(ref, nil, nil, false); got != want {
			t.Fatalf("round %d: after Write base %q, reference %q", round, got, want)
		}
	}
}

func scan(s kv.Reader, start, end []byte, reverse bool) string {
	var b bytes.Buffer
	_ = s.Iterate(start, end, reverse, func(k, v []byte) bool {
		fmt.Fprintf(&b, "%s=%d ", k, v)
		return true
	})
	return b.String()
}
