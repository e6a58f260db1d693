// Package puritytest checks, from a test, that a package's non-test code
// keeps the promises of carechain's pure core: code that runs in consensus
// imports no network, files, processes or randomness, reads no clock, and
// stays within its dependency budget. Each package states its own Rules.
package puritytest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Rules are one package's promises.
type Rules struct {
	// Forbidden bans each listed import path and every path under it.
	Forbidden []string
	// Allowed, when not nil, is the whole list of modules outside the
	// standard library the package may import (each with its subpaths).
	Allowed []string
	// NoFloats forbids floating-point types and literals.
	NoFloats bool
	// NoPanic forbids calls to panic, except inside the functions named in
	// PanicOK.
	NoPanic bool
	PanicOK []string
}

// clockReads are the functions of package time that read or wait on the
// wall clock; the only clock in consensus is the block time.
var clockReads = []string{"Now", "Since", "Until", "Sleep", "After", "Tick", "NewTimer", "NewTicker", "AfterFunc"}

// Check applies r to the non-test Go files in the current directory.
func Check(t *testing.T, r Rules) {
	t.Helper()
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
			if under(path, r.Forbidden) {
				t.Errorf("%s imports %s", name, path)
			}
			if r.Allowed != nil && strings.Contains(strings.Split(path, "/")[0], ".") && !under(path, r.Allowed) {
				t.Errorf("%s imports %s, outside the dependency budget", name, path)
			}
			if path == "time" {
				timeName = "time"
				if imp.Name != nil {
					timeName = imp.Name.Name
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && timeName != "" && x.Name == timeName && slices.Contains(clockReads, n.Sel.Name) {
					t.Errorf("%s: time.%s reads the clock: the only clock is the block time", fset.Position(n.Pos()), n.Sel.Name)
				}
			case *ast.Ident:
				if r.NoFloats && (n.Name == "float32" || n.Name == "float64" || n.Name == "complex64" || n.Name == "complex128") {
					t.Errorf("%s: floating point (%s)", fset.Position(n.Pos()), n.Name)
				}
			case *ast.BasicLit:
				if r.NoFloats && n.Kind == token.FLOAT {
					t.Errorf("%s: floating-point literal %s", fset.Position(n.Pos()), n.Value)
				}
			case *ast.FuncDecl:
				if slices.Contains(r.PanicOK, n.Name.Name) {
					return false
				}
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && r.NoPanic && id.Name == "panic" {
					t.Errorf("%s: panic", fset.Position(n.Pos()))
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}

// under reports whether path is one of paths or below one of them.
func under(path string, paths []string) bool {
	for _, p := range paths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}
