package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
)

// auditSubcommands are the audit command's subcommands. Those defined in
// other files add themselves from an init function.
var auditSubcommands = map[string]func(*env, []string) error{
	"list": runAuditList,
}

func runAudit(e *env, args []string) error {
	if len(args) > 0 {
		if f, ok := auditSubcommands[args[0]]; ok {
			return f(e, args[1:])
		}
	}
	names := make([]string, 0, len(auditSubcommands))
	for n := range auditSubcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintf(e.stdout, "Usage: carechain audit %s [flags]\n", strings.Join(names, "|"))
		return nil
	}
	return withHint(usageError("audit needs a subcommand: %s", strings.Join(names, ", ")), "run 'carechain audit list --help'")
}

func runAuditList(e *env, args []string) error {
	fs := newFlags(e, "audit list", "audit list --key FILE [--patient ID | --refused] [--from RFC3339] [--to RFC3339] [--actor ID] [--org ID] [--purpose CODE] [--decision permit|deny] [--oldest-first] [--limit N] [--cursor C] [--json|--fhir|--disclosures|--csv]")
	connect := nodeFlags(e, "audit list", fs)
	keyPath := fs.String("key", "", "key file of the reader: the patient, a delegate allowed to read the history, or an auditor")
	patient := fs.String("patient", "", "whose history (default: the key's own)")
	refused := fs.Bool("refused", false, "instead of a patient's history, the requests gateways refused, which name no patient (auditors only)")
	from := fs.String("from", "", "only events at or after this time (RFC 3339)")
	to := fs.String("to", "", "only events before this time (RFC 3339)")
	actor := fs.String("actor", "", "only events by this actor")
	org := fs.String("org", "", "only events by actors of this organization")
	purpose := fs.String("purpose", "", "only events with this purpose of use (TREAT, ETREAT, …)")
	decision := fs.String("decision", "", "only permitted or only denied events (permit, deny)")
	oldestFirst := fs.Bool("oldest-first", false, "oldest events first (default: newest first)")
	limit := fs.Int("limit", 50, "events per page (at most 1000)")
	cursor := fs.String("cursor", "", "continue from a previous page's cursor")
	asJSON := fs.Bool("json", false, "print the page as JSON")
	asFHIR := fs.Bool("fhir", false, "print a FHIR R4 Bundle of AuditEvent resources (IHE BALP)")
	disclosures := fs.Bool("disclosures", false, "print the HIPAA accounting of disclosures as JSON")
	asCSV := fs.Bool("csv", false, "print the HIPAA accounting of disclosures as CSV")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	switch {
	case *refused && *patient != "":
		return usageError("--refused lists the events about no patient: leave out --patient")
	case *refused && (*disclosures || *asCSV):
		return usageError("the accounting of disclosures is a patient's; --refused has none")
	case !*refused && *patient == "":
		*patient = k.ID
	}
	f := client.HistoryFilter{Actor: *actor, Org: *org, Purpose: *purpose, Decision: *decision, OldestFirst: *oldestFirst, Limit: *limit, Cursor: *cursor}
	for _, t := range []struct {
		name, value string
		into        *time.Time
	}{{"from", *from, &f.From}, {"to", *to, &f.To}} {
		if t.value == "" {
			continue
		}
		if *t.into, err = time.Parse(time.RFC3339, t.value); err != nil {
			return usageError("--%s %q is not an RFC 3339 time (e.g. 2026-01-31T09:00:00Z)", t.name, t.value)
		}
	}
	if *limit < 1 || *limit > 1000 {
		return usageError("--limit must be between 1 and 1000")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	page, events, err := c.AuditHistory(e.ctx, k, *patient, f)
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return printJSON(e.stdout, page)
	case *asFHIR:
		return printAuditBundle(e, events)
	case *disclosures || *asCSV:
		report := audit.NewDisclosureReport(*patient, events, audit.DisclosureOptions{})
		out, err := report.JSON()
		if *asCSV {
			out, err = report.CSV()
		}
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(out)
		return err
	}
	printHistory(e, events)
	if page.NextCursor != "" {
		which := "--patient " + *patient
		if *refused {
			which = "--refused"
		}
		fmt.Fprintf(e.stderr, "more: carechain audit list --key %s %s --cursor %s\n", *keyPath, which, page.NextCursor)
	}
	return nil
}

func printHistory(e *env, events []audit.Event) {
	if len(events) == 0 {
		fmt.Fprintln(e.stdout, "no events")
		return
	}
	fmt.Fprintf(e.stdout, "%-6s %-20s %-19s %-28s %-8s %-7s %s\n", "SEQ", "TIME", "ACTION", "ACTOR", "PURPOSE", "RESULT", "REASON / TARGET")
	for _, ev := range events {
		printEventLine(e, ev)
	}
}

// printEventLine prints one event in the columns printHistory heads.
func printEventLine(e *env, ev audit.Event) {
	what := ev.Reason.String()
	if ev.Target != "" {
		what += " " + ev.Target
	}
	if len(ev.RecordIDs) > 0 {
		what += " records " + strings.Join(ev.RecordIDs, ",")
	}
	if ev.BreakGlass {
		what = "BREAK-THE-GLASS " + what
	}
	fmt.Fprintf(e.stdout, "%-6d %-20s %-19s %-28s %-8s %-7s %s\n", ev.Seq, ev.Time.UTC().Format(time.RFC3339), ev.Action, ev.Actor,
		orDash(ev.Purpose), ev.Decision, what)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printAuditBundle prints events as a FHIR R4 searchset Bundle of
// AuditEvent resources.
func printAuditBundle(e *env, events []audit.Event) error {
	entries := make([]map[string]json.RawMessage, 0, len(events))
	for _, ev := range events {
		b, err := audit.FHIRAuditEvent(ev, audit.FHIROptions{})
		if err != nil {
			return fmt.Errorf("export event %d: %w", ev.Seq, err)
		}
		entries = append(entries, map[string]json.RawMessage{"resource": b})
	}
	return printJSON(e.stdout, map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries})
}

func init() { auditSubcommands["watch"] = runAuditWatch }

func runAuditWatch(e *env, args []string) error {
	fs := newFlags(e, "audit watch", "audit watch --key FILE [--patient ID] [--json]")
	connect := nodeFlags(e, "audit watch", fs)
	keyPath := fs.String("key", "", "key file of the reader: the patient, a delegate allowed to read the history, or an auditor")
	patient := fs.String("patient", "", "whose accesses (default: the key's own)")
	asJSON := fs.Bool("json", false, "print each event as a line of JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	if *patient == "" {
		*patient = k.ID
	}
	c, err := connect()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(e.stderr, "watching accesses to %s's records; Ctrl-C to stop\n", *patient)
	err = c.WatchAccess(ctx, k, *patient, func(ev client.AccessEvent) error {
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(ev.Event)
		}
		printEventLine(e, ev.Event)
		return nil
	})
	if ctx.Err() != nil {
		return nil // stopped by the user
	}
	return err
}
