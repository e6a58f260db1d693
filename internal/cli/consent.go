package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

const consentUsage = "Usage: carechain consent grant|revoke|list|show|import|check|delegate|optout [flags]"

func runConsent(e *env, args []string) error {
	subs := map[string]func(*env, []string) error{
		"grant": runConsentGrant, "revoke": runConsentRevoke, "list": runConsentList, "show": runConsentShow,
		"import": runConsentImport, "check": runConsentCheck, "delegate": runConsentDelegate, "optout": runConsentOptOut,
	}
	if len(args) > 0 {
		if f, ok := subs[args[0]]; ok {
			return f(e, args[1:])
		}
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprintln(e.stdout, consentUsage)
			return nil
		}
	}
	return withHint(usageError("consent needs a subcommand: grant, revoke, list, show, import, check, delegate or optout"),
		"run 'carechain consent grant --help'")
}

// splitFlag splits a comma-separated flag value, dropping empty items.
func splitFlag(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseTime reads an RFC 3339 time, or a date (YYYY-MM-DD) read in UTC as
// FHIR reads one: as a start its first instant, as an end its last.
func parseTime(flagName, s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, withHint(usageError("--%s %q is not a time", flagName, s), "use RFC 3339 (2027-01-31T23:59:59Z) or a date (2027-01-31)")
	}
	if end {
		return d.Add(24*time.Hour - time.Nanosecond), nil
	}
	return d, nil
}

// eventAttr returns attribute key of the first event of type typ.
func eventAttr(res *client.TxResult, typ, key string) string {
	for _, ev := range res.Events {
		if ev.Type == typ {
			return ev.Attributes[key]
		}
	}
	return ""
}

// patientOf is the patient a command acts for: --patient when signing as a
// delegate, else the signer.
func patientOf(k *keyfile.Key, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return k.ID
}

