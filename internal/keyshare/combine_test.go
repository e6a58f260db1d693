package keyshare

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.dedis.ch/kyber/v4/share"
)

// TestAnyKOfNRecover combines every subset of at least K shares, for every
// valid threshold of up to seven validators, and ten at the default.
func TestAnyKOfNRecover(t *testing.T) {
	var cases []Params
	for n := 1; n <= 7; n++ {
		for k := 1; k <= n; k++ {
			cases = append(cases, Params{N: n, K: k, AllowSingleShare: true})
		}
	}
	cases = append(cases, DefaultParams(10))
	for _, p := range cases {
		t.Run(fmt.Sprintf("%d-of-%d", p.K, p.N), func(t *testing.T) {
			s := sealAndSplit(t, fmt.Sprint("any", p.K, p.N), testAD, p)
			if len(s.shares) != p.N || s.commitments.N() != p.N || s.commitments.K != p.K {
				t.Fatalf("split gave %d shares, commitments %d-of-%d", len(s.shares), s.commitments.K, s.commitments.N())
			}
			tried := 0
			for size := p.K; size <= p.N; size++ {
				if p.N == 10 && size > p.K {
					break // 210 subsets of the threshold size are plenty
				}
				subsets(p.N, size, func(idx []int) {
					tried++
					key, bad, err := Combine(s.ad, s.commitments, pick(s.shares, idx))
					if err != nil || len(bad) != 0 {
						t.Fatalf("shares %v: bad %v, %v", idx, bad, err)
					}
					if !key.Equal(s.key) {
						t.Fatalf("shares %v recovered another key", idx)
					}
				})
			}
			// Order does not matter.
			rev := slices.Clone(s.shares)
			slices.Reverse(rev)
			key, _, err := Combine(s.ad, s.commitments, rev)
			if err != nil || !key.Equal(s.key) {
				t.Fatalf("reversed shares: %v", err)
			}
			pt, err := Decrypt(key, s.ciphertext, s.ad)
			if err != nil || !bytes.Equal(pt, s.plaintext) {
				t.Fatalf("decrypt with the combined key: %v", err)
			}
			if tried == 0 {
				t.Fatal("no subset tried")
			}
		})
	}
}

// TestFewerThanKFail checks every subset of K-1 shares: Combine refuses
// them, and interpolating them anyway gives a different secret.
func TestFewerThanKFail(t *testing.T) {
	for _, p := range []Params{{N: 2, K: 2}, {N: 4, K: 2}, {N: 4, K: 3}, {N: 5, K: 5}, {N: 7, K: 3}, {N: 10, K: 4}} {
		t.Run(fmt.Sprintf("%d-of-%d", p.K, p.N), func(t *testing.T) {
			s := sealAndSplit(t, fmt.Sprint("few", p.K, p.N), testAD, p)
			subsets(p.N, p.K-1, func(idx []int) {
				key, bad, err := Combine(s.ad, s.commitments, pick(s.shares, idx))
				if !errors.Is(err, ErrNotEnoughShares) || key != nil || len(bad) != 0 {
					t.Fatalf("shares %v: key %v, bad %v, err %v; want ErrNotEnoughShares", idx, key, bad, err)
				}
				if len(idx) == 0 {
					return
				}
				got, err := share.RecoverSecret(group, priShares(t, pick(s.shares, idx)), len(idx), p.N)
				if err != nil {
					t.Fatal(err)
				}
				if got.Equal(s.key.secret) {
					t.Fatalf("shares %v alone interpolate to the secret", idx)
				}
			})
		})
	}
	if _, _, err := Combine(testAD, sealAndSplit(t, "none", testAD, DefaultParams(4)).commitments, nil); !errors.Is(err, ErrNotEnoughShares) {
		t.Fatalf("no shares: %v", err)
	}
}

