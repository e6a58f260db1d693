package consent

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestScenarios runs the scripts in testdata/scenarios. Rewrite expected
// outputs with:
//
//	go test ./internal/consent -run TestScenarios -rewrite
//
// Commands:
//
//	setup patient=P time=T height=H emergency=R1,R2 window=D
//	grant id=ID [grantor=G] [signer=S] [status=S] [patient=P]   (input: provisions in the DSL)
//	revoke id=ID [signer=S]
//	delegate delegate=D ops=O1,O2 [purposes=..] [classes=..] [period=A..B] [signer=S]
//	optout on|off [signer=S]
//	advance by=DURATION | to=TIME [height=H]
//	request requester=R [org=O] [roles=..] [action=A] [purpose=P] [type=T]
//	        [record=ID] [codes=..] [labels=..] [author=O] [date=T] [btg] [patient=P]
//
// Every request is also decided by decideNaive over every consent granted
// so far, and the two must agree.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenario scripts in testdata/scenarios")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			w := newWorld(t)
			runScript(t, f, w.run)
		})
	}
}

type world struct {
	t           *testing.T
	patient     string
	circ        Circumstances
	ix          *Index
	granted     []Consent // every consent put, for the naive evaluator
	delegations []Delegation
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, patient: "pat"}
	w.circ.Block = Block{Height: 1, Time: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	w.ix = NewIndex(w.patient)
	return w
}

func (w *world) run(c *scriptCase) string {
	out, err := w.exec(c)
	if err != nil {
		return "error: " + err.Error()
	}
	return out
}

func (w *world) exec(c *scriptCase) (string, error) {
	switch c.cmd {
	case "setup":
		return w.setup(c)
	case "grant":
		return w.grant(c)
	case "revoke":
		return w.revoke(c)
	case "delegate":
		return w.delegate(c)
	case "optout":
		return w.optout(c)
	case "advance":
		return w.advance(c)
	case "request":
		return w.request(c)
	}
	return "", fmt.Errorf("unknown command %q", c.cmd)
}

func (w *world) setup(c *scriptCase) (string, error) {
	if v, ok := c.arg("patient"); ok {
		w.patient = v
		w.ix = NewIndex(v)
		w.granted = nil
	}
	if v, ok := c.arg("time"); ok {
		t, err := parseTimeArg(v)
		if err != nil {
			return "", err
		}
		w.circ.Block.Time = t
	}
	if v, ok := c.arg("height"); ok {
		h, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", err
		}
		w.circ.Block.Height = h
	}
	if v, ok := c.arg("emergency"); ok {
		w.circ.Policy.EmergencyRoles = strings.Split(v, ",")
	}
	if v, ok := c.arg("window"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return "", err
		}
		w.circ.Policy.BreakGlassWindow = d
	}
	return "ok", nil
}

func authText(a Authorization) string {
	s := string(a.Reason)
	if a.Delegate != "" && a.Allowed {
		s += " " + a.Delegate
	} else if a.Delegate != "" {
		s += " (" + a.Delegate + ")"
	}
	return s
}

func (w *world) grant(c *scriptCase) (string, error) {
	prov, err := parseProvisions(c.input)
	if err != nil {
		return "", err
	}
	cons := Consent{
		ID:        c.argOr("id", ""),
		Status:    StatusActive,
		Patient:   c.argOr("patient", w.patient),
		DateTime:  w.circ.Block.Time,
		Provision: prov,
	}
	cons.Grantor = c.argOr("grantor", c.argOr("signer", cons.Patient))
	if s, ok := c.arg("status"); ok {
		st, known := ParseStatus(s)
		if !known {
			st = Status(99)
		}
		cons.Status = st
	}
	auth := Authorize(OperationRequest{
		Signer: c.argOr("signer", cons.Grantor), Patient: w.patient, Operation: OpGrant, Consent: &cons,
	}, w.delegations, w.circ.Block)
	if !auth.Allowed {
		return "unauthorized: " + authText(auth) + ": " + auth.Detail, nil
	}
	if err := Validate(cons); err != nil {
		return fmt.Sprintf("refused: %s", err), nil
	}
	// Every valid consent must survive the ledger encoding and FHIR.
	back, err := Decode(Encode(cons))
	if err != nil {
		return "", fmt.Errorf("decode of encode: %w", err)
	}
	if d := cmp.Diff(Normalize(cons), back); d != "" {
		return "", fmt.Errorf("encoding round trip (-want +got):\n%s", d)
	}
	fj, err := ToFHIR(cons)
	if err != nil {
		return "", err
	}
	fromF, err := FromFHIR(fj)
	if err != nil {
		return "", fmt.Errorf("FromFHIR(ToFHIR): %w", err)
	}
	if d := cmp.Diff(Normalize(cons), fromF); d != "" {
		return "", fmt.Errorf("FHIR round trip (-want +got):\n%s", d)
	}
	if err := w.ix.Put(cons); err != nil {
		return fmt.Sprintf("refused: %s", err), nil
	}
	w.granted = slices.DeleteFunc(w.granted, func(g Consent) bool { return g.ID == cons.ID })
	w.granted = append(w.granted, cons)
	return "ok " + authText(auth), nil
}

