package tx

import (
	"crypto/sha256"
	"errors"
	"strings"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/consent"
)

// Consent message types (range 10–29). Numbers are part of the protocol and
// never reused.
const (
	TypeGrantConsent        Type = 10
	TypeUpdateConsent       Type = 11
	TypeRevokeConsent       Type = 12
	TypeSetDelegate         Type = 13
	TypeRemoveDelegate      Type = 14
	TypeSetBreakGlassOptOut Type = 15
	TypeQueryConsents       Type = 16
)

// MaxConsentBytes bounds the consent or delegation a message carries; the
// body limit (MaxBodyBytes) bounds it further.
const MaxConsentBytes = consent.MaxEncodedSize

// GrantConsent adds a consent to a patient's consents. Consent is the
// canonical encoding (consent.Encode) of an active consent about Patient
// whose ID is empty: the ledger derives the id from the transaction
// (ConsentID) and records the signer as the grantor, so Grantor must be
// empty or the signer. The patient signs, or a delegate the patient
// authorized to grant.
type GrantConsent struct {
	Patient string
	Consent []byte
}

func (*GrantConsent) Type() Type { return TypeGrantConsent }

func (m *GrantConsent) Encode() []byte { return encodePatientConsent(m.Patient, m.Consent) }

// UpdateConsent replaces an active consent of Patient, keeping its id.
// Consent is the canonical encoding of the new version, with the id of the
// one it replaces; as for a grant, Grantor is empty or the signer. A
// delegate needs both the revoke and the grant operation: replacing a
// consent withdraws the old one.
type UpdateConsent struct {
	Patient string
	Consent []byte
}

func (*UpdateConsent) Type() Type { return TypeUpdateConsent }

func (m *UpdateConsent) Encode() []byte { return encodePatientConsent(m.Patient, m.Consent) }

func encodePatientConsent(patient string, c []byte) []byte {
	w := codec.NewWriter(len(patient) + len(c) + 8)
	w.String(patient)
	w.BytesField(c)
	return w.Bytes()
}

// RevokeConsent withdraws one of Patient's consents. The ledger keeps it,
// with status inactive, for the patient's history; it takes part in no
// decision after the transaction that revokes it.
type RevokeConsent struct {
	Patient   string
	ConsentID string
}

func (*RevokeConsent) Type() Type { return TypeRevokeConsent }

func (m *RevokeConsent) Encode() []byte {
	w := codec.NewWriter(len(m.Patient) + len(m.ConsentID) + 2)
	w.String(m.Patient)
	w.String(m.ConsentID)
	return w.Bytes()
}

// SetDelegate adds or replaces the delegation of one delegate for a
// patient. Delegation is its canonical encoding (consent.EncodeDelegation).
type SetDelegate struct {
	Delegation []byte
}

func (*SetDelegate) Type() Type { return TypeSetDelegate }

func (m *SetDelegate) Encode() []byte {
	w := codec.NewWriter(len(m.Delegation) + 4)
	w.BytesField(m.Delegation)
	return w.Bytes()
}

// RemoveDelegate ends Delegate's delegation for Patient.
type RemoveDelegate struct {
	Patient  string
	Delegate string
}

func (*RemoveDelegate) Type() Type { return TypeRemoveDelegate }

func (m *RemoveDelegate) Encode() []byte {
	w := codec.NewWriter(len(m.Patient) + len(m.Delegate) + 2)
	w.String(m.Patient)
	w.String(m.Delegate)
	return w.Bytes()
}

// SetBreakGlassOptOut sets (OptOut true) or clears the patient's opt-out of
// break-the-glass access.
type SetBreakGlassOptOut struct {
	Patient string
	OptOut  bool
}

func (*SetBreakGlassOptOut) Type() Type { return TypeSetBreakGlassOptOut }

func (m *SetBreakGlassOptOut) Encode() []byte {
	w := codec.NewWriter(len(m.Patient) + 2)
	w.String(m.Patient)
	w.Bool(m.OptOut)
	return w.Bytes()
}

// QueryConsents asks to read Patient's consents, one of them, or a
// decision preview. Who a patient shares with is itself a disclosure, so
// the read is a transaction the ledger decides and records before any
// node answers. It asks for one of three things: with ConsentID set, that one consent; with Requester set,
// a preview of what the ledger would decide for an access by Requester;
// with neither, every consent, delegation and the break-the-glass opt-out.
// The patient, a delegate in effect, or an auditor may ask any of them;
// an actor a consent names may read that consent, and a requester (or
// their organization) may preview their own access.
type QueryConsents struct {
	Patient   string
	ConsentID string
	Requester string
	// OnBehalfOf is set when an organization's gateway asks for one of its
	// practitioners or applications, as on the record messages: the ledger
	// decides on the member and the audit event names the member.
	OnBehalfOf string
}