func runConsentGrant(e *env, args []string) error {
	fs := newFlags(e, "consent grant", "consent grant --key FILE (--to ID | --to-org ID | --to-role CODE) --purpose TREAT "+
		"[--types Observation,...] [--labels PSY,...] [--from TIME] [--until TIME] [--action access] [--condition CEL] [--deny] [--patient ID] [--json]")
	connect := nodeFlags(e, "consent grant", fs)
	keyPath := fs.String("key", "", "key file of the signer: the patient, or a delegate with --patient")
	to := fs.String("to", "", "identities the consent is about, comma-separated")
	toOrg := fs.String("to-org", "", "organizations the consent is about (every member), comma-separated")
	toRole := fs.String("to-role", "", "role codes the consent is about, comma-separated")
	purpose := fs.String("purpose", "", "purposes of use, comma-separated: TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PATRQT, BTG")
	types := fs.String("types", "", "FHIR resource types, comma-separated (default: every type)")
	labels := fs.String("labels", "", "security labels, comma-separated; a sensitive label (PSY, HIV, …) is released only when named")
	from := fs.String("from", "", "start of validity (RFC 3339 or YYYY-MM-DD)")
	until := fs.String("until", "", "end of validity (RFC 3339 or YYYY-MM-DD, which includes the whole day)")
	action := fs.String("action", "", "actions, comma-separated: collect, access, use, disclose, correct (default: access for a permit, every action for a deny)")
	condition := fs.String("condition", "", "CEL condition that must hold too, for example \"block.time < timestamp('2027-01-01T00:00:00Z')\"")
	deny := fs.Bool("deny", false, "deny instead of permit")
	patient := fs.String("patient", "", "the patient, when signing as their delegate (default: the signer)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	var actors []consent.Actor
	for _, id := range splitFlag(*to) {
		actors = append(actors, consent.Identity(id))
	}
	for _, id := range splitFlag(*toOrg) {
		actors = append(actors, consent.Organization(id))
	}
	for _, code := range splitFlag(*toRole) {
		actors = append(actors, consent.Role(code))
	}
	if !*deny && len(actors) == 0 {
		return withHint(usageError("a permit needs someone to permit: pass --to, --to-org or --to-role"),
			"a deny may name nobody, meaning everyone: add --deny for that")
	}
	if !*deny && *purpose == "" {
		return withHint(usageError("--purpose is required for a permit"), "for example --purpose TREAT")
	}
	start, err := parseTime("from", *from, false)
	if err != nil {
		return err
	}
	end, err := parseTime("until", *until, true)
	if err != nil {
		return err
	}
	c := consent.Consent{
		Status:  consent.StatusActive,
		Patient: patientOf(k, *patient),
		Grantor: k.ID,
		// When it was agreed: informational, and signed with the rest.
		DateTime: time.Now().UTC().Truncate(time.Second),
		Provision: consent.Provision{
			Type:      consent.Permit,
			Period:    consent.Period{Start: start, End: end},
			Actors:    actors,
			Classes:   splitFlag(*types),
			Labels:    splitFlag(*labels),
			Condition: *condition,
		},
	}
	if *deny {
		c.Provision.Type = consent.Deny
	}
	for _, p := range splitFlag(*purpose) {
		c.Provision.Purposes = append(c.Provision.Purposes, consent.Purpose(p))
	}
	actions := splitFlag(*action)
	if len(actions) == 0 && !*deny {
		actions = []string{string(consent.ActionAccess)}
	}
	for _, a := range actions {
		c.Provision.Actions = append(c.Provision.Actions, consent.Action(a))
	}
	return sendGrant(e, connect, k, c, *asJSON)
}

// sendGrant submits c as a new consent and prints the id the ledger gave
// it.
func sendGrant(e *env, connect func() (*client.Client, error), k *keyfile.Key, c consent.Consent, asJSON bool) error {
	cl, err := connect()
	if err != nil {
		return err
	}
	res, err := cl.Send(e.ctx, k, &tx.GrantConsent{Patient: c.Patient, Consent: consent.Encode(c)})
	if err != nil {
		return grantHint(err)
	}
	id := eventAttr(res, "consent.grant", "consent_id")
	if id == "" {
		return fmt.Errorf("transaction %s committed without naming its consent", res.Hash)
	}
	delegate := eventAttr(res, "consent.grant", "delegate") == "true"
	if asJSON {
		return printJSON(e.stdout, map[string]any{"id": id, "patient": c.Patient, "by": k.ID, "delegate": delegate, "height": res.Height, "tx": res.Hash})
	}
	fmt.Fprintln(e.stdout, id)
	as := ""
	if delegate {
		as = " as delegate"
	}
	fmt.Fprintf(e.stderr, "granted consent %s for patient %s%s at height %d\n", id, c.Patient, as, res.Height)
	return nil
}

// readHint explains a refused consent read.
func readHint(err error, what string) error {
	var ce *client.Error
	if errors.As(err, &ce) && tx.Code(ce.Code) == tx.CodeAccessDenied {
		return withHint(err, "who may "+what+" a patient is decided on the ledger, and the refusal is recorded: "+
			"the patient, a delegate, an auditor; for one consent also whoever it names; for a preview also the requester and their organization")
	}
	return err
}

func grantHint(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) && tx.Code(ce.Code) == tx.CodeUnauthorized {
		return withHint(err, "only the patient, or a delegate the patient authorized (carechain consent delegate set), may change a patient's consents")
	}
	return err
}

func runConsentRevoke(e *env, args []string) error {
	fs := newFlags(e, "consent revoke", "consent revoke --key FILE [--patient ID] CONSENT_ID [--json]")
	connect := nodeFlags(e, "consent revoke", fs)
	keyPath := fs.String("key", "", "key file of the signer: the patient, or a delegate allowed to revoke")
	patient := fs.String("patient", "", "the patient, when signing as their delegate (default: the signer)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	cl, err := connect()
	if err != nil {
		return err
	}
	// The ledger checks that the consent is the patient's; reading it
	// first would be a recorded read for nothing.
	p := patientOf(k, *patient)
	res, err := cl.Send(e.ctx, k, &tx.RevokeConsent{Patient: p, ConsentID: pos[0]})
	var ce *client.Error
	if errors.As(err, &ce) && tx.Code(ce.Code) == tx.CodeNotFound && *patient == "" {
		return withHint(err, "revoking for a patient as their delegate? name the patient with --patient")
	}
	if err != nil {
		return grantHint(err)
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"id": pos[0], "patient": p, "revoked": true, "height": res.Height, "tx": res.Hash})
	}
	fmt.Fprintf(e.stdout, "revoked consent %s at height %d; it takes part in no decision from now on\n", pos[0], res.Height)
	return nil
}

