// Package tx defines carechain's signed transaction envelope, its canonical
// encoding, the message types it carries and the stable result codes that
// rejections use.
//
// A transaction is
//
//	version(1) | chain_id | signer | nonce | type | body | signature(64)
//
// encoded with package codec. The signature is Ed25519 over SignBytes: a
// domain-separation prefix followed by every field but the signature, so a
// signature for one chain, signer, nonce or message can never be replayed as
// another. Decoding accepts only canonical bytes; Decode followed by Encode
// returns the input.
package tx

import (
	"crypto/ed25519"
	"crypto/sha256"
	"math"

	"github.com/carechain/carechain/internal/codec"
)

// Version is the only envelope version this code accepts.
const Version = 1

// Limits. MaxTxBytes bounds what a node accepts into its mempool, except
// for a batch write (MaxBatchTxBytes); the consensus block size is set
// well above both.
const (
	MaxTxBytes      = 64 << 10
	MaxChainIDLen   = 64
	MaxIDLen        = 64
	MaxBodyBytes    = MaxTxBytes - 256
	SignatureLength = ed25519.SignatureSize
)

// signDomain separates carechain transaction signatures from every other use
// of the same key.
const signDomain = "carechain/tx/v1\x00"

// Tx is a signed transaction envelope.
type Tx struct {
	ChainID   string
	Signer    string // actor id of the signer
	Nonce     uint64 // the signer's next nonce; starts at 1
	Type      Type
	Body      []byte // canonical encoding of the message named by Type
	Signature []byte
}

// SignBytes returns the bytes the signer signs.
func (t *Tx) SignBytes() []byte {
	w := codec.NewWriter(len(signDomain) + len(t.Body) + 128)
	w.Fixed([]byte(signDomain))
	t.writeUnsigned(w)
	return w.Bytes()
}

func (t *Tx) writeUnsigned(w *codec.Writer) {
	w.Byte(Version)
	w.String(t.ChainID)
	w.String(t.Signer)
	w.Uvarint(t.Nonce)
	w.Uvarint(uint64(t.Type))
	w.BytesField(t.Body)
}

// Encode returns the canonical encoding of t.
func (t *Tx) Encode() []byte {
	w := codec.NewWriter(len(t.Body) + 160)
	t.writeUnsigned(w)
	w.Fixed(t.Signature)
	return w.Bytes()
}

// Sign sets t.Signature using key.
func (t *Tx) Sign(key ed25519.PrivateKey) {
	t.Signature = ed25519.Sign(key, t.SignBytes())
}

// Verify reports whether t.Signature is valid under pub.
func (t *Tx) Verify(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && len(t.Signature) == SignatureLength &&
		ed25519.Verify(pub, t.SignBytes(), t.Signature)
}

// Hash is the transaction hash CometBFT uses: SHA-256 of the encoded bytes.
func Hash(raw []byte) [32]byte { return sha256.Sum256(raw) }

// Decode parses a canonical transaction. Every failure is an *Error with
// CodeMalformed or CodeTooLarge; the message body is not interpreted here.
func Decode(raw []byte) (*Tx, error) {
	if len(raw) > MaxBatchTxBytes {
		return nil, Errorf(CodeTooLarge, "transaction is %d bytes; the limit is %d (%d for a %s)", len(raw), MaxTxBytes, MaxBatchTxBytes, TypeWriteBatch)
	}
	r := codec.NewReader(raw)
	if v := r.Byte(); r.Err() == nil && v != Version {
		r.Fail("envelope version %d; this node speaks version %d", v, Version)
	}
	t := &Tx{
		ChainID: r.String(MaxChainIDLen),
		Signer:  r.String(MaxIDLen),
		Nonce:   r.Uvarint(),
		Type:    readType(r),
	}
	bodyLimit := MaxBatchBodyBytes
	if t.Type != TypeWriteBatch {
		if len(raw) > MaxTxBytes {
			return nil, Errorf(CodeTooLarge, "transaction is %d bytes; the limit is %d", len(raw), MaxTxBytes)
		}
		bodyLimit = MaxBodyBytes
	}
	t.Body = r.BytesField(bodyLimit)
	t.Signature = r.Fixed(SignatureLength)
	if err := r.Done(); err != nil {
		return nil, Errorf(CodeMalformed, "decode transaction: %v", err)
	}
	return t, nil
}

// readType reads a message type, rejecting values beyond 32 bits: truncating
// them would let two different byte strings decode to the same transaction.
func readType(r *codec.Reader) Type {
	v := r.Uvarint()
	if v > math.MaxUint32 {
		r.Fail("message type %d out of range", v)
		return 0
	}
	return Type(v)
}
