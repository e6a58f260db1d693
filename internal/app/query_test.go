package app

import (
	"bytes"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

func (c *chain) query(path string, key []byte, height int64, prove bool) *abci.ResponseQuery {
	c.t.Helper()
	res, err := c.app.Query(ctx, &abci.RequestQuery{Path: path, Data: key, Height: height, Prove: prove})
	if err != nil {
		c.t.Fatalf("Query(%s, %q, %d): %v", path, key, height, err)
	}
	return res
}

// proofOf extracts the single ICS23 proof from a query response.
func proofOf(t *testing.T, res *abci.ResponseQuery) *ics23.CommitmentProof {
	t.Helper()
	if res.ProofOps == nil || len(res.ProofOps.Ops) != 1 {
		t.Fatalf("want one proof op, got %v", res.ProofOps)
	}
	op := res.ProofOps.Ops[0]
	if op.Type != ProofOpICS23 || !bytes.Equal(op.Key, res.Key) {
		t.Fatalf("proof op type %q key %q", op.Type, op.Key)
	}
	var p ics23.CommitmentProof
	if err := p.Unmarshal(op.Data); err != nil {
		t.Fatal(err)
	}
	return &p
}

func TestQueryStoreProof(t *testing.T) {
	c := newChain(t)
	beforeOrg := c.height
	rootBefore := c.info().LastBlockAppHash
	org := c.registerOrg("General Hospital")
	c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
	root := c.info().LastBlockAppHash
	key := identity.ActorKey(org.ID)

	// Presence, proven against the app hash of the last committed block.
	res := c.query(QueryStore, key, 0, true)
	if res.Code != 0 || res.Height != c.height || !bytes.Equal(res.Key, key) {
		t.Fatalf("query: code %d height %d key %q", res.Code, res.Height, res.Key)
	}
	a, err := identity.DecodeActor(res.Value)
	if err != nil || a.ID != org.ID || a.Name != "General Hospital" {
		t.Fatalf("proven value decodes to %+v, %v", a, err)
	}
	p := proofOf(t, res)
	if !state.Verify(root, key, res.Value, p) {
		t.Fatal("the proof does not verify against the committed root")
	}
	tampered := bytes.Clone(res.Value)
	tampered[len(tampered)-1] ^= 1
	for name, ok := range map[string]bool{
		"modified value":    state.Verify(root, key, tampered, p),
		"another key":       state.Verify(root, identity.ActorKey(c.admin.ID), res.Value, p),
		"an older root":     state.Verify(rootBefore, key, res.Value, p),
		"absence claimed":   state.Verify(root, key, nil, p),
		"no proof":          state.Verify(root, key, res.Value, nil),
		"a truncated value": state.Verify(root, key, res.Value[:len(res.Value)-1], p),
	} {
		if ok {
			t.Errorf("the proof verified %s", name)
		}
	}
	if plain := c.query(QueryStore, key, 0, false); plain.ProofOps != nil || !bytes.Equal(plain.Value, res.Value) {
		t.Fatal("a query without Prove returned a proof or another value")
	}

	// Absence, at the height before the organization existed.
	old := c.query(QueryStore, key, beforeOrg, true)
	if old.Value != nil || old.Height != beforeOrg {
		t.Fatalf("at height %d: value %x height %d", beforeOrg, old.Value, old.Height)
	}
	if !state.Verify(rootBefore, key, nil, proofOf(t, old)) {
		t.Fatal("the non-membership proof does not verify against that height's root")
	}
	if state.Verify(root, key, nil, proofOf(t, old)) {
		t.Fatal("an old non-membership proof verified against the current root")
	}
	missing := identity.ActorKey("ccnobody")
	if res := c.query(QueryStore, missing, 0, true); res.Value != nil || !state.Verify(root, missing, nil, proofOf(t, res)) {
		t.Fatal("absent key: no verifying non-membership proof")
	}

	// Errors are codes, not node failures.
	if res := c.query(QueryStore, key, c.height+10, true); tx.Code(res.Code) != tx.CodeNotFound {
		t.Fatalf("future height: code %d", res.Code)
	}
	if res := c.query("/nope", key, 0, false); tx.Code(res.Code) != tx.CodeInvalid {
		t.Fatalf("unknown path: code %d", res.Code)
	}
}
