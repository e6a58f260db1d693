package check

import (
	"bytes"
	"errors"
	"fmt"

	cmtdb "github.com/cometbft/cometbft-db"
	cmtstate "github.com/cometbft/cometbft/proto/tendermint/state"
	sm "github.com/cometbft/cometbft/state"
	"github.com/cometbft/cometbft/store"
	cmttypes "github.com/cometbft/cometbft/types"
)

// chain is what the block check learned, for the state check to link to.
type chain struct {
	base, height int64
	// appHash holds the app hash in the header of each block that passed
	// its own checks: the state root saved at the height before it.
	appHash map[int64][]byte
	// state is CometBFT's state; nil when it has none or it does not decode.
	state *sm.State
}

// Keys of CometBFT's databases (v0.38), as its store and state packages
// write them. They name findings, so an operator can find the record.
func metaKey(h int64) string          { return fmt.Sprintf("H:%d", h) }
func partKey(h int64, i int) string   { return fmt.Sprintf("P:%d:%d", h, i) }
func commitKey(h int64) string        { return fmt.Sprintf("C:%d", h) }
func seenCommitKey(h int64) string    { return fmt.Sprintf("SC:%d", h) }
func hashKey(hash []byte) string      { return fmt.Sprintf("BH:%x", hash) }
func validatorsKey(h int64) string    { return fmt.Sprintf("validatorsKey:%d", h) }
func abciResponsesKey(h int64) string { return fmt.Sprintf("abciResponsesKey:%d", h) }

const (
	blockStoreKey = "blockStore" // the block store's base and height
	stateKey      = "stateKey"   // CometBFT's state after the last executed block
	// valSetCheckpointInterval is how often CometBFT stores a validator
	// set in full even when it did not change (state/store.go).
	valSetCheckpointInterval = 100000
)

// checkBlocks checks every stored block, its parts, its commit and its links
// to the block before it and to CometBFT's state.
func (c *checker) checkBlocks(blockDB, stateDB cmtdb.DB) *chain {
	ch := &chain{appHash: map[int64][]byte{}}
	if stateDB != nil {
		st, err := loadConsensusState(stateDB)
		if err != nil {
			c.add(StoreConsensus, c.consensusFile, 0, stateKey, "CometBFT's state: %v", err)
		}
		ch.state = st
	}
	if ch.state != nil {
		c.report.Blocks.ConsensusHeight = ch.state.LastBlockHeight
	}
	if blockDB == nil {
		if ch.state != nil && ch.state.LastBlockHeight > 0 {
			c.add(StoreBlocks, c.blockFile, 0, "", "the block store is missing, but CometBFT's state says block %d was executed", ch.state.LastBlockHeight)
		}
		return ch
	}
	var bs *store.BlockStore
	if err := guard(func() error { bs = store.NewBlockStore(blockDB); return nil }); err != nil {
		c.add(StoreBlocks, c.blockFile, 0, blockStoreKey, "the record of the store's base and height: %v", err)
		return ch
	}
	ch.base, ch.height = bs.Base(), bs.Height()
	c.report.Blocks.Base, c.report.Blocks.Height = ch.base, ch.height
	if ch.height == 0 {
		if ch.state != nil && ch.state.LastBlockHeight > 0 {
			c.add(StoreBlocks, c.blockFile, 0, blockStoreKey, "the block store is empty, but CometBFT's state says block %d was executed", ch.state.LastBlockHeight)
		}
		return ch
	}
	if ch.base < c.genesis.InitialHeight || ch.base > ch.height {
		c.add(StoreBlocks, c.blockFile, 0, blockStoreKey, "the store says it holds blocks %d–%d; the chain starts at %d", ch.base, ch.height, c.genesis.InitialHeight)
		return ch
	}

	vals := newValidators(stateDB)
	if vals == nil {
		c.add(StoreConsensus, c.consensusFile, 0, "", "CometBFT's state database is missing: there are no validator sets to verify the commits with")
	}
	var results sm.Store
	if stateDB != nil {
		// Only LoadFinalizeBlockResponse is used: it returns an error for
		// an undecodable record, where CometBFT's other loaders exit the
		// process.
		results = sm.NewStore(stateDB, sm.StoreOptions{})
	}
	blockIDs := map[int64]cmttypes.BlockID{}
	var prev *cmttypes.BlockMeta // the previous height's meta, if it loaded
	for h := ch.base; h <= ch.height; h++ {
		before := c.found.count()
		meta, block := c.checkBlock(bs, h)
		if meta != nil {
			blockIDs[h] = meta.BlockID
		}
		v := c.checkValidators(vals, h, block)
		if block != nil && prev != nil {
			c.checkLink(bs, vals, results, prev, block)
		}
		if block != nil && c.found.count() == before {
			ch.appHash[h] = block.AppHash
		}
		if h == c.genesis.InitialHeight && v != nil {
			c.checkGenesisValidators(v)
		}
		prev = meta
		if block == nil {
			prev = nil // nothing authenticates that meta's block id
		}
		delete(blockIDs, h-2) // only the last two are looked up below
	}
	c.checkSeenCommit(bs, vals, ch.height, blockIDs)
	c.checkConsensusState(ch, blockIDs)
	return ch
}

