package audit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPurity keeps the package deterministic: it runs in consensus on every
// validator. Non-test files may import only the standard library minus
// network, files, processes and randomness, plus the Merkle library and the
// project's kv and codec packages; they may not read the clock, use floating
// point, or panic outside MustRegisterAction.
func TestPurity(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbiddenImports := []string{"net", "os", "math/rand", "crypto/rand", "syscall", "unsafe", "runtime", "io/fs", "plugin", "reflect"}
	allowedModules := []string{
		"github.com/transparency-dev/merkle",
		"github.com/carechain/carechain/internal/kv",
		"github.com/carechain/carechain/internal/codec",
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
			case *ast.Ident:
				switch n.Name {
				case "float32", "float64", "complex64", "complex128":
					t.Errorf("%s: floating point (%s)", fset.Position(n.Pos()), n.Name)
				}
			case *ast.BasicLit:
				if n.Kind == token.FLOAT {
					t.Errorf("%s: floating-point literal %s", fset.Position(n.Pos()), n.Value)
				}
			case *ast.FuncDecl:
				if n.Name.Name == "MustRegisterAction" {
					return false
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
