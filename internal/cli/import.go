package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/fhir"
	"github.com/carechain/carechain/internal/gateway"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// ImportedBundle is what import did with one Bundle file.
type ImportedBundle struct {
	File string `json:"file"`
	// Patients are the ledger patients of the Bundle's Patient entries.
	Patients []string `json:"patients,omitempty"`
	// Created maps each created entry's fullUrl (or its index, for an
	// entry without one) to the resource's new location.
	Created []ImportedEntry `json:"created,omitempty"`
	// Skipped counts the entries left out, by type: resources without a
	// patient, which the ledger does not store.
	Skipped map[string]int `json:"skipped,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// ImportedEntry is one created resource.
type ImportedEntry struct {
	FullURL  string `json:"fullUrl"`
	Type     string `json:"type"`
	Location string `json:"location"`
}

// ImportSummary is import's --json output.
type ImportSummary struct {
	Bundles   []ImportedBundle `json:"bundles"`
	Resources int              `json:"resources"`
	ByType    map[string]int   `json:"byType"`
	Skipped   int              `json:"skipped"`
	Failed    int              `json:"failed"`
	Seconds   float64          `json:"seconds"`
}

func runImport(e *env, args []string) error {
	fs := newFlags(e, "import", "import --key FILE [--patient-keys DIR] [--json] BUNDLE.json…")
	connect := nodeFlags(e, "import", fs)
	keyPath := fs.String("key", "", "key file of a SMART client of the gateway's organization: the organization, or a practitioner or application of it")
	patientKeys := fs.String("patient-keys", "", "register a new ledger patient for every Patient entry without a "+fhir.PatientIdentifierSystem+
		" identifier, saving its key file here (the patient's own key: hand it to the patient)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	files, err := parse(fs, args, 1, math.MaxInt)
	if err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	if *patientKeys != "" {
		if err := os.MkdirAll(*patientKeys, 0o700); err != nil {
			return err
		}
	}
	c, err := connect()
	if err != nil {
		return err
	}
	im := &importer{e: e, c: c, key: k, patientKeys: *patientKeys, bar: newProgress(e.stderr, len(files))}
	start := time.Now()
	sum := ImportSummary{ByType: map[string]int{}}
	for _, f := range files {
		b := im.importFile(f)
		sum.Bundles = append(sum.Bundles, b)
		for _, cr := range b.Created {
			sum.Resources++
			sum.ByType[cr.Type]++
		}
		for _, n := range b.Skipped {
			sum.Skipped += n
		}
		if b.Error != "" {
			sum.Failed++
		}
		im.bar.done(b)
	}
	im.bar.finish()
	sum.Seconds = time.Since(start).Seconds()
	if *asJSON {
		if err := printJSON(e.stdout, sum); err != nil {
			return err
		}
	} else {
		printImportSummary(e.stdout, sum)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d bundles were not imported", sum.Failed, len(files))
	}
	return nil
}

func printImportSummary(w io.Writer, s ImportSummary) {
	rate := 0.0
	if s.Seconds > 0 {
		rate = float64(s.Resources) / s.Seconds
	}
	fmt.Fprintf(w, "imported %d resources from %d bundles in %.1fs (%.1f resources/s)\n", s.Resources, len(s.Bundles)-s.Failed, s.Seconds, rate)
	types := make([]string, 0, len(s.ByType))
	for t := range s.ByType {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Fprintf(w, "  %-22s %d\n", t, s.ByType[t])
	}
	if s.Skipped > 0 {
		fmt.Fprintf(w, "skipped %d resources without a patient (the ledger stores records of patients only)\n", s.Skipped)
	}
	for _, b := range s.Bundles {
		if b.Error != "" {
			fmt.Fprintf(w, "failed: %s: %s\n", b.File, b.Error)
		}
	}
}

type importer struct {
	e           *env
	c           *client.Client
	key         *keyfile.Key
	patientKeys string
	bar         *progress
}

// importFile loads one transaction Bundle: it names or registers the
// ledger patient of each Patient entry, leaves out what the ledger does not
// store, and posts the rest as one transaction.
func (im *importer) importFile(path string) ImportedBundle {
	out := ImportedBundle{File: path}
	fail := func(format string, args ...any) ImportedBundle {
		out.Error = fmt.Sprintf(format, args...)
		out.Created = nil
		return out
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fail("%v", err)
	}
	b, err := fhir.ParseResource(data)
	if err != nil || b.Type() != "Bundle" {
		return fail("not a FHIR Bundle (%v)", err)
	}
	if t, _ := b["type"].(string); t != "transaction" {
		return fail("Bundle.type is %q; import takes transaction Bundles", t)
	}
	entries, _ := b["entry"].([]any)
	var kept []any
	for i, v := range entries {
		m, _ := v.(map[string]any)
		res, _ := m["resource"].(map[string]any)
		typ, _ := res["resourceType"].(string)
		if !slices.Contains(gateway.RecordTypes, typ) && !slices.Contains(tx.DirectoryTypes, typ) {
			if out.Skipped == nil {
				out.Skipped = map[string]int{}
			}
			out.Skipped[typ]++
			continue
		}
		if typ == "Patient" {
			id, err := im.ledgerPatient(fhir.Resource(res), path, i)
			if err != nil {
				return fail("entry %d: %v", i, err)
			}
			out.Patients = append(out.Patients, id)
		}
		kept = append(kept, m)
	}
	if len(kept) == 0 {
		return out
	}
	b["entry"] = kept
	tok, err := im.c.Token(im.e.ctx, im.key, "system/*.c", "")
	if err != nil {
		return fail("token: %v", err)
	}
	status, body, err := im.c.FHIR(im.e.ctx, tok.AccessToken, http.MethodPost, "", b.Marshal())
	if err != nil {
		return fail("%v", err)
	}
	if status != http.StatusOK {
		return fail("%d: %s", status, outcomeText(body))
	}
	var resp struct {
		Entry []struct {
			Response struct {
				Location string `json:"location"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || len(resp.Entry) != len(kept) {
		return fail("the node answered the transaction with %d entries for %d (%v)", len(resp.Entry), len(kept), err)
	}
	for i, v := range kept {
		m := v.(map[string]any)
		full, _ := m["fullUrl"].(string)
		if full == "" {
			full = fmt.Sprintf("#%d", i)
		}
		typ, _ := m["resource"].(map[string]any)["resourceType"].(string)
		loc := strings.TrimSuffix(resp.Entry[i].Response.Location, "/_history/1")
		out.Created = append(out.Created, ImportedEntry{FullURL: full, Type: typ, Location: loc})
	}
	return out
}

