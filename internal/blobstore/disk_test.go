package blobstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func flipOnDisk(t *testing.T, d *Disk, h Hash, i int) {
	t.Helper()
	p := d.path(h)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[i] ^= 0x01
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDiskLayoutAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.Put([]byte("ciphertext"))
	if err != nil {
		t.Fatal(err)
	}
	name := h.String()
	want := filepath.Join(dir, name[:2], name[2:])
	st, err := os.Stat(want)
	if err != nil {
		t.Fatalf("blob not at %s: %v", want, err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("blob file mode %v, want 0600", st.Mode().Perm())
	}
	for _, p := range []string{dir, filepath.Dir(want)} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v, want 0700", p, st.Mode().Perm())
		}
	}
	entries, err := os.ReadDir(filepath.Dir(want))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("fan-out directory holds %d entries; a temporary file was left behind", len(entries))
	}
}

func TestDiskCorruption(t *testing.T) {
	d, err := Open(t.TempDir(), Options{MaxBlobSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	put := func(s string) Hash {
		h, err := d.Put([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for name, damage := range map[string]func(h Hash){
		"flipped byte": func(h Hash) { flipOnDisk(t, d, h, 3) },
		"truncated":    func(h Hash) { os.Truncate(d.path(h), 2) },
		"emptied":      func(h Hash) { os.Truncate(d.path(h), 0) },
		"extended":     func(h Hash) { appendTo(t, d.path(h), "x") },
		"over limit":   func(h Hash) { appendTo(t, d.path(h), strings.Repeat("x", 100)) },
		"replaced by a directory": func(h Hash) {
			os.Remove(d.path(h))
			os.Mkdir(d.path(h), 0o700)
		},
	} {
		h := put("ciphertext for " + name)
		damage(h)
		_, err := d.Get(h)
		var ce *CorruptError
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Hash != h {
			t.Errorf("%s: %v, want a CorruptError naming the hash", name, err)
			continue
		}
		if !strings.Contains(err.Error(), h.String()) {
			t.Errorf("%s: error %q does not name the blob", name, err)
		}
	}
	r, err := Check(d)
	if err != nil || len(r.Corrupt) != 6 {
		t.Fatalf("Check: %+v, %v; want six corrupt blobs", r, err)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestDiskIgnoresStrayFiles(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.Put([]byte("real"))
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Dir(d.path(h))
	for _, p := range []string{
		filepath.Join(dir, "README"),
		filepath.Join(dir, "zz"),                            // not a fan-out directory name
		filepath.Join(sub, ".put-12345"),                    // an interrupted Put
		filepath.Join(sub, strings.ToUpper(h.String()[2:])), // not lowercase
		filepath.Join(sub, "short"),
	} {
		if err := os.WriteFile(p, []byte("stray"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "AB"), 0o700); err != nil {
		t.Fatal(err)
	}
	var got []Hash
	for h, err := range d.All() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h)
	}
	if len(got) != 1 || got[0] != h {
		t.Fatalf("All = %v, want only %s", got, h)
	}
	if r, err := Check(d); err != nil || r.Blobs != 1 || len(r.Corrupt) != 0 {
		t.Fatalf("Check: %+v, %v", r, err)
	}
}

func TestDiskSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.Put([]byte("durable"))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d2.Get(h); err != nil || string(got) != "durable" {
		t.Fatalf("after reopening: %q, %v", got, err)
	}
}

func TestOpenRefusesAFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, Options{}); err == nil {
		t.Fatal("Open accepted a regular file as its directory")
	}
}

func TestDiskReportsUnreadableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any directory")
	}
	dir := t.TempDir()
	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.Put([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Dir(d.path(h))
	if err := os.Chmod(sub, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(sub, 0o700)
	if _, err := Check(d); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Check over an unreadable directory: %v, want a permission error", err)
	}
}
