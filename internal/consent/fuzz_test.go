package consent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/go-cmp/cmp"
)

// Run one at a time, briefly, for example:
//
//	go test ./internal/consent -run '^$' -fuzz FuzzDecode -fuzztime 20s

var fuzzCirc = Circumstances{Block: Block{Height: 7, Time: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)}}

func fuzzRequest(patient string) Request {
	return Request{Requester: "dr1", RequesterOrg: "h1", Roles: []string{"gp", "emergency"}, Patient: patient,
		Action: ActionAccess, Purpose: PurposeTreatment, BreakGlass: true,
		Record: Record{ID: "r1", Type: "Observation", Labels: []string{"PSY"}, Codes: []string{"http://loinc.org|1-8"},
			Date: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}}
}

// FuzzDecode: Decode never panics, every error carries a code, whatever
// decodes re-encodes to the same bytes, and a decoded consent that
// validates can be indexed and decided on.
func FuzzDecode(f *testing.F) {
	for _, c := range sampleConsents() {
		f.Add(Encode(c))
	}
	f.Add([]byte{})
	f.Add([]byte{consentVersion})
	f.Add(nested(MaxDepth + 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		if re := Encode(c); !bytes.Equal(re, b) {
			t.Fatalf("Encode(Decode(b)) != b\n b: %x\nre: %x", b, re)
		}
		if Validate(c) != nil || !isID(c.Patient) {
			return
		}
		ix := NewIndex(c.Patient)
		if err := ix.Put(c); err != nil {
			t.Fatalf("a valid consent was not indexed: %v", err)
		}
		req := fuzzRequest(c.Patient)
		got := Decide(ix, req, fuzzCirc)
		if d := cmp.Diff(decideNaive(c.Patient, []Consent{c}, req, fuzzCirc), got); d != "" {
			t.Fatalf("Decide and decideNaive disagree (-naive +indexed):\n%s", d)
		}
	})
}

// FuzzFromFHIR: FromFHIR never panics, refuses with a code, and whatever
// it accepts round-trips through ToFHIR and the ledger encoding.
func FuzzFromFHIR(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fhir", "*.json"))
	more, _ := filepath.Glob(filepath.Join(examplesDir(), "Consent-*.json"))
	for _, name := range append(files, more...) {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, c := range sampleConsents() {
		if b, err := ToFHIR(c); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"resourceType":"Consent"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := FromFHIR(b)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		checkRoundTrips(t, "fuzz", c)
	})
}

// FuzzCondition: compiling any text never panics; a condition that
// compiles evaluates without panicking, deterministically, within both its
// static cost estimate and the runtime limit.
func FuzzCondition(f *testing.F) {
	for _, src := range genConditions {
		f.Add(src, "gp,nurse", int64(3), true)
	}
	f.Add("request.roles.all(a, request.roles.exists(b, a + b != ''))", "a,b,c", int64(1), false)
	f.Add("record.codes.map(c, c + c).size() > 0", "", int64(-1), true)
	f.Add("block.time - duration('1h') < timestamp('2024-01-01T00:00:00Z')", "x", int64(0), false)
	f.Fuzz(func(t *testing.T, src, roles string, height int64, dated bool) {
		cond, err := compileCondition(src)
		if err != nil {
			if c := CodeOf(err); c != CodeBadCondition && c != CodeConditionTooCostly {
				t.Fatalf("compile error with code %q: %v", c, err)
			}
			return
		}
		req := fuzzRequest("pat")
		req.Roles = nil
		for _, r := range strings.Split(roles, ",") {
			if isRoleCode(r) && len(req.Roles) < MaxRequestRoles {
				req.Roles = append(req.Roles, r)
			}
		}
		if !dated {
			req.Record.Date = time.Time{}
		}
		if msg := checkRequest(&req); msg != "" {
			t.Fatalf("fuzz request is invalid: %s", msg)
		}
		act := &activation{req: req, block: Block{Height: height, Time: fuzzCirc.Block.Time}}
		out1, det, err1 := cond.prg.Eval(act)
		out2, _, err2 := cond.prg.Eval(&activation{req: req, block: act.block})
		if (err1 == nil) != (err2 == nil) || err1 == nil && out1.Equal(out2) != types.True {
			t.Fatalf("two evaluations differ: %v %v / %v %v", out1, err1, out2, err2)
		}
		if det != nil && det.ActualCost() != nil {
			cost := *det.ActualCost()
			if cost > MaxConditionCost {
				t.Fatalf("actual cost %d exceeds the runtime limit %d", cost, MaxConditionCost)
			}
			if cost > cond.cost {
				t.Fatalf("actual cost %d exceeds the static estimate %d for %q", cost, cond.cost, src)
			}
		}
	})
}
