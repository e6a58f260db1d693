package proof

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cometbft/cometbft/types"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/carechain/carechain/internal/audit"
)

// maxStateProofOps bounds the inner nodes of the state proof. An IAVL
// tree's height stays under 1.44·log2(keys), far below this.
const maxStateProofOps = 256

// ErrNotVerified marks a bundle that decodes but does not prove its event
// from the given genesis.
var ErrNotVerified = errors.New("proof bundle does not verify")

// Verified is what a successful verification of an event bundle
// establishes.
type Verified struct {
	// Event is the proven audit event.
	Event audit.Event
	SignedHead
}

// SignedHead is what the chain of links from the genesis to an audit head
// establishes: the log of LogSize events with root LogRoot is the one the
// validators committed to.
type SignedHead struct {
	// ChainID is the chain, as the genesis names it.
	ChainID string
	// StateHeight is the block after which the proven state was saved;
	// SignedHeight (StateHeight+1) the block whose header carries its
	// root, signed at BlockTime.
	StateHeight, SignedHeight int64
	BlockTime                 time.Time
	// AppHash is that state root.
	AppHash []byte
	// LogSize and LogRoot are the audit log's size and root in that state.
	LogSize uint64
	LogRoot []byte
	// SignedPower of TotalPower is the voting power whose signatures on
	// the signing block were checked.
	SignedPower, TotalPower int64
	// TrustSteps is how many validator-set handovers were followed.
	TrustSteps int
	// lastHeight is the height of the log's last event, from the head.
	lastHeight uint64
}

// Verify decodes a bundle and verifies it against the genesis document,
// returning the event it proves.
func Verify(bundle []byte, genesis *types.GenesisDoc) (audit.Event, error) {
	b, err := Decode(bundle)
	if err != nil {
		return audit.Event{}, err
	}
	v, err := b.Verify(genesis)
	if err != nil {
		return audit.Event{}, err
	}
	return v.Event, nil
}

// Verify checks the bundle against the genesis document: the genesis
// validators, or the trust path from them, signed the block whose app hash
// commits to the audit head, which holds the log size and root in which
// the event is included. docs/proof-bundle.md lists the steps in order.
func (b *Bundle) Verify(genesis *types.GenesisDoc) (v *Verified, err error) {
	// The checks below validate input before handing it to CometBFT and
	// ICS23, but those libraries were not all written for hostile input:
	// a panic inside them must still be a failed verification, never a
	// crash of the program that asked.
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%w: malformed input (%v)", ErrNotVerified, r)
		}
	}()
	v, err = b.verify(genesis)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotVerified, err)
	}
	return v, nil
}

func (b *Bundle) verify(genesis *types.GenesisDoc) (*Verified, error) {
	if b.Version != Version {
		return nil, fmt.Errorf("format version %d, this verifier reads version %d", b.Version, Version)
	}
	head, err := verifySignedHead(genesis, b.ChainID, b.State, b.Block, b.Trust)
	if err != nil {
		return nil, err
	}
	size, root, sh := head.LogSize, head.LogRoot, b.Block.SignedHeader

	// Link 1: the event is in the log of exactly that size and root.
	if b.Audit.Size != size || !bytes.Equal(b.Audit.Root, root) {
		return nil, fmt.Errorf("audit proof is against size %d root %x, the committed head is size %d root %x",
			b.Audit.Size, []byte(b.Audit.Root), size, root)
	}
	hashes := make([][]byte, len(b.Audit.Proof))
	for i, h := range b.Audit.Proof {
		hashes[i] = h
	}
	ev, err := audit.VerifyEvent(b.Audit.Event, size, hashes, root)
	if err != nil {
		return nil, fmt.Errorf("audit inclusion: %w", err)
	}
	if ev.Seq != b.Seq {
		return nil, fmt.Errorf("bundle is for event %d, the proven event is %d", b.Seq, ev.Seq)
	}
	if ev.Height > head.lastHeight || ev.Time.After(sh.Time) {
		return nil, fmt.Errorf("event %d is dated block %d at %s, after the state that holds it", ev.Seq, ev.Height, ev.Time.UTC().Format(time.RFC3339Nano))
	}

	return &Verified{Event: ev, SignedHead: *head}, nil
}

