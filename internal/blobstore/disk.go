package blobstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
)

// Disk stores each blob in its own file:
//
//	DIR/ab/cdef…   the blob whose hash in hex is abcdef… (2 + 62 digits)
//	DIR/ab/.put-*  a Put in progress, or one a crash interrupted
//
// The two-digit fan-out keeps directories small (256 of them; a million
// blobs is about 4,000 files each). Directories are mode 0700 and files
// 0600: the content is ciphertext, but its sizes and names are nobody
// else's business either. Names other than these are ignored, so an
// operator's stray file does not break a walk. Leftover .put-* files are
// harmless and may be removed while the node is stopped.
//
// A Put writes a temporary file in the blob's directory, syncs it, renames
// it into place and syncs the directory, so a crash leaves either no blob
// or the whole blob. Several processes may share a directory.
type Disk struct {
	dir string
	max int64
}

const tempPattern = ".put-*"

// Open opens the store rooted at dir, creating it (mode 0700) if needed.
func Open(dir string, opts Options) (*Disk, error) {
	max, err := opts.maxBlobSize()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open blob store: %s is not a directory", dir)
	}
	return &Disk{dir: dir, max: max}, nil
}

// Dir returns the store's root directory.
func (d *Disk) Dir() string { return d.dir }

func (d *Disk) subdir(h Hash) string { return filepath.Join(d.dir, h.String()[:2]) }
func (d *Disk) path(h Hash) string   { s := h.String(); return filepath.Join(d.dir, s[:2], s[2:]) }

// Put stores data atomically and durably.
func (d *Disk) Put(data []byte) (Hash, error) {
	if int64(len(data)) > d.max {
		return Hash{}, tooLarge(len(data), d.max)
	}
	h := Sum(data)
	switch _, err := d.Get(h); {
	case err == nil:
		return h, nil // already here and intact
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt):
		// write it, replacing a corrupt copy
	default:
		return Hash{}, fmt.Errorf("put blob %s: %w", h, err)
	}
	if err := d.write(h, data); err != nil {
		return Hash{}, fmt.Errorf("put blob %s: %w", h, err)
	}
	return h, nil
}

func (d *Disk) write(h Hash, data []byte) (err error) {
	sub := d.subdir(h)
	switch err := os.Mkdir(sub, 0o700); {
	case err == nil:
		// The new directory's entry must be durable before the blob in it.
		if err := syncDir(d.dir); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	f, err := os.CreateTemp(sub, tempPattern) // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), d.path(h)); err != nil {
		return err
	}
	return syncDir(sub)
}

// syncDir makes a directory's entries (a rename, a removal) durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Get reads the blob named h and checks its hash. It never reads more than
// the size limit, whatever the file has become.
func (d *Disk) Get(h Hash) ([]byte, error) {
	f, err := os.Open(d.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("get blob %s: %w", h, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get blob %s: %w", h, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("get blob %s: %w", h, err)
	}
	if !st.Mode().IsRegular() {
		return nil, &CorruptError{Hash: h, Reason: fmt.Sprintf("%s is not a regular file", d.path(h))}
	}
	if st.Size() > d.max {
		return nil, &CorruptError{Hash: h, Reason: fmt.Sprintf("%s is %d bytes, above the limit of %d", d.path(h), st.Size(), d.max)}
	}
	// Blob files are never changed in place (Put renames a new file over
	// the old), so the size read above is the size to expect. A file that
	// is shorter than it claims simply fails the hash.
	data := make([]byte, st.Size())
	n, err := io.ReadFull(f, data)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("get blob %s: %w", h, err)
	}
	data = data[:n]
	if got := Sum(data); got != h {
		return nil, &CorruptError{Hash: h, Reason: fmt.Sprintf("%s holds %d bytes hashing to %s", d.path(h), len(data), got)}
	}
	return data, nil
}

// Has reports whether a file for h exists.
func (d *Disk) Has(h Hash) (bool, error) {
	_, err := os.Lstat(d.path(h))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("has blob %s: %w", h, err)
}

// Delete removes the blob's file and makes the removal durable.
func (d *Disk) Delete(h Hash) error {
	err := os.Remove(d.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete blob %s: %w", h, err)
	}
	if err := syncDir(d.subdir(h)); err != nil {
		return fmt.Errorf("delete blob %s: %w", h, err)
	}
	return nil
}

// All walks the fan-out directories in order. os.ReadDir sorts by name, and
// lowercase hex sorts as the bytes it spells, so hashes come out ascending.
func (d *Disk) All() iter.Seq2[Hash, error] {
	return func(yield func(Hash, error) bool) {
		tops, err := os.ReadDir(d.dir)
		if err != nil {
			yield(Hash{}, fmt.Errorf("list blobs: %w", err))
			return
		}
		for _, top := range tops {
			if !top.IsDir() || !isHex(top.Name(), 2) {
				continue
			}
			files, err := os.ReadDir(filepath.Join(d.dir, top.Name()))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				yield(Hash{}, fmt.Errorf("list blobs: %w", err))
				return
			}
			for _, f := range files {
				// Any entry with a blob's name is yielded, file or not, so
				// that Check reads it and reports what is wrong with it.
				if !isHex(f.Name(), 2*len(Hash{})-2) {
					continue
				}
				h, err := ParseHash(top.Name() + f.Name())
				if err != nil {
					continue // unreachable: both parts are lowercase hex of the right length
				}
				if !yield(h, nil) {
					return
				}
			}
		}
	}
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