// checkBlock checks block h on its own: its meta record, every part against
// the part-set hash, the decoded block's internal hashes (ValidateBasic:
// data, evidence and last-commit hashes) and its hash against the block id.
// It returns what loaded; block is nil when the block cannot be trusted to
// decode.
func (c *checker) checkBlock(bs *store.BlockStore, h int64) (*cmttypes.BlockMeta, *cmttypes.Block) {
	var meta *cmttypes.BlockMeta
	if err := guard(func() error { meta = bs.LoadBlockMeta(h); return nil }); err != nil {
		c.add(StoreBlocks, c.blockFile, h, metaKey(h), "block meta: %v", err)
		return nil, nil
	}
	if meta == nil {
		c.add(StoreBlocks, c.blockFile, h, metaKey(h), "block meta is missing")
		return nil, nil
	}
	if meta.Header.Height != h {
		c.add(StoreBlocks, c.blockFile, h, metaKey(h), "block meta is for height %d", meta.Header.Height)
	}
	if !bytes.Equal(meta.Header.Hash(), meta.BlockID.Hash) {
		c.add(StoreBlocks, c.blockFile, h, metaKey(h), "the header in the block meta hashes to %X, not to its block id %X", meta.Header.Hash(), meta.BlockID.Hash)
	}
	total := meta.BlockID.PartSetHeader.Total
	if total == 0 || total > cmttypes.MaxBlockPartsCount {
		c.add(StoreBlocks, c.blockFile, h, metaKey(h), "block id names %d parts", total)
		return meta, nil
	}
	partsOK := true
	for i := 0; i < int(total); i++ {
		var part *cmttypes.Part
		err := guard(func() error { part = bs.LoadBlockPart(h, i); return nil })
		problem := ""
		switch {
		case err != nil:
			problem = fmt.Sprintf("block part: %v", err)
		case part == nil:
			problem = "block part is missing"
		case part.Index != uint32(i) || part.Proof.Index != int64(i) || part.Proof.Total != int64(total):
			problem = fmt.Sprintf("block part says it is part %d (proof: %d of %d)", part.Index, part.Proof.Index, part.Proof.Total)
		case part.ValidateBasic() != nil:
			problem = fmt.Sprintf("block part: %v", part.ValidateBasic())
		default:
			if err := part.Proof.Verify(meta.BlockID.PartSetHeader.Hash, part.Bytes); err != nil {
				problem = fmt.Sprintf("block part does not match the part-set hash in the block id: %v", err)
			}
		}
		if problem != "" {
			c.add(StoreBlocks, c.blockFile, h, partKey(h, i), "%s", problem)
			partsOK = false
		}
	}
	if !partsOK {
		return meta, nil // the parts are named; decoding them would only repeat it
	}
	var block *cmttypes.Block
	if err := guard(func() error { block = bs.LoadBlock(h); return nil }); err != nil || block == nil {
		if err == nil {
			err = errors.New("missing")
		}
		c.add(StoreBlocks, c.blockFile, h, partKey(h, 0), "block does not load from its parts: %v", err)
		return meta, nil
	}
	if err := block.ValidateBasic(); err != nil {
		c.add(StoreBlocks, c.blockFile, h, partKey(h, 0), "block is not consistent with its own header: %v", err)
		return meta, nil
	}
	if !bytes.Equal(block.Hash(), meta.BlockID.Hash) {
		c.add(StoreBlocks, c.blockFile, h, partKey(h, 0), "block hashes to %X; its block id says %X", block.Hash(), meta.BlockID.Hash)
		return meta, nil
	}
	if block.ChainID != c.genesis.ChainID {
		c.add(StoreBlocks, c.blockFile, h, partKey(h, 0), "block is for chain %q, the genesis is for %q", block.ChainID, c.genesis.ChainID)
	}
	var byHash *cmttypes.BlockMeta
	err := guard(func() error { byHash = bs.LoadBlockMetaByHash(meta.BlockID.Hash); return nil })
	if err != nil || byHash == nil || byHash.Header.Height != h {
		c.add(StoreBlocks, c.blockFile, h, hashKey(meta.BlockID.Hash), "the index from block hash to height does not lead to height %d", h)
	}
	return meta, block
}

