package proof

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/cometbft/cometbft/crypto"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/internal/audit"
)

// Version is the bundle format version this package writes and reads.
const Version = 1

// Limits on what Decode accepts. They bound the work a hostile bundle can
// cause; real bundles are a few kilobytes.
const (
	// MaxBundleBytes bounds an encoded bundle.
	MaxBundleBytes = 16 << 20
	// MaxTrustSteps bounds the headers between genesis and the signing
	// block. Light-client bisection needs about log2(height) steps per
	// validator-set change it cannot skip.
	MaxTrustSteps = 1024
	// maxValidators is CometBFT's own bound on a validator set
	// (types.MaxVotesCount).
	maxValidators = 10000
)

// HeadKey is the state key holding the audit log's head, as laid out in
// internal/audit/keys.go:
//
//	audit/head → size(8) ‖ last height(8) ‖ last time ns(8) ‖ root(32)
//
// The audit package keeps its key private; a test pins this copy to it.
var HeadKey = []byte("audit/head")

// headLen is the length of the head value; headRootOffset is where the
// root starts in it (after three 8-byte big-endian integers).
const (
	headLen        = 8 + 8 + 8 + 32
	headRootOffset = 24
)

// ErrMalformed marks a bundle that does not decode: not JSON, not this
// format, or not in its one canonical encoding.
var ErrMalformed = errors.New("malformed proof bundle")

// Bundle is one audit event with the proofs that tie it to the chain's
// genesis. See docs/proof-bundle.md.
type Bundle struct {
	// Version is the format version, 1.
	Version int `json:"version"`
	// ChainID is the chain the bundle is for; it must be the genesis'.
	ChainID string `json:"chain_id"`
	// Seq is the audit event the bundle proves; it must be the event's own.
	Seq uint64 `json:"seq"`
	// Audit is the event's canonical bytes and its inclusion proof in the
	// log of Audit.Size events with root Audit.Root, which must be the
	// size and root the proven audit head holds.
	Audit audit.EventProof `json:"audit"`
	// State proves the audit head in the state after block State.Height.
	State StateProof `json:"state"`
	// Block is block State.Height+1, whose header carries that state's
	// root as its app hash, with its commit and validator set.
	Block LightBlock `json:"block"`
	// Trust are the light blocks, in ascending height, that carry trust
	// from the genesis validators to Block's; empty while the validator
	// set is the genesis one.
	Trust []LightBlock `json:"trust,omitempty"`
}

// StateProof is the audit head's value in the state after block Height,
// with an ICS23 membership proof against that state's root.
type StateProof struct {
	// Height is the block after which the state was saved (its version).
	Height int64 `json:"height"`
	// Head is the value stored at HeadKey.
	Head audit.HexBytes `json:"head"`
	// Proof is the ICS23 CommitmentProof (protobuf), an existence proof
	// of HeadKey with Head under the IAVL spec.
	Proof audit.HexBytes `json:"proof"`
}

// LightBlock is a signed header with the validator set that signed it, the
// unit of CometBFT light-client verification. Its JSON is CometBFT's own
// (libs/json): the RPC's signed header, and each validator's address,
// public key and power, in the set's order.
type LightBlock struct {
	SignedHeader *types.SignedHeader
	Validators   []*types.Validator
}

// NewLightBlock pairs a signed header with its validator set.
func NewLightBlock(sh *types.SignedHeader, vals *types.ValidatorSet) LightBlock {
	lb := LightBlock{SignedHeader: sh, Validators: make([]*types.Validator, 0, len(vals.Validators))}
	for _, v := range vals.Validators {
		lb.Validators = append(lb.Validators, &types.Validator{Address: v.Address, PubKey: v.PubKey, VotingPower: v.VotingPower})
	}
	return lb
}

// Height is the block height of the light block's header, 0 if it has none.
func (lb LightBlock) Height() int64 {
	if lb.SignedHeader == nil || lb.SignedHeader.Header == nil {
		return 0
	}
	return lb.SignedHeader.Height
}

type lightBlockJSON struct {
	SignedHeader *types.SignedHeader `json:"signed_header"`
	Validators   []validatorJSON     `json:"validators"`
}