func runConsentList(e *env, args []string) error {
	fs := newFlags(e, "consent list", "consent list --key FILE [--patient ID] [--json]")
	connect := nodeFlags(e, "consent list", fs)
	keyPath := fs.String("key", "", "key file of the reader: the patient, a delegate in effect or an auditor")
	patient := fs.String("patient", "", "the patient whose consents to list (default: the key's own)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	cl, err := connect()
	if err != nil {
		return err
	}
	list, err := cl.PatientConsents(e.ctx, k, patientOf(k, *patient))
	if err != nil {
		return readHint(err, "list the consents of")
	}
	if *asJSON {
		return printJSON(e.stdout, list)
	}
	glass := "open to emergency roles"
	if list.OptedOut {
		glass = "opted out: nobody may break the glass"
	}
	fmt.Fprintf(e.stdout, "patient %s at height %d; break-the-glass: %s\n", list.Patient, list.Height, glass)
	if len(list.Consents) == 0 {
		fmt.Fprintln(e.stdout, "no consents")
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONSENT\tSTATUS\tGRANTED\tBY\tRULE")
		for _, c := range list.Consents {
			status := c.Status
			if c.RevokedAt != 0 {
				status = "revoked@" + strconv.FormatInt(c.RevokedAt, 10)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", c.ID, status, c.GrantedAt, c.Grantor, c.Summary)
		}
		tw.Flush()
	}
	for _, d := range list.Delegations {
		line := fmt.Sprintf("delegate %s may %s", d.Delegate, strings.Join(d.Operations, ","))
		if len(d.Purposes) > 0 {
			line += " for " + strings.Join(d.Purposes, ",")
		}
		if len(d.Types) > 0 {
			line += " types " + strings.Join(d.Types, ",")
		}
		if d.Start != nil {
			line += " from " + d.Start.Format(time.RFC3339)
		}
		if d.End != nil {
			line += " until " + d.End.Format(time.RFC3339)
		}
		fmt.Fprintln(e.stdout, line)
	}
	return nil
}

func runConsentShow(e *env, args []string) error {
	fs := newFlags(e, "consent show", "consent show --key FILE [--patient ID] CONSENT_ID [--fhir | --json]")
	connect := nodeFlags(e, "consent show", fs)
	keyPath := fs.String("key", "", "key file of the reader: the patient, a delegate in effect, an auditor, or someone the consent names")
	patient := fs.String("patient", "", "the consent's patient (default: the key's own)")
	asFHIR := fs.Bool("fhir", false, "print the consent as a FHIR R4 Consent resource")
	asJSON := fs.Bool("json", false, "print JSON: the record, its FHIR form, its state proof and the recorded query")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	cl, err := connect()
	if err != nil {
		return err
	}
	res, err := cl.Consent(e.ctx, k, patientOf(k, *patient), pos[0])
	if err != nil {
		return readHint(err, "read a consent of")
	}
	switch {
	case *asFHIR:
		var buf bytes.Buffer
		if err := json.Indent(&buf, res.Consent.FHIR, "", "  "); err != nil {
			return fmt.Errorf("format FHIR: %w", err)
		}
		buf.WriteByte('\n')
		_, err := e.stdout.Write(buf.Bytes())
		return err
	case *asJSON:
		return printJSON(e.stdout, res)
	}
	c := res.Consent
	fields := [][2]string{{"id", c.ID}, {"patient", c.Patient}, {"status", c.Status}, {"grantor", c.Grantor},
		{"granted at", strconv.FormatInt(c.GrantedAt, 10)}}
	if c.UpdatedAt != 0 {
		fields = append(fields, [2]string{"updated at", strconv.FormatInt(c.UpdatedAt, 10)})
	}
	if c.RevokedAt != 0 {
		fields = append(fields, [2]string{"revoked at", fmt.Sprintf("%d by %s", c.RevokedAt, c.RevokedBy)})
	}
	fields = append(fields, [][2]string{{"rule", c.Summary},
		{"proof", fmt.Sprintf("verified against state root %X at height %d", res.Proof.Root, res.Proof.Height)}}...)
	printFields(e.stdout, fields)
	return nil
}

func runConsentImport(e *env, args []string) error {
	fs := newFlags(e, "consent import", "consent import --key FILE CONSENT.json [--json]")
	connect := nodeFlags(e, "consent import", fs)
	keyPath := fs.String("key", "", "key file of the signer: the patient, or a delegate named as the consent's performer")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	c, err := consent.FromFHIR(withResourceID(data))
	if err != nil {
		return withHint(fmt.Errorf("%s: %w", pos[0], err),
			"carechain reads FHIR R4 Consent resources with scope patient-privacy whose provisions it can enforce; docs/consent.md lists what is refused and why")
	}
	if c.Status != consent.StatusActive {
		return fmt.Errorf("%s: consent status is %s; only an active consent is put on the ledger", pos[0], c.Status)
	}
	if c.Grantor != k.ID {
		return withHint(fmt.Errorf("%s: the consent's performer is %s, but %s signs it: the grantor is whoever signs", pos[0], c.Grantor, k.ID),
			"sign with the performer's key, or name the signer as performer (identifier system urn:carechain:actor)")
	}
	// The ledger gives the consent its id; the file's id, if any, was the
	// author's own.
	c.ID = ""
	return sendGrant(e, connect, k, c, *asJSON)
}

// withResourceID gives a resource without a top-level "id" a placeholder
// one, since FromFHIR requires an id and a consent about to be created has
// none yet: the ledger assigns it. Anything that is not a JSON object is
// left for FromFHIR to refuse.
func withResourceID(data []byte) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil || len(top) == 0 {
		return data
	}
	if _, ok := top["id"]; ok {
		return data
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return data
	}
	return append([]byte(`{"id":"new",`), trimmed[1:]...)
}

func runConsentCheck(e *env, args []string) error {
	fs := newFlags(e, "consent check", "consent check --key FILE --patient ID [--requester ID] --purpose P [--type T] [--labels L] [--action A] [--roles R] [--break-glass] [--json]")
	connect := nodeFlags(e, "consent check", fs)
	keyPath := fs.String("key", "", "key file of the asker: the patient, a delegate in effect, an auditor, the requester or the requester's organization")
	patient := fs.String("patient", "", "the patient whose record would be read")
	requester := fs.String("requester", "", "who would read it (default: the key's own identity)")
	purpose := fs.String("purpose", "", "purpose of use: TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PATRQT or BTG")
	typ := fs.String("type", "Observation", "FHIR resource type of the record")
	labels := fs.String("labels", "", "the record's security labels, comma-separated")
	action := fs.String("action", "access", "collect, access, use, disclose or correct")
	roles := fs.String("roles", "", "roles the requester holds besides those of their identity, comma-separated (for example emergency)")
	record := fs.String("record", "", "the record's id, for consents that name records")
	authorOrg := fs.String("author-org", "", "the organization that wrote the record")
	breakGlass := fs.Bool("break-glass", false, "ask for emergency (break-the-glass) access")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	for _, f := range [][2]string{{"patient", *patient}, {"purpose", *purpose}} {
		if err := required(f[0], f[1]); err != nil {
			return err
		}
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	if *requester == "" {
		*requester = k.ID
	}
	cl, err := connect()
	if err != nil {
		return err
	}
	d, err := cl.Decide(e.ctx, k, client.DecideQuery{Patient: *patient, Requester: *requester, Purpose: *purpose, Type: *typ,
		Action: *action, Labels: splitFlag(*labels), Roles: splitFlag(*roles), Record: *record, AuthorOrg: *authorOrg, BreakGlass: *breakGlass})
	if err != nil {
		return readHint(err, "preview an access to the records of")
	}
	if *asJSON {
		if err := printJSON(e.stdout, d); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(e.stdout, d.Text)
	}
	if d.Allowed {
		return nil
	}
	return tx.Errorf(tx.CodeAccessDenied, "%s", denialText(d))
}

// denialText says in words which rule, consent and provision denied.
func denialText(d *client.Decision) string {
	s := fmt.Sprintf("%s may not %s %s's %s records for %s: %s", d.Request.Requester, d.Request.Action, d.Request.Patient,
		d.Request.Type, d.Request.Purpose, d.Reason)
	if d.ConsentID != "" {
		s += fmt.Sprintf(" (consent %s, %s)", d.ConsentID, d.Provision)
	}
	if d.Detail != "" {
		s += ": " + d.Detail
	}
	return s
}

func runConsentDelegate(e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "set":
			return runDelegateSet(e, args[1:])
		case "remove":
			return runDelegateRemove(e, args[1:])
		case "-h", "--help":
			fmt.Fprintln(e.stdout, "Usage: carechain consent delegate set|remove --key FILE --delegate ID [flags]")
			return nil
		}
	}
	return withHint(usageError("consent delegate needs a subcommand: set or remove"), "run 'carechain consent delegate set --help'")
}

