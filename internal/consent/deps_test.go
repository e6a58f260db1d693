package consent

import (
	"testing"

	"github.com/carechain/carechain/internal/puritytest"
)

// TestPurity enforces the package promise: the non-test code imports no
// network, file system, randomness or consensus engine, and never reads
// the clock. Tests may; they are not part of consensus.
func TestPurity(t *testing.T) {
	puritytest.Check(t, puritytest.Rules{
		Forbidden: []string{"net", "os", "math/rand", "crypto/rand", "syscall", "unsafe", "reflect",
			"github.com/cometbft", "github.com/tendermint"},
	})
}
