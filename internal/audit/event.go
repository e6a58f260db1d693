package audit

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"time"
)

// Field limits. They bound the work a single event can cost every validator
// and keep exported reports readable.
const (
	maxIDLen        = 128  // actor, organization, patient, record, target and consent ids
	maxActionLen    = 64   // action names
	maxPurposeLen   = 32   // purpose-of-use codes
	maxReasonLen    = 256  // provision paths and rule names
	maxRecordIDs    = 1024 // record ids per event
	txHashLen       = 32   // CometBFT transaction hashes are SHA-256
	maxEncodedEvent = 1 << 18
)

// Event is one entry of the audit log: who did what to whose records, when,
// why, and whether it was allowed.
type Event struct {
	// Seq is the event's position in the log, assigned by Append.
	Seq uint64 `json:"seq"`
	// Height and Time are those of the block that recorded the event.
	Height uint64    `json:"height"`
	Time   time.Time `json:"time"`
	// Actor is the ledger identity that acted; ActorOrg its organization,
	// empty for actors that belong to none (patients, delegates).
	Actor    string `json:"actor"`
	ActorOrg string `json:"actorOrg,omitempty"`
	// Patient is the pseudonymous id of the patient whose data was touched.
	Patient string `json:"patient,omitempty"`
	// Action is what happened; it must be registered (see RegisterAction).
	Action Action `json:"action"`
	// RecordIDs are the records touched, in ascending byte order without
	// duplicates.
	RecordIDs []string `json:"recordIds,omitempty"`
	// Target is the non-record object acted on, when the action has one: the
	// consent id for consent.*, the delegate's actor id for delegate.*. On
	// an access.refused event of the Unauthenticated actor it is the client
	// the refused request claimed to be, unverified, if it claimed one.
	Target string `json:"target,omitempty"`
	// Purpose is the purpose of use the actor asserted, an HL7 v3 ActReason
	// code such as TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PATRQT or BTG.
	Purpose string `json:"purpose,omitempty"`
	// Decision says whether the action was allowed.
	Decision Decision `json:"decision"`
	// Reason is why: the consent provision or the rule that decided.
	Reason Reason `json:"reason"`
	// BreakGlass marks access under the emergency break-the-glass path.
	BreakGlass bool `json:"breakGlass,omitempty"`
	// TxHash is the hash of the transaction that caused the event, empty
	// for events the ledger raises by itself.
	TxHash HexBytes `json:"txHash,omitempty"`
	// Recipient is the identity key shares of a permitted read are released
	// to when that is not the actor: an organization whose gateway signed
	// the access for Actor, one of its practitioners or applications, and
	// decrypts for it. Empty when the actor signed for itself.
	Recipient string `json:"recipient,omitempty"`
	// Count is the number of identical attempts the event stands for: a
	// gateway tallies the refusals that name nobody for certain and puts
	// each (rule, claimed client) on the record once per interval. 0 means
	// one, and a single attempt is always written so, never as 1.
	Count uint64 `json:"count,omitempty"`
}

// Unauthenticated is the actor of a refusal that names nobody for certain:
// a request with no token, a forged, foreign or unreadable one, a bad
// client assertion, an unknown client. It is no ledger id — those are "cc"
// and 24 base32 letters (tx.ActorID), or derived ids with other prefixes —
// so an event can never attribute such an attempt to a real actor, and
// Validate allows it only on access.refused denials that name no
// organization, patient or recipient.
const Unauthenticated = "unauthenticated"

// ReleaseTo is the identity whose HPKE key a permitted read's key shares
// are sealed to: the recipient if one is named, else the actor.
func (e *Event) ReleaseTo() string {
	if e.Recipient != "" {
		return e.Recipient
	}
	return e.Actor
}

// Decision is the outcome of an access decision.
type Decision uint8

const (
	// DecisionAny is the zero value; it is not a valid event decision and
	// means "either" in a Query.
	DecisionAny Decision = iota
	Permit
	Deny
)

func (d Decision) String() string {
	switch d {
	case Permit:
		return "permit"
	case Deny:
		return "deny"
	case DecisionAny:
		return "any"
	}
	return fmt.Sprintf("decision(%d)", uint8(d))
}

