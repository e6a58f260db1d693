package proof

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/crypto/secp256k1"
	"github.com/cometbft/cometbft/crypto/tmhash"
	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/types"
)

// noExpiry is the trusting period given to CometBFT's light-client checks.
// A bundle is verified offline, long after the fact, with no clock to say
// what "now" is: trust flows from genesis through the bundle's headers,
// never from a recent header the verifier saw itself. docs/proof-bundle.md
// says what this costs (long-range forks by former validators).
const noExpiry = time.Duration(math.MaxInt64)

// The range of a protobuf Timestamp, in which vote times are signed.
var (
	minTimestamp = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTimestamp = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// validatorSet builds a CometBFT validator set from untrusted input,
// checking first everything types.NewValidatorSet would panic on and every
// key a signature check would panic on.
func validatorSet(vals []*types.Validator) (*types.ValidatorSet, error) {
	if len(vals) == 0 {
		return nil, errors.New("empty validator set")
	}
	if len(vals) > maxValidators {
		return nil, fmt.Errorf("%d validators, at most %d", len(vals), maxValidators)
	}
	seen := make(map[string]bool, len(vals))
	var total int64
	for i, v := range vals {
		if v == nil || v.PubKey == nil {
			return nil, fmt.Errorf("validator %d has no public key", i)
		}
		switch k := v.PubKey.(type) {
		case ed25519.PubKey:
			if len(k) != ed25519.PubKeySize {
				return nil, fmt.Errorf("validator %d: ed25519 key of %d bytes", i, len(k))
			}
		case secp256k1.PubKey:
			if len(k) != secp256k1.PubKeySize {
				return nil, fmt.Errorf("validator %d: secp256k1 key of %d bytes", i, len(k))
			}
		default:
			return nil, fmt.Errorf("validator %d: unsupported key type %s", i, v.PubKey.Type())
		}
		if !bytes.Equal(v.Address, v.PubKey.Address()) {
			return nil, fmt.Errorf("validator %d: address %X is not its key's (%X)", i, []byte(v.Address), []byte(v.PubKey.Address()))
		}
		if seen[string(v.Address)] {
			return nil, fmt.Errorf("validator %X appears twice", []byte(v.Address))
		}
		seen[string(v.Address)] = true
		if v.VotingPower <= 0 || v.VotingPower > types.MaxTotalVotingPower-total {
			return nil, fmt.Errorf("validator %d: voting power %d out of range", i, v.VotingPower)
		}
		total += v.VotingPower
	}
	set := types.NewValidatorSet(vals)
	return set, nil
}

// bundleValidatorSet is validatorSet for a light block's validators, which
// must also be listed in the set's own order (power, then address): the
// order is not part of the set's hash, and a bundle has one form.
func bundleValidatorSet(vals []*types.Validator) (*types.ValidatorSet, error) {
	set, err := validatorSet(vals)
	if err != nil {
		return nil, err
	}
	for i, v := range set.Validators {
		if !bytes.Equal(v.Address, vals[i].Address) {
			return nil, fmt.Errorf("validators are not in the set's order (power, then address) at %d", i)
		}
	}
	return set, nil
}

// GenesisValidators returns the validator set a genesis document starts
// the chain with.
func GenesisValidators(g *types.GenesisDoc) (*types.ValidatorSet, error) {
	if g == nil {
		return nil, errors.New("no genesis document")
	}
	if g.ChainID == "" {
		return nil, errors.New("genesis has no chain id")
	}
	vals := make([]*types.Validator, 0, len(g.Validators))
	for _, gv := range g.Validators {
		if gv.PubKey == nil {
			return nil, fmt.Errorf("genesis validator %q has no public key", gv.Name)
		}
		vals = append(vals, &types.Validator{Address: gv.PubKey.Address(), PubKey: gv.PubKey, VotingPower: gv.Power})
	}
	set, err := validatorSet(vals)
	if err != nil {
		return nil, fmt.Errorf("genesis validators: %w", err)
	}
	return set, nil
}

// trust is what a verifier has come to trust: the genesis validator set
// (header nil), then each light block it has verified in turn.
type trust struct {
	chainID       string
	initialHeight int64
	genesisTime   time.Time
	header        *types.SignedHeader
	vals          *types.ValidatorSet
}

func newTrust(g *types.GenesisDoc) (*trust, error) {
	vals, err := GenesisValidators(g)
	if err != nil {
		return nil, err
	}
	initial := g.InitialHeight
	if initial == 0 {
		initial = 1 // CometBFT's default for a genesis that does not say
	}
	return &trust{chainID: g.ChainID, initialHeight: initial, genesisTime: g.GenesisTime, vals: vals}, nil
}

// check verifies lb against what t trusts, without moving t. It returns
// lb's validator set.
func (t *trust) check(lb LightBlock) (*types.ValidatorSet, error) {
	sh := lb.SignedHeader
	if sh == nil {
		return nil, errors.New("no signed header")
	}
	if err := sh.ValidateBasic(t.chainID); err != nil {
		return nil, err
	}
	// Header.Hash is nil for a header it cannot encode (a time out of
	// protobuf's range, no validators hash); ValidateBasic would then
	// compare nil with an empty block id and pass.
	if len(sh.Hash()) != tmhash.Size {
		return nil, errors.New("header does not hash")
	}
	vals, err := bundleValidatorSet(lb.Validators)
	if err != nil {
		return nil, fmt.Errorf("validator set: %w", err)
	}
	if !bytes.Equal(sh.ValidatorsHash, vals.Hash()) {
		return nil, fmt.Errorf("validator set hashes to %X, the header names %X", vals.Hash(), []byte(sh.ValidatorsHash))
	}
	// CometBFT computes vote sign bytes on the assumption that a commit's
	// block id and vote times are well formed, and panics otherwise;
	// Commit.ValidateBasic checks neither.
	if err := sh.Commit.BlockID.ValidateBasic(); err != nil || !sh.Commit.BlockID.IsComplete() {
		return nil, fmt.Errorf("commit: malformed block id %v", sh.Commit.BlockID)
	}
	for i, cs := range sh.Commit.Signatures {
		if cs.BlockIDFlag != types.BlockIDFlagAbsent && (cs.Timestamp.Before(minTimestamp) || cs.Timestamp.After(maxTimestamp)) {
			return nil, fmt.Errorf("commit: signature %d has a time out of range", i)
		}
	}
	// Every signature, not just the first two thirds of power: no byte of
	// the commit goes unchecked, and a signature that does not verify is
	// a tampered bundle even if enough others do.
	if err := vals.VerifyCommit(t.chainID, sh.Commit.BlockID, sh.Height, sh.Commit); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if t.header == nil {
		// Signed by more than 2/3 of the genesis set (VerifyCommit above),
		// or, skipping from genesis by the light-client rule, vouched for
		// by at least 1/3 of the genesis power: one honest validator.
		if !bytes.Equal(vals.Hash(), t.vals.Hash()) {
			if err := t.vals.VerifyCommitLightTrustingAllSignatures(t.chainID, sh.Commit, light.DefaultTrustLevel); err != nil {
				return nil, fmt.Errorf("validator set differs from genesis and is not vouched for by a third of the genesis validators: %w", err)
			}
		}
		if sh.Height < t.initialHeight {
			return nil, fmt.Errorf("height %d is below the genesis initial height %d", sh.Height, t.initialHeight)
		}
		if sh.Time.Before(t.genesisTime) {
			return nil, fmt.Errorf("block time %s is before genesis time %s", sh.Time.UTC().Format(time.RFC3339Nano), t.genesisTime.UTC().Format(time.RFC3339Nano))
		}
		return vals, nil
	}
	// light.Verify checks heights and times increase, the adjacent
	// next-validators link or the 1/3 trust level for a skip, and 2/3 of
	// the new set. Its "now" is the new header's own time: see noExpiry.
	if err := light.Verify(t.header, t.vals, sh, vals, noExpiry, sh.Time, time.Nanosecond, light.DefaultTrustLevel); err != nil {
		return nil, fmt.Errorf("from trusted block %d: %w", t.header.Height, err)
	}
	return vals, nil
}

// advance verifies lb and trusts it from then on.
func (t *trust) advance(lb LightBlock) error {
	vals, err := t.check(lb)
	if err != nil {
		return err
	}
	t.header, t.vals = lb.SignedHeader, vals
	return nil
}

// TrustPath returns the light blocks, in ascending height, that a bundle
// needs between the genesis validators and target: none when target is
// signed by the genesis set, otherwise the headers CometBFT's skipping
// verification (bisection) settles on. fetch returns the light block at a
// height; target must already be checked to be the block that is wanted.
func TrustPath(g *types.GenesisDoc, target LightBlock, fetch func(height int64) (LightBlock, error)) ([]LightBlock, error) {
	t, err := newTrust(g)
	if err != nil {
		return nil, err
	}
	var path []LightBlock
	pivot := target
	// Each failed attempt halves the gap to the trusted height, and each
	// success moves the trusted height up, so this is bounded by about
	// log2(height) per validator-set change; the bound guards a bad source.
	for attempt := 0; attempt < 64*MaxTrustSteps; attempt++ {
		_, err := t.check(pivot)
		switch {
		case err == nil && pivot.Height() == target.Height():
			return shortest(g, path, target)
		case err == nil:
			if len(path) == MaxTrustSteps {
				return nil, fmt.Errorf("more than %d trust steps to reach block %d", MaxTrustSteps, target.Height())
			}
			if err := t.advance(pivot); err != nil {
				return nil, err
			}
			path = append(path, pivot)
			pivot = target
			continue
		case pivot.Height() <= t.trustedHeight()+1:
			// Adjacent and still not trusted: there is nothing between
			// to try, so the chain the source gave is broken here.
			return nil, fmt.Errorf("block %d cannot be trusted from block %d: %w", pivot.Height(), t.trustedHeight(), err)
		}
		mid := t.trustedHeight() + (pivot.Height()-t.trustedHeight())/2
		next, err := fetch(mid)
		if err != nil {
			return nil, fmt.Errorf("fetch block %d: %w", mid, err)
		}
		if next.Height() != mid {
			return nil, fmt.Errorf("fetched block %d for height %d", next.Height(), mid)
		}
		pivot = next
	}
	return nil, fmt.Errorf("no trust path to block %d", target.Height())
}

// shortest drops the steps of a bisection path that a verifier can skip:
// from each trusted point it keeps only the farthest next block that
// verifies. Bisection settles for the first block that verifies, so
// blocks signed by one unchanged set can follow each other in its path.
func shortest(g *types.GenesisDoc, path []LightBlock, target LightBlock) ([]LightBlock, error) {
	t, err := newTrust(g)
	if err != nil {
		return nil, err
	}
	rest := append(append([]LightBlock(nil), path...), target)
	var out []LightBlock
	for {
		next := -1
		for i := len(rest) - 1; i >= 0; i-- {
			if _, err := t.check(rest[i]); err == nil {
				next = i
				break
			}
		}
		if next < 0 {
			return nil, fmt.Errorf("trust path to block %d breaks after block %d", target.Height(), t.trustedHeight())
		}
		if next == len(rest)-1 {
			return out, nil
		}
		if err := t.advance(rest[next]); err != nil {
			return nil, err
		}
		out = append(out, rest[next])
		rest = rest[next+1:]
	}
}

// trustedHeight is the height of the last trusted header; before the first
// it is the height before the genesis initial height.
func (t *trust) trustedHeight() int64 {
	if t.header == nil {
		return t.initialHeight - 1
	}
	return t.header.Height
}