// TestKMinusOneRevealsNothing shows why K-1 shares say nothing: whatever
// they are, every possible secret is consistent with them. For each K-1
// shares of a real split and a target secret chosen independently of it,
// there is a value for one more share that completes them to exactly that
// target, so an observer of the K-1 shares cannot rule any key out, and
// since the polynomial's other coefficients are uniform, every completion
// is equally likely.
func TestKMinusOneRevealsNothing(t *testing.T) {
	for _, p := range []Params{{N: 4, K: 2}, {N: 7, K: 3}, {N: 10, K: 4}} {
		s := sealAndSplit(t, fmt.Sprint("hide", p.K, p.N), testAD, p)
		known := priShares(t, s.shares[:p.K-1])
		missing := p.K // an index not among the known ones

		// Interpolation is affine in the missing share's value v:
		// secret(v) = a + λ·v. Recover a and λ, then solve for any target.
		at := func(v int64) *share.PriShare { return &share.PriShare{I: missing, V: group.Scalar().SetInt64(v)} }
		a, err := share.RecoverSecret(group, append(slices.Clone(known), at(0)), p.K, p.N)
		if err != nil {
			t.Fatal(err)
		}
		a1, err := share.RecoverSecret(group, append(slices.Clone(known), at(1)), p.K, p.N)
		if err != nil {
			t.Fatal(err)
		}
		lambda := group.Scalar().Sub(a1, a)
		if lambda.Equal(group.Scalar().Zero()) {
			t.Fatal("the missing share does not influence the secret")
		}
		rnd := testRand(fmt.Sprint("targets", p.K))
		for range 20 {
			target, err := randomScalar(rnd)
			if err != nil {
				t.Fatal(err)
			}
			v := group.Scalar().Div(group.Scalar().Sub(target, a), lambda)
			got, err := share.RecoverSecret(group, append(slices.Clone(known), &share.PriShare{I: missing, V: v}), p.K, p.N)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(target) {
				t.Fatalf("%d-of-%d: could not complete %d shares to an arbitrary secret", p.K, p.N, p.K-1)
			}
		}
	}
}

// TestSingleShareIsUniform is the statistical companion: with K = 2, one
// share of a fixed secret, over many splits, is spread evenly; its top
// byte's 16 buckets stay within a loose chi-squared bound.
func TestSingleShareIsUniform(t *testing.T) {
	_, key, err := Seal(testRand("uniform"), nil, testAD)
	if err != nil {
		t.Fatal(err)
	}
	rnd := testRand("uniform-split")
	const splits, buckets = 4000, 16
	var count [buckets]int
	for range splits {
		shares, _, err := key.Split(rnd, Params{N: 2, K: 2})
		if err != nil {
			t.Fatal(err)
		}
		// Scalars are below 2^253; byte 31 holds bits 248..252, so use
		// byte 30, uniform over 0..255 up to a 2^-250 bias.
		count[shares[0].Value[30]>>4]++
	}
	chi2 := 0.0
	exp := float64(splits) / buckets
	for _, c := range count {
		d := float64(c) - exp
		chi2 += d * d / exp
	}
	// 15 degrees of freedom: P(χ² > 37.7) ≈ 0.001. The stream is fixed, so
	// this is a regression check, not a flaky one.
	if chi2 > 37.7 {
		t.Fatalf("share values are not spread evenly: χ² = %.1f, buckets %v", chi2, count)
	}
}

