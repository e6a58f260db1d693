package keyshare

import (
	"errors"
	"fmt"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/tx"
)

// Errors callers tell apart. Decoding errors wrap codec.ErrMalformed.
var (
	// ErrInvalid marks an argument this package refuses: bad threshold
	// parameters, a malformed id, a key of the wrong suite.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotEnoughShares means fewer than K shares passed their commitments.
	ErrNotEnoughShares = errors.New("not enough valid key shares")
	// ErrKeyMismatch means K shares that each matched their commitment
	// recovered a key that does not match the key commitment: the writer
	// dealt inconsistent shares.
	ErrKeyMismatch = errors.New("recovered key does not match its commitment")
	// ErrDecrypt means a record ciphertext failed authentication: wrong key,
	// wrong record, or tampered bytes.
	ErrDecrypt = errors.New("record ciphertext does not authenticate")
	// ErrUnseal means a sealed share failed to open: wrong private key, wrong
	// ShareInfo, or tampered bytes.
	ErrUnseal = errors.New("sealed share does not open")
	// ErrCiphertextHash means a ciphertext is not the one its anchor names.
	ErrCiphertextHash = errors.New("ciphertext does not match the anchor's hash")
)

// ErrMalformed is codec.ErrMalformed, re-exported so callers need not import
// codec to recognise a decoding error.
var ErrMalformed = codec.ErrMalformed

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Identifier limits. Ids are the audit log's (record, patient and actor
// ids of up to 128 bytes) so that any record the log can name can be
// protected; the chain id is the transaction envelope's.
const (
	MaxIDLen      = 128
	MaxChainIDLen = tx.MaxChainIDLen
)

// checkID accepts 1..max bytes of printable ASCII without spaces, the shape
// of every carechain id, so ids bound into keys and commitments are never
// ambiguous when printed.
func checkID(field, s string, max int) error {
	if s == "" {
		return invalidf("%s is required", field)
	}
	if len(s) > max {
		return invalidf("%s is %d bytes, at most %d", field, len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return invalidf("%s %q: byte %#x not allowed", field, s, s[i])
		}
	}
	return nil
}
