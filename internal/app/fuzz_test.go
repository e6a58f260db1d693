package app

import (
	"bytes"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// FuzzAppInput feeds arbitrary bytes to CheckTx, ProcessProposal and
// FinalizeBlock of a fresh chain. Whatever the bytes, the app answers with a
// result code and no error (an error would stop the node), never panics, and
// leaves the app hash alone when the bytes are not a valid transaction.
func FuzzAppInput(f *testing.F) {
	admin := detKey(f, "fuzz admin")
	org, pat := detKey(f, "fuzz org"), detKey(f, "fuzz patient")
	regOrg := tx.Build(testChain, admin.ID, 1, reg(tx.KindOrganization, "Org", "", org), admin.Sign)
	for _, seed := range [][]byte{
		regOrg,
		tx.Build(testChain, pat.ID, 1, reg(tx.KindPatient, "", "", pat), pat.Sign),
		tx.Build(testChain, admin.ID, 1, &tx.RevokeActor{Actor: admin.ID, Reason: "x"}, admin.Sign),
		tx.Build(testChain, admin.ID, 1, rotation(admin.ID, org), admin.Sign),
		tx.Build(testChain, admin.ID, 2, reg(tx.KindOrganization, "Org", "", org), admin.Sign),
		tx.Build("other", admin.ID, 1, reg(tx.KindOrganization, "Org", "", org), admin.Sign),
		tx.Build(testChain, admin.ID, 1, grantOf(permitFor(pat.ID, consent.Organization(org.ID), consent.PurposeTreatment)), admin.Sign),
		tx.Build(testChain, admin.ID, 1, &tx.SetBreakGlassOptOut{Patient: admin.ID, OptOut: true}, admin.Sign),
		append(bytes.Clone(regOrg), 0),
		regOrg[:len(regOrg)/2],
		nil,
		{tx.Version},
	} {
		f.Add(seed)
	}
	genesis := genesisJSON(f, admin)

	f.Fuzz(func(t *testing.T, input []byte) {
		// The app may keep what CheckTx hands it (its signature cache
		// does); the fuzzer reuses its buffer, so give the app a copy.
		raw := bytes.Clone(input)
		app := New(testChain, state.OpenMemory(), nil, nil)
		if _, err := app.InitChain(ctx, &abci.RequestInitChain{ChainId: testChain, InitialHeight: 1, Time: genesisTime, AppStateBytes: genesis}); err != nil {
			t.Fatal(err)
		}
		if _, err := app.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: 1, Time: genesisTime}); err != nil {
			t.Fatal(err)
		}
		if _, err := app.Commit(ctx, &abci.RequestCommit{}); err != nil {
			t.Fatal(err)
		}
		before := app.store.WorkingHash()

		check, err := app.CheckTx(ctx, &abci.RequestCheckTx{Tx: raw})
		if err != nil {
			t.Fatalf("CheckTx returned an error: %v", err)
		}
		if !knownCodes[tx.Code(check.Code)] {
			t.Fatalf("CheckTx returned unregistered code %d", check.Code)
		}
		if _, err := app.ProcessProposal(ctx, &abci.RequestProcessProposal{Height: 2, Txs: [][]byte{raw}}); err != nil {
			t.Fatalf("ProcessProposal returned an error: %v", err)
		}
		// The same bytes twice: the second is a replay if the first ran.
		res, err := app.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: 2, Time: genesisTime, Txs: [][]byte{raw, raw}})
		if err != nil {
			t.Fatalf("FinalizeBlock returned an error: %v", err)
		}
		first, second := tx.Code(res.TxResults[0].Code), tx.Code(res.TxResults[1].Code)
		if first == tx.CodeInternal || second == tx.CodeInternal {
			t.Fatal("a transaction caused an internal error")
		}
		// CheckTx and the block judge the same bytes against the same
		// committed state, so they must agree.
		if first != tx.Code(check.Code) {
			t.Fatalf("CheckTx said %s, FinalizeBlock %s", tx.Code(check.Code), first)
		}
		if second == tx.CodeOK && first == tx.CodeOK {
			t.Fatal("the same transaction ran twice")
		}
		if _, err := tx.Decode(raw); err != nil && !bytes.Equal(res.AppHash, before) {
			t.Fatal("bytes that do not decode changed the app hash")
		}
		if rejectedBeforeAuth[first] && rejectedBeforeAuth[second] && !bytes.Equal(res.AppHash, before) {
			t.Fatalf("transactions rejected with %s and %s before authentication changed the app hash", first, second)
		}
		if _, err := app.Commit(ctx, &abci.RequestCommit{}); err != nil {
			t.Fatal(err)
		}
	})
}

var knownCodes = func() map[tx.Code]bool {
	m := map[tx.Code]bool{}
	for _, c := range tx.Codes() {
		m[c] = true
	}
	return m
}()

// rejectedBeforeAuth are the codes that only ever come before a signer is
// authenticated, and so before anything, even a nonce, is written.
var rejectedBeforeAuth = map[tx.Code]bool{
	tx.CodeMalformed: true, tx.CodeWrongChain: true, tx.CodeUnknownSigner: true, tx.CodeBadSignature: true,
	tx.CodeNonceReplayed: true, tx.CodeNonceGap: true, tx.CodeTooLarge: true, tx.CodeUnknownType: true,
}
