package consent

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func validConsent() Consent {
	return Consent{ID: "c", Status: StatusActive, Patient: "pat", Grantor: "pat",
		Provision: Provision{Type: Permit, Actors: []Actor{Organization("h1")}}}
}

// TestValidateLimits checks the bounds that keep a consent cheap, which the
// scenarios do not reach.
func TestValidateLimits(t *testing.T) {
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		mod  func(c *Consent)
		code Code
		path string
	}{
		{"too many items", func(c *Consent) {
			c.Provision.Records = many(MaxListItems+1, func(i int) string { return fmt.Sprint("r", i) })
		}, CodeTooManyItems, "provision.records"},
		{"too many provisions", func(c *Consent) {
			for i := 0; i < MaxProvisions; i++ {
				c.Provision.Provisions = append(c.Provision.Provisions, Provision{Type: Deny})
			}
		}, CodeTooManyProvisions, "provision.provision[31]"},
		{"too many provisions in all", func(c *Consent) {
			kid := Provision{Type: Deny, Provisions: []Provision{{Type: Deny}, {Type: Deny}, {Type: Deny}}}
			for i := 0; i < 10; i++ {
				c.Provision.Provisions = append(c.Provision.Provisions, kid)
			}
		}, CodeTooManyProvisions, "provision.provision[7].provision[2]"},
		{"long id", func(c *Consent) { c.ID = strings.Repeat("a", MaxIDLen+1) }, CodeBadID, "id"},
		{"bad grantor", func(c *Consent) { c.Grantor = "" }, CodeBadID, "grantor"},
		{"bad role", func(c *Consent) { c.Provision.Actors = []Actor{Role("a b")} }, CodeBadActor, "provision.actors[0]"},
		{"bad actor kind", func(c *Consent) { c.Provision.Actors = []Actor{{Kind: 9, ID: "x"}} }, CodeBadActor, "provision.actors[0]"},
		{"bad type", func(c *Consent) { c.Provision.Type = 7 }, CodeBadProvisionType, "provision.type"},
		{"year 10000", func(c *Consent) {
			c.DateTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		}, CodeBadPeriod, "dateTime"},
		{"long condition", func(c *Consent) {
			c.Provision.Condition = "true" + strings.Repeat(" && true", MaxConditionLen/8)
		}, CodeBadCondition, "provision.condition"},
		{"token with spaces", func(c *Consent) { c.Provision.Codes = []string{"http://x| a"} }, CodeBadCode, "provision.codes[0]"},
		{"too large", func(c *Consent) {
			long := "true" + strings.Repeat(" || true", 120)
			for i := 0; i < MaxProvisions-1; i++ {
				c.Provision.Provisions = append(c.Provision.Provisions, Provision{Type: Deny,
					Codes: many(MaxListItems, func(j int) string {
						return fmt.Sprintf("http://example.org/%s|%d", strings.Repeat("x", 200), j)
					}), Condition: long})
			}
		}, CodeTooLarge, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConsent()
			tc.mod(&c)
			err := Validate(c)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want a *consent.Error", err)
			}
			if e.Code != tc.code || e.Path != tc.path {
				t.Errorf("got %s at %q (%v), want %s at %q", e.Code, e.Path, err, tc.code, tc.path)
			}
		})
	}
}

