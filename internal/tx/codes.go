package tx

import (
	"errors"
	"fmt"
)

// Code is a stable result code for a rejected transaction. The numbers are
// part of the protocol: clients and operators key on them, so a code is
// never renumbered or reused. docs/transactions.md lists them.
type Code uint32

// Result codes. 0 is success, as in ABCI.
const (
	CodeOK            Code = 0
	CodeMalformed     Code = 2  // bytes do not decode, or decode non-canonically
	CodeWrongChain    Code = 3  // chain id differs from this chain's
	CodeUnknownSigner Code = 4  // signer id is not registered
	CodeBadSignature  Code = 5  // signature does not verify under the signer's key
	CodeNonceReplayed Code = 6  // nonce already used (a replay)
	CodeNonceGap      Code = 7  // nonce skips ahead of the signer's next nonce
	CodeSignerRevoked Code = 8  // signer's key was revoked
	CodeTooLarge      Code = 9  // transaction exceeds the size limit
	CodeUnknownType   Code = 10 // message type is not known
	CodeUnauthorized  Code = 11 // signer may not perform this action
	CodeInvalid       Code = 12 // a field is missing or out of range
	CodeAlreadyExists Code = 13 // the thing to create exists
	CodeNotFound      Code = 14 // the thing referred to does not exist
	CodeAccessDenied  Code = 15 // consent does not permit the access
	CodeErased        Code = 16 // the record was erased
	CodeInternal      Code = 99 // storage failure; never caused by input
)

var codeNames = map[Code]string{
	CodeOK:            "ok",
	CodeMalformed:     "malformed",
	CodeWrongChain:    "wrong_chain",
	CodeUnknownSigner: "unknown_signer",
	CodeBadSignature:  "bad_signature",
	CodeNonceReplayed: "nonce_replayed",
	CodeNonceGap:      "nonce_gap",
	CodeSignerRevoked: "signer_revoked",
	CodeTooLarge:      "too_large",
	CodeUnknownType:   "unknown_type",
	CodeUnauthorized:  "unauthorized",
	CodeInvalid:       "invalid",
	CodeAlreadyExists: "already_exists",
	CodeNotFound:      "not_found",
	CodeAccessDenied:  "access_denied",
	CodeErased:        "erased",
	CodeInternal:      "internal",
}

// Codes lists every code, for documentation and tests.
func Codes() []Code {
	return []Code{CodeOK, CodeMalformed, CodeWrongChain, CodeUnknownSigner, CodeBadSignature,
		CodeNonceReplayed, CodeNonceGap, CodeSignerRevoked, CodeTooLarge, CodeUnknownType,
		CodeUnauthorized, CodeInvalid, CodeAlreadyExists, CodeNotFound, CodeAccessDenied,
		CodeErased, CodeInternal}
}

// String returns the code's stable name.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("code_%d", uint32(c))
}

// Error is a rejection caused by a transaction's content. It is returned in
// the transaction result, never turned into a panic or a node failure.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Msg }

// Is makes errors.Is match any *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Msg == ""
}

// Errorf returns an *Error with code c.
func Errorf(c Code, format string, args ...any) error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is: errors.Is(err, tx.ErrNotFound).
var (
	ErrMalformed     = &Error{Code: CodeMalformed}
	ErrUnauthorized  = &Error{Code: CodeUnauthorized}
	ErrInvalid       = &Error{Code: CodeInvalid}
	ErrNotFound      = &Error{Code: CodeNotFound}
	ErrAlreadyExists = &Error{Code: CodeAlreadyExists}
)

// CodeOf returns the result code for err: its own code for an *Error, OK for
// nil, and CodeInternal for anything else (a storage failure).
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
