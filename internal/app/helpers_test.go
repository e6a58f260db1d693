package app

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

const testChain = "carechain-test"

// genesisTime is the first block's time; block h is h seconds later, so
// every run sees the same block times.
var genesisTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var ctx = context.Background()

// chain drives an App through the ABCI calls CometBFT would make, one
// block at a time, and keeps each signer's next nonce so that tests read as
// a list of transactions.
type chain struct {
	t      testing.TB
	app    *App
	store  *state.Store
	admin  *keyfile.Key
	height int64 // last committed height
	nonces map[string]uint64
}

// newChain starts a chain in memory whose genesis names a fresh admin key.
// Block 1 is committed empty so that the genesis state is committed and
// visible to CheckTx, as it is on a running node.
func newChain(t testing.TB) *chain {
	t.Helper()
	admin, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	c := startChain(t, state.OpenMemory(), admin)
	c.mustBlock()
	return c
}

// startChain runs InitChain on store with admin as the consortium admin.
func startChain(t testing.TB, store *state.Store, admin *keyfile.Key, validators ...identity.GenesisValidator) *chain {
	t.Helper()
	c := &chain{t: t, app: New(testChain, store, nil, nil), store: store, admin: admin, nonces: map[string]uint64{}}
	res, err := c.app.InitChain(ctx, &abci.RequestInitChain{ChainId: testChain, InitialHeight: 1, Time: genesisTime,
		AppStateBytes: genesisJSON(t, admin, validators...)})
	if err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	if len(res.AppHash) == 0 {
		t.Fatal("InitChain returned no app hash")
	}
	return c
}

