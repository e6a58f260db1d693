package ledgerstate

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPurity holds the package to its promise: state comes in through
// kv, time through the block; no network, file system, randomness,
// consensus engine or clock.
func TestPurity(t *testing.T) {
	forbiddenImports := []string{"net", "os", "os/exec", "math/rand", "math/rand/v2", "crypto/rand", "syscall", "unsafe"}
	forbiddenPrefixes := []string{"net/", "github.com/cometbft/", "github.com/tendermint/", "github.com/cosmos/",
		"github.com/carechain/carechain/internal/state", "github.com/carechain/carechain/internal/app"}
	forbiddenTime := map[string]bool{"Now": true, "Since": true, "Until": true, "Sleep": true,
		"Tick": true, "After": true, "AfterFunc": true, "NewTimer": true, "NewTicker": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		timeName := ""
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbiddenImports {
				if path == bad {
					t.Errorf("%s imports %s", name, path)
				}
			}
			for _, bad := range forbiddenPrefixes {
				if strings.HasPrefix(path, bad) {
					t.Errorf("%s imports %s", name, path)
				}
			}
			if path == "time" {
				timeName = "time"
				if imp.Name != nil {
					timeName = imp.Name.Name
				}
			}
		}
		if timeName == "" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == timeName && forbiddenTime[sel.Sel.Name] {
					t.Errorf("%s: %s uses time.%s: the only clock is the block time", name, fset.Position(sel.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}