func (w *world) revoke(c *scriptCase) (string, error) {
	id := c.argOr("id", "")
	cons, ok := w.ix.Get(id)
	if !ok {
		return "not found", nil
	}
	auth := Authorize(OperationRequest{
		Signer: c.argOr("signer", w.patient), Patient: w.patient, Operation: OpRevoke, Consent: &cons,
	}, w.delegations, w.circ.Block)
	if !auth.Allowed {
		return "unauthorized: " + authText(auth) + ": " + auth.Detail, nil
	}
	w.ix.Remove(id)
	for i := range w.granted {
		if w.granted[i].ID == id {
			w.granted[i].Status = StatusInactive
		}
	}
	return "ok " + authText(auth), nil
}

func (w *world) delegate(c *scriptCase) (string, error) {
	d := Delegation{Patient: w.patient, Delegate: c.argOr("delegate", "")}
	if v, ok := c.arg("ops"); ok {
		for _, op := range strings.Split(v, ",") {
			d.Operations = append(d.Operations, Operation(op))
		}
	}
	if v, ok := c.arg("purposes"); ok {
		for _, p := range strings.Split(v, ",") {
			d.Purposes = append(d.Purposes, Purpose(p))
		}
	}
	if v, ok := c.arg("classes"); ok {
		d.Classes = strings.Split(v, ",")
	}
	if v, ok := c.arg("period"); ok {
		p, err := parsePeriodArg(v)
		if err != nil {
			return "", err
		}
		d.Period = p
	}
	if err := ValidateDelegation(d); err != nil {
		return fmt.Sprintf("refused: %s", err), nil
	}
	auth := Authorize(OperationRequest{
		Signer: c.argOr("signer", w.patient), Patient: w.patient, Operation: OpManageDelegates, Delegation: &d,
	}, w.delegations, w.circ.Block)
	if !auth.Allowed {
		return "unauthorized: " + authText(auth) + ": " + auth.Detail, nil
	}
	back, err := DecodeDelegation(EncodeDelegation(d))
	if err != nil {
		return "", err
	}
	if diff := cmp.Diff(NormalizeDelegation(d), back); diff != "" {
		return "", fmt.Errorf("delegation round trip (-want +got):\n%s", diff)
	}
	w.delegations = append(w.delegations, d)
	return "ok " + authText(auth), nil
}

func (w *world) optout(c *scriptCase) (string, error) {
	auth := Authorize(OperationRequest{
		Signer: c.argOr("signer", w.patient), Patient: w.patient, Operation: OpOptOut,
	}, w.delegations, w.circ.Block)
	if !auth.Allowed {
		return "unauthorized: " + authText(auth) + ": " + auth.Detail, nil
	}
	_, on := c.arg("on")
	w.circ.OptedOut = on
	return "ok " + authText(auth), nil
}

func (w *world) advance(c *scriptCase) (string, error) {
	if v, ok := c.arg("by"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return "", err
		}
		w.circ.Block.Time = w.circ.Block.Time.Add(d)
	}
	if v, ok := c.arg("to"); ok {
		t, err := parseTimeArg(v)
		if err != nil {
			return "", err
		}
		w.circ.Block.Time = t
	}
	w.circ.Block.Height++
	if v, ok := c.arg("height"); ok {
		h, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", err
		}
		w.circ.Block.Height = h
	}
	return fmt.Sprintf("height=%d time=%s", w.circ.Block.Height, w.circ.Block.Time.UTC().Format(time.RFC3339)), nil
}

func (w *world) request(c *scriptCase) (string, error) {
	req := Request{
		Requester:    c.argOr("requester", ""),
		RequesterOrg: c.argOr("org", ""),
		Patient:      c.argOr("patient", w.patient),
		Action:       Action(c.argOr("action", "access")),
		Purpose:      Purpose(c.argOr("purpose", "TREAT")),
		Record: Record{
			ID:        c.argOr("record", "r1"),
			Type:      c.argOr("type", "Observation"),
			AuthorOrg: c.argOr("author", ""),
		},
	}
	if v, ok := c.arg("roles"); ok {
		req.Roles = strings.Split(v, ",")
	}
	if v, ok := c.arg("codes"); ok {
		req.Record.Codes = strings.Split(v, ",")
	}
	if v, ok := c.arg("labels"); ok {
		req.Record.Labels = strings.Split(v, ",")
	}
	if v, ok := c.arg("date"); ok {
		t, err := parseTimeArg(v)
		if err != nil {
			return "", err
		}
		req.Record.Date = t
	}
	_, req.BreakGlass = c.arg("btg")
	got := Decide(w.ix, req, w.circ)
	ref := decideNaive(w.patient, w.granted, req, w.circ)
	if d := cmp.Diff(ref, got); d != "" {
		w.t.Errorf("line %d: Decide and decideNaive disagree (-naive +indexed):\n%s", c.line, d)
	}
	return got.String(), nil
}
