package proof

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/internal/audit"
)

// ConsistencyType is the "type" of a consistency bundle. An event bundle
// has no such field, so neither kind of bundle decodes as the other.
const ConsistencyType = "audit.consistency"

// Checkpoint is an audit log size and root, as a client keeps it to check
// later that the log only grew.
type Checkpoint struct {
	Size uint64         `json:"size"`
	Root audit.HexBytes `json:"root"`
}

// String renders the checkpoint as SIZE:ROOTHEX, the form the CLI reads.
func (c Checkpoint) String() string { return fmt.Sprintf("%d:%x", c.Size, []byte(c.Root)) }

// Consistency is a consistency bundle: an RFC 6962 proof that the audit
// log of To.Size events with root To.Root extends the log of From.Size
// events with root From.Root, together with what ties To to the chain's
// genesis — the same state proof, signed block and trust steps as an event
// bundle. See docs/proof-bundle.md.
//
// From is not proven by the bundle: it is what the client saw before, and
// the bundle shows that whatever the client trusted then is a prefix of
// what the validators sign now.
type Consistency struct {
	// Version is the format version, 1.
	Version int `json:"version"`
	// Type is ConsistencyType.
	Type string `json:"type"`
	// ChainID is the chain the bundle is for; it must be the genesis'.
	ChainID string `json:"chain_id"`
	// From is the earlier log the client holds.
	From Checkpoint `json:"from"`
	// To is the later log, which must be the proven audit head's.
	To Checkpoint `json:"to"`
	// Proof is the RFC 6962 consistency proof from From to To, lowest
	// level first; empty when From.Size is 0 or equals To.Size.
	Proof []audit.HexBytes `json:"proof"`
	// State, Block and Trust are as in Bundle: the audit head in the state
	// after block State.Height, block State.Height+1 whose app hash
	// commits to it, and the light blocks from the genesis validators.
	State StateProof   `json:"state"`
	Block LightBlock   `json:"block"`
	Trust []LightBlock `json:"trust,omitempty"`
}

// VerifiedConsistency is what a successful verification of a consistency
// bundle establishes: the signed log (SignedHead) extends From.
type VerifiedConsistency struct {
	From Checkpoint
	SignedHead
}

// To is the proven later log as a checkpoint, the one to keep next.
func (v *VerifiedConsistency) To() Checkpoint {
	return Checkpoint{Size: v.LogSize, Root: append(audit.HexBytes(nil), v.LogRoot...)}
}

// IsConsistency reports whether data looks like a consistency bundle, to
// pick the decoder. It decides nothing: the decoder is strict either way.
func IsConsistency(data []byte) bool {
	var probe struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(data, &probe) == nil && probe.Type == ConsistencyType
}

// Encode returns the bundle's canonical encoding, as Bundle.Encode does.
func (c *Consistency) Encode() ([]byte, error) {
	cc := *c
	if cc.Proof == nil {
		cc.Proof = []audit.HexBytes{}
	}
	out, err := json.MarshalIndent(&cc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode consistency bundle: %w", err)
	}
	return append(out, '\n'), nil
}

func (c *Consistency) checkDecoded() error {
	if c.Version != Version {
		return fmt.Errorf("format version %d, this verifier reads version %d", c.Version, Version)
	}
	if c.Type != ConsistencyType {
		return fmt.Errorf("type %q, want %q", c.Type, ConsistencyType)
	}
	if len(c.Trust) > MaxTrustSteps {
		return fmt.Errorf("%d trust steps, at most %d", len(c.Trust), MaxTrustSteps)
	}
	return nil
}

// DecodeConsistency parses a consistency bundle and requires it to be in
// canonical form, with the rules of Decode.
func DecodeConsistency(data []byte) (c *Consistency, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("%w: %v", ErrMalformed, r)
		}
	}()
	var out Consistency
	if err := decodeCanonical(data, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// VerifyConsistency decodes a consistency bundle, verifies it against the
// genesis document and requires it to start from the checkpoint the
// caller trusts. On success the returned To() is the checkpoint to keep.
func VerifyConsistency(data []byte, genesis *types.GenesisDoc, from Checkpoint) (*VerifiedConsistency, error) {
	c, err := DecodeConsistency(data)
	if err != nil {
		return nil, err
	}
	if c.From.Size != from.Size || !bytes.Equal(c.From.Root, from.Root) {
		return nil, fmt.Errorf("%w: the bundle starts from %s, not from the trusted checkpoint %s", ErrNotVerified, c.From, from)
	}
	return c.Verify(genesis)
}

// Verify checks the bundle against the genesis document: the validators
// signed the audit head To, and the log To extends the log From. It does
// not know whether From is a log the caller saw; VerifyConsistency does.
func (c *Consistency) Verify(genesis *types.GenesisDoc) (v *VerifiedConsistency, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%w: malformed input (%v)", ErrNotVerified, r)
		}
	}()
	v, err = c.verify(genesis)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotVerified, err)
	}
	return v, nil
}

func (c *Consistency) verify(genesis *types.GenesisDoc) (*VerifiedConsistency, error) {
	if err := c.checkDecoded(); err != nil {
		return nil, err
	}
	head, err := verifySignedHead(genesis, c.ChainID, c.State, c.Block, c.Trust)
	if err != nil {
		return nil, err
	}
	if c.To.Size != head.LogSize || !bytes.Equal(c.To.Root, head.LogRoot) {
		return nil, fmt.Errorf("consistency proof is to size %d root %x, the committed head is size %d root %x",
			c.To.Size, []byte(c.To.Root), head.LogSize, head.LogRoot)
	}
	if c.From.Size > c.To.Size {
		return nil, fmt.Errorf("consistency from size %d to the smaller size %d: a log never shrinks", c.From.Size, c.To.Size)
	}
	hashes := make([][]byte, len(c.Proof))
	for i, h := range c.Proof {
		hashes[i] = h
	}
	if err := audit.VerifyConsistency(c.From.Size, c.To.Size, hashes, c.From.Root, c.To.Root); err != nil {
		if errors.Is(err, audit.ErrBadProof) {
			return nil, fmt.Errorf("audit consistency: the log of %d events with root %x is not a prefix of the signed log: %w",
				c.From.Size, []byte(c.From.Root), err)
		}
		return nil, fmt.Errorf("audit consistency: %w", err)
	}
	return &VerifiedConsistency{From: Checkpoint{Size: c.From.Size, Root: append(audit.HexBytes(nil), c.From.Root...)}, SignedHead: *head}, nil
}

// ParseCheckpoint reads SIZE:ROOTHEX, the root as 64 hex digits in either
// case.
func ParseCheckpoint(s string) (Checkpoint, error) {
	sizeText, rootText, ok := strings.Cut(s, ":")
	if !ok {
		return Checkpoint{}, fmt.Errorf("checkpoint %q is not SIZE:ROOTHEX", s)
	}
	size, err := strconv.ParseUint(sizeText, 10, 64)
	// One spelling per size: "017" is a typo more likely than a size.
	if err != nil || strconv.FormatUint(size, 10) != sizeText {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: size %q is not a number", s, sizeText)
	}
	root, err := hex.DecodeString(rootText)
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: root must be 64 hex digits (32 bytes)", s)
	}
	return Checkpoint{Size: size, Root: root}, nil
}

// EmptyLog returns the checkpoint of the log before its first event: size
// 0, root SHA-256(""). Every log extends it, so a client with no
// checkpoint starts from it and keeps the first verified To().
func EmptyLog() Checkpoint {
	root := sha256.Sum256(nil)
	return Checkpoint{Size: 0, Root: root[:]}
}
