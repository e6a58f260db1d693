package tx

import "github.com/carechain/carechain/internal/codec"

// Audit message types (range 50–69). Numbers are part of the protocol and
// never reused.
const (
	TypeQueryAuditHistory          Type = 50
	TypeRecordRefusal              Type = 51
	TypeRecordUnattributedRefusals Type = 52
)

// MaxRefusalCodeLen bounds a refusal's code.
const MaxRefusalCodeLen = 64

// MaxRefusalEntries bounds the entries of one RecordUnattributedRefusals,
// and so the audit events one transaction adds.
const MaxRefusalEntries = 64

// RecordRefusal puts on the record a request an organization's gateway
// refused before the ledger was asked — an authenticated SMART client
// asking beyond its token's scope, for another organization, or without a
// purpose. The gateway's organization signs; Actor is the client, Code the
// gateway's stable refusal code. Requests that name nobody for certain (no
// token, a forged one) cannot be attributed to anyone; the gateway puts
// them on the record as tallies instead (RecordUnattributedRefusals).
type RecordRefusal struct {
	Actor string
	Code  string
}

func (*RecordRefusal) Type() Type { return TypeRecordRefusal }

func (m *RecordRefusal) Encode() []byte {
	w := codec.NewWriter(len(m.Actor) + len(m.Code) + 2)
	w.String(m.Actor)
	w.String(m.Code)
	return w.Bytes()
}

// RecordUnattributedRefusals puts on the record, as tallies, the requests
// an organization's gateway refused without being able to name who made
// them: no token, a forged, foreign or unreadable one, a bad client
// assertion, an unknown client. The gateway's organization signs, once an
// interval; each entry becomes one access.refused audit event of the
// reserved actor "unauthenticated" standing for Count attempts. Entries
// are in ascending (Code, Claimed) order without duplicates, so a tally
// has one encoding, and there are at most MaxRefusalEntries, so the
// ledger grows by a bounded number of events per gateway and interval
// however many attempts are made.
type RecordUnattributedRefusals struct {
	Entries []RefusalTally
}

// RefusalTally counts identical refusals: the gateway's stable refusal
// code (printable ASCII without spaces) and the client id the request
// claimed to be — an access token's sub, an assertion's iss — which
// nothing verified and which may be empty (see ClaimedClient).
type RefusalTally struct {
	Code    string
	Claimed string
	Count   uint64 // at least 1
}

func (*RecordUnattributedRefusals) Type() Type { return TypeRecordUnattributedRefusals }

func (m *RecordUnattributedRefusals) Encode() []byte {
	n := 2
	for _, e := range m.Entries {
		n += len(e.Code) + len(e.Claimed) + 12
	}
	w := codec.NewWriter(n)
	w.Uvarint(uint64(len(m.Entries)))
	for _, e := range m.Entries {
		w.String(e.Code)
		w.String(e.Claimed)
		w.Uvarint(e.Count)
	}
	return w.Bytes()
}

func decodeRefusalTallies(r *codec.Reader) *RecordUnattributedRefusals {
	n := r.Uvarint()
	if n > MaxRefusalEntries {
		r.Fail("%d refusal entries exceed the limit %d", n, MaxRefusalEntries)
		return &RecordUnattributedRefusals{}
	}
	m := &RecordUnattributedRefusals{}
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		m.Entries = append(m.Entries, RefusalTally{Code: r.String(MaxRefusalCodeLen), Claimed: r.String(MaxIDLen), Count: r.Uvarint()})
	}
	return m
}

// ClaimedClient is s if it may stand as a tally's claimed client — 1 to
// MaxIDLen bytes of printable ASCII without spaces, the shape of an audit
// id — and "" otherwise: a claim that is not even shaped like an id is
// counted as claiming nobody.
func ClaimedClient(s string) string {
	if !isPrintableWord(s, MaxIDLen) {
		return ""
	}
	return s
}

// isPrintableWord reports whether s is 1 to max bytes of printable ASCII
// without spaces.
func isPrintableWord(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func validateRefusalTallies(m *RecordUnattributedRefusals) error {
	if len(m.Entries) == 0 || len(m.Entries) > MaxRefusalEntries {
		return Errorf(CodeInvalid, "%d refusal entries; 1 to %d are allowed", len(m.Entries), MaxRefusalEntries)
	}
	for i, e := range m.Entries {
		if !isPrintableWord(e.Code, MaxRefusalCodeLen) {
			return Errorf(CodeInvalid, "entry %d: refusal code %q must be 1 to %d bytes of printable ASCII without spaces", i, e.Code, MaxRefusalCodeLen)
		}
		if e.Claimed != "" && ClaimedClient(e.Claimed) == "" {
			return Errorf(CodeInvalid, "entry %d: claimed client %q must be empty or 1 to %d bytes of printable ASCII without spaces", i, e.Claimed, MaxIDLen)
		}
		if e.Count == 0 {
			return Errorf(CodeInvalid, "entry %d counts no attempt", i)
		}
		if i > 0 {
			prev := m.Entries[i-1]
			if prev.Code > e.Code || prev.Code == e.Code && prev.Claimed >= e.Claimed {
				return Errorf(CodeInvalid, "entries must be in ascending (code, claimed) order without duplicates: (%q, %q) then (%q, %q)",
					prev.Code, prev.Claimed, e.Code, e.Claimed)
			}
		}
	}
	return nil
}

// QueryAuditHistory asks to read Patient's access history, or with Patient
// empty the events about no patient (the requests gateways refused), which
// only an auditor may read. Reading who saw
// a patient's records is itself a disclosure, so the query is a
// transaction: the ledger checks that the signer is the patient, a delegate
// the patient allowed to read the history, or an auditor, and records the
// query in the audit log before any node answers it.
type QueryAuditHistory struct {
	Patient string
}

func (*QueryAuditHistory) Type() Type { return TypeQueryAuditHistory }

func (m *QueryAuditHistory) Encode() []byte {
	w := codec.NewWriter(len(m.Patient) + 2)
	w.String(m.Patient)
	return w.Bytes()
}

// decodeAuditMsg decodes the body of an audit message type, or returns nil
// when t is not one.
func decodeAuditMsg(t Type, r *codec.Reader) Msg {
	if t == TypeQueryAuditHistory {
		return &QueryAuditHistory{Patient: r.String(MaxIDLen)}
	}
	if t == TypeRecordRefusal {
		return &RecordRefusal{Actor: r.String(MaxIDLen), Code: r.String(MaxRefusalCodeLen)}
	}
	if t == TypeRecordUnattributedRefusals {
		return decodeRefusalTallies(r)
	}
	return nil
}
