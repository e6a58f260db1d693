package consent

import (
	"strconv"
	"strings"
	"time"
)

// Reason names the rule that decided. Reasons are part of the protocol: the
// audit log records them and patients read them, so they are never renamed.
type Reason string

// The reasons, in the order Decide applies the rules (docs/consent.md).
const (
	ReasonInvalidRequest           Reason = "invalid-request"              // deny: the request is malformed
	ReasonPatientSelf              Reason = "patient-self"                 // allow: the patient reads their own record
	ReasonConsentPermit            Reason = "consent-permit"               // allow: a permit provision, no deny
	ReasonAuthorOrg                Reason = "author-org"                   // allow: the record's authoring organization reads it
	ReasonBreakTheGlass            Reason = "break-the-glass"              // allow: emergency access
	ReasonBreakTheGlassOptedOut    Reason = "break-the-glass-opted-out"    // deny: the patient opted out of emergency access
	ReasonBreakTheGlassNotEligible Reason = "break-the-glass-not-eligible" // deny: asked for emergency access without an emergency role, purpose or action
	ReasonConsentDeny              Reason = "consent-deny"                 // deny: a deny provision applies
	ReasonSensitiveLabelNotNamed   Reason = "sensitive-label-not-named"    // deny: a permit applies but does not name the record's sensitive labels
	ReasonExpired                  Reason = "expired"                      // deny: the consent that would permit has ended
	ReasonNotYetValid              Reason = "not-yet-valid"                // deny: the consent that would permit has not started
	ReasonNoConsent                Reason = "no-consent"                   // deny: nothing permits
)

// Decision is the outcome of Decide and why.
type Decision struct {
	Allowed bool
	Reason  Reason
	// ConsentID and Provision name the provision that decided (for
	// consent-permit and consent-deny), that fell short (for
	// sensitive-label-not-named, expired and not-yet-valid), or that
	// break-the-glass overrode. Provision is a path such as
	// "provision.provision[1]".
	ConsentID string
	Provision string
	// Detail adds what the reason alone does not say: the labels a permit
	// did not name, when a consent's period ended, why a request is invalid.
	Detail string
	// BreakGlass marks access granted by the break-the-glass path. It lasts
	// until Expires; the patient must be notified at once.
	BreakGlass bool
	Expires    time.Time
	// NotifyPatient asks the ledger to alert the patient now rather than
	// leave the event for their next look at the audit log.
	NotifyPatient bool
}

// String renders the decision on one line, for logs, audit text and test
// scripts: "allow consent-permit consent=c1 provision=provision.provision[0]".
func (d Decision) String() string {
	var b strings.Builder
	if d.Allowed {
		b.WriteString("allow ")
	} else {
		b.WriteString("deny ")
	}
	b.WriteString(string(d.Reason))
	if d.ConsentID != "" {
		b.WriteString(" consent=" + d.ConsentID)
	}
	if d.Provision != "" {
		b.WriteString(" provision=" + d.Provision)
	}
	if d.BreakGlass {
		b.WriteString(" break-glass expires=" + d.Expires.UTC().Format(time.RFC3339Nano))
	}
	if d.NotifyPatient {
		b.WriteString(" notify-patient")
	}
	if d.Detail != "" {
		b.WriteString(" detail=" + strconv.Quote(d.Detail))
	}
	return b.String()
}

// Rule-only decisions.

func invalidRequest(msg string) Decision {
	return Decision{Reason: ReasonInvalidRequest, Detail: msg}
}

func ruleDecision(allowed bool, r Reason) Decision {
	return Decision{Allowed: allowed, Reason: r}
}

// breakGlassDecision builds the outcome of an eligible break-the-glass
// request. deniedBy and deniedAt name the deny it overrides, if any.
func breakGlassDecision(c Circumstances, deniedBy, deniedAt string) Decision {
	if c.OptedOut {
		return Decision{
			Reason:        ReasonBreakTheGlassOptedOut,
			NotifyPatient: true,
			Detail:        "the patient opted out of break-the-glass access",
		}
	}
	d := Decision{
		Allowed:       true,
		Reason:        ReasonBreakTheGlass,
		BreakGlass:    true,
		Expires:       c.Block.Time.UTC().Add(c.Policy.window()),
		NotifyPatient: true,
	}
	if deniedBy != "" {
		d.ConsentID, d.Provision = deniedBy, deniedAt
		d.Detail = "overrides a deny"
	}
	return d
}

const notEligibleDetail = "break-the-glass needs an emergency role, purpose ETREAT or BTG, and action access"

func missingLabelsDetail(missing []string) string {
	return "not named by the permit: " + strings.Join(missing, ",")
}

func periodDetail(expired bool, p Period) string {
	if expired {
		return "period ended " + p.End.UTC().Format(time.RFC3339Nano)
	}
	return "period starts " + p.Start.UTC().Format(time.RFC3339Nano)
}
