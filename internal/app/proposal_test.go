package app

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// pipeline is an organization with transactions checked in nonce order,
// as the gateway sends them, none committed yet.
func pipeline(t *testing.T, c *chain, n int) (*keyfile.Key, [][]byte) {
	t.Helper()
	org := c.registerOrg("General Hospital")
	txs := make([][]byte, n)
	for i := range txs {
		txs[i] = c.sign(org, reg(tx.KindPractitioner, fmt.Sprintf("Dr. %d", i), org.ID, newKey(t)))
		if res := c.check(txs[i]); res.Code != 0 {
			t.Fatalf("CheckTx(%d) = %s %s", i, tx.Code(res.Code), res.Log)
		}
	}
	return org, txs
}

// TestRecheckComesBeforeNewCheckTx follows one signer's pipelined
// transactions through a block that takes the first: the rest pass their
// recheck and the next new one is admitted. Checked before the recheck,
// the new one would be a gap; CometBFT rules that out by holding the
// mempool's lock from Commit through the recheck (state/execution.go
// BlockExecutor.Commit; CheckTx takes the lock's read side), so this is
// not how pipelined transactions get nonce_gap.
func TestRecheckComesBeforeNewCheckTx(t *testing.T) {
	c := newChain(t)
	org, txs := pipeline(t, c, 3)
	c.mustBlock(txs[0])
	early := c.signAt(org, c.nonces[org.ID]+1, reg(tx.KindPractitioner, "Dr. Early", org.ID, newKey(t)))
	if res := c.check(early); tx.Code(res.Code) != tx.CodeNonceGap {
		t.Fatalf("a new CheckTx between Commit and the recheck: %s, want nonce_gap", tx.Code(res.Code))
	}
	for i, raw := range txs[1:] {
		if res := c.recheck(raw); res.Code != 0 {
			t.Fatalf("recheck of waiting tx %d: %s %s", i+1, tx.Code(res.Code), res.Log)
		}
	}
	if res := c.check(early); res.Code != 0 {
		t.Fatalf("a new CheckTx after the recheck: %s %s", tx.Code(res.Code), res.Log)
	}
}

// TestInvertedMempoolOrder reproduces nonce_gap under pipelining. The app
// admitted n, n+1, n+2 in that order, but CometBFT's mempool may list n+1
// before n (see proposalOrder). A block in that order fails n+1 with
// nonce_gap; the signer's waiting n+2 then fails its recheck and is
// evicted, and its next new transaction is a gap too, since n+1 is gone.
// PrepareProposal proposes them in nonce order instead.
func TestInvertedMempoolOrder(t *testing.T) {
	c := newChain(t)
	org, txs := pipeline(t, c, 3)
	if got := codes(c.block(txs[1], txs[0])); got != "nonce_gap,ok" {
		t.Fatalf("block in inverted mempool order: %s, want nonce_gap,ok", got)
	}
	if res := c.recheck(txs[2]); tx.Code(res.Code) != tx.CodeNonceGap {
		t.Fatalf("recheck of the waiting transaction: %s, want nonce_gap", tx.Code(res.Code))
	}
	if res := c.check(c.signAt(org, 4, reg(tx.KindPractitioner, "Dr. Next", org.ID, newKey(t)))); tx.Code(res.Code) != tx.CodeNonceGap {
		t.Fatalf("the next new transaction: %s, want nonce_gap", tx.Code(res.Code))
	}

	c = newChain(t)
	_, txs = pipeline(t, c, 3)
	other := c.sign(c.admin, reg(tx.KindOrganization, "Clinic", "", newKey(t)))
	if res := c.check(other); res.Code != 0 {
		t.Fatalf("CheckTx(other) = %s", tx.Code(res.Code))
	}
	res, err := c.app.PrepareProposal(ctx, &abci.RequestPrepareProposal{MaxTxBytes: 1 << 20, Txs: [][]byte{txs[1], other, txs[0]}})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]byte{other, txs[0], txs[1]}; !equalTxs(res.Txs, want) {
		t.Fatal("the proposal does not put n+1 after n")
	}
	if got := codes(c.block(res.Txs...)); got != "ok,ok,ok" {
		t.Fatalf("the prepared block: %s", got)
	}
	if r := c.recheck(txs[2]); r.Code != 0 {
		t.Fatalf("recheck of the waiting transaction: %s %s", tx.Code(r.Code), r.Log)
	}
}