// checkValidators checks the validator set stored for h against block h's
// header, and returns it (nil when it does not load).
func (c *checker) checkValidators(vals *validators, h int64, block *cmttypes.Block) *cmttypes.ValidatorSet {
	if vals == nil {
		return nil // reported once by the caller
	}
	v, err := vals.at(h)
	if err != nil {
		c.add(StoreConsensus, c.consensusFile, h, validatorsKey(h), "validator set: %v", err)
		return nil
	}
	if block != nil && !bytes.Equal(block.ValidatorsHash, v.Hash()) {
		c.add(StoreConsensus, c.consensusFile, h, validatorsKey(h), "the validator set stored for height %d hashes to %X; block %d says %X", h, v.Hash(), h, block.ValidatorsHash)
	}
	if block != nil {
		if next, err := vals.at(h + 1); err == nil && !bytes.Equal(block.NextValidatorsHash, next.Hash()) {
			c.add(StoreConsensus, c.consensusFile, h+1, validatorsKey(h+1), "the validator set stored for height %d hashes to %X; block %d names %X as the next set", h+1, next.Hash(), h, block.NextValidatorsHash)
		}
	}
	return v
}

// checkGenesisValidators anchors the first block's validator set to the
// genesis, so that every later commit is trusted from the genesis on.
func (c *checker) checkGenesisValidators(v *cmttypes.ValidatorSet) {
	gv := make([]*cmttypes.Validator, len(c.genesis.Validators))
	for i, g := range c.genesis.Validators {
		gv[i] = cmttypes.NewValidator(g.PubKey, g.Power)
	}
	want := cmttypes.NewValidatorSet(gv).Hash()
	if !bytes.Equal(v.Hash(), want) {
		h := c.genesis.InitialHeight
		c.add(StoreConsensus, c.consensusFile, h, validatorsKey(h), "the validator set stored for the first block is not the genesis validator set")
		return
	}
	c.report.Blocks.Anchored = true
}

