package app

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// BenchmarkBlockOfRegistrations measures executing and committing a block
// of patient self-registrations the size of a full 1 MiB block, the
// carechain side of `carechain bench`.
func BenchmarkBlockOfRegistrations(b *testing.B) {
	const perBlock = 700
	const chainID = "bench"
	admin, _ := keyfile.Generate()
	gen, _ := json.Marshal(GenesisState{Identity: identity.Genesis{Admin: identity.GenesisKeys{SignKey: admin.SignPublic(), HPKEKey: admin.HPKEPublic()}}})
	st, err := state.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a := New(chainID, st, nil, nil)
	ctx := context.Background()
	if _, err := a.InitChain(ctx, &abci.RequestInitChain{ChainId: chainID, AppStateBytes: gen, InitialHeight: 1}); err != nil {
		b.Fatal(err)
	}
	hk, _ := tx.HPKE.GenerateKey()
	hpub := hk.PublicKey().Bytes()
	makeBlock := func() [][]byte {
		txs := make([][]byte, perBlock)
		for i := range txs {
			_, sk, _ := ed25519.GenerateKey(nil)
			m := tx.NewRegistration(chainID, tx.KindPatient, "", "", sk, hpub)
			txs[i] = tx.Build(chainID, tx.ActorID(m.SignKey), 1, m, sk)
		}
		return txs
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		txs := makeBlock()
		for _, raw := range txs { // as the mempool would have
			if res, _ := a.CheckTx(ctx, &abci.RequestCheckTx{Tx: raw}); res.Code != 0 {
				b.Fatalf("check: %d %s", res.Code, res.Log)
			}
		}
		b.StartTimer()
		start := time.Now()
		res, err := a.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: int64(i + 1), Time: time.Unix(int64(i), 0), Txs: txs})
		if err != nil || res.TxResults[0].Code != 0 {
			b.Fatalf("finalize: %v %v", err, res.TxResults[0])
		}
		fin := time.Since(start)
		if _, err := a.Commit(ctx, &abci.RequestCommit{}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fin.Microseconds()), "finalize-µs")
	}
}
