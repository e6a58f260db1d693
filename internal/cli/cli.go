// Package cli is the carechain command line. Run is the whole program: main
// only passes it the arguments and standard streams, so the CLI is tested
// end to end in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/tx"
)

// Exit statuses, as documented in the CLI reference.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitDenied   = 3
	ExitNotFound = 4
)

// env carries what a command needs from its caller.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(e *env, args []string) error
}

func commands() []command {
	return []command{
		{"init", "create a single-validator node home", runInit},
		{"start", "run a node (creating its home first if empty)", runStart},
		{"testnet", "create a local network of validator homes", runTestnet},
		{"join", "create a node home that joins an existing network", runJoin},
		{"validator", "add or remove a validator (consortium admin)", runValidator},
		{"status", "show a node's height, state root and validators", runStatus},
		{"keys", "create and show key files (keys new, keys show)", runKeys},
		{"identity", "register, show, rotate and revoke identities; give staff roles", runIdentity},
		{"consent", "grant, revoke, list, show, import and check consents; delegates; opt-out", runConsent},
		{"record", "write, read, erase, list and reseal encrypted records (record put|get|erase|history|list|reseal)", runRecord},
		{"audit", "read a patient's access history (audited), export it, prove an event", runAudit},
		{"import", "load FHIR transaction Bundles (e.g. Synthea patients) through the FHIR API", runImport},
		{"auth", "get a SMART Backend Services bearer token for the FHIR API (auth token)", runAuth},
		{"verify", "check an audit proof bundle offline against the genesis", runVerify},
		{"check", "check a stopped node's stores offline and name anything changed", runCheck},
		{"bench", "measure committed transactions per second against a baseline", runBench},
		{"version", "print the version", runVersion},
	}
}

// Main runs the CLI and returns the process exit status, printing errors as
// "carechain: error: …".
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := Run(ctx, args, stdout, stderr)
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	fmt.Fprintf(stderr, "carechain: error: %v\n", err)
	var h *hinted
	if errors.As(err, &h) && h.hint != "" {
		fmt.Fprintf(stderr, "carechain: hint: %s\n", h.hint)
	}
	return ExitCode(err)
}

// Run executes one command line.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return usageError("no command given")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(e, args[1:])
		}
	}
	return withHint(usageError("unknown command %q", args[0]), "run 'carechain --help' for the list of commands")
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "carechain: a permissioned blockchain for health records")
	fmt.Fprintln(w, "\nUsage: carechain COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'carechain COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "Exit status: 0 success, 1 failure, 2 usage error, 3 access denied, 4 not found or erased.")
}

// usageErr is a mistake in how the command was called: exit status 2.
type usageErr struct{ msg string }

func (u *usageErr) Error() string { return u.msg }

func usageError(format string, args ...any) error {
	return &usageErr{msg: fmt.Sprintf(format, args...)}
}

// hinted attaches a suggestion to an error.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

func withHint(err error, hint string) error { return &hinted{err: err, hint: hint} }

// ExitCode maps an error to the documented exit status.
func ExitCode(err error) int {
	var u *usageErr
	if errors.As(err, &u) {
		return ExitUsage
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		switch tx.Code(ce.Code) {
		case tx.CodeAccessDenied:
			return ExitDenied
		case tx.CodeNotFound, tx.CodeErased:
			return ExitNotFound
		}
	}
	var te *tx.Error
	if errors.As(err, &te) {
		switch te.Code {
		case tx.CodeAccessDenied:
			return ExitDenied
		case tx.CodeNotFound, tx.CodeErased:
			return ExitNotFound
		}
	}
	return ExitFailure
}

// flags returns a flag set that reports errors as usage errors and prints
// help to stdout.
func newFlags(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "Usage: carechain %s\n\nFlags:\n", synopsis)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses flags that may come before or after positional arguments
// and checks the number of positional arguments.
func parse(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err // Parse has printed the usage
			}
			return nil, withHint(usageError("%s: %v", fs.Name(), err), "run 'carechain "+fs.Name()+" --help'")
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < minPos || len(pos) > maxPos {
		want := fmt.Sprintf("%d", minPos)
		if maxPos != minPos {
			want = fmt.Sprintf("%d to %d", minPos, maxPos)
		}
		return nil, withHint(usageError("%s takes %s arguments, got %d", fs.Name(), want, len(pos)), "run 'carechain "+fs.Name()+" --help'")
	}
	return pos, nil
}

// defaultHome is ~/.carechain.
func defaultHome() string {
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".carechain")
	}
	return ".carechain"
}

func required(name, value string) error {
	if strings.TrimSpace(value) == "" {
		return usageError("--%s is required", name)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