// ledgerPatient returns the ledger patient a Patient entry names, or
// registers a new one (with a key of its own, saved under --patient-keys)
// and adds its identifier to the entry.
func (im *importer) ledgerPatient(res fhir.Resource, file string, i int) (string, error) {
	if id := res.LedgerPatient(); id != "" {
		return id, nil
	}
	if im.patientKeys == "" {
		return "", withHint(errors.New("the Patient has no "+fhir.PatientIdentifierSystem+" identifier naming its ledger patient"),
			"pass --patient-keys DIR to register a ledger patient for it")
	}
	k, err := keyfile.Generate()
	if err != nil {
		return "", err
	}
	chainID, err := im.c.ChainID(im.e.ctx)
	if err != nil {
		return "", err
	}
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	keyFile := filepath.Join(im.patientKeys, fmt.Sprintf("%s-%d.key.json", name, i))
	if err := k.Save(keyFile); err != nil {
		return "", err
	}
	if _, err := im.c.Send(im.e.ctx, k, tx.NewRegistration(chainID, tx.KindPatient, "", "", k.Sign, k.HPKEPublic())); err != nil {
		return "", fmt.Errorf("register the patient: %w", err)
	}
	ids, _ := res["identifier"].([]any)
	res["identifier"] = append(ids, map[string]any{"system": fhir.PatientIdentifierSystem, "value": k.ID})
	return k.ID, nil
}

// outcomeText is an OperationOutcome's first diagnostics, or the body.
func outcomeText(body []byte) string {
	var oo struct {
		Issue []struct {
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) == nil && len(oo.Issue) > 0 {
		s := oo.Issue[0].Diagnostics
		if len(oo.Issue[0].Expression) > 0 {
			s += " (at " + oo.Issue[0].Expression[0] + ")"
		}
		return s
	}
	return strings.TrimSpace(string(body))
}

// progress shows how far an import is: a bar redrawn in place on a
// terminal, a line per bundle otherwise (logs, pipes, CI).
type progress struct {
	w         io.Writer
	tty       bool
	total     int
	n         int
	resources int
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, tty: isTerminal(w), total: total}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) done(b ImportedBundle) {
	p.n++
	p.resources += len(b.Created)
	if !p.tty {
		switch {
		case b.Error != "":
			fmt.Fprintf(p.w, "[%d/%d] %s: failed: %s\n", p.n, p.total, b.File, b.Error)
		default:
			fmt.Fprintf(p.w, "[%d/%d] %s: %d resources", p.n, p.total, b.File, len(b.Created))
			if s := skippedCount(b); s > 0 {
				fmt.Fprintf(p.w, ", %d skipped", s)
			}
			fmt.Fprintln(p.w)
		}
		return
	}
	const width = 30
	filled := width * p.n / max(p.total, 1)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d bundles, %d resources  %-40.40s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		p.n, p.total, p.resources, filepath.Base(b.File))
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

func skippedCount(b ImportedBundle) int {
	n := 0
	for _, c := range b.Skipped {
		n += c
	}
	return n
}
