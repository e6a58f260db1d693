package bench

import (
	"crypto/ed25519"
	"fmt"
	"runtime"
	"sync"

	"github.com/carechain/carechain/internal/tx"
)

// registrations pre-signs n patient self-registrations for the bench
// chain, in parallel; each is a real transaction with a fresh identity.
func registrations(n int) ([][]byte, error) {
	out := make([][]byte, n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				_, sign, err := ed25519.GenerateKey(nil)
				if err != nil {
					errs[w] = err
					return
				}
				h, err := tx.HPKE.GenerateKey()
				if err != nil {
					errs[w] = err
					return
				}
				m := tx.NewRegistration("carechain-bench", tx.KindPatient, "", "", sign, h.PublicKey().Bytes())
				out[i] = tx.Build("carechain-bench", tx.ActorID(m.SignKey), 1, m, sign)
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("sign bench transactions: %w", err)
		}
	}
	return out, nil
}

// kvTxs returns n distinct kvstore transactions of the given size.
func kvTxs(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		t := fmt.Appendf(nil, "k%09d=", i)
		for len(t) < size {
			t = append(t, 'v')
		}
		out[i] = t
	}
	return out
}
