package app

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// update rewrites testdata/golden_apphash.json:
//
//	go test ./internal/app -run TestGoldenAppHash -update
var update = flag.Bool("update", false, "rewrite testdata/golden_apphash.json")

const goldenPath = "testdata/golden_apphash.json"

// scriptKeys are the actors of the scripted chain.
type scriptKeys struct {
	admin, org, org2, doc, doc2, app, pat, pat2 *keyfile.Key
	pat3, del                                   *keyfile.Key // a patient and a delegate for the consent blocks
}

func randomScriptKeys(t testing.TB) scriptKeys {
	k := scriptKeys{admin: newKey(t), org: newKey(t), org2: newKey(t), doc: newKey(t), app: newKey(t), pat: newKey(t),
		pat3: newKey(t), del: newKey(t)}
	k.doc2, k.pat2 = rotated(t, k.doc), rotated(t, k.pat)
	return k
}

func deterministicScriptKeys(t testing.TB) scriptKeys {
	k := scriptKeys{admin: detKey(t, "admin"), org: detKey(t, "org"), org2: detKey(t, "org2"), doc: detKey(t, "doc"),
		doc2: detKey(t, "doc2"), app: detKey(t, "app"), pat: detKey(t, "pat"), pat2: detKey(t, "pat2"),
		pat3: detKey(t, "pat3"), del: detKey(t, "del")}
	k.doc2.ID, k.pat2.ID = k.doc.ID, k.pat.ID // rotated keys keep the actor id
	return k
}

// scriptBlocks is a fixed history touching every identity and consent
// message and several rejections, with the results each block must have.
// Block 1 is empty, so that genesis is committed before the first
// transaction. New blocks go at the end, so that the golden app hashes of
// the earlier ones stay as they were.
func scriptBlocks(k scriptKeys) (blocks [][][]byte, want []string) {
	nonce := map[string]uint64{}
	sign := func(s *keyfile.Key, m tx.Msg) []byte {
		nonce[s.ID]++
		return tx.Build(testChain, s.ID, nonce[s.ID], m, s.Sign)
	}
	// unspent signs with the signer's next nonce without counting it, for
	// transactions rejected before their nonce is used.
	unspent := func(s *keyfile.Key, m tx.Msg) []byte {
		return tx.Build(testChain, s.ID, nonce[s.ID]+1, m, s.Sign)
	}
	regOrg := sign(k.admin, reg(tx.KindOrganization, "General Hospital", "", k.org))
	blocks = [][][]byte{
		{},
		{regOrg, sign(k.pat, reg(tx.KindPatient, "", "", k.pat)), sign(k.admin, reg(tx.KindOrganization, "County Lab", "", k.org2))},
		{sign(k.org, reg(tx.KindPractitioner, "Dr. Ng", k.org.ID, k.doc)), sign(k.org, reg(tx.KindApplication, "EHR", k.org.ID, k.app)),
			sign(k.org, reg(tx.KindOrganization, "Subsidiary", "", k.pat2))},
		{sign(k.doc, rotation(k.doc.ID, k.doc2)), unspent(k.doc, &tx.RevokeActor{Actor: k.doc.ID}), regOrg},
		{sign(k.org, &tx.RevokeActor{Actor: k.app.ID, Reason: "decommissioned"}), sign(k.pat, rotation(k.pat.ID, k.pat2)),
			sign(k.org2, rotation(k.doc.ID, k.pat))},
		{unspent(k.app, &tx.RevokeActor{Actor: k.app.ID}), sign(k.doc2, &tx.RevokeActor{Actor: k.pat.ID}), []byte("junk")},
		{sign(k.admin, &tx.RevokeActor{Actor: k.org2.ID}), sign(k.pat2, &tx.RevokeActor{Actor: k.pat.ID})},
		{sign(k.pat3, reg(tx.KindPatient, "", "", k.pat3)), sign(k.del, reg(tx.KindDelegate, "", "", k.del))},
		// The patient grants (consent tx.ConsentID(pat3, 2)) and appoints a
		// delegate; a practitioner may not grant for the patient.
		{sign(k.pat3, grantOf(scriptPermit(k.pat3.ID, consent.Organization(k.org.ID)))),
			sign(k.pat3, delegationMsg(consent.Delegation{Patient: k.pat3.ID, Delegate: k.del.ID,
				Operations: []consent.Operation{consent.OpGrant, consent.OpRevoke}})),
			sign(k.doc2, grantOf(scriptPermit(k.pat3.ID, consent.Organization(k.org.ID))))},
		// The delegate grants, the patient revokes their own consent and
		// opts out of break-the-glass, the delegate fails to revoke what is
		// already revoked, and steps down.
		{sign(k.del, grantOf(scriptDeny(k.pat3.ID, consent.Organization(k.org2.ID)))),
			sign(k.pat3, &tx.RevokeConsent{Patient: k.pat3.ID, ConsentID: tx.ConsentID(k.pat3.ID, 2)}),
			sign(k.pat3, &tx.SetBreakGlassOptOut{Patient: k.pat3.ID, OptOut: true}),
			sign(k.del, &tx.RevokeConsent{Patient: k.pat3.ID, ConsentID: tx.ConsentID(k.pat3.ID, 2)}),
			sign(k.del, &tx.RemoveDelegate{Patient: k.pat3.ID, Delegate: k.del.ID})},
	}
	want = []string{
		"",
		"ok,ok,ok",
		"ok,ok,unauthorized",
		"ok,bad_signature,nonce_replayed",
		"ok,ok,unauthorized",
		"signer_revoked,unauthorized,malformed",
		"ok,ok",
		"ok,ok",
		"ok,ok,unauthorized",
		"ok,ok,ok,invalid,ok",
	}
	return blocks, want
}

