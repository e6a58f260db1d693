package cluster

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binary is the carechain executable under test, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test skips itself; building the binary would be wasted time.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "carechain-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
	binary, err = buildCarechain(dir)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildCarechain builds cmd/carechain from this module into dir: the tests
// run the same binary an operator would, not the packages linked into the
// test.
func buildCarechain(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the carechain module")
	}
	exe := filepath.Join(dir, "carechain")
	build := exec.Command("go", "build", "-o", exe, "./cmd/carechain")
	build.Dir = filepath.Dir(gomod)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/carechain: %w\n%s", err, out)
	}
	return exe, nil
}
