package blobstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzPutGet stores arbitrary bytes in both stores: what goes in comes out,
// named by its SHA-256, or Put refuses it as too large.
func FuzzPutGet(f *testing.F) {
	d, err := Open(f.TempDir(), Options{MaxBlobSize: testMax})
	if err != nil {
		f.Fatal(err)
	}
	m, err := NewMemory(Options{MaxBlobSize: testMax})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	f.Add([]byte("ciphertext"))
	f.Add(make([]byte, testMax+1))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range []Store{d, m} {
			h, err := s.Put(data)
			if len(data) > testMax {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("%T: Put of %d bytes: %v, want ErrTooLarge", s, len(data), err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if h != Sum(data) {
				t.Fatalf("%T: Put named the blob %s", s, h)
			}
			got, err := s.Get(h)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%T: Get: %v", s, err)
			}
		}
	})
}

// FuzzGet plants arbitrary bytes where a known blob should be: Get returns
// them only if they are that blob, and otherwise says ErrCorrupt.
func FuzzGet(f *testing.F) {
	dir := f.TempDir()
	d, err := Open(dir, Options{MaxBlobSize: testMax})
	if err != nil {
		f.Fatal(err)
	}
	want := []byte("the real ciphertext")
	h, err := d.Put(want)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(want)
	f.Add([]byte{})
	f.Add([]byte("the real ciphertexT"))
	f.Fuzz(func(t *testing.T, planted []byte) {
		if err := os.WriteFile(filepath.Join(dir, h.String()[:2], h.String()[2:]), planted, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := d.Get(h)
		if bytes.Equal(planted, want) {
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("the real blob: %v", err)
			}
			return
		}
		if !errors.Is(err, ErrCorrupt) || got != nil {
			t.Fatalf("planted %x: %v, want ErrCorrupt and no data", planted, err)
		}
	})
}

// FuzzParseHash checks the hash parser accepts only String's spelling.
func FuzzParseHash(f *testing.F) {
	f.Add(Sum(nil).String())
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err == nil && h.String() != s {
			t.Fatalf("ParseHash(%q) = %s", s, h)
		}
	})
}
