package check

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/cosmos/iavl"

	"github.com/carechain/carechain/internal/blobstore"
	"github.com/carechain/carechain/internal/records"
)

// StoreBlobs is the custody blob store: record ciphertext and sealed key
// shares.
const StoreBlobs Store = "blobs"

// BlobsSummary says what was checked in the blob store.
type BlobsSummary struct {
	Stored   int   `json:"stored"`   // blobs read and hashed
	Bytes    int64 `json:"bytes"`    // bytes of intact blobs
	Anchored int   `json:"anchored"` // record versions the latest state names
	// Missing counts unerased versions whose blob is not here: not
	// tampering — a running node fetches them from its peers — but a node
	// that lost them holds no copy to give.
	Missing int `json:"missing"`
}

// checkBlobs hashes every stored blob, and compares the store with the
// record versions the latest state anchors: an erased record's blob must
// be gone, an unerased one's should be here.
func (c *checker) checkBlobs(tree *iavl.MutableTree, latest int64) {
	if c.paths.Blobs == "" {
		return
	}
	if _, err := os.Stat(c.paths.Blobs); errors.Is(err, os.ErrNotExist) {
		return
	}
	file := rel(c.paths.Home, c.paths.Blobs)
	store, err := blobstore.Open(c.paths.Blobs, blobstore.Options{MaxBlobSize: records.MaxBlobBytes})
	if err != nil {
		c.add(StoreBlobs, file, 0, "", "the blob store does not open: %v", err)
		return
	}
	rep, err := blobstore.Check(store)
	if err != nil {
		c.add(StoreBlobs, file, 0, "", "%v", err)
	}
	c.report.Blobs.Stored, c.report.Blobs.Bytes = rep.Blobs, rep.Bytes
	for _, h := range rep.Corrupt {
		c.add(StoreBlobs, blobFile(c.paths, h), 0, h.String(), "the blob's content does not hash to its name: it was changed on disk")
	}
	if latest == 0 {
		return
	}
	t, err := immutable(tree, latest)
	if err != nil {
		return // reported with the versions
	}
	err = guard(func() error {
		return records.All(treeReader{t}, func(rec *records.Record, v *records.Version) error {
			c.report.Blobs.Anchored++
			h := blobstore.Hash(v.BlobHash)
			has, err := store.Has(h)
			if err != nil {
				return err
			}
			switch {
			case rec.Erased && has:
				c.add(StoreBlobs, blobFile(c.paths, h), latest, h.String(),
					"record %s was erased at height %d, but version %d's blob is still here", rec.ID, rec.ErasedAt, v.Version)
			case !rec.Erased && !has:
				c.report.Blobs.Missing++
			}
			return nil
		})
	})
	if err != nil {
		c.add(StoreApp, c.appFile, latest, "", "the record index does not read: %v", err)
	}
}

func blobFile(p Paths, h blobstore.Hash) string {
	s := h.String()
	return rel(p.Home, filepath.Join(p.Blobs, s[:2], s[2:]))
}
