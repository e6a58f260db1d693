package proof

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPurity keeps the verifier offline and its dependencies small:
// non-test files import no network, files, processes or randomness, read
// no clock, call no panic, and outside the standard library use only
// CometBFT (headers, commits, validator sets, light-client rules), ICS23
// and the audit package — not the state store, the node or the gateway.
func TestPurity(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbiddenImports := []string{"net", "os", "math/rand", "crypto/rand", "syscall", "unsafe", "io/fs", "plugin"}
	allowedModules := []string{
		"github.com/cometbft/cometbft/types",
		"github.com/cometbft/cometbft/light",
		"github.com/cometbft/cometbft/crypto",
		"github.com/cometbft/cometbft/libs/json",
		"github.com/cosmos/ics23/go",
		"github.com/carechain/carechain/internal/audit",
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbiddenImports {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", name, path)
				}
			}
			if strings.Contains(path, ".") && !hasAnyPrefix(path, allowedModules) {
				t.Errorf("%s imports %s, outside the dependency budget", name, path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && x.Name == "time" {
					switch n.Sel.Name {
					case "Now", "Since", "Until", "Sleep", "After", "Tick", "NewTimer", "NewTicker", "AfterFunc":
						t.Errorf("%s: time.%s reads the clock", fset.Position(n.Pos()), n.Sel.Name)
					}
				}
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "panic" {
					t.Errorf("%s: panic", fset.Position(n.Pos()))
				}
			}
			return true
		})
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p+"/") {
			return true
		}
	}
	return false
}