func TestIndexPutAndRemove(t *testing.T) {
	ix := NewIndex("pat")
	other := validConsent()
	other.Patient = "someone"
	if err := ix.Put(other); CodeOf(err) != CodeBadID {
		t.Errorf("consent of another patient: got %v", err)
	}
	bad := validConsent()
	bad.Provision.Purposes = []Purpose{"NOPE"}
	if err := ix.Put(bad); CodeOf(err) != CodeUnknownPurpose {
		t.Errorf("invalid consent: got %v", err)
	}
	if ix.Len() != 0 {
		t.Fatalf("failed puts changed the index: %d consents", ix.Len())
	}
	for _, id := range []string{"b", "a", "c"} {
		c := validConsent()
		c.ID = id
		if err := ix.Put(c); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(ix.IDs(), ","); got != "a,b,c" {
		t.Errorf("IDs = %s", got)
	}
	if !ix.Remove("b") || ix.Remove("b") {
		t.Error("Remove should report presence once")
	}
	if _, ok := ix.Get("b"); ok {
		t.Error("removed consent still there")
	}
	inactive := validConsent()
	inactive.ID, inactive.Status = "a", StatusInactive
	if err := ix.Put(inactive); err != nil {
		t.Fatal(err)
	}
	if _, ok := ix.Get("a"); ok || ix.Len() != 1 {
		t.Error("putting an inactive consent should remove it")
	}
	if len(ix.postings) != 1 {
		t.Errorf("postings left behind: %v", ix.postings)
	}
	ix.Remove("c")
	if len(ix.postings) != 0 {
		t.Errorf("postings left behind after removing everything: %v", ix.postings)
	}
}

func TestDecideWithoutIndex(t *testing.T) {
	req := Request{Requester: "dr1", RequesterOrg: "h1", Patient: "pat", Action: ActionAccess,
		Purpose: PurposeTreatment, Record: Record{Type: "Observation", AuthorOrg: "h1"}}
	if d := Decide(nil, req, Circumstances{}); d.Reason != ReasonAuthorOrg {
		t.Errorf("got %v", d)
	}
	req.Record.AuthorOrg = ""
	if d := Decide(nil, req, Circumstances{}); d.Reason != ReasonNoConsent {
		t.Errorf("got %v", d)
	}
	if d := Decide(nil, Request{}, Circumstances{}); d.Reason != ReasonInvalidRequest || d.Allowed {
		t.Errorf("zero request: got %v", d)
	}
}

func TestRequestBounds(t *testing.T) {
	req := Request{Requester: "dr1", Patient: "pat", Action: ActionAccess, Purpose: PurposeTreatment,
		Record: Record{Type: "Observation"}}
	for i := 0; i <= MaxRequestRoles; i++ {
		req.Roles = append(req.Roles, fmt.Sprint("r", i))
	}
	if d := Decide(nil, req, Circumstances{}); d.Reason != ReasonInvalidRequest {
		t.Errorf("too many roles: got %v", d)
	}
}

func TestDelegationValidation(t *testing.T) {
	ok := Delegation{Patient: "pat", Delegate: "mum", Operations: []Operation{OpGrant}}
	for _, tc := range []struct {
		name string
		mod  func(d *Delegation)
		code Code
	}{
		{"no operations", func(d *Delegation) { d.Operations = nil }, CodeUnknownOperation},
		{"unknown operation", func(d *Delegation) { d.Operations = []Operation{"delete-everything"} }, CodeUnknownOperation},
		{"unknown purpose", func(d *Delegation) { d.Purposes = []Purpose{"X"} }, CodeUnknownPurpose},
		{"unknown class", func(d *Delegation) { d.Classes = []string{"Labs"} }, CodeUnknownResourceType},
		{"bad delegate", func(d *Delegation) { d.Delegate = "a/b" }, CodeBadID},
		{"backwards", func(d *Delegation) {
			d.Period = Period{Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
		}, CodeBadPeriod},
	} {
		d := ok
		tc.mod(&d)
		if err := ValidateDelegation(d); CodeOf(err) != tc.code {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
		}
	}
	if err := ValidateDelegation(ok); err != nil {
		t.Error(err)
	}
}

func TestAuthorizeInvalid(t *testing.T) {
	at := Block{Height: 1, Time: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := validConsent()
	for _, tc := range []struct {
		name string
		req  OperationRequest
	}{
		{"unknown operation", OperationRequest{Signer: "pat", Patient: "pat", Operation: "erase"}},
		{"grant without consent", OperationRequest{Signer: "pat", Patient: "pat", Operation: OpGrant}},
		{"consent of another patient", OperationRequest{Signer: "pat", Patient: "other", Operation: OpRevoke, Consent: &c}},
		{"manage without delegation", OperationRequest{Signer: "pat", Patient: "pat", Operation: OpManageDelegates}},
		{"bad signer", OperationRequest{Signer: "", Patient: "pat", Operation: OpOptOut}},
	} {
		if a := Authorize(tc.req, nil, at); a.Allowed || a.Reason != AuthInvalid {
			t.Errorf("%s: got %+v", tc.name, a)
		}
	}
	// The closest failing delegation names the reason.
	ds := []Delegation{
		{Patient: "pat", Delegate: "mum", Operations: []Operation{OpGrant}, Period: Period{End: at.Time.Add(-time.Hour)}},
		{Patient: "pat", Delegate: "mum", Operations: []Operation{OpRevoke}},
		{Patient: "other", Delegate: "mum", Operations: []Operation{OpOptOut}},
	}
	a := Authorize(OperationRequest{Signer: "mum", Patient: "pat", Operation: OpOptOut}, ds, at)
	if a.Allowed || a.Reason != AuthOperationNotDelegated || a.Delegate != "mum" {
		t.Errorf("got %+v", a)
	}
}
