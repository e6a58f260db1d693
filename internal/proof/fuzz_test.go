package proof

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cometbft/cometbft/types"
)

// FuzzVerify feeds arbitrary bytes to the verifier, seeded with every
// golden bundle, good and broken. Nothing may panic, and nothing but the
// good bundles may verify. Behind the canonical-form gate, which rejects
// almost every mutation, the checks are also run on a lenient decoding
// and without Verify's recover, so that a panic in them is found rather
// than absorbed. The seeds are large, so cap minimization:
//
//	go test ./internal/proof -run '^$' -fuzz FuzzVerify -fuzztime 15s -fuzzminimizetime 200x
func FuzzVerify(f *testing.F) {
	genesisJSON, err := os.ReadFile(filepath.Join("testdata", "genesis.json"))
	if err != nil {
		f.Fatal(err)
	}
	genesis, err := types.GenesisDocFromJSON(genesisJSON)
	if err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join("testdata", "good.json"))
	if err != nil {
		f.Fatal(err)
	}
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"block":{"signed_header":{"header":{}},"validators":[{}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := Verify(data, genesis); err == nil && string(data) != string(good) && string(data) != string(good[:len(good)-1]) {
			t.Fatalf("a bundle other than the good one verified:\n%s", data)
		}
		var b Bundle
		if json.Unmarshal(data, &b) == nil {
			_, _ = b.Encode()
			_, _ = b.verify(genesis)
		}
	})
}

// TestRandomMutations is FuzzVerify's check over a fixed set of random
// mutations of the good bundles (byte changes, deletions, inserted digits
// and signs), run with every test: it found a commit whose part-set hash
// was too long, which made CometBFT panic while computing sign bytes.
func TestRandomMutations(t *testing.T) {
	for _, pair := range [][2]string{{"good.json", "genesis.json"}, {"handover.json", "genesis-handover.json"}} {
		genesisJSON, err := os.ReadFile(filepath.Join("testdata", pair[1]))
		if err != nil {
			t.Fatal(err)
		}
		genesis, err := types.GenesisDocFromJSON(genesisJSON)
		if err != nil {
			t.Fatal(err)
		}
		good, err := os.ReadFile(filepath.Join("testdata", pair[0]))
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		for n := 0; n < 2000; n++ {
			d := append([]byte(nil), good...)
			for k := 0; k < 1+r.IntN(4); k++ {
				i := r.IntN(len(d))
				switch r.IntN(5) {
				case 0:
					d[i] = byte(r.IntN(256))
				case 1:
					d = append(d[:i], d[min(len(d), i+1+r.IntN(8)):]...)
				case 2:
					d = append(d[:i], append([]byte("9999999999"), d[i:]...)...)
				case 3:
					d[i] = d[r.IntN(len(d))]
				case 4:
					d = append(d[:i], append([]byte("-"), d[i:]...)...)
				}
			}
			if _, err := Verify(d, genesis); err == nil && !bytes.Equal(bytes.TrimSuffix(d, []byte("\n")), bytes.TrimSuffix(good, []byte("\n"))) {
				t.Fatalf("mutation %d of %s verified", n, pair[0])
			}
			var b Bundle
			if json.Unmarshal(d, &b) == nil {
				_, _ = b.verify(genesis)
			}
		}
	}
}

// FuzzVerifyConsistency feeds arbitrary bytes to the consistency decoder
// and verifier, seeded with the golden consistency bundles. Nothing may
// panic, a decoded bundle must re-encode to its input, and nothing but
// the good bundles may verify.
//
//	go test ./internal/proof -run '^$' -fuzz FuzzVerifyConsistency -fuzztime 15s -fuzzminimizetime 200x
func FuzzVerifyConsistency(f *testing.F) {
	genesisJSON, err := os.ReadFile(filepath.Join("testdata", "consistency-genesis.json"))
	if err != nil {
		f.Fatal(err)
	}
	genesis, err := types.GenesisDocFromJSON(genesisJSON)
	if err != nil {
		f.Fatal(err)
	}
	good := map[string]bool{}
	for _, name := range []string{"consistency-good.json", "consistency-from-empty.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		good[string(b)], good[string(b[:len(b)-1])] = true, true
	}
	seeds, _ := filepath.Glob(filepath.Join("testdata", "consistency-*.json"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"version":1,"type":"audit.consistency"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeConsistency(data)
		if err != nil {
			return
		}
		enc, err := c.Encode()
		if err != nil || (!bytes.Equal(enc, data) && !bytes.Equal(enc[:len(enc)-1], data)) {
			t.Fatalf("decoded bundle does not re-encode to its input: %v", err)
		}
		if _, err := c.Verify(genesis); err == nil && !good[string(data)] {
			t.Fatalf("a consistency bundle other than the good ones verified:\n%s", data)
		}
		var lenient Consistency
		if json.Unmarshal(data, &lenient) == nil {
			_, _ = lenient.verify(genesis)
		}
	})
}

// FuzzParseCheckpoint: a parsed checkpoint prints back as its input (with
// the root in lower case), and anything else is refused without a panic.
//
//	go test ./internal/proof -run '^$' -fuzz FuzzParseCheckpoint -fuzztime 10s
func FuzzParseCheckpoint(f *testing.F) {
	f.Add(EmptyLog().String())
	f.Add("17:" + strings.Repeat("AB", 32))
	f.Add("18446744073709551615:" + strings.Repeat("0", 64))
	f.Add("1:")
	f.Fuzz(func(t *testing.T, s string) {
		cp, err := ParseCheckpoint(s)
		if err != nil {
			return
		}
		if cp.String() != strings.ToLower(s) || len(cp.Root) != 32 {
			t.Fatalf("%q parsed as %s", s, cp)
		}
	})
}
