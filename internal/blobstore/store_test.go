package blobstore

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

const testMax = 1 << 10

// implementations runs a test against every Store, each built with a
// 1 KiB limit.
func implementations(t *testing.T, test func(t *testing.T, s Store)) {
	t.Run("disk", func(t *testing.T) {
		d, err := Open(t.TempDir(), Options{MaxBlobSize: testMax})
		if err != nil {
			t.Fatal(err)
		}
		test(t, d)
	})
	t.Run("memory", func(t *testing.T) {
		m, err := NewMemory(Options{MaxBlobSize: testMax})
		if err != nil {
			t.Fatal(err)
		}
		test(t, m)
	})
}

func TestRoundTrip(t *testing.T) {
	implementations(t, func(t *testing.T, s Store) {
		for _, data := range [][]byte{{}, []byte("ciphertext"), bytes.Repeat([]byte{0xa5}, testMax)} {
			h, err := s.Put(data)
			if err != nil {
				t.Fatal(err)
			}
			if h != Sum(data) {
				t.Fatalf("Put returned %s, want the SHA-256 %s", h, Sum(data))
			}
			got, err := s.Get(h)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get %s: %v", h, err)
			}
			if ok, err := s.Has(h); !ok || err != nil {
				t.Fatalf("Has %s = %v, %v", h, ok, err)
			}
			// The store keeps its own copy, and hands out copies.
			if len(got) > 0 {
				got[0] ^= 0xff
				again, err := s.Get(h)
				if err != nil || !bytes.Equal(again, data) {
					t.Fatalf("changing a returned slice changed the store: %v", err)
				}
			}
		}
		in := []byte("mutable")
		h, err := s.Put(in)
		if err != nil {
			t.Fatal(err)
		}
		in[0] = 'M'
		if got, err := s.Get(h); err != nil || string(got) != "mutable" {
			t.Fatalf("changing Put's argument afterwards changed the blob: %q, %v", got, err)
		}
	})
}

func TestMissingIsNotFound(t *testing.T) {
	implementations(t, func(t *testing.T, s Store) {
		h := Sum([]byte("never stored"))
		_, err := s.Get(h)
		if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("Get of a missing blob: %v, want ErrNotFound only", err)
		}
		if ok, err := s.Has(h); ok || err != nil {
			t.Fatalf("Has of a missing blob = %v, %v", ok, err)
		}
	})
}

func TestDelete(t *testing.T) {
	implementations(t, func(t *testing.T, s Store) {
		h, err := s.Put([]byte("to be erased"))
		if err != nil {
			t.Fatal(err)
		}
		keep, err := s.Put([]byte("to be kept"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(h); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(h); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
		}
		if ok, _ := s.Has(h); ok {
			t.Fatal("Has after Delete is true")
		}
		if err := s.Delete(h); err != nil {
			t.Fatalf("repeating a Delete: %v", err)
		}
		if _, err := s.Get(keep); err != nil {
			t.Fatalf("Delete of another blob touched this one: %v", err)
		}
		// Erased content can be stored again.
		if _, err := s.Put([]byte("to be erased")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(h); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSizeLimit(t *testing.T) {
	implementations(t, func(t *testing.T, s Store) {
		if _, err := s.Put(make([]byte, testMax+1)); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Put over the limit: %v, want ErrTooLarge", err)
		}
		if _, err := s.Put(make([]byte, testMax)); err != nil {
			t.Fatalf("Put at the limit: %v", err)
		}
	})
	if _, err := Open(t.TempDir(), Options{MaxBlobSize: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
	d, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.max != DefaultMaxBlobSize || DefaultMaxBlobSize != 4<<20 {
		t.Fatalf("default limit %d", d.max)
	}
}

func TestAllIsOrderedAndComplete(t *testing.T) {
	implementations(t, func(t *testing.T, s Store) {
		var want []Hash
		for i := range 300 {
			h, err := s.Put(fmt.Appendf(nil, "blob %d", i))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, h)
		}
		slices.SortFunc(want, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
		var got []Hash
		for h, err := range s.All() {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, h)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("All yielded %d hashes, want %d in ascending order", len(got), len(want))
		}
		n := 0
		for range s.All() {
			n++
			if n == 5 {
				break
			}
		}
		if n != 5 {
			t.Fatal("All did not stop when asked")
		}
	})
}

func TestConcurrentPuts(t *testing.T) {
	implementations(t, func(t *testing.T, s Store) {
		same := []byte("the same ciphertext from every replica")
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 32 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				h, err := s.Put(same)
				if err == nil && h != Sum(same) {
					err = fmt.Errorf("hash %s", h)
				}
				errs <- err
			}()
			go func() {
				defer wg.Done()
				_, err := s.Put(fmt.Appendf(nil, "different %d", i))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.Get(Sum(same)); err != nil || !bytes.Equal(got, same) {
			t.Fatalf("after concurrent puts: %v", err)
		}
		r, err := Check(s)
		if err != nil || r.Blobs != 33 || len(r.Corrupt) != 0 {
			t.Fatalf("Check after concurrent puts: %+v, %v", r, err)
		}
	})
}

func TestCheckFindsTampering(t *testing.T) {
	implementations(t, func(t *testing.T, s Store) {
		var hs []Hash
		for i := range 10 {
			h, err := s.Put(fmt.Appendf(nil, "ciphertext %d", i))
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, h)
		}
		r, err := Check(s)
		if err != nil || r.Blobs != 10 || len(r.Corrupt) != 0 || r.Bytes != 10*int64(len("ciphertext 0")) {
			t.Fatalf("clean store: %+v, %v", r, err)
		}
		tamper(t, s, hs[3])
		tamper(t, s, hs[7])
		r, err = Check(s)
		want := []Hash{hs[3], hs[7]}
		slices.SortFunc(want, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
		if err != nil || r.Blobs != 10 || !slices.Equal(r.Corrupt, want) {
			t.Fatalf("Check = %+v, %v; want corrupt %v", r, err, want)
		}
		_, err = s.Get(hs[3])
		var ce *CorruptError
		if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) || !errors.As(err, &ce) || ce.Hash != hs[3] {
			t.Fatalf("Get of a tampered blob: %v, want a CorruptError naming %s", err, hs[3])
		}
		// Putting the content again repairs the copy.
		if _, err := s.Put(fmt.Appendf(nil, "ciphertext %d", 3)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(hs[3]); err != nil {
			t.Fatalf("after repair: %v", err)
		}
	})
}

// tamper flips one byte of a stored blob behind the store's back.
func tamper(t *testing.T, s Store, h Hash) {
	t.Helper()
	switch s := s.(type) {
	case *Disk:
		flipOnDisk(t, s, h, 0)
	case *Memory:
		s.mu.Lock()
		s.blobs[h][0] ^= 0x01
		s.mu.Unlock()
	default:
		t.Fatalf("cannot tamper with a %T", s)
	}
}
