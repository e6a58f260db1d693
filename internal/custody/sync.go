package custody

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/carechain/carechain/internal/blobstore"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/tx"
)

// SyncReport says what a Sync did.
type SyncReport struct {
	Versions int // record versions on the ledger
	Fetched  int // blobs fetched from peers
	Deleted  int // blobs of erased records deleted
	Missing  int // blobs no peer could serve; retried later
}

// Sync brings the blob store in step with the whole committed ledger: every
// unerased record version's blob is present and intact, every erased one's
// is gone. A node runs it at start, so one that was down back-fills what
// it missed.
func (s *Service) Sync(ctx context.Context) (SyncReport, error) {
	snap, _, err := s.cfg.State()
	if err != nil {
		return SyncReport{}, err
	}
	var rep SyncReport
	var want, gone []blobstore.Hash
	err = records.All(snap, func(rec *records.Record, v *records.Version) error {
		rep.Versions++
		if rec.Erased {
			gone = append(gone, v.BlobHash)
		} else {
			want = append(want, v.BlobHash)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	for _, h := range gone {
		if ok, _ := s.cfg.Blobs.Has(h); ok {
			if err := s.delete(h); err != nil {
				return rep, err
			}
			rep.Deleted++
		}
	}
	for _, h := range want {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if _, err := s.cfg.Blobs.Get(h); err == nil {
			continue
		}
		if err := s.Ensure(ctx, h); err != nil {
			rep.Missing++
			s.markMissing(h)
			continue
		}
		rep.Fetched++
	}
	return rep, nil
}

// Committed is told what a committed block's record transactions did: the
// blobs puts named (fetched if missing) and the blobs erasures named
// (deleted).
func (s *Service) Committed(ctx context.Context, put, erased []blobstore.Hash) {
	for _, h := range erased {
		if err := s.delete(h); err != nil {
			s.cfg.Log.Error("delete erased blob", "blob", h.String(), "err", err)
		}
	}
	for _, h := range put {
		if err := s.Ensure(ctx, h); err != nil {
			s.markMissing(h)
			s.cfg.Log.Warn("blob not yet available from any peer; will retry", "blob", h.String(), "err", err)
		}
	}
}

// Retry tries again to fetch the blobs no peer could serve before, and
// forgets those the ledger no longer wants (erased meanwhile).
func (s *Service) Retry(ctx context.Context) {
	s.mu.Lock()
	hs := make([]blobstore.Hash, 0, len(s.missing))
	for h := range s.missing {
		hs = append(hs, h)
	}
	s.mu.Unlock()
	for _, h := range hs {
		if ctx.Err() != nil {
			return
		}
		_ = s.Ensure(ctx, h)
	}
}

// Run retries missing blobs every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Retry(ctx)
		}
	}
}

func (s *Service) markMissing(h blobstore.Hash) {
	s.mu.Lock()
	s.missing[h] = true
	s.mu.Unlock()
}

func (s *Service) delete(h blobstore.Hash) error {
	if err := s.cfg.Blobs.Delete(h); err != nil {
		return fmt.Errorf("delete blob %s: %w", h, err)
	}
	s.mu.Lock()
	delete(s.missing, h)
	s.mu.Unlock()
	return nil
}

// Stage keeps a custody blob a writer uploaded before its anchor commits,
// so that peers can fetch it from here once it does.
func (s *Service) Stage(data []byte) (blobstore.Hash, error) {
	return s.cfg.Blobs.Put(data)
}

// Unstage removes a staged blob whose anchor was rejected, unless the
// committed ledger anchors it after all: a retried upload whose first
// attempt did commit. A blob binds its record and version (the ciphertext
// and every sealed share do), so that version is the only one that can
// name it.
func (s *Service) Unstage(h blobstore.Hash, recordID string, version uint64) error {
	snap, _, err := s.cfg.State()
	if err != nil {
		return err
	}
	rec, v, err := records.GetVersion(snap, recordID, version)
	switch {
	case err == nil && v.BlobHash == h && !rec.Erased:
		return nil
	case err != nil && tx.CodeOf(err) != tx.CodeNotFound:
		return err
	}
	return s.cfg.Blobs.Delete(h)
}

var errTooLarge = errors.New("response too large")

func readLimited(resp *http.Response, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, errTooLarge
	}
	return data, nil
}