// Consents of the scripted chain. Fixed times keep the bytes the same on
// every run.
func scriptPermit(patient string, actor consent.Actor) consent.Consent {
	c := permitFor(patient, actor, consent.PurposeTreatment)
	c.DateTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Provision.Provisions = []consent.Provision{{Type: consent.Deny, Labels: []string{"PSY"}}}
	return c
}

func scriptDeny(patient string, actor consent.Actor) consent.Consent {
	c := permitFor(patient, actor)
	c.Provision.Type = consent.Deny
	c.Provision.Condition = "block.height > 1"
	return c
}

// runScript plays blocks on a new in-memory app. With viaMempool, every
// transaction first goes through CheckTx and the block through
// ProcessProposal, as on a validator that saw them gossiped; without, only
// FinalizeBlock runs, as on a node catching up. It returns each height's
// FinalizeBlock response.
func runScript(t *testing.T, k scriptKeys, validators []identity.GenesisValidator, viaMempool bool) (genesisHash []byte, out []*abci.ResponseFinalizeBlock) {
	t.Helper()
	app := New(testChain, state.OpenMemory(), nil, nil)
	init, err := app.InitChain(ctx, &abci.RequestInitChain{ChainId: testChain, InitialHeight: 1, Time: genesisTime,
		AppStateBytes: genesisJSON(t, k.admin, validators...)})
	if err != nil {
		t.Fatal(err)
	}
	blocks, _ := scriptBlocks(k)
	for i, txs := range blocks {
		h := int64(i + 1)
		if viaMempool {
			for _, raw := range txs {
				if _, err := app.CheckTx(ctx, &abci.RequestCheckTx{Tx: raw}); err != nil {
					t.Fatal(err)
				}
			}
			pp, err := app.ProcessProposal(ctx, &abci.RequestProcessProposal{Height: h, Txs: txs})
			if err != nil {
				t.Fatal(err)
			}
			// The junk block is one no correct proposer makes; a node that
			// was not there to vote still executes it when catching up.
			if want := pp.Status == abci.ResponseProcessProposal_ACCEPT; want != !containsJunk(txs) {
				t.Fatalf("height %d: ProcessProposal %s", h, pp.Status)
			}
		}
		res, err := app.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: h, Time: genesisTime.Add(time.Duration(h) * time.Second), Txs: txs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.Commit(ctx, &abci.RequestCommit{}); err != nil {
			t.Fatal(err)
		}
		out = append(out, res)
	}
	return init.AppHash, out
}

func containsJunk(txs [][]byte) bool {
	for _, raw := range txs {
		if bytes.Equal(raw, []byte("junk")) {
			return true
		}
	}
	return false
}