func (*QueryConsents) Type() Type { return TypeQueryConsents }

func (m *QueryConsents) Encode() []byte {
	w := codec.NewWriter(len(m.Patient) + len(m.ConsentID) + len(m.Requester) + 3)
	w.String(m.Patient)
	w.String(m.ConsentID)
	w.String(m.Requester)
	writeOnBehalfOf(w, m.OnBehalfOf)
	return w.Bytes()
}

// decodeConsentMsg decodes the body of a consent message type, or returns
// nil when t is not one. Embedded consents and delegations must be in
// canonical form here, at the decoding step, so that a node refuses a
// non-canonical one as malformed like any other non-canonical body.
func decodeConsentMsg(t Type, r *codec.Reader) Msg {
	switch t {
	case TypeGrantConsent:
		m := &GrantConsent{Patient: r.String(MaxIDLen), Consent: r.BytesField(MaxConsentBytes)}
		checkEmbeddedConsent(r, m.Consent)
		return m
	case TypeUpdateConsent:
		m := &UpdateConsent{Patient: r.String(MaxIDLen), Consent: r.BytesField(MaxConsentBytes)}
		checkEmbeddedConsent(r, m.Consent)
		return m
	case TypeRevokeConsent:
		return &RevokeConsent{Patient: r.String(MaxIDLen), ConsentID: r.String(MaxIDLen)}
	case TypeSetDelegate:
		m := &SetDelegate{Delegation: r.BytesField(MaxConsentBytes)}
		if r.Err() == nil {
			if _, err := consent.DecodeDelegation(m.Delegation); err != nil {
				r.Fail("%v", err)
			}
		}
		return m
	case TypeRemoveDelegate:
		return &RemoveDelegate{Patient: r.String(MaxIDLen), Delegate: r.String(MaxIDLen)}
	case TypeSetBreakGlassOptOut:
		return &SetBreakGlassOptOut{Patient: r.String(MaxIDLen), OptOut: r.Bool()}
	case TypeQueryConsents:
		m := &QueryConsents{Patient: r.String(MaxIDLen), ConsentID: r.String(MaxIDLen), Requester: r.String(MaxIDLen)}
		m.OnBehalfOf = readOnBehalfOf(r)
		return m
	}
	return nil
}

func checkEmbeddedConsent(r *codec.Reader, b []byte) {
	if r.Err() != nil {
		return
	}
	if _, err := consent.Decode(b); err != nil {
		r.Fail("%v", err)
	}
}

// validateConsentMsg is ValidateBasic for the consent messages; handled is
// false when m is not one.
func validateConsentMsg(t *Tx, m Msg) (handled bool, err error) {
	switch m := m.(type) {
	case *GrantConsent:
		_, err := GrantedConsent(t.Signer, t.Nonce, m)
		return true, err
	case *UpdateConsent:
		_, err := UpdatedConsent(t.Signer, m)
		return true, err
	case *RevokeConsent:
		if err := checkID("patient", m.Patient); err != nil {
			return true, err
		}
		return true, checkID("consent id", m.ConsentID)
	case *SetDelegate:
		_, err := DelegationOf(m)
		return true, err
	case *RemoveDelegate:
		if err := checkID("patient", m.Patient); err != nil {
			return true, err
		}
		if err := checkID("delegate", m.Delegate); err != nil {
			return true, err
		}
		if m.Patient == m.Delegate {
			return true, Errorf(CodeInvalid, "a patient is not their own delegate")
		}
		return true, nil
	case *SetBreakGlassOptOut:
		return true, checkID("patient", m.Patient)
	case *QueryConsents:
		if err := checkID("patient", m.Patient); err != nil {
			return true, err
		}
		switch {
		case m.ConsentID != "" && m.Requester != "":
			return true, Errorf(CodeInvalid, "a consent query asks for one consent or one decision, not both")
		case m.ConsentID != "":
			if err := checkID("consent id", m.ConsentID); err != nil {
				return true, err
			}
		case m.Requester != "":
			if err := checkID("requester", m.Requester); err != nil {
				return true, err
			}
		}
		return true, checkOnBehalfOf(t, m.OnBehalfOf)
	}
	return false, nil
}

func checkID(what, id string) error {
	if !consent.IsValidID(id) {
		return Errorf(CodeInvalid, "%s %q is not a valid id (1-%d letters, digits, '-' or '.')", what, id, consent.MaxIDLen)
	}
	return nil
}

