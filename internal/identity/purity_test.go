package identity

import (
	"testing"

	"github.com/carechain/carechain/internal/puritytest"
)

// TestPurity holds the package to its promise: state through kv, height
// as an argument; no network, file system, randomness, clock, consensus
// engine or storage engine.
func TestPurity(t *testing.T) {
	puritytest.Check(t, puritytest.Rules{
		Forbidden: []string{"net", "os", "math/rand", "crypto/rand", "syscall", "unsafe"},
		Allowed: []string{
			"github.com/carechain/carechain/internal/kv",
			"github.com/carechain/carechain/internal/codec",
			"github.com/carechain/carechain/internal/tx",
		},
		NoFloats: true, NoPanic: true,
	})
}
