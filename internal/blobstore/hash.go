package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Hash names a blob: the SHA-256 of its content.
type Hash [sha256.Size]byte

// Sum returns the hash that names data.
func Sum(data []byte) Hash { return sha256.Sum256(data) }

// String returns the hash as 64 lowercase hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses 64 lowercase hex digits, the only spelling String
// produces, so that one blob never has two names.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return Hash{}, fmt.Errorf("blob hash %q: %d characters, want %d", s, len(s), 2*len(h))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return Hash{}, fmt.Errorf("blob hash %q: %q is not a lowercase hex digit", s, c)
		}
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, fmt.Errorf("blob hash %q: %w", s, err)
	}
	return h, nil
}
