package blobstore

import (
	"errors"
	"fmt"
	"iter"
)

// DefaultMaxBlobSize bounds a blob when Options leaves it zero.
const DefaultMaxBlobSize = 4 << 20

var (
	// ErrNotFound means no blob with that hash is stored.
	ErrNotFound = errors.New("blob not found")
	// ErrCorrupt means a blob is stored but its content does not hash to
	// its name. Errors that wrap it are *CorruptError.
	ErrCorrupt = errors.New("blob is corrupt")
	// ErrTooLarge means Put was given more than the store's limit.
	ErrTooLarge = errors.New("blob too large")
)

// CorruptError reports a blob whose stored content does not match its
// hash.
type CorruptError struct {
	Hash   Hash
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("blob %s is corrupt: %s", e.Hash, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Store is a content-addressed blob store. Implementations are safe for
// concurrent use.
type Store interface {
	// Put stores data and returns its hash. Storing content that is
	// already present succeeds and changes nothing, except that a corrupt
	// copy is replaced.
	Put(data []byte) (Hash, error)
	// Get returns the blob named h after checking that it hashes to h:
	// ErrNotFound if there is none, a *CorruptError if it does not match.
	Get(h Hash) ([]byte, error)
	// Has reports whether a blob named h is stored, without reading or
	// verifying it.
	Has(h Hash) (bool, error)
	// Delete removes the blob named h. Deleting a missing blob is not an
	// error, so an interrupted erasure can simply be repeated.
	Delete(h Hash) error
	// All yields every stored hash in ascending order, for back-fill and
	// integrity checks. It does not read the blobs. An error ends the
	// sequence, yielded with a zero Hash.
	All() iter.Seq2[Hash, error]
}

// Options configures a store.
type Options struct {
	// MaxBlobSize is the largest blob Put accepts, in bytes; 0 means
	// DefaultMaxBlobSize. It may be raised later but not lowered below the
	// size of stored blobs: Get treats a file larger than the limit as
	// corrupt, since Put could not have written it.
	MaxBlobSize int64
}

func (o Options) maxBlobSize() (int64, error) {
	switch {
	case o.MaxBlobSize < 0:
		return 0, fmt.Errorf("blob store: negative MaxBlobSize %d", o.MaxBlobSize)
	case o.MaxBlobSize == 0:
		return DefaultMaxBlobSize, nil
	}
	return o.MaxBlobSize, nil
}

func tooLarge(n int, max int64) error {
	return fmt.Errorf("put: %w: %d bytes, the limit is %d", ErrTooLarge, n, max)
}

// Report is the result of Check.
type Report struct {
	Blobs   int    // blobs read
	Bytes   int64  // bytes read from intact blobs
	Corrupt []Hash // blobs whose content does not match their hash, ascending
}

// Check reads every blob in s and reports the corrupt ones. A blob deleted
// while Check runs is skipped. An error means the check itself could not
// finish (a directory could not be read, a disk error); corruption is not
// an error but a finding.
func Check(s Store) (Report, error) {
	var r Report
	for h, err := range s.All() {
		if err != nil {
			return r, fmt.Errorf("check blobs: %w", err)
		}
		data, err := s.Get(h)
		switch {
		case err == nil:
			r.Blobs++
			r.Bytes += int64(len(data))
		case errors.Is(err, ErrCorrupt):
			r.Blobs++
			r.Corrupt = append(r.Corrupt, h)
		case errors.Is(err, ErrNotFound):
		default:
			return r, fmt.Errorf("check blob %s: %w", h, err)
		}
	}
	return r, nil
}