func runDelegateSet(e *env, args []string) error {
	fs := newFlags(e, "consent delegate set", "consent delegate set --key FILE --delegate ID [--ops grant,revoke,...] "+
		"[--purposes P,...] [--types T,...] [--from TIME] [--until TIME] [--patient ID] [--json]")
	connect := nodeFlags(e, "consent delegate set", fs)
	keyPath := fs.String("key", "", "key file of the patient (or of a delegate allowed to manage delegates, with --patient)")
	delegate := fs.String("delegate", "", "identity of the delegate: a registered delegate or patient")
	ops := fs.String("ops", "grant,revoke", "operations delegated, comma-separated: grant, revoke, manage-delegates, opt-out")
	purposes := fs.String("purposes", "", "limit grants and revocations to consents for these purposes (default: any)")
	types := fs.String("types", "", "limit grants and revocations to consents for these FHIR resource types (default: any)")
	from := fs.String("from", "", "start of the delegation (RFC 3339 or YYYY-MM-DD)")
	until := fs.String("until", "", "end of the delegation (RFC 3339 or YYYY-MM-DD, which includes the whole day)")
	patient := fs.String("patient", "", "the patient, when signing as their delegate (default: the signer)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := required("delegate", *delegate); err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	start, err := parseTime("from", *from, false)
	if err != nil {
		return err
	}
	end, err := parseTime("until", *until, true)
	if err != nil {
		return err
	}
	d := consent.Delegation{Patient: patientOf(k, *patient), Delegate: *delegate, Classes: splitFlag(*types),
		Period: consent.Period{Start: start, End: end}}
	for _, op := range splitFlag(*ops) {
		d.Operations = append(d.Operations, consent.Operation(op))
	}
	for _, p := range splitFlag(*purposes) {
		d.Purposes = append(d.Purposes, consent.Purpose(p))
	}
	cl, err := connect()
	if err != nil {
		return err
	}
	res, err := cl.Send(e.ctx, k, &tx.SetDelegate{Delegation: consent.EncodeDelegation(d)})
	if err != nil {
		return grantHint(err)
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"patient": d.Patient, "delegation": client.DelegationView(consent.NormalizeDelegation(d)),
			"height": res.Height, "tx": res.Hash})
	}
	fmt.Fprintf(e.stdout, "%s may now %s for patient %s (height %d)\n", *delegate, strings.Join(splitFlag(*ops), ","), d.Patient, res.Height)
	return nil
}

