package app

// signerNonce names a transaction by its signer and nonce.
type signerNonce struct {
	signer string
	nonce  uint64
}

// proposalOrder is the order in which a proposal carries transactions
// whose signers and nonces are txs, given in the mempool's order: that
// order, except that a transaction whose predecessor (same signer, nonce
// one less) is in the list but not yet placed waits for it, and is placed
// right after it — and so, in turn, do the transactions waiting for that
// one. Mempool order [4, 5, 6, 3] becomes [3, 4, 5, 6]: 4 waits for 3,
// 5 for 4, 6 for 5.
//
// CometBFT's mempool lists a transaction when its CheckTx answer is
// handled, not when the app checked it, and the two orders can differ:
// with a local ABCI client the answer is handled after the client's lock
// is released (mempool/clist_mempool.go CheckTx, reqRes.SetCallback), so
// two CheckTx calls running at once — from two peers, or a peer and the
// RPC — can list nonce n+1 before n. Proposed in that order, n+1 fails
// with nonce_gap in the block and its signer's later transactions fail
// their recheck. Placing each transaction after its predecessor proposes
// what the app admitted, in the order it admitted it.
//
// A transaction only ever moves later, so it still follows everything it
// followed in the mempool; nothing is added or dropped, and a transaction
// whose nonce is out of order with the ledger fails in the block as it
// would have: FinalizeBlock judges every nonce as before. Only the
// proposer runs this; the block, once proposed, executes as it is on every
// node.
func proposalOrder(txs []signerNonce) []int {
	present := make(map[signerNonce]bool, len(txs))
	for _, k := range txs {
		present[k] = true
	}
	placed := make(map[signerNonce]bool, len(txs))
	waiting := map[signerNonce][]int{} // by the predecessor they wait for
	order := make([]int, 0, len(txs))
	for i, k := range txs {
		if k.nonce > 0 {
			pred := signerNonce{k.signer, k.nonce - 1}
			if present[pred] && !placed[pred] {
				waiting[pred] = append(waiting[pred], i)
				continue
			}
		}
		// Place i, then whatever waits for what was just placed.
		for next := []int{i}; len(next) > 0; {
			j := next[0]
			next = next[1:]
			order = append(order, j)
			placed[txs[j]] = true
			if w, ok := waiting[txs[j]]; ok {
				delete(waiting, txs[j])
				next = append(w, next...)
			}
		}
	}
	return order
}
