package proof_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/proof"
)

// regenerateConsistency is the command that rewrites the consistency
// vectors; it is written into consistency-vectors.json and the README.
const regenerateConsistency = "go test ./internal/proof -run TestGoldenConsistency -update"

const consistencyChain = "proof-consistency"

type consistencyVector struct {
	vector
	// From is the checkpoint the verifier trusts, SIZE:ROOTHEX; empty to
	// check the bundle on its own (Consistency.Verify).
	From string `json:"from,omitempty"`
}

// TestGoldenConsistency checks every vector in
// testdata/consistency-vectors.json.
func TestGoldenConsistency(t *testing.T) {
	if *update {
		writeConsistencyVectors(t)
	}
	var vf vectorFile[consistencyVector]
	if err := json.Unmarshal(readFile(t, "consistency-vectors.json"), &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Vectors) < 12 {
		t.Fatalf("only %d vectors", len(vf.Vectors))
	}
	for _, v := range vf.Vectors {
		judge(t, v.vector, verifyConsistencyVector(t, v))
	}
}

func verifyConsistencyVector(t *testing.T, v consistencyVector) error {
	data, genesis := readFile(t, v.Bundle), loadGenesis(t, v.Genesis)
	if v.From != "" {
		from, err := proof.ParseCheckpoint(v.From)
		if err != nil {
			t.Fatalf("%s: %v", v.Desc, err)
		}
		_, err = proof.VerifyConsistency(data, genesis, from)
		return err
	}
	c, err := proof.DecodeConsistency(data)
	if err != nil {
		return err
	}
	_, err = c.Verify(genesis)
	return err
}

