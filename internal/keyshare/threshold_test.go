package keyshare

import (
	"errors"
	"testing"
)

func TestDefaultThreshold(t *testing.T) {
	want := map[int]int{0: 0, -1: 0, 1: 1, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2, 7: 3, 10: 4, 13: 5, 100: 34, 255: 85, 256: 0}
	for n, k := range want {
		if got := DefaultThreshold(n); got != k {
			t.Errorf("DefaultThreshold(%d) = %d, want %d", n, got, k)
		}
	}
	// For every size: valid, out of reach of the f validators BFT tolerates,
	// and within reach of the n-f that remain.
	for n := 1; n <= MaxShares; n++ {
		p := DefaultParams(n)
		if err := p.Validate(); err != nil {
			t.Fatalf("DefaultParams(%d) = %+v: %v", n, p, err)
		}
		f := (n - 1) / 3
		if p.K <= f || p.K > n-f {
			t.Fatalf("n=%d f=%d: threshold %d is not in (f, n-f]", n, f, p.K)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	ok := []Params{{N: 1, K: 1}, {N: 2, K: 2}, {N: 4, K: 2}, {N: 4, K: 4}, {N: 255, K: 255},
		{N: 2, K: 1, AllowSingleShare: true}, {N: 4, K: 1, AllowSingleShare: true}}
	for _, p := range ok {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	bad := []Params{{}, {N: 0, K: 0}, {N: 1, K: 0}, {N: 1, K: 2}, {N: 4, K: 5}, {N: 4, K: -1},
		{N: 256, K: 2}, {N: -3, K: 1}, {N: 2, K: 1}, {N: 4, K: 1}}
	for _, p := range bad {
		if err := p.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", p, err)
		}
	}
	if _, _, err := sealAndSplitErr(t, Params{N: 4, K: 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Split 1-of-4 without AllowSingleShare: %v, want ErrInvalid", err)
	}
}

func sealAndSplitErr(t *testing.T, p Params) ([]Share, Commitments, error) {
	_, key, err := Seal(testRand("params"), nil, testAD)
	if err != nil {
		t.Fatal(err)
	}
	return key.Split(testRand("params-split"), p)
}
