package tx

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ActorID derives an actor's permanent id from the signing key it first
// registered with: "cc" and 24 base32 characters of SHA-256 of the key. It is
// pseudonymous and does not change when the key is rotated.
func ActorID(signKey []byte) string {
	sum := sha256.Sum256(append([]byte("carechain/actor-id/v1\x00"), signKey...))
	return "cc" + strings.ToLower(idEncoding.EncodeToString(sum[:15]))
}
