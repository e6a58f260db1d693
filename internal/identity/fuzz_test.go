package identity

import (
	"bytes"
	"testing"

	"github.com/carechain/carechain/internal/tx"
)

// FuzzDecodeActor checks the stored actor decoder that clients run on proven
// state values: it never panics, and whatever it accepts re-encodes to the
// same bytes, so a proof for one encoding cannot stand for another.
func FuzzDecodeActor(f *testing.F) {
	k := newKey(f, "fuzz")
	for _, a := range []*Actor{
		{ID: k.id(), Kind: tx.KindPractitioner, Name: "Dr. Ünal", Org: "ccorg", SignKey: k.pub(), HPKEKey: k.hpke,
			Sponsor: "ccorg", RegisteredAt: 12, KeyVersion: 3, Revoked: true, RevokedAt: 40},
		{ID: "ccx", Kind: tx.KindPatient, SignKey: k.pub(), KeyVersion: 1, RegisteredAt: -1},
		{},
	} {
		f.Add(a.encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeActor(b)
		if err != nil {
			return
		}
		if enc := a.encode(); !bytes.Equal(enc, b) {
			t.Fatalf("decode-then-encode changed the bytes:\n in %x\nout %x", b, enc)
		}
	})
}
