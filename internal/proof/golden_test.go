package proof_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/types"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/proof"
	"github.com/carechain/carechain/internal/tx"
)

var update = flag.Bool("update", false, "regenerate testdata/ (runs a node in-process)")

// regenerate is the command that rewrites testdata/; it is written into
// vectors.json and testdata/README.md.
const regenerate = "go test ./internal/proof -run TestGoldenBundles -update"

const (
	goldenChain   = "proof-golden"
	handoverChain = "proof-handover"
)

type vector struct {
	Desc    string `json:"desc"`
	Bundle  string `json:"bundle"`
	Genesis string `json:"genesis"`
	Valid   bool   `json:"valid"`
	// Error is a part of the error that names what failed.
	Error string `json:"error,omitempty"`
}

type vectorFile[V any] struct {
	Comment string `json:"comment"`
	Vectors []V    `json:"vectors"`
}

// judge fails t unless err is what v expects: nil for a valid vector, an
// error naming v.Error for a broken one.
func judge(t *testing.T, v vector, err error) {
	t.Helper()
	switch {
	case v.Valid && err != nil:
		t.Errorf("%s: %v", v.Desc, err)
	case !v.Valid && err == nil:
		t.Errorf("%s: verified", v.Desc)
	case !v.Valid && !strings.Contains(err.Error(), v.Error):
		t.Errorf("%s: error %q does not name %q", v.Desc, err, v.Error)
	}
}