// GrantedConsent returns the consent a GrantConsent from signer with nonce
// puts on the ledger: the message's consent with the derived id and the
// signer as grantor, validated. Errors are *Error: CodeMalformed for bytes
// that do not decode canonically, CodeInvalid for a consent that breaks a
// rule (with the consent module's message, for example the CEL compiler's).
func GrantedConsent(signer string, nonce uint64, m *GrantConsent) (consent.Consent, error) {
	if err := checkID("patient", m.Patient); err != nil {
		return consent.Consent{}, err
	}
	c, err := decodeConsent(m.Consent)
	if err != nil {
		return consent.Consent{}, err
	}
	if c.ID != "" {
		return consent.Consent{}, Errorf(CodeInvalid, "a granted consent carries no id: the ledger derives it from the transaction")
	}
	c.ID = ConsentID(signer, nonce)
	return signedConsent(signer, m.Patient, c)
}

// UpdatedConsent returns the consent an UpdateConsent from signer puts on
// the ledger, validated, with errors as for GrantedConsent.
func UpdatedConsent(signer string, m *UpdateConsent) (consent.Consent, error) {
	if err := checkID("patient", m.Patient); err != nil {
		return consent.Consent{}, err
	}
	c, err := decodeConsent(m.Consent)
	if err != nil {
		return consent.Consent{}, err
	}
	if c.ID == "" {
		return consent.Consent{}, Errorf(CodeInvalid, "an update names the consent it replaces: its id is empty")
	}
	return signedConsent(signer, m.Patient, c)
}

func decodeConsent(b []byte) (consent.Consent, error) {
	c, err := consent.Decode(b)
	if err != nil {
		return consent.Consent{}, Errorf(CodeMalformed, "%v", err)
	}
	return c, nil
}

// signedConsent applies the rules shared by grant and update: the consent is
// about the message's patient, is active, and is granted by its signer.
func signedConsent(signer, patient string, c consent.Consent) (consent.Consent, error) {
	if c.Patient != patient {
		return consent.Consent{}, Errorf(CodeInvalid, "the consent is about patient %q, the message names %q", c.Patient, patient)
	}
	if c.Grantor != "" && c.Grantor != signer {
		return consent.Consent{}, Errorf(CodeInvalid, "the consent names grantor %q but is signed by %s: the grantor is whoever signs", c.Grantor, signer)
	}
	c.Grantor = signer
	if c.Status != consent.StatusActive {
		return consent.Consent{}, Errorf(CodeInvalid, "a consent is put on the ledger with status active, not %s; withdraw one with a revocation", c.Status)
	}
	if err := consent.Validate(c); err != nil {
		return consent.Consent{}, consentError(err)
	}
	return c, nil
}

// DelegationOf decodes and validates the delegation a SetDelegate carries.
func DelegationOf(m *SetDelegate) (consent.Delegation, error) {
	d, err := consent.DecodeDelegation(m.Delegation)
	if err != nil {
		return consent.Delegation{}, Errorf(CodeMalformed, "%v", err)
	}
	if err := consent.ValidateDelegation(d); err != nil {
		return consent.Delegation{}, consentError(err)
	}
	return d, nil
}

// consentError maps a consent module error to a result code: decoding
// failures are malformed input, every rule the consent breaks is invalid.
// The message keeps the consent module's text, which names the element at
// fault and its stable consent code.
func consentError(err error) error {
	var ce *consent.Error
	if errors.As(err, &ce) {
		switch ce.Code {
		case consent.CodeMalformed, consent.CodeNonCanonical:
			return Errorf(CodeMalformed, "%v", err)
		}
	}
	return Errorf(CodeInvalid, "%v", err)
}

const consentIDDomain = "carechain/consent-id/v1\x00"

// ConsentID derives the id of the consent granted by signer's transaction
// with nonce: "cs" and 24 base32 characters of SHA-256 over a domain
// prefix, the signer (length-prefixed) and the nonce (uvarint). A signer
// uses each nonce once, so each grant gets its own id, which every node
// computes alike and the client can predict.
func ConsentID(signer string, nonce uint64) string {
	return derivedID("cs", consentIDDomain, signer, nonce)
}

// derivedID is prefix and 24 lower-case base32 letters of SHA-256 over
// domain, the signer (length-prefixed) and the nonce (uvarint): the ids of
// what a transaction creates, known to its signer beforehand.
func derivedID(prefix, domain, signer string, nonce uint64) string {
	w := codec.NewWriter(len(domain) + len(signer) + 12)
	w.Fixed([]byte(domain))
	w.String(signer)
	w.Uvarint(nonce)
	sum := sha256.Sum256(w.Bytes())
	return prefix + strings.ToLower(idEncoding.EncodeToString(sum[:15]))
}