type validatorJSON struct {
	Address crypto.Address `json:"address"`
	PubKey  crypto.PubKey  `json:"pub_key"`
	Power   int64          `json:"power"`
}

// MarshalJSON renders the light block with CometBFT's JSON codec, the form
// its RPC and genesis files use (64-bit integers as strings, keys as
// type/value objects).
func (lb LightBlock) MarshalJSON() ([]byte, error) {
	out := lightBlockJSON{SignedHeader: lb.SignedHeader, Validators: make([]validatorJSON, 0, len(lb.Validators))}
	for _, v := range lb.Validators {
		if v == nil {
			return nil, errors.New("nil validator")
		}
		out.Validators = append(out.Validators, validatorJSON{Address: v.Address, PubKey: v.PubKey, Power: v.VotingPower})
	}
	return cmtjson.Marshal(out)
}

// UnmarshalJSON parses MarshalJSON's form. Unknown fields are not rejected
// here; Decode's canonical-form check rejects them.
func (lb *LightBlock) UnmarshalJSON(b []byte) error {
	var in lightBlockJSON
	if err := cmtjson.Unmarshal(b, &in); err != nil {
		return err
	}
	lb.SignedHeader = in.SignedHeader
	lb.Validators = make([]*types.Validator, 0, len(in.Validators))
	for _, v := range in.Validators {
		lb.Validators = append(lb.Validators, &types.Validator{Address: v.Address, PubKey: v.PubKey, VotingPower: v.Power})
	}
	return nil
}

// Encode returns the bundle's canonical encoding: indented JSON (two
// spaces, fields in the order of the Go types) and a final newline.
func (b *Bundle) Encode() ([]byte, error) {
	c := *b
	// Nil and empty lists would encode differently; a bundle has one form.
	if c.Audit.Proof == nil {
		c.Audit.Proof = []audit.HexBytes{}
	}
	out, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode proof bundle: %w", err)
	}
	return append(out, '\n'), nil
}

// Decode parses a bundle and requires it to be in canonical form, exactly
// as Encode writes it (the final newline may be missing). JSON that means
// the same but is spelled differently — reformatted, reordered, with
// duplicate or differently cased keys, upper-case hex — is rejected:
// parsers disagree on such input, and a verifier must judge the bytes every
// other verifier judges.
func Decode(data []byte) (b *Bundle, err error) {
	// CometBFT's JSON codec decodes the light blocks; it was not written
	// for hostile input, and a panic in it must be a rejected bundle, not
	// a crash of the program that asked.
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("%w: %v", ErrMalformed, r)
		}
	}()
	return decode(data)
}

func decode(data []byte) (*Bundle, error) {
	var b Bundle
	if err := decodeCanonical(data, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// canonical is a bundle type: checked after strict decoding, then
// re-encoded to compare with the input.
type canonical interface {
	Encode() ([]byte, error)
	checkDecoded() error
}

// decodeCanonical decodes data into v strictly (no unknown fields, nothing
// after it), checks v's version and limits, and requires data to be v's
// canonical encoding, with or without its final newline.
func decodeCanonical(data []byte, v canonical) error {
	if len(data) > MaxBundleBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(data), MaxBundleBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the bundle at byte %d", ErrMalformed, dec.InputOffset())
	}
	if err := v.checkDecoded(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	canon, err := v.Encode()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !bytes.Equal(canon, data) && !bytes.Equal(canon[:len(canon)-1], data) {
		return fmt.Errorf("%w: not in canonical form (first difference at byte %d); a bundle must be kept exactly as the node wrote it",
			ErrMalformed, firstDifference(canon, data))
	}
	return nil
}

func (b *Bundle) checkDecoded() error {
	if b.Version != Version {
		return fmt.Errorf("format version %d, this verifier reads version %d", b.Version, Version)
	}
	if len(b.Trust) > MaxTrustSteps {
		return fmt.Errorf("%d trust steps, at most %d", len(b.Trust), MaxTrustSteps)
	}
	return nil
}

func firstDifference(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