// TestGoldenBundles checks every vector in testdata/vectors.json: good
// bundles verify against their genesis, and each broken one fails with an
// error naming what is wrong.
func TestGoldenBundles(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	var vf vectorFile[vector]
	if err := json.Unmarshal(readFile(t, "vectors.json"), &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Vectors) < 20 {
		t.Fatalf("only %d vectors", len(vf.Vectors))
	}
	for _, v := range vf.Vectors {
		_, err := proof.Verify(readFile(t, v.Bundle), loadGenesis(t, v.Genesis))
		judge(t, v, err)
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadGenesis(t testing.TB, name string) *types.GenesisDoc {
	t.Helper()
	g, err := types.GenesisDocFromJSON(readFile(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func writeFile(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func decode(t testing.TB, data []byte) *proof.Bundle {
	t.Helper()
	b, err := proof.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encode(t testing.TB, b *proof.Bundle) []byte {
	t.Helper()
	data, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// writeVectors runs a single-validator node, records consent grants,
// fetches the bundle of one through the gateway and derives the broken
// vectors from it; it adds the made-up handover chain's bundle.
func writeVectors(t *testing.T) {
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	good, swapped := nodeBundle(t)
	var vectors []vector
	add := func(desc, file, genesis string, valid bool, errPart string, data []byte) {
		if data != nil {
			writeFile(t, file, data)
		}
		vectors = append(vectors, vector{Desc: desc, Bundle: file, Genesis: genesis, Valid: valid, Error: errPart})
	}
	add("a consent grant proven by a single-validator node", "good.json", "genesis.json", true, "", good)
	add("the same bundle against another chain's genesis", "good.json", "genesis-other-chain.json", false, `the genesis is chain "proof-golden-other"`, nil)
	add("the same bundle against a genesis with the same chain id and another validator", "good.json", "genesis-other-validators.json", false,
		"not vouched for by a third of the genesis validators", nil)

	mutate := func(desc, file, errPart string, f func(b *proof.Bundle)) {
		b := decode(t, good)
		f(b)
		add(desc, file, "genesis.json", false, errPart, encode(t, b))
	}
	mutate("modified-proof: one bit of the audit inclusion proof flipped", "modified-proof.json", "audit inclusion",
		func(b *proof.Bundle) { b.Audit.Proof[0][5] ^= 1 })
	mutate("modified-event: one bit of the event's transaction hash flipped", "modified-event.json", "audit inclusion",
		func(b *proof.Bundle) { b.Audit.Event[len(b.Audit.Event)-1] ^= 1 })
	mutate("wrong-seq: the bundle names another event than it proves", "wrong-seq.json", "bundle is for event",
		func(b *proof.Bundle) { b.Seq++ })
	mutate("wrong-event-seq: the event re-encoded as the next one, bundle seq to match", "wrong-event-seq.json", "audit inclusion",
		func(b *proof.Bundle) {
			ev, err := audit.DecodeEvent(b.Audit.Event)
			if err != nil {
				t.Fatal(err)
			}
			ev.Seq++
			if b.Audit.Event, err = ev.Encode(); err != nil {
				t.Fatal(err)
			}
			b.Seq++
		})
	mutate("audit-size: the inclusion proof claims a larger log than the committed head", "audit-size.json", "the committed head is size",
		func(b *proof.Bundle) { b.Audit.Size++ })
	mutate("audit-root: the inclusion proof claims another root than the committed head", "audit-root.json", "the committed head is size",
		func(b *proof.Bundle) { b.Audit.Root[0] ^= 1 })
	mutate("modified-head: the proven head's size changed", "modified-head.json", "state proof",
		func(b *proof.Bundle) { b.State.Head[7]++ })
	mutate("modified-state-proof: one bit of an inner node of the ICS23 proof flipped", "modified-state-proof.json", "state proof",
		func(b *proof.Bundle) {
			var cp ics23.CommitmentProof
			if err := cp.Unmarshal(b.State.Proof); err != nil {
				t.Fatal(err)
			}
			op := cp.GetExist().Path[0]
			op.Prefix[len(op.Prefix)-1] ^= 1
			data, err := cp.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			b.State.Proof = data
		})
	mutate("state-height: the state proof claims the state after another block", "state-height.json", "signing block is",
		func(b *proof.Bundle) { b.State.Height-- })
	mutate("swapped-header: the signed header, commit and validators of a later block", "swapped-header.json", "signing block is",
		func(b *proof.Bundle) { b.Block = swapped })
	mutate("app-hash: the signed header's app hash changed", "app-hash.json", "commit signs block",
		func(b *proof.Bundle) { b.Block.SignedHeader.AppHash[0] ^= 1 })
	mutate("signature: one bit of the validator's signature flipped", "signature.json", "wrong signature",
		func(b *proof.Bundle) { b.Block.SignedHeader.Commit.Signatures[0].Signature[9] ^= 1 })
	mutate("vote-time: the signed vote's timestamp moved by a nanosecond", "vote-time.json", "wrong signature",
		func(b *proof.Bundle) {
			s := &b.Block.SignedHeader.Commit.Signatures[0]
			s.Timestamp = s.Timestamp.Add(time.Nanosecond)
		})
	mutate("commit-parts-hash: the commit's part-set hash 37 bytes long (CometBFT panics on it when signing bytes)", "commit-parts-hash.json",
		"malformed block id", func(b *proof.Bundle) {
			c := b.Block.SignedHeader.Commit
			c.BlockID.PartSetHeader.Hash = append(c.BlockID.PartSetHeader.Hash, 0, 0, 0, 0, 0)
		})
	mutate("no-validators: the validator set left out", "no-validators.json", "empty validator set",
		func(b *proof.Bundle) { b.Block.Validators = nil })
	mutate("foreign-validators: another validator set, that does not hash to the header's", "foreign-validators.json", "validator set hashes to",
		func(b *proof.Bundle) {
			other := loadGenesis(t, "genesis-other-validators.json")
			vals, err := proof.GenesisValidators(other)
			if err != nil {
				t.Fatal(err)
			}
			b.Block.Validators = proof.NewLightBlock(b.Block.SignedHeader, vals).Validators
		})
	mutate("chain-id: the bundle claims another chain", "chain-id.json", "bundle is for chain",
		func(b *proof.Bundle) { b.ChainID += "-other" })

	// Byte-level breakage, which decoding rejects before any check.
	add("trailing-garbage: bytes after the bundle", "trailing-garbage.json", "genesis.json", false, "trailing data",
		append(append([]byte(nil), good...), "{}\n"...))
	var compact bytes.Buffer
	if err := json.Compact(&compact, good); err != nil {
		t.Fatal(err)
	}
	add("non-canonical: the same JSON without indentation", "non-canonical.json", "genesis.json", false, "not in canonical form", compact.Bytes())
	add("version: a format version this verifier does not read", "version-2.json", "genesis.json", false, "format version 2",
		bytes.Replace(good, []byte(`"version": 1,`), []byte(`"version": 2,`), 1))
	add("truncated: the bundle cut in half", "truncated.json", "genesis.json", false, "malformed proof bundle", good[:len(good)/2])

	// The handover chain: validators replaced since genesis, followed by
	// the light-client rules through the bundle's trust steps.
	hb, hc := handoverBundle(t, handoverChain, 5, 3)
	genesisJSON, err := cmtjsonGenesis(hc.genesis)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "genesis-handover.json", genesisJSON)
	handover := encode(t, hb)
	add("handover: the signing block's validators share none with genesis; one trust step links them", "handover.json", "genesis-handover.json", true, "", handover)
	add("handover bundle against the single-validator chain's genesis", "handover.json", "genesis.json", false, "bundle is for chain", nil)
	hmutate := func(desc, file, errPart string, f func(b *proof.Bundle)) {
		b := decode(t, handover)
		f(b)
		add(desc, file, "genesis-handover.json", false, errPart, encode(t, b))
	}
	hmutate("handover-no-trust: the trust step left out", "handover-no-trust.json", "not vouched for by a third of the genesis validators",
		func(b *proof.Bundle) { b.Trust = nil })
	hmutate("handover-signature: a signature in the trust step flipped", "handover-signature.json", "trust step 0",
		func(b *proof.Bundle) { b.Trust[0].SignedHeader.Commit.Signatures[1].Signature[0] ^= 1 })
	hmutate("handover-swapped-step: the trust step replaced by the signing block", "handover-swapped-step.json", "trust step 0 (block 12)",
		func(b *proof.Bundle) { b.Trust[0] = b.Block })
	hmutate("handover-validator-order: the signing block's validators listed in another order", "handover-validator-order.json", "not in the set's order",
		func(b *proof.Bundle) {
			v := b.Block.Validators
			v[0], v[1] = v[1], v[0]
		})

	out, err := json.MarshalIndent(vectorFile[vector]{Comment: "Audit proof bundles, good and broken. Regenerate with: " + regenerate, Vectors: vectors}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "vectors.json", append(out, '\n'))
}

// cmtjsonGenesis renders a genesis document as CometBFT writes one
// (GenesisDoc.SaveAs).
func cmtjsonGenesis(g *types.GenesisDoc) ([]byte, error) {
	return cmtjson.MarshalIndent(g, "", "  ")
}

// nodeBundle runs a node, records three consent grants and returns the
// bundle of the second, writing the node's genesis and two others beside
// it; it also returns the light block of a later height.
func nodeBundle(t *testing.T) ([]byte, proof.LightBlock) {
	home := filepath.Join(t.TempDir(), "node")
	n := nodetest.Start(t, home, goldenChain)
	c := client.New(n.APIURL)
	ctx := context.Background()
	patient, doctor := newPatient(t, c), newPatient(t, c)
	var seqs []uint64
	for i := 0; i < 3; i++ {
		seqs = append(seqs, grant(t, c, patient, doctor))
	}
	good, err := c.AuditProof(ctx, patient, patient.ID, seqs[1])
	if err != nil {
		t.Fatal(err)
	}

	genesis, err := os.ReadFile(filepath.Join(home, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "genesis.json", genesis)
	otherHome := filepath.Join(t.TempDir(), "other")
	if _, err := node.Init(otherHome, goldenChain, freeBase(t)); err != nil {
		t.Fatal(err)
	}
	other, err := types.GenesisDocFromFile(filepath.Join(otherHome, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Same chain id and time, another validator: only the keys differ.
	g, err := types.GenesisDocFromJSON(genesis)
	if err != nil {
		t.Fatal(err)
	}
	g.Validators = other.Validators
	otherVals, err := cmtjsonGenesis(g)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "genesis-other-validators.json", otherVals)
	if g, err = types.GenesisDocFromJSON(genesis); err != nil {
		t.Fatal(err)
	}
	g.ChainID = goldenChain + "-other"
	otherChain, err := cmtjsonGenesis(g)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "genesis-other-chain.json", otherChain)

	// A later block, for the swapped-header vector.
	later := decode(t, good).State.Height + 2
	rpc := local.New(n.Comet)
	deadline := time.Now().Add(time.Minute)
	for n.Comet.BlockStore().Height() < later+1 {
		if time.Now().After(deadline) {
			t.Fatal("no later block")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	cm, err := rpc.Commit(ctx, &later)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := rpc.Validators(ctx, &later, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := types.ValidatorSetFromExistingValidators(vals.Validators)
	if err != nil {
		t.Fatal(err)
	}
	return good, proof.NewLightBlock(&cm.SignedHeader, set)
}

func newPatient(t testing.TB, c *client.Client) *keyfile.Key {
	t.Helper()
	k, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), k, tx.NewRegistration(goldenChain, tx.KindPatient, "", "", k.Sign, k.HPKEPublic())); err != nil {
		t.Fatal(err)
	}
	return k
}

// grant has patient grant grantee access and returns the audit event's
// sequence number from the transaction's audit event.
func grant(t testing.TB, c *client.Client, patient, grantee *keyfile.Key) uint64 {
	t.Helper()
	cs := consent.Consent{Status: consent.StatusActive, Patient: patient.ID, Provision: consent.Provision{Type: consent.Permit,
		Actors: []consent.Actor{consent.Identity(grantee.ID)}, Actions: []consent.Action{consent.ActionAccess},
		Purposes: []consent.Purpose{consent.PurposeTreatment}}}
	res, err := c.Send(context.Background(), patient, &tx.GrantConsent{Patient: patient.ID, Consent: consent.Encode(cs)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Events {
		if e.Type == "audit" {
			seq, err := strconv.ParseUint(e.Attributes["seq"], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return seq
		}
	}
	t.Fatalf("no audit event in %+v", res.Events)
	return 0
}

func freeBase(tb testing.TB) int {
	tb.Helper()
	base, err := nodetest.FreeBasePort()
	if err != nil {
		tb.Fatal(err)
	}
	return base
}
