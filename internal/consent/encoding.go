package consent

import (
	"fmt"
	"time"

	"github.com/carechain/carechain/internal/codec"
)

// The canonical encoding of a consent, on the ledger and under signatures,
// uses the primitives of internal/codec (minimal uvarints, zig-zag varints,
// length-prefixed UTF-8 strings):
//
//	consent   = 0x01 (version) | str id | byte status | str patient
//	            | str grantor | time dateTime | provision
//	provision = byte type | period | actors | strs actions | strs classes
//	            | strs codes | strs labels | strs purposes | period dataPeriod
//	            | strs records | str condition | uvarint n | provision × n
//	period    = time start | time end
//	time      = 0x00 (unset) | 0x01 varint unixSeconds uvarint nanos
//	actors    = uvarint n | (byte kind | str id) × n
//	strs      = uvarint n | str × n
//
// Sets (actors and strs) are in strictly ascending order (actors by kind,
// then id; strings by bytes), so they hold no duplicates. Times are UTC
// instants from year 1 to 9999 with nanos below 10⁹; a set time is never the
// zero instant. Nothing may follow the root provision. Decode rejects every
// deviation, so each consent has exactly one encoding.
const (
	consentVersion    = 1
	delegationVersion = 1
)

// minUnix and maxUnix bound encoded times to years 1 through 9999, the range
// FHIR dateTime can write.
var (
	minUnix = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

// Encode returns the canonical encoding of Normalize(c).
func Encode(c Consent) []byte {
	c = Normalize(c)
	w := codec.NewWriter(256)
	w.Byte(consentVersion)
	w.String(c.ID)
	w.Byte(byte(c.Status))
	w.String(c.Patient)
	w.String(c.Grantor)
	writeTime(w, c.DateTime)
	writeProvision(w, &c.Provision)
	return w.Bytes()
}

func writeProvision(w *codec.Writer, p *Provision) {
	w.Byte(byte(p.Type))
	writePeriod(w, p.Period)
	w.Uvarint(uint64(len(p.Actors)))
	for _, a := range p.Actors {
		w.Byte(byte(a.Kind))
		w.String(a.ID)
	}
	writeStrings(w, p.Actions)
	w.Strings(p.Classes)
	w.Strings(p.Codes)
	w.Strings(p.Labels)
	writeStrings(w, p.Purposes)
	writePeriod(w, p.DataPeriod)
	w.Strings(p.Records)
	w.String(p.Condition)
	w.Uvarint(uint64(len(p.Provisions)))
	for i := range p.Provisions {
		writeProvision(w, &p.Provisions[i])
	}
}

func writeStrings[S ~string](w *codec.Writer, ss []S) {
	w.Uvarint(uint64(len(ss)))
	for _, s := range ss {
		w.String(string(s))
	}
}

func writePeriod(w *codec.Writer, p Period) {
	writeTime(w, p.Start)
	writeTime(w, p.End)
}

func writeTime(w *codec.Writer, t time.Time) {
	if t.IsZero() {
		w.Byte(0)
		return
	}
	w.Byte(1)
	w.Varint(t.Unix())
	w.Uvarint(uint64(t.Nanosecond()))
}

// Decode parses the canonical encoding of a consent. It checks structure
// only; call Validate for the rules a consent must satisfy.
func Decode(b []byte) (Consent, error) {
	if len(b) > MaxEncodedSize {
		return Consent{}, errorf(CodeTooLarge, "", "encoding is %d bytes, at most %d", len(b), MaxEncodedSize)
	}
	d := decoder{r: codec.NewReader(b)}
	if v := d.r.Byte(); v != consentVersion && d.r.Err() == nil {
		d.r.Fail("unknown consent encoding version %d", v)
	}
	var c Consent
	c.ID = d.str()
	c.Status = Status(d.r.Byte())
	if d.r.Err() == nil && (c.Status < StatusDraft || c.Status > StatusEnteredInError) {
		d.r.Fail("status %d out of range", c.Status)
	}
	c.Patient = d.str()
	c.Grantor = d.str()
	c.DateTime = d.time()
	count := 0
	c.Provision = d.provision(1, &count)
	if err := d.finish(); err != nil {
		return Consent{}, fmt.Errorf("decode consent: %w", err)
	}
	return c, nil
}

// decoder adds carechain's canonical-form checks to a codec.Reader. The
// first failure sticks; nonCanonical remembers whether it was a well-formed
// encoding in the wrong form rather than garbage.
type decoder struct {
	r            *codec.Reader
	nonCanonical *Error
}

func (d *decoder) failNonCanonical(format string, args ...any) {
	if d.r.Err() == nil {
		d.nonCanonical = errorf(CodeNonCanonical, "", format, args...)
		d.r.Fail(format, args...)
	}
}

func (d *decoder) finish() error {
	err := d.r.Done()
	if d.nonCanonical != nil {
		return d.nonCanonical
	}
	if err != nil {
		return &Error{Code: CodeMalformed, Message: err.Error()}
	}
	return nil
}

func (d *decoder) str() string { return d.r.String(MaxEncodedSize) }

func (d *decoder) time() time.Time {
	switch d.r.Byte() {
	case 0:
		return time.Time{}
	case 1:
	default:
		if d.r.Err() == nil {
			d.r.Fail("time tag is not 0 or 1")
		}
		return time.Time{}
	}
	sec := d.r.Varint()
	nsec := d.r.Uvarint()
	if d.r.Err() != nil {
		return time.Time{}
	}
	if sec < minUnix || sec > maxUnix || nsec >= 1e9 {
		d.r.Fail("time %d.%d out of range", sec, nsec)
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if t.IsZero() {
		d.failNonCanonical("the zero time is written as unset")
	}
	return t
}

func (d *decoder) period() Period { return Period{Start: d.time(), End: d.time()} }

// strs reads a strictly ascending string set.
func strs[S ~string](d *decoder, what string) []S {
	n := d.r.Uvarint()
	if d.r.Err() != nil || n == 0 {
		return nil
	}
	// Every member takes at least one byte, so n cannot exceed what is left;
	// the cap keeps a forged count from allocating.
	out := make([]S, 0, min(n, 64))
	for i := uint64(0); i < n && d.r.Err() == nil; i++ {
		s := S(d.str())
		if i > 0 && s <= out[len(out)-1] {
			d.failNonCanonical("%s are not in strictly ascending order", what)
			return nil
		}
		out = append(out, s)
	}
	return out
}

func (d *decoder) provision(depth int, count *int) Provision {
	var p Provision
	if d.r.Err() != nil {
		return p
	}
	*count++
	if depth > MaxDepth || *count > MaxProvisions {
		d.r.Fail("provisions nest deeper than %d or number more than %d", MaxDepth, MaxProvisions)
		return p
	}
	p.Type = ProvisionType(d.r.Byte())
	if d.r.Err() == nil && p.Type != Permit && p.Type != Deny {
		d.r.Fail("provision type %d out of range", p.Type)
	}
	p.Period = d.period()
	if n := d.r.Uvarint(); d.r.Err() == nil && n > 0 {
		p.Actors = make([]Actor, 0, min(n, 64))
		for i := uint64(0); i < n && d.r.Err() == nil; i++ {
			a := Actor{Kind: ActorKind(d.r.Byte())}
			if d.r.Err() == nil && (a.Kind < ActorIdentity || a.Kind > ActorRole) {
				d.r.Fail("actor kind %d out of range", a.Kind)
			}
			a.ID = d.str()
			if i > 0 && compareActors(a, p.Actors[len(p.Actors)-1]) <= 0 {
				d.failNonCanonical("actors are not in strictly ascending order")
			}
			p.Actors = append(p.Actors, a)
		}
	}
	p.Actions = strs[Action](d, "actions")
	p.Classes = strs[string](d, "classes")
	p.Codes = strs[string](d, "codes")
	p.Labels = strs[string](d, "labels")
	p.Purposes = strs[Purpose](d, "purposes")
	p.DataPeriod = d.period()
	p.Records = strs[string](d, "records")
	p.Condition = d.str()
	if n := d.r.Uvarint(); d.r.Err() == nil && n > 0 {
		p.Provisions = make([]Provision, 0, min(n, MaxProvisions))
		for i := uint64(0); i < n && d.r.Err() == nil; i++ {
			p.Provisions = append(p.Provisions, d.provision(depth+1, count))
		}
	}
	return p
}

// EncodeDelegation returns the canonical encoding of a normalized
// delegation:
//
//	delegation = 0x01 (version) | str patient | str delegate
//	             | strs operations | strs purposes | strs classes | period
func EncodeDelegation(dg Delegation) []byte {
	dg = NormalizeDelegation(dg)
	w := codec.NewWriter(128)
	w.Byte(delegationVersion)
	w.String(dg.Patient)
	w.String(dg.Delegate)
	writeStrings(w, dg.Operations)
	writeStrings(w, dg.Purposes)
	w.Strings(dg.Classes)
	writePeriod(w, dg.Period)
	return w.Bytes()
}

// DecodeDelegation parses the canonical encoding of a delegation.
func DecodeDelegation(b []byte) (Delegation, error) {
	if len(b) > MaxEncodedSize {
		return Delegation{}, errorf(CodeTooLarge, "", "encoding is %d bytes, at most %d", len(b), MaxEncodedSize)
	}
	d := decoder{r: codec.NewReader(b)}
	if v := d.r.Byte(); v != delegationVersion && d.r.Err() == nil {
		d.r.Fail("unknown delegation encoding version %d", v)
	}
	var dg Delegation
	dg.Patient = d.str()
	dg.Delegate = d.str()
	dg.Operations = strs[Operation](&d, "operations")
	dg.Purposes = strs[Purpose](&d, "purposes")
	dg.Classes = strs[string](&d, "classes")
	dg.Period = d.period()
	if err := d.finish(); err != nil {
		return Delegation{}, fmt.Errorf("decode delegation: %w", err)
	}
	return dg, nil
}