func TestProposalOrder(t *testing.T) {
	a := func(n uint64) signerNonce { return signerNonce{"a", n} }
	b := func(n uint64) signerNonce { return signerNonce{"b", n} }
	cases := []struct {
		name string
		in   []signerNonce
		want []int
	}{
		{"in order", []signerNonce{a(1), b(1), a(2), b(2)}, []int{0, 1, 2, 3}},
		{"one swap", []signerNonce{a(2), a(1)}, []int{1, 0}},
		{"moved past others, not before them", []signerNonce{a(6), b(1), a(5), b(2)}, []int{1, 2, 0, 3}},
		{"a reversed run", []signerNonce{a(3), a(2), a(1)}, []int{2, 1, 0}},
		// Seen in a block: 25, 26, 27 stood before 24. All three wait,
		// 26 and 27 for a predecessor that itself waits.
		{"a run before its predecessor", []signerNonce{a(23), a(25), a(26), a(27), a(24)}, []int{0, 4, 1, 2, 3}},
		{"a gap stays where it is", []signerNonce{a(9), a(1), a(2)}, []int{0, 1, 2}},
		{"a stale nonce later moves nothing", []signerNonce{a(5), a(2)}, []int{0, 1}},
		{"a duplicate nonce", []signerNonce{a(2), a(1), a(1)}, []int{1, 0, 2}},
		{"nonce zero", []signerNonce{a(0), a(1)}, []int{0, 1}},
		{"empty", nil, []int{}},
	}
	for _, tc := range cases {
		if got := proposalOrder(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestProposalOrderProperties checks, over random mempools of a few
// signers, that the order is a permutation, that every transaction whose
// predecessor is in the list comes after it, and that the transactions
// that need not wait (their predecessor is absent, or earlier and not
// waiting) keep their relative order.
func TestProposalOrderProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		in := make([]signerNonce, r.IntN(12))
		for i := range in {
			in[i] = signerNonce{string(rune('a' + r.IntN(3))), uint64(r.IntN(6))}
		}
		out := proposalOrder(in)
		pos := make([]int, len(in))
		seen := make([]bool, len(in))
		for p, i := range out {
			if seen[i] {
				t.Fatalf("%v: %v repeats %d", in, out, i)
			}
			seen[i], pos[i] = true, p
		}
		if len(out) != len(in) {
			t.Fatalf("%v: %v is not a permutation", in, out)
		}
		// A transaction waits if its predecessor is in the list and comes
		// later in it, or itself waits.
		waits := make([]bool, len(in))
		for i, k := range in {
			for j := range in {
				if k.nonce > 0 && in[j] == (signerNonce{k.signer, k.nonce - 1}) && (j > i || waits[j]) {
					waits[i] = true
				}
			}
		}
		moved := waits
		for i, k := range in {
			present, before := false, false
			for j := range in {
				if k.nonce > 0 && in[j] == (signerNonce{k.signer, k.nonce - 1}) {
					present, before = true, before || pos[j] < pos[i]
				}
			}
			if present && !before {
				t.Fatalf("%v: %v puts %d before its predecessor", in, out, i)
			}
		}
		for i := range in {
			for j := i + 1; j < len(in); j++ {
				if !moved[i] && !moved[j] && pos[i] > pos[j] {
					t.Fatalf("%v: %v swaps %d and %d, neither of which waits", in, out, i, j)
				}
			}
		}
	}
}