func runDelegateRemove(e *env, args []string) error {
	fs := newFlags(e, "consent delegate remove", "consent delegate remove --key FILE --delegate ID [--patient ID] [--json]")
	connect := nodeFlags(e, "consent delegate remove", fs)
	keyPath := fs.String("key", "", "key file of the patient, of a delegate allowed to manage delegates, or of the delegate stepping down")
	delegate := fs.String("delegate", "", "the delegate to remove")
	patient := fs.String("patient", "", "the patient, when not signing as the patient (default: the signer)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := required("delegate", *delegate); err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	p := patientOf(k, *patient)
	cl, err := connect()
	if err != nil {
		return err
	}
	res, err := cl.Send(e.ctx, k, &tx.RemoveDelegate{Patient: p, Delegate: *delegate})
	if err != nil {
		return grantHint(err)
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"patient": p, "delegate": *delegate, "removed": true, "height": res.Height, "tx": res.Hash})
	}
	fmt.Fprintf(e.stdout, "%s no longer acts for patient %s (height %d)\n", *delegate, p, res.Height)
	return nil
}

func runConsentOptOut(e *env, args []string) error {
	fs := newFlags(e, "consent optout", "consent optout --key FILE [--undo] [--patient ID] [--json]")
	connect := nodeFlags(e, "consent optout", fs)
	keyPath := fs.String("key", "", "key file of the patient (or of a delegate allowed to opt out, with --patient)")
	undo := fs.Bool("undo", false, "clear the opt-out: emergency roles may break the glass again")
	patient := fs.String("patient", "", "the patient, when signing as their delegate (default: the signer)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	p := patientOf(k, *patient)
	cl, err := connect()
	if err != nil {
		return err
	}
	res, err := cl.Send(e.ctx, k, &tx.SetBreakGlassOptOut{Patient: p, OptOut: !*undo})
	if err != nil {
		return grantHint(err)
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"patient": p, "break_glass_opt_out": !*undo, "height": res.Height, "tx": res.Hash})
	}
	if *undo {
		fmt.Fprintf(e.stdout, "patient %s no longer opts out: emergency roles may break the glass (height %d)\n", p, res.Height)
	} else {
		fmt.Fprintf(e.stdout, "patient %s opted out of break-the-glass access: nobody may break the glass (height %d)\n", p, res.Height)
	}
	return nil
}