// MarshalText renders the decision as "permit" or "deny".
func (d Decision) MarshalText() ([]byte, error) {
	if d != Permit && d != Deny && d != DecisionAny {
		return nil, fmt.Errorf("marshal decision: unknown value %d", uint8(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText parses "permit", "deny" or "any".
func (d *Decision) UnmarshalText(b []byte) error {
	switch string(b) {
	case "permit":
		*d = Permit
	case "deny":
		*d = Deny
	case "any", "":
		*d = DecisionAny
	default:
		return fmt.Errorf("decision %q is not permit, deny or any", b)
	}
	return nil
}

// Reason records what decided: the rule (the consent module's decision
// reason) and, when a consent provision decided or was overridden, which one.
// At least one of ConsentID and Rule is set.
type Reason struct {
	// ConsentID is the consent whose provision decided, if one did.
	ConsentID string `json:"consent,omitempty"`
	// Provision is the path of that provision inside the consent, as the
	// consent module writes it (for example "provision.provision[1]").
	Provision string `json:"provision,omitempty"`
	// Rule names the rule that decided, for example "consent-permit",
	// "patient-self", "no-consent" or "break-the-glass".
	Rule string `json:"rule,omitempty"`
}

func (r Reason) String() string {
	var b bytes.Buffer
	if r.ConsentID != "" {
		b.WriteString("consent " + r.ConsentID)
		if r.Provision != "" {
			b.WriteString(" " + r.Provision)
		}
	}
	if r.Rule != "" {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("rule " + r.Rule)
	}
	return b.String()
}

// HexBytes is a byte string that JSON renders as lower-case hex.
type HexBytes []byte

func (h HexBytes) MarshalText() ([]byte, error) {
	return []byte(hex.EncodeToString(h)), nil
}

func (h *HexBytes) UnmarshalText(b []byte) error {
	out, err := hex.DecodeString(string(b))
	if err != nil {
		return fmt.Errorf("hex bytes: %w", err)
	}
	*h = out
	return nil
}

// Validate checks everything Append checks about the event itself, including
// that its action is registered and its fields suit that action. It does not
// look at Seq, which Append assigns.
func (e *Event) Validate() error {
	if err := e.checkShape(); err != nil {
		return err
	}
	info, ok := LookupAction(e.Action)
	if !ok {
		return fmt.Errorf("%w: action %q is not registered", ErrInvalidEvent, e.Action)
	}
	if e.Patient == "" && !info.PatientOptional {
		return fmt.Errorf("%w: action %s needs a patient", ErrInvalidEvent, e.Action)
	}
	if info.NeedsRecords && len(e.RecordIDs) == 0 {
		return fmt.Errorf("%w: action %s needs at least one record id", ErrInvalidEvent, e.Action)
	}
	if info.TargetType == "" && e.Target != "" && e.Actor != Unauthenticated {
		return fmt.Errorf("%w: action %s takes no target", ErrInvalidEvent, e.Action)
	}
	if info.TargetType != "" && e.Target == "" {
		return fmt.Errorf("%w: action %s needs a target (%s id)", ErrInvalidEvent, e.Action, info.TargetType)
	}
	if e.Count != 0 && e.Action != ActionAccessRefused {
		return fmt.Errorf("%w: only a refusal stands for several attempts; %s has a count", ErrInvalidEvent, e.Action)
	}
	if e.Actor == Unauthenticated {
		// Nobody was authenticated, so nobody's organization, patient or
		// records can be named, and nothing can have been allowed.
		if e.Action != ActionAccessRefused || e.Decision != Deny || e.ActorOrg != "" || e.Patient != "" ||
			e.Recipient != "" || e.BreakGlass || len(e.RecordIDs) != 0 || e.Purpose != "" {
			return fmt.Errorf("%w: the %s actor only appears on an access.refused denial naming no organization, patient, record, purpose or recipient", ErrInvalidEvent, Unauthenticated)
		}
	}
	return nil
}

// checkShape checks the rules that make the encoding canonical and safe to
// export, without consulting the action registry. The decoder applies it, so
// stored and proven events always satisfy it.
func (e *Event) checkShape() error {
	// UnixNano is defined only for 1678..2262; the encoding stores positive
	// nanoseconds, so the year is checked first.
	if y := e.Time.Year(); y < 1970 || y > 2261 || e.Time.UnixNano() <= 0 {
		return fmt.Errorf("%w: time %s outside 1970..2261", ErrInvalidEvent, e.Time)
	}
	if err := checkID("actor", e.Actor, false); err != nil {
		return err
	}
	if err := checkID("actor organization", e.ActorOrg, true); err != nil {
		return err
	}
	if err := checkID("patient", e.Patient, true); err != nil {
		return err
	}
	if err := checkActionSyntax(e.Action); err != nil {
		return err
	}
	if len(e.RecordIDs) > maxRecordIDs {
		return fmt.Errorf("%w: %d record ids, at most %d", ErrInvalidEvent, len(e.RecordIDs), maxRecordIDs)
	}
	for i, id := range e.RecordIDs {
		if err := checkID("record", id, false); err != nil {
			return err
		}
		// Sorted and unique, so a set of records has one encoding.
		if i > 0 && e.RecordIDs[i-1] >= id {
			return fmt.Errorf("%w: record ids must be ascending and unique (%q then %q)", ErrInvalidEvent, e.RecordIDs[i-1], id)
		}
	}
	if err := checkID("target", e.Target, true); err != nil {
		return err
	}
	if err := checkPurpose(e.Purpose); err != nil {
		return err
	}
	if e.Decision != Permit && e.Decision != Deny {
		return fmt.Errorf("%w: decision must be permit or deny, not %s", ErrInvalidEvent, e.Decision)
	}
	if err := checkID("reason consent", e.Reason.ConsentID, true); err != nil {
		return err
	}
	if err := checkText("reason provision", e.Reason.Provision); err != nil {
		return err
	}
	if err := checkText("reason rule", e.Reason.Rule); err != nil {
		return err
	}
	if err := checkID("recipient", e.Recipient, true); err != nil {
		return err
	}
	if e.Recipient != "" && e.Recipient == e.Actor {
		// One meaning, one encoding: an actor who receives its own shares
		// is written without a recipient.
		return fmt.Errorf("%w: the recipient is named only when it is not the actor", ErrInvalidEvent)
	}
	if e.Count == 1 {
		// One meaning, one encoding: a single attempt has no count.
		return fmt.Errorf("%w: a single attempt is written without a count", ErrInvalidEvent)
	}
	if e.Reason.ConsentID == "" && e.Reason.Rule == "" {
		return fmt.Errorf("%w: every decision needs a reason: a consent or a rule", ErrInvalidEvent)
	}
	if e.Reason.Provision != "" && e.Reason.ConsentID == "" {
		return fmt.Errorf("%w: reason provision %q without a consent id", ErrInvalidEvent, e.Reason.Provision)
	}
	if len(e.TxHash) != 0 && len(e.TxHash) != txHashLen {
		return fmt.Errorf("%w: transaction hash is %d bytes, want 0 or %d", ErrInvalidEvent, len(e.TxHash), txHashLen)
	}
	return nil
}

// checkID accepts 1..maxIDLen bytes of printable ASCII without spaces, so
// ids are safe in keys, URLs, JSON and CSV alike.
func checkID(field, s string, optional bool) error {
	if s == "" {
		if optional {
			return nil
		}
		return fmt.Errorf("%w: %s id is required", ErrInvalidEvent, field)
	}
	if len(s) > maxIDLen {
		return fmt.Errorf("%w: %s id is %d bytes, at most %d", ErrInvalidEvent, field, len(s), maxIDLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("%w: %s id %q: byte %#x not allowed", ErrInvalidEvent, field, s, s[i])
		}
	}
	return nil
}

// checkText accepts up to maxReasonLen bytes of printable ASCII, spaces
// included but not at either end.
func checkText(field, s string) error {
	if len(s) > maxReasonLen {
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalidEvent, field, len(s), maxReasonLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return fmt.Errorf("%w: %s %q: byte %#x not allowed", ErrInvalidEvent, field, s, s[i])
		}
	}
	if s != "" && (s[0] == ' ' || s[len(s)-1] == ' ') {
		return fmt.Errorf("%w: %s %q has surrounding spaces", ErrInvalidEvent, field, s)
	}
	return nil
}

// checkPurpose accepts HL7 v3 style codes: upper-case letters, digits, '_'
// and '-'. The set is open; exports describe the codes they know.
func checkPurpose(s string) error {
	if len(s) > maxPurposeLen {
		return fmt.Errorf("%w: purpose is %d bytes, at most %d", ErrInvalidEvent, len(s), maxPurposeLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: purpose %q: byte %q not allowed", ErrInvalidEvent, s, c)
		}
	}
	return nil
}