// checkLink checks that block follows prev: it names prev's block id, its
// LastCommit is signed by prev's validators, the commit stored for prev's
// height is that one, and the results and app hash CometBFT recorded for
// prev's height are those block commits to.
func (c *checker) checkLink(bs *store.BlockStore, vals *validators, results sm.Store, prev *cmttypes.BlockMeta, block *cmttypes.Block) {
	h, ph := block.Height, prev.Header.Height
	if !block.LastBlockID.Equals(prev.BlockID) {
		c.add(StoreBlocks, c.blockFile, h, partKey(h, 0), "block names %v as the previous block; block %d is %v", block.LastBlockID, ph, prev.BlockID)
		return
	}
	if vals == nil {
		return // reported by checkValidators
	}
	if pv, err := vals.at(ph); err == nil {
		if err := pv.VerifyCommit(c.genesis.ChainID, prev.BlockID, ph, block.LastCommit); err != nil {
			c.add(StoreBlocks, c.blockFile, ph, partKey(h, 0), "the commit for block %d (carried in block %d) does not verify against the validator set: %v", ph, h, err)
		} else {
			c.report.Blocks.Commits++
		}
	}
	var stored *cmttypes.Commit
	err := guard(func() error { stored = bs.LoadBlockCommit(ph); return nil })
	switch {
	case err != nil:
		c.add(StoreBlocks, c.blockFile, ph, commitKey(ph), "stored commit: %v", err)
	case stored == nil:
		c.add(StoreBlocks, c.blockFile, ph, commitKey(ph), "stored commit is missing")
	case !bytes.Equal(stored.Hash(), block.LastCommitHash):
		c.add(StoreBlocks, c.blockFile, ph, commitKey(ph), "stored commit differs from the one block %d carries", h)
	}
	if results == nil {
		return
	}
	resp, err := results.LoadFinalizeBlockResponse(ph)
	if err != nil {
		var none sm.ErrNoABCIResponsesForHeight
		if !errors.As(err, &none) { // absent: discarded by configuration, not a fault
			c.add(StoreConsensus, c.consensusFile, ph, abciResponsesKey(ph), "transaction results: %v", err)
		}
		return
	}
	if !bytes.Equal(resp.AppHash, block.AppHash) {
		c.add(StoreConsensus, c.consensusFile, ph, abciResponsesKey(ph), "the app hash recorded for block %d is %X; block %d's header says %X", ph, resp.AppHash, h, block.AppHash)
	}
	if got := cmttypes.NewResults(resp.TxResults).Hash(); !bytes.Equal(got, block.LastResultsHash) {
		c.add(StoreConsensus, c.consensusFile, ph, abciResponsesKey(ph), "the transaction results recorded for block %d hash to %X; block %d's header says %X", ph, got, h, block.LastResultsHash)
	}
}

// checkSeenCommit verifies the commit that made this node commit its last
// block: no later block carries it yet.
func (c *checker) checkSeenCommit(bs *store.BlockStore, vals *validators, h int64, blockIDs map[int64]cmttypes.BlockID) {
	id, ok := blockIDs[h]
	if !ok || vals == nil {
		return
	}
	var seen *cmttypes.Commit
	err := guard(func() error { seen = bs.LoadSeenCommit(h); return nil })
	switch {
	case err != nil:
		c.add(StoreBlocks, c.blockFile, h, seenCommitKey(h), "commit for the last block: %v", err)
		return
	case seen == nil:
		c.add(StoreBlocks, c.blockFile, h, seenCommitKey(h), "commit for the last block is missing")
		return
	}
	v, err := vals.at(h)
	if err != nil {
		return // reported by checkValidators
	}
	if err := v.VerifyCommit(c.genesis.ChainID, id, h, seen); err != nil {
		c.add(StoreBlocks, c.blockFile, h, seenCommitKey(h), "the commit for the last block does not verify against the validator set: %v", err)
		return
	}
	c.report.Blocks.Commits++
}

// checkConsensusState checks CometBFT's state against the block store.
// CometBFT saves a block before executing it and its state after, so the
// state is at the last block or, after a crash, the one before.
func (c *checker) checkConsensusState(ch *chain, blockIDs map[int64]cmttypes.BlockID) {
	st := ch.state
	if st == nil {
		return
	}
	if st.ChainID != c.genesis.ChainID {
		c.add(StoreConsensus, c.consensusFile, 0, stateKey, "CometBFT's state is for chain %q, the genesis for %q", st.ChainID, c.genesis.ChainID)
	}
	last := st.LastBlockHeight
	switch {
	case last > ch.height:
		c.add(StoreConsensus, c.consensusFile, last, stateKey, "CometBFT's state says block %d was executed; the block store ends at %d", last, ch.height)
	case last < ch.height-1:
		c.add(StoreConsensus, c.consensusFile, last, stateKey, "CometBFT's state stops at block %d; the block store holds blocks up to %d", last, ch.height)
	default:
		if id, ok := blockIDs[last]; ok && !st.LastBlockID.Equals(id) {
			c.add(StoreConsensus, c.consensusFile, last, stateKey, "CometBFT's state names %v as block %d; the block store holds %v", st.LastBlockID, last, id)
		}
	}
}

