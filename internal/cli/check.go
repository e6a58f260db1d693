package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/carechain/carechain/internal/check"
	"github.com/carechain/carechain/internal/node"
)

// runCheck verifies a stopped node's stores offline and names what is
// wrong. Exit status 0 means every check passed, 1 that something was found
// (or the check could not run).
func runCheck(e *env, args []string) error {
	fs := newFlags(e, "check", "check [--home DIR] [--all-versions] [--json]")
	home := fs.String("home", defaultHome(), "home of the node to check; the node must be stopped")
	all := fs.Bool("all-versions", false, "prove every key of every saved state version, not only the latest (slow on a long chain)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	paths, err := node.StorePaths(*home)
	if err != nil {
		return err
	}
	rep, err := check.Run(paths, check.Options{AllVersions: *all})
	if errors.Is(err, check.ErrNodeRunning) {
		return withHint(err, "stop the node, then run 'carechain check --home "+*home+"' again; the check reads the stores of a stopped node")
	}
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		printReport(e.stdout, rep)
	}
	if !rep.Clean {
		return withHint(fmt.Errorf("%s: %s found", *home, problemCount(len(rep.Findings)+rep.Omitted)),
			"restore the damaged store from a backup, or move the databases in data/ aside (keep data/priv_validator_state.json) and start the node to sync the chain from its peers")
	}
	return nil
}

func printReport(w io.Writer, r *check.Report) {
	fmt.Fprintf(w, "checked %s (chain %s) in %s\n", r.Home, r.ChainID, r.Took.Round(time.Millisecond))
	b := r.Blocks
	if b.Height == 0 {
		fmt.Fprintln(w, "  blocks:     none yet")
	} else {
		anchor := "validator sets from CometBFT's state"
		if b.Anchored {
			anchor = "from the genesis validator set on"
		}
		fmt.Fprintf(w, "  blocks:     %d–%d, %d commits verified (%s)\n", b.Base, b.Height, b.Commits, anchor)
	}
	s := r.State
	if s.Version == 0 {
		fmt.Fprintln(w, "  app state:  empty")
	} else {
		fmt.Fprintf(w, "  app state:  version %d, %d keys proven against %s; %d saved roots linked to their blocks\n",
			s.Version, s.Keys, s.Anchor, s.Linked)
		switch {
		case len(s.Proven) > 2:
			fmt.Fprintf(w, "              every key of %d versions proven\n", len(s.Proven))
		case s.Signed > 0 && s.Signed != s.Version:
			fmt.Fprintf(w, "              version %d proven against block %d, signed by the validators\n", s.Signed, s.Signed+1)
		}
		fmt.Fprintf(w, "  fast index: %s\n", s.FastIndex)
	}
	if r.Audit.Checked {
		fmt.Fprintf(w, "  audit log:  %d events recomputed\n", r.Audit.Events)
	}
	if b := r.Blobs; b.Stored+b.Anchored > 0 {
		fmt.Fprintf(w, "  blobs:      %d stored, %d bytes hashed; %d record versions anchored", b.Stored, b.Bytes, b.Anchored)
		if b.Missing > 0 {
			fmt.Fprintf(w, ", %d not here yet (a running node fetches them from its peers)", b.Missing)
		}
		fmt.Fprintln(w)
	}
	if r.Clean {
		fmt.Fprintln(w, "no problems found")
		return
	}
	fmt.Fprintf(w, "%s found:\n", problemCount(len(r.Findings)+r.Omitted))
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(f.String(), "\n", " "))
	}
	if r.Omitted > 0 {
		fmt.Fprintf(w, "  … and %d more\n", r.Omitted)
	}
}

func problemCount(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}