// TestDeterminism feeds the same blocks to two independent apps, one warmed
// by CheckTx and ProcessProposal and one cold, and requires identical
// results and app hashes at every height.
func TestDeterminism(t *testing.T) {
	k := randomScriptKeys(t)
	_, want := scriptBlocks(k)
	g1, warm := runScript(t, k, nil, true)
	g2, cold := runScript(t, k, nil, false)
	if !bytes.Equal(g1, g2) {
		t.Fatalf("genesis app hashes differ: %X vs %X", g1, g2)
	}
	for i := range warm {
		h := i + 1
		if got := codes(warm[i]); got != want[i] {
			t.Errorf("height %d: results %q, want %q", h, got, want[i])
		}
		if !bytes.Equal(warm[i].AppHash, cold[i].AppHash) {
			t.Fatalf("height %d: app hash %X with a warm cache, %X without", h, warm[i].AppHash, cold[i].AppHash)
		}
		if !reflect.DeepEqual(warm[i].TxResults, cold[i].TxResults) {
			t.Fatalf("height %d: results differ:\n%v\n%v", h, warm[i].TxResults, cold[i].TxResults)
		}
		// A block in which anything succeeded moves the hash.
		if i > 0 && strings.Contains(want[i], "ok") && bytes.Equal(warm[i].AppHash, warm[i-1].AppHash) {
			t.Errorf("height %d did not change the app hash", h)
		}
	}
}

type goldenFile struct {
	Comment     string         `json:"comment"`
	ChainID     string         `json:"chain_id"`
	GenesisHash string         `json:"genesis_app_hash"`
	Heights     []goldenHeight `json:"heights"`
}

type goldenHeight struct {
	Height  int64  `json:"height"`
	Results string `json:"results"`
	AppHash string `json:"app_hash"`
}

func goldenValidators(t *testing.T) []identity.GenesisValidator {
	return []identity.GenesisValidator{
		{Name: "node0", Address: bytes.Repeat([]byte{0xa0}, 20), HPKEKey: detKey(t, "validator0").HPKEPublic()},
		{Name: "node1", Address: bytes.Repeat([]byte{0x1b}, 20), HPKEKey: detKey(t, "validator1").HPKEPublic()},
	}
}

// TestGoldenAppHash pins the app hash after a fixed script of blocks built
// from fixed keys. It changes when the state layout, an encoding or a rule
// changes — every one of which forks a running network, so a change here
// must be deliberate. Regenerate with:
//
//	go test ./internal/app -run TestGoldenAppHash -update
func TestGoldenAppHash(t *testing.T) {
	k := deterministicScriptKeys(t)
	genesisHash, results := runScript(t, k, goldenValidators(t), true)
	got := goldenFile{
		Comment:     "App hashes of a fixed script (internal/app/determinism_test.go). Regenerate with: go test ./internal/app -run TestGoldenAppHash -update",
		ChainID:     testChain,
		GenesisHash: hex.EncodeToString(genesisHash),
	}
	for i, res := range results {
		got.Heights = append(got.Heights, goldenHeight{Height: int64(i + 1), Results: codes(res), AppHash: hex.EncodeToString(res.AppHash)})
	}
	gotJSON, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	gotJSON = append(gotJSON, '\n')
	if *update {
		if err := os.WriteFile(goldenPath, gotJSON, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantJSON, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (regenerate with -update)", err)
	}
	var want goldenFile
	if err := json.Unmarshal(wantJSON, &want); err != nil {
		t.Fatal(err)
	}
	if want.GenesisHash != got.GenesisHash {
		t.Errorf("genesis app hash %s, golden %s", got.GenesisHash, want.GenesisHash)
	}
	if len(want.Heights) != len(got.Heights) {
		t.Fatalf("%d heights, golden has %d", len(got.Heights), len(want.Heights))
	}
	for i := range want.Heights {
		if got.Heights[i] != want.Heights[i] {
			t.Errorf("height %d: got %+v\n          golden %+v", i+1, got.Heights[i], want.Heights[i])
		}
	}
	if t.Failed() {
		t.Log("the app hash changed: if the change to state is intended, regenerate with -update and say so in the change description")
	}
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("%s is not in the form this test writes; regenerate it with -update", goldenPath)
	}

	// The script means what it says: the scripted results, and a different
	// key anywhere gives a different hash.
	_, wantCodes := scriptBlocks(k)
	for i, h := range got.Heights {
		if h.Results != wantCodes[i] {
			t.Errorf("height %d results %q, script expects %q", i+1, h.Results, wantCodes[i])
		}
	}
	other := k
	other.pat = detKey(t, "another patient")
	_, alt := runScript(t, other, goldenValidators(t), false)
	if bytes.Equal(alt[len(alt)-1].AppHash, results[len(results)-1].AppHash) {
		t.Error("a different patient key gave the same final app hash")
	}
}
