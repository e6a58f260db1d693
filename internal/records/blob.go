package records

import (
	"fmt"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/keyshare"
	"github.com/carechain/carechain/internal/tx"
)

// MaxCiphertext bounds a record's ciphertext: a FHIR resource of a few
// megabytes is already unusual; attachments belong in Binary resources
// split across records.
const MaxCiphertext = 4 << 20

// MaxBlobBytes bounds a custody blob: the ciphertext, and a sealed share
// (1 204 bytes) per validator with room to spare.
const MaxBlobBytes = MaxCiphertext + tx.MaxValidators*1300 + 64

const blobFormat = 1

// Blob is what a record version keeps beside the ledger, on every node: the
// ciphertext and every validator's sealed share. It is one content-addressed
// blob, named on the ledger by its SHA-256, so replication, back-fill,
// integrity checks and erasure treat ciphertext and shares alike. Each
// validator can open only the share sealed to it.
type Blob struct {
	Ciphertext []byte
	Shares     []keyshare.SealedShare // Shares[i] has index i
}

// Encode returns the blob's canonical encoding:
//
//	format(1) · bytes(ciphertext) · uvarint(n) · n × bytes(sealed share)
func (b *Blob) Encode() []byte {
	w := codec.NewWriter(len(b.Ciphertext) + len(b.Shares)*1210 + 16)
	w.Byte(blobFormat)
	w.BytesField(b.Ciphertext)
	w.Uvarint(uint64(len(b.Shares)))
	for _, s := range b.Shares {
		w.BytesField(s.Encode())
	}
	return w.Bytes()
}

// DecodeBlob decodes a custody blob strictly: decode then encode returns
// the input, and share i must carry index i.
func DecodeBlob(data []byte) (*Blob, error) {
	r := codec.NewReader(data)
	if f := r.Byte(); r.Err() == nil && f != blobFormat {
		r.Fail("custody blob format %d", f)
	}
	b := &Blob{Ciphertext: r.BytesField(MaxCiphertext)}
	n := r.Uvarint()
	if n > tx.MaxValidators {
		r.Fail("%d sealed shares, at most %d", n, tx.MaxValidators)
	}
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		raw := r.BytesField(4096)
		if r.Err() != nil {
			break
		}
		s, err := keyshare.DecodeSealedShare(raw)
		if err != nil {
			r.Fail("sealed share %d: %v", i, err)
			break
		}
		if uint64(s.Index) != i {
			r.Fail("sealed share %d carries index %d", i, s.Index)
			break
		}
		b.Shares = append(b.Shares, s)
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode custody blob: %w", err)
	}
	if len(b.Ciphertext) == 0 {
		return nil, fmt.Errorf("decode custody blob: %w: empty ciphertext", codec.ErrMalformed)
	}
	return b, nil
}
