package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/consent"
)

const recordUsage = "Usage: carechain record put|get|erase|history|list|reseal [flags]"

func runRecord(e *env, args []string) error {
	subs := map[string]func(*env, []string) error{
		"put": runRecordPut, "get": runRecordGet, "erase": runRecordErase, "history": runRecordHistory, "list": runRecordList,
		"reseal": runRecordReseal,
	}
	if len(args) > 0 {
		if f, ok := subs[args[0]]; ok {
			return f(e, args[1:])
		}
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprintln(e.stdout, recordUsage)
			return nil
		}
	}
	return withHint(usageError("record needs a subcommand: put, get, erase, history or list"), "run 'carechain record put --help'")
}

// maxResourceFile bounds what record put reads: a record's ciphertext may
// be at most 4 MiB.
const maxResourceFile = 4 << 20

func runRecordPut(e *env, args []string) error {
	fs := newFlags(e, "record put", "record put --key FILE --patient ID --file RESOURCE.json [--record ID] [--labels PSY,HIV] [--date YYYY-MM-DD] [--json]")
	connect := nodeFlags(e, "record put", fs)
	keyPath := fs.String("key", "", "key file of the writer: a practitioner, application or organization, or the patient")
	patient := fs.String("patient", "", "the patient's id (default: the writer, for a patient's own record)")
	file := fs.String("file", "", "the FHIR R4 resource, JSON ('-' for standard input)")
	recordID := fs.String("record", "", "add a new version to this record instead of creating one")
	labels := fs.String("labels", "", "security labels, comma-separated (PSY, HIV, ETH, 42CFRPart2, …): consent must name them")
	date := fs.String("date", "", "the record's clinical date (RFC 3339 or YYYY-MM-DD), for consents limited by a data period")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	if *file == "" {
		return withHint(usageError("--file is required"), "pass the FHIR resource as --file obs.json, or --file - to read standard input")
	}
	data, err := readResource(*file)
	if err != nil {
		return err
	}
	resourceType, err := fhirResourceType(data)
	if err != nil {
		return err
	}
	when, err := parseTime("date", *date, false)
	if err != nil {
		return err
	}
	who := *patient
	if who == "" && *recordID == "" {
		who = k.ID
	}
	cl, err := connect()
	if err != nil {
		return err
	}
	w, err := cl.WriteRecord(e.ctx, k, client.RecordWrite{Patient: who, RecordID: *recordID, ResourceType: resourceType,
		Labels: splitFlag(*labels), Date: when, Resource: data})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"id": w.ID, "version": w.Version, "type": resourceType, "height": w.Result.Height, "tx": w.Result.Hash})
	}
	fmt.Fprintln(e.stdout, w.ID)
	fmt.Fprintf(e.stderr, "stored %s %s version %d, encrypted, at height %d\n", resourceType, w.ID, w.Version, w.Result.Height)
	return nil
}

func readResource(path string) ([]byte, error) {
	if path != "-" {
		return readLimited(path, maxResourceFile)
	}
	data, err := io.ReadAll(io.LimitReader(os.Stdin, maxResourceFile+1))
	if err != nil {
		return nil, fmt.Errorf("read standard input: %w", err)
	}
	if len(data) > maxResourceFile {
		return nil, fmt.Errorf("standard input holds more than %d bytes", maxResourceFile)
	}
	return data, nil
}

// fhirResourceType checks that data is one JSON object with a resourceType
// that names a FHIR R4 resource a record may hold.
func fhirResourceType(data []byte) (string, error) {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return "", withHint(fmt.Errorf("the file is not a JSON FHIR resource: %w", err), "a record is one FHIR R4 resource in JSON, such as an Observation")
	}
	switch {
	case head.ResourceType == "":
		return "", fmt.Errorf("the resource has no resourceType")
	case head.ResourceType == "Bundle":
		return "", withHint(fmt.Errorf("a Bundle is not one record"), "store its entries one by one")
	case !consent.IsResourceType(head.ResourceType):
		return "", fmt.Errorf("%q is not a FHIR R4 resource type", head.ResourceType)
	}
	return head.ResourceType, nil
}

func runRecordGet(e *env, args []string) error {
	fs := newFlags(e, "record get", "record get --key FILE --purpose TREAT [--version N] [--break-glass] [--json] RECORD_ID")
	connect := nodeFlags(e, "record get", fs)
	keyPath := fs.String("key", "", "key file of the reader")
	purpose := fs.String("purpose", "", "purpose of use: TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PATRQT (a patient's own request) or BTG")
	version := fs.Uint64("version", 0, "the version to read (default: the latest)")
	breakGlass := fs.Bool("break-glass", false, "emergency access: loud, short-lived, and shown to the patient at once")
	allShares := fs.Bool("all-shares", false, "ask every validator for its share, not just enough of them, and report each that fails")
	asJSON := fs.Bool("json", false, "print the resource with the read's details as JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	k, cl, err := signerAndNode(*keyPath, connect)
	if err != nil {
		return err
	}
	if *purpose == "" {
		return withHint(usageError("--purpose is required: every read says why"), "for example --purpose TREAT, or --purpose PATRQT for a patient's own record")
	}
	cl.AllShares = *allShares
	r, err := cl.ReadRecord(e.ctx, k, pos[0], *version, strings.ToUpper(*purpose), *breakGlass)
	if err != nil {
		return err
	}
	for _, f := range r.BadShares {
		fmt.Fprintf(e.stderr, "carechain: warning: validator %s (share %d) gave no usable share: %s\n", f.Validator, f.Index, f.Reason)
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"id": r.ID, "version": r.Version, "patient": r.Patient, "type": r.Type,
			"auditSeq": r.AuditSeq, "badShares": r.BadShares, "resource": json.RawMessage(r.Resource)})
	}
	_, err = e.stdout.Write(r.Resource)
	if err == nil && len(r.Resource) > 0 && r.Resource[len(r.Resource)-1] != '\n' {
		_, err = fmt.Fprintln(e.stdout)
	}
	return err
}

