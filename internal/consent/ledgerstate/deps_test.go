package ledgerstate

import (
	"testing"

	"github.com/carechain/carechain/internal/puritytest"
)

// TestPurity holds the package to its promise: state comes in through
// kv, time through the block; no network, file system, randomness,
// consensus engine or clock.
func TestPurity(t *testing.T) {
	puritytest.Check(t, puritytest.Rules{
		Forbidden: []string{"net", "os", "math/rand", "crypto/rand", "syscall", "unsafe",
			"github.com/cometbft", "github.com/tendermint", "github.com/cosmos",
			"github.com/carechain/carechain/internal/state", "github.com/carechain/carechain/internal/app"},
	})
}