func genesisJSON(t testing.TB, admin *keyfile.Key, validators ...identity.GenesisValidator) []byte {
	t.Helper()
	b, err := json.Marshal(GenesisState{Identity: identity.Genesis{
		Admin:      identity.GenesisKeys{SignKey: admin.SignPublic(), HPKEKey: admin.HPKEPublic()},
		Validators: validators,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// detKey is a key derived from label: Ed25519 signatures are deterministic
// and so is HPKE's DeriveKeyPair, so transactions built from these keys are
// the same bytes on every run.
func detKey(t testing.TB, label string) *keyfile.Key {
	t.Helper()
	seed := sha256.Sum256([]byte("carechain/app-test/sign/" + label))
	ikm := sha256.Sum256([]byte("carechain/app-test/hpke/" + label))
	h, err := tx.HPKE.DeriveKeyPair(ikm[:])
	if err != nil {
		t.Fatal(err)
	}
	sign := ed25519.NewKeyFromSeed(seed[:])
	return &keyfile.Key{ID: tx.ActorID(sign.Public().(ed25519.PublicKey)), Sign: sign, HPKE: h}
}

func newKey(t testing.TB) *keyfile.Key {
	t.Helper()
	k, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rotated returns k's new keys for a rotation: same id, new key material.
func rotated(t testing.TB, k *keyfile.Key) *keyfile.Key {
	t.Helper()
	n, err := keyfile.GenerateFor(k.ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sign builds a transaction from k with k's next nonce, and counts it.
func (c *chain) sign(k *keyfile.Key, m tx.Msg) []byte {
	c.nonces[k.ID]++
	return tx.Build(testChain, k.ID, c.nonces[k.ID], m, k.Sign)
}

// signAt builds a transaction with an explicit nonce, leaving the count alone.
func (c *chain) signAt(k *keyfile.Key, nonce uint64, m tx.Msg) []byte {
	return tx.Build(testChain, k.ID, nonce, m, k.Sign)
}

func reg(kind tx.Kind, name, org string, k *keyfile.Key) *tx.RegisterActor {
	return tx.NewRegistration(testChain, kind, name, org, k.Sign, k.HPKEPublic())
}

func rotation(actor string, newKey *keyfile.Key) *tx.RotateKey {
	return tx.NewRotation(testChain, actor, newKey.Sign, newKey.HPKEPublic())
}

// finalize runs FinalizeBlock for the next height without committing.
func (c *chain) finalize(txs ...[]byte) *abci.ResponseFinalizeBlock {
	c.t.Helper()
	h := c.height + 1
	res, err := c.app.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: h, Time: genesisTime.Add(time.Duration(h) * time.Second),
		Txs: txs, ProposerAddress: make([]byte, 20)})
	if err != nil {
		c.t.Fatalf("FinalizeBlock at height %d: %v", h, err)
	}
	if len(res.TxResults) != len(txs) {
		c.t.Fatalf("%d results for %d transactions", len(res.TxResults), len(txs))
	}
	return res
}

// block finalizes and commits the next block, and checks that Info then
// reports it.
func (c *chain) block(txs ...[]byte) *abci.ResponseFinalizeBlock {
	c.t.Helper()
	res := c.finalize(txs...)
	c.commit()
	info := c.info()
	if info.LastBlockHeight != c.height || string(info.LastBlockAppHash) != string(res.AppHash) {
		c.t.Fatalf("after committing height %d with app hash %X, Info reports %d/%X", c.height, res.AppHash, info.LastBlockHeight, info.LastBlockAppHash)
	}
	return res
}

func (c *chain) commit() {
	c.t.Helper()
	if _, err := c.app.Commit(ctx, &abci.RequestCommit{}); err != nil {
		c.t.Fatalf("Commit: %v", err)
	}
	c.height++
}

// mustBlock commits a block whose transactions must all succeed.
func (c *chain) mustBlock(txs ...[]byte) *abci.ResponseFinalizeBlock {
	c.t.Helper()
	res := c.block(txs...)
	for i, r := range res.TxResults {
		if r.Code != 0 {
			c.t.Fatalf("height %d tx %d: code %s: %s", c.height, i, tx.Code(r.Code), r.Log)
		}
	}
	return res
}

func (c *chain) check(raw []byte) *abci.ResponseCheckTx {
	c.t.Helper()
	res, err := c.app.CheckTx(ctx, &abci.RequestCheckTx{Tx: raw, Type: abci.CheckTxType_New})
	if err != nil {
		c.t.Fatalf("CheckTx returned an error (a node failure) instead of a code: %v", err)
	}
	return res
}

func (c *chain) info() *abci.ResponseInfo {
	c.t.Helper()
	res, err := c.app.Info(ctx, &abci.RequestInfo{})
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

func (c *chain) appHash() string { return fmt.Sprintf("%X", c.info().LastBlockAppHash) }

// registerOrg admits an organization through the admin.
func (c *chain) registerOrg(name string) *keyfile.Key {
	c.t.Helper()
	k := newKey(c.t)
	c.mustBlock(c.sign(c.admin, reg(tx.KindOrganization, name, "", k)))
	return k
}

// registerMember admits a practitioner or application of org.
func (c *chain) registerMember(org *keyfile.Key, kind tx.Kind, name string) *keyfile.Key {
	c.t.Helper()
	k := newKey(c.t)
	c.mustBlock(c.sign(org, reg(kind, name, org.ID, k)))
	return k
}

func (c *chain) registerPatient() *keyfile.Key {
	c.t.Helper()
	k := newKey(c.t)
	c.mustBlock(c.sign(k, reg(tx.KindPatient, "", "", k)))
	return k
}

// actor reads an actor from committed state.
func (c *chain) actor(id string) *identity.Actor {
	c.t.Helper()
	snap, _, err := c.store.Snapshot(0)
	if err != nil {
		c.t.Fatal(err)
	}
	a, err := identity.Get(snap, id)
	if err != nil {
		c.t.Fatalf("actor %s: %v", id, err)
	}
	return a
}

// committed renders the whole committed state, key by key.
func (c *chain) committed() map[string]string {
	c.t.Helper()
	snap, _, err := c.store.Snapshot(0)
	if err != nil {
		c.t.Fatal(err)
	}
	return dumpMap(c.t, snap)
}

// checkView renders the mempool's view of state: committed state plus the
// transactions CheckTx admitted since.
func (c *chain) checkView() map[string]string {
	c.t.Helper()
	c.app.mu.Lock()
	defer c.app.mu.Unlock()
	return dumpMap(c.t, c.app.checkState)
}

func dumpMap(t testing.TB, st kv.Reader) map[string]string {
	out := map[string]string{}
	if err := st.Iterate(nil, nil, false, func(k, v []byte) bool {
		out[string(k)] = fmt.Sprintf("%x", v)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// diffKeys lists the keys whose values differ between two dumps.
func diffKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func nonceKey(id string) string { return "id/n/" + id }

// expectRejected checks a transaction that must fail before its signer is
// authenticated: CheckTx and a block both return want, and neither the
// mempool's view, the committed state nor the app hash changes.
func (c *chain) expectRejected(raw []byte, want tx.Code) {
	c.t.Helper()
	view := c.checkView()
	if res := c.check(raw); tx.Code(res.Code) != want {
		c.t.Fatalf("CheckTx code %s, want %s (%s)", tx.Code(res.Code), want, res.Log)
	} else if want != tx.CodeOK && res.Codespace != "carechain" {
		c.t.Fatalf("CheckTx codespace %q", res.Codespace)
	}
	if d := diffKeys(view, c.checkView()); len(d) != 0 {
		c.t.Fatalf("a rejected CheckTx changed the mempool's view: %v", d)
	}
	before, hash := c.committed(), c.appHash()
	res := c.block(raw)
	if got := tx.Code(res.TxResults[0].Code); got != want {
		c.t.Fatalf("FinalizeBlock code %s, want %s (%s)", got, want, res.TxResults[0].Log)
	}
	if len(res.TxResults[0].Events) != 0 {
		c.t.Fatalf("a rejected transaction emitted events: %v", res.TxResults[0].Events)
	}
	if got := c.appHash(); got != hash {
		c.t.Fatalf("a rejected transaction changed the app hash from %s to %s", hash, got)
	}
	if d := diffKeys(before, c.committed()); len(d) != 0 {
		c.t.Fatalf("a rejected transaction changed state: %v", d)
	}
}

// expectMsgRejected checks a transaction whose signer authenticates but
// whose message fails: CheckTx returns want and keeps nothing; in a block it
// returns want and consumes exactly its nonce, so it cannot be replayed.
func (c *chain) expectMsgRejected(raw []byte, want tx.Code) {
	c.t.Helper()
	t, err := tx.Decode(raw)
	if err != nil {
		c.t.Fatal(err)
	}
	view := c.checkView()
	if res := c.check(raw); tx.Code(res.Code) != want {
		c.t.Fatalf("CheckTx code %s, want %s (%s)", tx.Code(res.Code), want, res.Log)
	}
	if d := diffKeys(view, c.checkView()); len(d) != 0 {
		c.t.Fatalf("a rejected CheckTx changed the mempool's view: %v", d)
	}
	before := c.committed()
	res := c.block(raw)
	if got := tx.Code(res.TxResults[0].Code); got != want {
		c.t.Fatalf("FinalizeBlock code %s, want %s (%s)", got, want, res.TxResults[0].Log)
	}
	after := c.committed()
	if d := diffKeys(before, after); len(d) != 1 || d[0] != nonceKey(t.Signer) {
		c.t.Fatalf("a failed message changed %v; want only the signer's nonce", d)
	}
	if after[nonceKey(t.Signer)] != fmt.Sprintf("%x", binary.AppendUvarint(nil, t.Nonce)) {
		c.t.Fatalf("nonce after failure %s, want %d", after[nonceKey(t.Signer)], t.Nonce)
	}
}

// codes lists a block's result codes by name, for readable comparisons.
func codes(res *abci.ResponseFinalizeBlock) string {
	var names []string
	for _, r := range res.TxResults {
		names = append(names, tx.Code(r.Code).String())
	}
	return strings.Join(names, ",")
}