func runRecordErase(e *env, args []string) error {
	fs := newFlags(e, "record erase", "record erase --key FILE [--reason TEXT] [--json] RECORD_ID")
	connect := nodeFlags(e, "record erase", fs)
	keyPath := fs.String("key", "", "key file of the patient, or of the organization that wrote the record (or its staff)")
	reason := fs.String("reason", "", "why, for the audit trail (no health information)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	k, cl, err := signerAndNode(*keyPath, connect)
	if err != nil {
		return err
	}
	res, err := cl.EraseRecord(e.ctx, k, pos[0], *reason)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"id": pos[0], "erased": true, "height": res.Height, "tx": res.Hash})
	}
	fmt.Fprintf(e.stderr, "erased %s at height %d: every node deletes its ciphertext and key shares\n", pos[0], res.Height)
	return nil
}

func runRecordHistory(e *env, args []string) error {
	fs := newFlags(e, "record history", "record history --key FILE [--json] RECORD_ID")
	connect := nodeFlags(e, "record history", fs)
	keyPath := fs.String("key", "", "key file of the reader: the patient, a delegate, an auditor, or the record's author organization (the read is audited)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	k, cl, err := signerAndNode(*keyPath, connect)
	if err != nil {
		return err
	}
	info, err := cl.Record(e.ctx, k, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, info)
	}
	state := ""
	if info.Erased {
		state = " (erased by " + info.ErasedBy + ")"
	}
	fmt.Fprintf(e.stdout, "%s  patient %s%s\n", info.ID, info.Patient, state)
	for _, v := range info.Versions {
		labels := strings.Join(v.Labels, ",")
		if labels == "" {
			labels = "-"
		}
		fmt.Fprintf(e.stdout, "  v%-3d %s  %-22s labels %-12s by %s  %d bytes, key %d of %d\n", v.Version, v.Time.Format(time.RFC3339),
			v.Type, labels, v.Author, v.Size, v.Threshold, v.Shares)
	}
	return nil
}

func runRecordList(e *env, args []string) error {
	fs := newFlags(e, "record list", "record list --key FILE [--patient ID] [--json]")
	connect := nodeFlags(e, "record list", fs)
	keyPath := fs.String("key", "", "key file of the reader: the patient, a delegate or an auditor (the read is audited)")
	patient := fs.String("patient", "", "the patient whose records to list (default: the reader)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	k, cl, err := signerAndNode(*keyPath, connect)
	if err != nil {
		return err
	}
	list, err := cl.PatientRecords(e.ctx, k, patientOf(k, *patient))
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, list)
	}
	for _, r := range list.Records {
		state := ""
		if r.Erased {
			state = "  erased"
		}
		fmt.Fprintf(e.stdout, "%s  %-22s v%-3d %s%s\n", r.ID, r.Type, r.Version, r.Updated.Format(time.RFC3339), state)
	}
	return nil
}

// runRecordReseal moves a record to the current validator set: it reads
// the latest version (an audited read like any other) and writes it again
// as a new version, under a new key split across today's validators.
// Records written before validators left stay readable while k of their
// custodians are up; resealing restores the full margin.
func runRecordReseal(e *env, args []string) error {
	fs := newFlags(e, "record reseal", "record reseal --key FILE --purpose PATRQT|HOPERAT [--json] RECORD_ID")
	connect := nodeFlags(e, "record reseal", fs)
	keyPath := fs.String("key", "", "key file of the patient, or of the record's author organization (or its staff)")
	purpose := fs.String("purpose", "", "purpose of the read: PATRQT for the patient, HOPERAT for the author organization")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	k, cl, err := signerAndNode(*keyPath, connect)
	if err != nil {
		return err
	}
	if *purpose == "" {
		return usageError("--purpose is required: resealing reads the record")
	}
	info, err := cl.Record(e.ctx, k, pos[0])
	if err != nil {
		return err
	}
	r, err := cl.ReadRecord(e.ctx, k, pos[0], 0, strings.ToUpper(*purpose), false)
	if err != nil {
		return err
	}
	latest := info.Versions[len(info.Versions)-1]
	w, err := cl.WriteRecord(e.ctx, k, client.RecordWrite{RecordID: pos[0], ResourceType: latest.Type, Labels: latest.Labels, Resource: r.Resource})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"id": w.ID, "version": w.Version, "height": w.Result.Height})
	}
	fmt.Fprintf(e.stderr, "resealed %s as version %d for the current validators\n", w.ID, w.Version)
	return nil
}
