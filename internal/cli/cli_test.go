package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/proof"
)

// TestMain lets the scripts run "carechain" as a real subprocess of the
// test binary, through the same Main as cmd/carechain.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"carechain": func() { os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end CLI scripts in testdata/script. Each
// script gets BASEPORT, the first of three free loopback ports, for a node
// of its own.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			port, err := nodetest.FreeBasePort()
			if err != nil {
				return err
			}
			env.Setenv("BASEPORT", strconv.Itoa(port))
			env.Setenv("HOME", env.WorkDir) // never touch the real ~/.carechain
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"readenv":  cmdReadEnv,
			"exitcode": cmdExitCode,
			"expand":   cmdExpand,
		},
	})
}

// cmdReadEnv sets an environment variable to a file's contents, trimmed:
// readenv VAR FILE. FILE may be stdout, to keep an id a command printed.
func cmdReadEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: readenv VAR FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

// cmdExitCode runs a command and requires its exit status to be N:
// exitcode N COMMAND [ARGS...]. Its output is kept for stdout and stderr
// checks, as with exec.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("run %s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdExpand copies a file, expanding $VAR and ${VAR} from the script's
// environment: expand IN OUT. Fixtures use it for ids known only at run
// time.
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: expand IN OUT")
	}
	out := os.Expand(ts.ReadFile(args[0]), ts.Getenv)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(out), 0o644))
}

// TestStartCheckpoint: an event bundle's signed log starts a checkpoint,
// agrees with one of its size, and is only noted against one of another
// size; the same size with another root is two signed logs.
func TestStartCheckpoint(t *testing.T) {
	path := t.TempDir() + "/cp.json"
	head := proof.SignedHead{ChainID: "c", LogSize: 5, LogRoot: bytes.Repeat([]byte{1}, 32)}
	if note, err := startCheckpoint(path, head); err != nil || !strings.Contains(note, "now holds 5:0101") {
		t.Fatalf("start: %q, %v", note, err)
	}
	if note, err := startCheckpoint(path, head); err != nil || note != "" {
		t.Fatalf("same log: %q, %v", note, err)
	}
	bigger := head
	bigger.LogSize = 9
	if note, err := startCheckpoint(path, bigger); err != nil || !strings.Contains(note, "audit consistency --checkpoint") {
		t.Fatalf("another size: %q, %v", note, err)
	}
	forked := head
	forked.LogRoot = bytes.Repeat([]byte{2}, 32)
	if _, err := startCheckpoint(path, forked); err == nil || !strings.Contains(err.Error(), "two different logs") {
		t.Fatalf("a fork: %v", err)
	}
	other := head
	other.ChainID = "d"
	if _, err := startCheckpoint(path, other); err == nil || !strings.Contains(err.Error(), "is for chain") {
		t.Fatalf("another chain: %v", err)
	}
	if cp, err := readCheckpoint(path); err != nil || cp.Size != 5 {
		t.Fatalf("the checkpoint changed: %+v, %v", cp, err)
	}
}
