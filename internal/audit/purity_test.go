package audit

import (
	"testing"

	"github.com/carechain/carechain/internal/puritytest"
)

// TestPurity keeps the package deterministic: it runs in consensus on every
// validator. Non-test files may import only the standard library minus
// network, files, processes and randomness, plus the Merkle library and the
// project's kv and codec packages; they may not read the clock, use floating
// point, or panic outside MustRegisterAction.
func TestPurity(t *testing.T) {
	puritytest.Check(t, puritytest.Rules{
		Forbidden: []string{"net", "os", "math/rand", "crypto/rand", "syscall", "unsafe", "runtime", "io/fs", "plugin", "reflect"},
		Allowed: []string{
			"github.com/transparency-dev/merkle",
			"github.com/carechain/carechain/internal/kv",
			"github.com/carechain/carechain/internal/codec",
		},
		NoFloats: true, NoPanic: true, PanicOK: []string{"MustRegisterAction"},
	})
}
