package proof

import (
	"testing"

	"github.com/carechain/carechain/internal/puritytest"
)

// TestPurity keeps the verifier offline and its dependencies small:
// non-test files import no network, files, processes or randomness, read
// no clock, call no panic, and outside the standard library use only
// CometBFT (headers, commits, validator sets, light-client rules), ICS23
// and the audit package — not the state store, the node or the gateway.
func TestPurity(t *testing.T) {
	puritytest.Check(t, puritytest.Rules{
		Forbidden: []string{"net", "os", "math/rand", "crypto/rand", "syscall", "unsafe", "io/fs", "plugin"},
		Allowed: []string{
			"github.com/cometbft/cometbft/types",
			"github.com/cometbft/cometbft/light",
			"github.com/cometbft/cometbft/crypto",
			"github.com/cometbft/cometbft/libs/json",
			"github.com/cosmos/ics23/go",
			"github.com/carechain/carechain/internal/audit",
		},
		NoPanic: true,
	})
}