func TestBadSharesAreNamedAndRoutedAround(t *testing.T) {
	p := Params{N: 7, K: 3}
	s := sealAndSplit(t, "byzantine", testAD, p)
	otherRecord := sealAndSplit(t, "byzantine-other", AssociatedData{RecordID: "rec-0002", Version: 1, Patient: testAD.Patient}, p)
	otherVersion := sealAndSplit(t, "byzantine-v2", AssociatedData{RecordID: testAD.RecordID, Version: 2, Patient: testAD.Patient}, p)

	flip := func(sh Share, f func(*Share)) Share { f(&sh); return sh }
	bad := map[string]Share{
		"value-flipped":      flip(s.shares[1], func(sh *Share) { sh.Value[0] ^= 1 }),
		"salt-flipped":       flip(s.shares[1], func(sh *Share) { sh.Salt[31] ^= 0x80 }),
		"other-record":       otherRecord.shares[1],
		"other-version":      otherVersion.shares[1],
		"claims-other-index": flip(s.shares[1], func(sh *Share) { sh.Index = 2 }),
		"index-out-of-range": flip(s.shares[1], func(sh *Share) { sh.Index = 7 }),
		"zero":               {Index: 1},
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			// A bad share among K good ones: reported, and the read succeeds.
			key, badIdx, err := Combine(s.ad, s.commitments, []Share{s.shares[0], b, s.shares[3], s.shares[5]})
			if err != nil {
				t.Fatalf("with three good shares: %v", err)
			}
			if !key.Equal(s.key) {
				t.Fatal("recovered another key")
			}
			if !slices.Equal(badIdx, []int{int(b.Index)}) {
				t.Fatalf("bad = %v, want [%d]", badIdx, b.Index)
			}
			// With only K-1 good ones it fails, still naming the bad one.
			_, badIdx, err = Combine(s.ad, s.commitments, []Share{s.shares[0], b, s.shares[3]})
			if !errors.Is(err, ErrNotEnoughShares) || !slices.Equal(badIdx, []int{int(b.Index)}) {
				t.Fatalf("with two good shares: bad %v, %v; want ErrNotEnoughShares naming %d", badIdx, err, b.Index)
			}
		})
	}

	// Several Byzantine validators at once, f = 2 of 7: the reader gets all
	// seven answers, two wrong, and still reads.
	answers := slices.Clone(s.shares)
	answers[2] = otherRecord.shares[2]
	answers[6].Value[5] ^= 0x10
	key, badIdx, err := Combine(s.ad, s.commitments, answers)
	if err != nil || !key.Equal(s.key) || !slices.Equal(badIdx, []int{2, 6}) {
		t.Fatalf("two Byzantine of seven: bad %v, %v", badIdx, err)
	}
	// A duplicate of a good share is not counted twice, nor called bad.
	_, badIdx, err = Combine(s.ad, s.commitments, []Share{s.shares[0], s.shares[0], s.shares[0], s.shares[4]})
	if !errors.Is(err, ErrNotEnoughShares) || len(badIdx) != 0 {
		t.Fatalf("duplicates: bad %v, %v; want ErrNotEnoughShares and nothing bad", badIdx, err)
	}
}

// TestInconsistentDealingDetected builds commitments that mix two splits of
// the same key, as a hostile writer could: each share matches its
// commitment, but shares from different polynomials interpolate to
// nonsense, and the key commitment catches it.
func TestInconsistentDealingDetected(t *testing.T) {
	_, key, err := Seal(testRand("dealer"), nil, testAD)
	if err != nil {
		t.Fatal(err)
	}
	p := Params{N: 4, K: 2}
	sa, ca, err := key.Split(testRand("dealer-a"), p)
	if err != nil {
		t.Fatal(err)
	}
	sb, cb, err := key.Split(testRand("dealer-b"), p)
	if err != nil {
		t.Fatal(err)
	}
	mixed := Commitments{K: 2, Shares: [][32]byte{ca.Shares[0], ca.Shares[1], cb.Shares[2], cb.Shares[3]}, KeyCheck: ca.KeyCheck}
	if _, _, err := Combine(testAD, mixed, []Share{sa[0], sa[1]}); err != nil {
		t.Fatalf("consistent pair: %v", err)
	}
	_, bad, err := Combine(testAD, mixed, []Share{sa[0], sb[2]})
	if !errors.Is(err, ErrKeyMismatch) || len(bad) != 0 {
		t.Fatalf("mixed pair: bad %v, %v; want ErrKeyMismatch", bad, err)
	}
}

func TestCombineRefusesBadCommitments(t *testing.T) {
	s := sealAndSplit(t, "bad-commitments", testAD, DefaultParams(4))
	for name, c := range map[string]Commitments{
		"no shares":         {K: 1},
		"zero threshold":    {K: 0, Shares: s.commitments.Shares},
		"threshold above N": {K: 5, Shares: s.commitments.Shares},
		"too many shares":   {K: 2, Shares: make([][32]byte, 256)},
	} {
		if _, _, err := Combine(testAD, c, s.shares); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, _, err := Combine(AssociatedData{}, s.commitments, s.shares); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty record: %v, want ErrInvalid", err)
	}
}

func priShares(t *testing.T, shares []Share) []*share.PriShare {
	t.Helper()
	out := make([]*share.PriShare, len(shares))
	for i, s := range shares {
		v, ok := decodeScalar(s.Value)
		if !ok {
			t.Fatalf("share %d is not canonical", s.Index)
		}
		out[i] = &share.PriShare{I: int(s.Index), V: v}
	}
	return out
}