// verifySignedHead checks links 2 to 4, shared by every kind of bundle:
// the genesis validators, or the trust path from them, signed block, whose
// app hash commits to the state holding the audit head st proves.
func verifySignedHead(genesis *types.GenesisDoc, chainID string, st StateProof, block LightBlock, trust []LightBlock) (*SignedHead, error) {
	t, err := newTrust(genesis)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	if chainID != t.chainID {
		return nil, fmt.Errorf("bundle is for chain %q, the genesis is chain %q", chainID, t.chainID)
	}

	// Links 3 and 4: from the genesis validators to the signing block.
	if len(trust) > MaxTrustSteps {
		return nil, fmt.Errorf("%d trust steps, at most %d", len(trust), MaxTrustSteps)
	}
	for i, lb := range trust {
		if err := t.advance(lb); err != nil {
			return nil, fmt.Errorf("trust step %d (block %d): %w", i, lb.Height(), err)
		}
	}
	if err := t.advance(block); err != nil {
		return nil, fmt.Errorf("signing block %d: %w", block.Height(), err)
	}
	sh := block.SignedHeader
	if st.Height < 1 || sh.Height != st.Height+1 {
		return nil, fmt.Errorf("signing block is %d, the state proof is for the state after block %d: the app hash of block H+1 commits to the state after H",
			sh.Height, st.Height)
	}

	// Link 2: the audit head is in the state whose root the header signs.
	if err := verifyHead(sh.AppHash, st); err != nil {
		return nil, fmt.Errorf("state proof against app hash %X of block %d: %w", []byte(sh.AppHash), sh.Height, err)
	}
	size, lastHeight, root, err := parseHead(st.Head)
	if err != nil {
		return nil, fmt.Errorf("audit head: %w", err)
	}
	if lastHeight > uint64(st.Height) {
		return nil, fmt.Errorf("audit head: last event at height %d, after the state's height %d", lastHeight, st.Height)
	}
	h := &SignedHead{ChainID: t.chainID, StateHeight: st.Height, SignedHeight: sh.Height, BlockTime: sh.Time,
		AppHash: append([]byte(nil), sh.AppHash...), LogSize: size, LogRoot: root, TotalPower: t.vals.TotalVotingPower(),
		TrustSteps: len(trust), lastHeight: lastHeight}
	for i, s := range sh.Commit.Signatures {
		if s.BlockIDFlag == types.BlockIDFlagCommit {
			h.SignedPower += t.vals.Validators[i].VotingPower
		}
	}
	return h, nil
}

// verifyHead checks the ICS23 proof that HeadKey holds st.Head under root,
// with the IAVL spec the state store proves with (state.Verify).
func verifyHead(root []byte, st StateProof) error {
	if len(root) == 0 {
		return errors.New("the header has no app hash")
	}
	var cp ics23.CommitmentProof
	if err := cp.Unmarshal(st.Proof); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	// One encoding per proof, as for the bundle: protobuf would also accept
	// reordered or unknown fields.
	if re, err := cp.Marshal(); err != nil || !bytes.Equal(re, st.Proof) {
		return errors.New("proof is not in canonical protobuf form")
	}
	ex := cp.GetExist()
	if ex == nil {
		return errors.New("not an existence proof")
	}
	if len(ex.Path) > maxStateProofOps {
		return fmt.Errorf("%d inner nodes, at most %d", len(ex.Path), maxStateProofOps)
	}
	if !bytes.Equal(ex.Key, HeadKey) {
		return fmt.Errorf("proves key %q, not %q", ex.Key, HeadKey)
	}
	if err := ex.Verify(ics23.IavlSpec, root, HeadKey, st.Head); err != nil {
		return err
	}
	return nil
}

// parseHead reads the audit head value: size(8) ‖ last height(8) ‖ last
// time ns(8) ‖ root(32), integers big-endian. The root is the last 32
// bytes, not the 32 after the size.
func parseHead(b []byte) (size, lastHeight uint64, root []byte, err error) {
	if len(b) != headLen {
		return 0, 0, nil, fmt.Errorf("%d bytes, want %d", len(b), headLen)
	}
	size = binary.BigEndian.Uint64(b[0:8])
	lastHeight = binary.BigEndian.Uint64(b[8:16])
	lastTime := int64(binary.BigEndian.Uint64(b[16:24]))
	if size == 0 || lastTime <= 0 {
		return 0, 0, nil, fmt.Errorf("size %d, last time %d: not a head the log writes", size, lastTime)
	}
	return size, lastHeight, append([]byte(nil), b[headRootOffset:]...), nil
}