// loadConsensusState decodes CometBFT's state. CometBFT's own loader exits
// the process on a record it cannot decode; this one returns an error.
func loadConsensusState(db cmtdb.DB) (*sm.State, error) {
	buf, err := db.Get([]byte(stateKey))
	if err != nil {
		return nil, err
	}
	if len(buf) == 0 {
		return nil, nil
	}
	var pb cmtstate.State
	if err := pb.Unmarshal(buf); err != nil {
		return nil, fmt.Errorf("does not decode: %w", err)
	}
	var st *sm.State
	err = guard(func() error {
		var err error
		st, err = sm.FromProto(&pb)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("does not decode: %w", err)
	}
	return st, nil
}

// validators loads validator sets from CometBFT's state database, keeping
// the last few. CometBFT's own LoadValidators exits the process on a record
// it cannot decode; this loader returns an error and is otherwise the same
// lookup (a test compares the two on a real node).
type validators struct {
	db    cmtdb.DB
	cache map[int64]*cmttypes.ValidatorSet
}

func newValidators(db cmtdb.DB) *validators {
	if db == nil {
		return nil
	}
	return &validators{db: db, cache: map[int64]*cmttypes.ValidatorSet{}}
}

func (v *validators) at(h int64) (*cmttypes.ValidatorSet, error) {
	if s, ok := v.cache[h]; ok {
		return s, nil
	}
	s, err := loadValidators(v.db, h)
	if err != nil {
		return nil, err
	}
	if len(v.cache) > 4 {
		clear(v.cache)
	}
	v.cache[h] = s
	return s, nil
}

// loadValidators returns the validator set for height h. CometBFT stores a
// set in full only at heights where it changed and at checkpoints; other
// heights name the height to read it from. It leaves proposer priorities
// as stored: they change neither the set's hash nor commit verification.
func loadValidators(db cmtdb.DB, h int64) (*cmttypes.ValidatorSet, error) {
	info, err := validatorsInfo(db, h)
	if err != nil {
		return nil, err
	}
	pb := info.ValidatorSet
	if pb == nil {
		from := max(h-h%valSetCheckpointInterval, info.LastHeightChanged)
		if from <= 0 || from >= h {
			return nil, fmt.Errorf("%s names height %d as where the set was last stored", validatorsKey(h), from)
		}
		older, err := validatorsInfo(db, from)
		if err != nil {
			return nil, err
		}
		if older.ValidatorSet == nil {
			return nil, fmt.Errorf("%s holds no validator set", validatorsKey(from))
		}
		pb = older.ValidatorSet
	}
	var set *cmttypes.ValidatorSet
	err = guard(func() error {
		var err error
		set, err = cmttypes.ValidatorSetFromProto(pb)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("validator set does not decode: %w", err)
	}
	return set, nil
}

func validatorsInfo(db cmtdb.DB, h int64) (*cmtstate.ValidatorsInfo, error) {
	buf, err := db.Get([]byte(validatorsKey(h)))
	if err != nil {
		return nil, err
	}
	if len(buf) == 0 {
		return nil, fmt.Errorf("%s is missing", validatorsKey(h))
	}
	info := new(cmtstate.ValidatorsInfo)
	if err := info.Unmarshal(buf); err != nil {
		return nil, fmt.Errorf("%s does not decode: %w", validatorsKey(h), err)
	}
	return info, nil
}