// writeConsistencyVectors runs a single-validator node, records three
// consent grants, takes a checkpoint of the signed log (a consistency
// bundle from the empty log), records four more and fetches the bundle
// from that checkpoint to the latest signed log; it derives the broken
// variants from it.
func writeConsistencyVectors(t *testing.T) {
	home := filepath.Join(t.TempDir(), "node")
	n := nodetest.Start(t, home, consistencyChain)
	c := client.New(n.APIURL)
	ctx := context.Background()
	patient, doctor := newPatient(t, c), newPatient(t, c)
	for i := 0; i < 3; i++ {
		grant(t, c, patient, doctor)
	}
	first, err := c.AuditConsistency(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	cp := decodeConsistency(t, first).To
	for i := 0; i < 4; i++ {
		grant(t, c, patient, doctor)
	}
	good, err := c.AuditConsistency(ctx, cp.Size, 0)
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := os.ReadFile(filepath.Join(home, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "consistency-genesis.json", genesis)

	var vectors []consistencyVector
	add := func(desc, file, from string, valid bool, errPart string, data []byte) {
		if data != nil {
			writeFile(t, file, data)
		}
		vectors = append(vectors, consistencyVector{vector: vector{Desc: desc, Bundle: file, Genesis: "consistency-genesis.json", Valid: valid,
			Error: errPart}, From: from})
	}
	add("a checkpoint: the signed log proven to extend the empty log", "consistency-from-empty.json", proof.EmptyLog().String(), true, "", first)
	add("the log grown by four consent grants since the checkpoint", "consistency-good.json", cp.String(), true, "", good)
	add("the same bundle checked on its own, without a trusted checkpoint", "consistency-good.json", "", true, "", nil)
	other := proof.Checkpoint{Size: cp.Size, Root: append([]byte(nil), cp.Root...)}
	other.Root[0] ^= 1
	add("the same bundle against a checkpoint the client holds with another root", "consistency-good.json", other.String(), false,
		"not from the trusted checkpoint", nil)
	vectors = append(vectors, consistencyVector{vector: vector{Desc: "the same bundle against another chain's genesis", Bundle: "consistency-good.json",
		Genesis: "genesis.json", Error: `the genesis is chain "proof-golden"`}, From: cp.String()})

	mutate := func(desc, file, errPart string, f func(b *proof.Consistency)) {
		b := decodeConsistency(t, good)
		f(b)
		data, err := b.Encode()
		if err != nil {
			t.Fatal(err)
		}
		add(desc, file, "", false, errPart, data)
	}
	mutate("consistency-modified-proof: one bit of a consistency proof hash flipped", "consistency-modified-proof.json",
		"is not a prefix of the signed log", func(b *proof.Consistency) { b.Proof[0][3] ^= 1 })
	mutate("consistency-dropped-hash: the last proof hash left out", "consistency-dropped-hash.json",
		"is not a prefix of the signed log", func(b *proof.Consistency) { b.Proof = b.Proof[:len(b.Proof)-1] })
	mutate("consistency-from-root: the earlier root changed (a rewritten history)", "consistency-from-root.json",
		"is not a prefix of the signed log", func(b *proof.Consistency) { b.From.Root[31] ^= 1 })
	mutate("consistency-from-size: the earlier size changed", "consistency-from-size.json",
		"is not a prefix of the signed log", func(b *proof.Consistency) { b.From.Size++ })
	mutate("consistency-from-larger: the earlier log claimed larger than the later", "consistency-from-larger.json",
		"a log never shrinks", func(b *proof.Consistency) { b.From.Size = b.To.Size + 1 })
	mutate("consistency-to-root: the later root is not the committed head's", "consistency-to-root.json",
		"the committed head is size", func(b *proof.Consistency) { b.To.Root[0] ^= 1 })
	mutate("consistency-to-size: the later size is not the committed head's", "consistency-to-size.json",
		"the committed head is size", func(b *proof.Consistency) { b.To.Size-- })
	mutate("consistency-modified-head: the proven head changed", "consistency-modified-head.json",
		"state proof", func(b *proof.Consistency) { b.State.Head[40] ^= 1 })
	mutate("consistency-app-hash: the signed header's app hash changed", "consistency-app-hash.json",
		"commit signs block", func(b *proof.Consistency) { b.Block.SignedHeader.AppHash[0] ^= 1 })
	mutate("consistency-signature: one bit of the validator's signature flipped", "consistency-signature.json",
		"wrong signature", func(b *proof.Consistency) { b.Block.SignedHeader.Commit.Signatures[0].Signature[9] ^= 1 })
	add("consistency-trailing-garbage: bytes after the bundle", "consistency-trailing-garbage.json", "", false, "trailing data",
		append(append([]byte(nil), good...), "{}\n"...))
	var compact bytes.Buffer
	if err := json.Compact(&compact, good); err != nil {
		t.Fatal(err)
	}
	add("consistency-non-canonical: the same JSON without indentation", "consistency-non-canonical.json", "", false,
		"not in canonical form", compact.Bytes())
	add("consistency-type: an event bundle's type field spelled otherwise", "consistency-type.json", "", false, "type",
		bytes.Replace(good, []byte(`"type": "audit.consistency"`), []byte(`"type": "audit.consistenci"`), 1))

	out, err := json.MarshalIndent(vectorFile[consistencyVector]{Comment: "Audit consistency bundles, good and broken. Regenerate with: " +
		regenerateConsistency, Vectors: vectors}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "consistency-vectors.json", append(out, '\n'))
}

func decodeConsistency(t testing.TB, data []byte) *proof.Consistency {
	t.Helper()
	c, err := proof.DecodeConsistency(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConsistencyFlipEveryByte flips every byte of the good consistency
// bundle and requires verification from its checkpoint to fail.
func TestConsistencyFlipEveryByte(t *testing.T) {
	data := readFile(t, "consistency-good.json")
	genesis := loadGenesis(t, "consistency-genesis.json")
	from := decodeConsistency(t, data).From
	if _, err := proof.VerifyConsistency(data, genesis, from); err != nil {
		t.Fatal(err)
	}
	flipped := make([]byte, len(data))
	for i := range data {
		copy(flipped, data)
		flipped[i] ^= 1
		if _, err := proof.VerifyConsistency(flipped, genesis, from); err == nil {
			t.Errorf("byte %d (%q) ^ 1 verified", i, data[i])
		}
	}
}

// TestConsistencyFlipEveryBinaryField flips every byte of every hash in
// the decoded bundle and re-encodes it, so that decoding accepts it and
// the checks must catch it, checked on its own (From included).
func TestConsistencyFlipEveryBinaryField(t *testing.T) {
	data := readFile(t, "consistency-good.json")
	genesis := loadGenesis(t, "consistency-genesis.json")
	b := decodeConsistency(t, data)
	fields := [][]byte{b.From.Root, b.To.Root, b.State.Head, b.State.Proof, b.Block.SignedHeader.AppHash,
		b.Block.SignedHeader.Commit.Signatures[0].Signature}
	for _, p := range b.Proof {
		fields = append(fields, p)
	}
	for fi, f := range fields {
		for i := range f {
			f[i] ^= 1
			re, err := b.Encode()
			if err != nil {
				t.Fatal(err)
			}
			c := decodeConsistency(t, re)
			if _, err := c.Verify(genesis); err == nil {
				t.Errorf("field %d byte %d flipped verified", fi, i)
			}
			f[i] ^= 1
		}
	}
}

func TestEventAndConsistencyBundlesAreDistinct(t *testing.T) {
	good, cons := readFile(t, "good.json"), readFile(t, "consistency-good.json")
	if proof.IsConsistency(good) || !proof.IsConsistency(cons) {
		t.Fatal("IsConsistency misjudges the golden bundles")
	}
	if _, err := proof.Decode(cons); !errors.Is(err, proof.ErrMalformed) {
		t.Fatalf("a consistency bundle decoded as an event bundle: %v", err)
	}
	if _, err := proof.DecodeConsistency(good); !errors.Is(err, proof.ErrMalformed) {
		t.Fatalf("an event bundle decoded as a consistency bundle: %v", err)
	}
}

func TestParseCheckpoint(t *testing.T) {
	empty := sha256.Sum256(nil)
	cp, err := proof.ParseCheckpoint(proof.EmptyLog().String())
	if err != nil || cp.Size != 0 || !bytes.Equal(cp.Root, empty[:]) {
		t.Fatalf("EmptyLog round trip: %+v, %v", cp, err)
	}
	if _, err := proof.ParseCheckpoint("7:" + strings.ToUpper(proof.EmptyLog().String()[2:])); err != nil {
		t.Fatalf("upper-case root: %v", err)
	}
	for _, bad := range []string{"", "7", "7:", "-1:" + proof.EmptyLog().String()[2:], "+7:" + proof.EmptyLog().String()[2:],
		"7:abcd", "07:" + proof.EmptyLog().String()[2:], "x:" + proof.EmptyLog().String()[2:], "7:" + proof.EmptyLog().String()[2:] + "00"} {
		if _, err := proof.ParseCheckpoint(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestConsistencyAcrossHandover: a consistency bundle signed by validators
// none of which is in the genesis verifies through its trust step, and
// fails without it, as an event bundle does.
func TestConsistencyAcrossHandover(t *testing.T) {
	hb, hc := handoverBundle(t, handoverChain, 5, 3)
	s, _ := auditState(t, 5)
	snap, _, err := s.Snapshot(11)
	if err != nil {
		t.Fatal(err)
	}
	p, err := audit.ConsistencyProof(snap, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	fromRoot, err := audit.RootAt(snap, 2)
	if err != nil {
		t.Fatal(err)
	}
	from := proof.Checkpoint{Size: 2, Root: fromRoot}
	c := &proof.Consistency{Version: proof.Version, Type: proof.ConsistencyType, ChainID: handoverChain, From: from,
		To: proof.Checkpoint{Size: hb.Audit.Size, Root: hb.Audit.Root}, State: hb.State, Block: hb.Block, Trust: hb.Trust}
	for _, h := range p {
		c.Proof = append(c.Proof, h)
	}
	data, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	v, err := proof.VerifyConsistency(data, hc.genesis, from)
	if err != nil {
		t.Fatal(err)
	}
	if v.TrustSteps != len(hb.Trust) || v.TrustSteps == 0 || v.LogSize != 5 {
		t.Fatalf("verified %+v", v)
	}
	c.Trust = nil
	if data, err = c.Encode(); err != nil {
		t.Fatal(err)
	}
	if _, err := proof.VerifyConsistency(data, hc.genesis, from); err == nil || !strings.Contains(err.Error(), "not vouched for") {
		t.Fatalf("without its trust step: %v", err)
	}
}
