package ledgerstate

import (
	"fmt"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// Context is what a consent transaction runs with besides state and its
// message.
type Context struct {
	// Signer is the authenticated signer, whose signature the caller has
	// verified.
	Signer *identity.Actor
	// Nonce is the transaction's nonce; a grant's consent id derives from
	// the signer and it (tx.ConsentID).
	Nonce uint64
	// TxHash is chained into the patient's revision.
	TxHash [32]byte
	// Block is the block the transaction executes in: delegations are
	// judged at its time, and records note its height.
	Block consent.Block
}

// Event describes what a consent message changed, for the transaction's
// result and the node's event stream.
type Event struct {
	Type      string // the message type's name: "consent.grant", "delegate.set", …
	Patient   string
	ConsentID string // for consent.* events
	Delegate  string // for delegate.* events: the delegation set or removed
	OptOut    bool   // for breakglass.optout: the opt-out now in force
	By        string // the signer
	// ByDelegate is set when the signer acted as the patient's delegate
	// rather than as the patient.
	ByDelegate bool
}

// Apply executes an authenticated consent message. Every check comes
// before the first write, so an error leaves st untouched; the caller
// still runs Apply in an overlay so that a storage failure midway cannot
// leave half a change behind.
func Apply(st kv.Store, cx Context, m tx.Msg) (Event, error) {
	if cx.Signer == nil {
		return Event{}, tx.Errorf(tx.CodeUnauthorized, "a consent transaction needs a registered signer")
	}
	switch m := m.(type) {
	case *tx.GrantConsent:
		return grant(st, cx, m)
	case *tx.UpdateConsent:
		return update(st, cx, m)
	case *tx.RevokeConsent:
		return revoke(st, cx, m)
	case *tx.SetDelegate:
		return setDelegate(st, cx, m)
	case *tx.RemoveDelegate:
		return removeDelegate(st, cx, m)
	case *tx.SetBreakGlassOptOut:
		return setOptOut(st, cx, m)
	}
	return Event{}, tx.Errorf(tx.CodeUnknownType, "the consent module does not handle %T", m)
}

func grant(st kv.Store, cx Context, m *tx.GrantConsent) (Event, error) {
	c, err := tx.GrantedConsent(cx.Signer.ID, cx.Nonce, m)
	if err != nil {
		return Event{}, err
	}
	if err := checkPatient(st, m.Patient); err != nil {
		return Event{}, err
	}
	if taken, err := st.Get(PatientKey(c.ID)); err != nil {
		return Event{}, fmt.Errorf("look up consent %s: %w", c.ID, err)
	} else if taken != nil {
		return Event{}, tx.Errorf(tx.CodeAlreadyExists, "consent %s exists", c.ID)
	}
	auth, err := authorize(st, cx, m.Patient, consent.OpGrant, &c, nil)
	if err != nil {
		return Event{}, err
	}
	if err := putRecord(st, &Record{Consent: c, GrantedAt: cx.Block.Height}); err != nil {
		return Event{}, err
	}
	if err := st.Set(PatientKey(c.ID), []byte(m.Patient)); err != nil {
		return Event{}, fmt.Errorf("store patient of consent %s: %w", c.ID, err)
	}
	if err := bumpRevision(st, m.Patient, cx.TxHash); err != nil {
		return Event{}, err
	}
	return event(m.Type(), m.Patient, cx, auth, func(e *Event) { e.ConsentID = c.ID }), nil
}

func update(st kv.Store, cx Context, m *tx.UpdateConsent) (Event, error) {
	c, err := tx.UpdatedConsent(cx.Signer.ID, m)
	if err != nil {
		return Event{}, err
	}
	if err := checkPatient(st, m.Patient); err != nil {
		return Event{}, err
	}
	old, err := activeConsentOf(st, m.Patient, c.ID)
	if err != nil {
		return Event{}, err
	}
	// Replacing a consent withdraws the old version, which may be a deny
	// whose removal widens access, so a delegate needs both operations,
	// each within its scope.
	auth, err := authorize(st, cx, m.Patient, consent.OpRevoke, &old.Consent, nil)
	if err != nil {
		return Event{}, err
	}
	if _, err := authorize(st, cx, m.Patient, consent.OpGrant, &c, nil); err != nil {
		return Event{}, err
	}
	old.Consent, old.UpdatedAt = c, cx.Block.Height
	if err := putRecord(st, old); err != nil {
		return Event{}, err
	}
	if err := bumpRevision(st, m.Patient, cx.TxHash); err != nil {
		return Event{}, err
	}
	return event(m.Type(), m.Patient, cx, auth, func(e *Event) { e.ConsentID = c.ID }), nil
}

func revoke(st kv.Store, cx Context, m *tx.RevokeConsent) (Event, error) {
	if err := checkIDs(m.Patient, m.ConsentID); err != nil {
		return Event{}, err
	}
	old, err := activeConsentOf(st, m.Patient, m.ConsentID)
	if err != nil {
		return Event{}, err
	}
	auth, err := authorize(st, cx, m.Patient, consent.OpRevoke, &old.Consent, nil)
	if err != nil {
		return Event{}, err
	}
	old.Consent.Status = consent.StatusInactive
	old.RevokedAt, old.RevokedBy = cx.Block.Height, cx.Signer.ID
	if err := putRecord(st, old); err != nil {
		return Event{}, err
	}
	if err := bumpRevision(st, m.Patient, cx.TxHash); err != nil {
		return Event{}, err
	}
	return event(m.Type(), m.Patient, cx, auth, func(e *Event) { e.ConsentID = m.ConsentID }), nil
}

// activeConsentOf loads a consent that must exist, be patient's, and not
// be revoked.
func activeConsentOf(st kv.Reader, patient, id string) (*Record, error) {
	r, err := Get(st, id)
	if err != nil {
		return nil, err
	}
	if r.Consent.Patient != patient {
		return nil, tx.Errorf(tx.CodeNotFound, "patient %s has no consent %s", patient, id)
	}
	if r.Revoked() {
		return nil, tx.Errorf(tx.CodeInvalid, "consent %s was revoked at height %d; a revoked consent stays revoked: grant a new one", id, r.RevokedAt)
	}
	return r, nil
}

func setDelegate(st kv.Store, cx Context, m *tx.SetDelegate) (Event, error) {
	d, err := tx.DelegationOf(m)
	if err != nil {
		return Event{}, err
	}
	if err := checkPatient(st, d.Patient); err != nil {
		return Event{}, err
	}
	a, err := identity.Get(st, d.Delegate)
	if err != nil {
		if tx.CodeOf(err) == tx.CodeNotFound {
			return Event{}, tx.Errorf(tx.CodeNotFound, "delegate %s is not registered", d.Delegate)
		}
		return Event{}, err
	}
	// A delegate acts for a person: a guardian, a proxy, a relative who
	// may be a patient too. Organizations and their staff reach records
	// through consents, never by standing in for the patient.
	if a.Kind != tx.KindDelegate && a.Kind != tx.KindPatient {
		return Event{}, tx.Errorf(tx.CodeInvalid, "%s is a %s; only a delegate or a patient can act for a patient", a.ID, a.Kind)
	}
	if a.Revoked {
		return Event{}, tx.Errorf(tx.CodeInvalid, "delegate %s is revoked", a.ID)
	}
	existing, err := delegation(st, d.Patient, d.Delegate)
	if err != nil {
		return Event{}, err
	}
	auth, err := authorize(st, cx, d.Patient, consent.OpManageDelegates, nil, &d)
	if err != nil {
		return Event{}, err
	}
	if existing != nil {
		// Replacing a delegation removes the old one, which must be within
		// the signer's reach too: a delegate cannot cut back a wider grant
		// the patient made.
		if _, err := authorize(st, cx, d.Patient, consent.OpManageDelegates, nil, existing); err != nil {
			return Event{}, err
		}
	}
	if err := st.Set(DelegationKey(d.Patient, d.Delegate), consent.EncodeDelegation(d)); err != nil {
		return Event{}, fmt.Errorf("store delegation of %s to %s: %w", d.Patient, d.Delegate, err)
	}
	return event(m.Type(), d.Patient, cx, auth, func(e *Event) { e.Delegate = d.Delegate }), nil
}

func removeDelegate(st kv.Store, cx Context, m *tx.RemoveDelegate) (Event, error) {
	if err := checkIDs(m.Patient, m.Delegate); err != nil {
		return Event{}, err
	}
	existing, err := delegation(st, m.Patient, m.Delegate)
	if err != nil {
		return Event{}, err
	}
	if existing == nil {
		return Event{}, tx.Errorf(tx.CodeNotFound, "patient %s has no delegate %s", m.Patient, m.Delegate)
	}
	var auth consent.Authorization
	if cx.Signer.ID == m.Delegate {
		// A delegate may always step down; holding a delegation is never
		// an obligation.
		auth = consent.Authorization{Allowed: true, Reason: consent.AuthDelegate, Delegate: m.Delegate}
	} else if auth, err = authorize(st, cx, m.Patient, consent.OpManageDelegates, nil, existing); err != nil {
		return Event{}, err
	}
	if err := st.Delete(DelegationKey(m.Patient, m.Delegate)); err != nil {
		return Event{}, fmt.Errorf("delete delegation of %s to %s: %w", m.Patient, m.Delegate, err)
	}
	return event(m.Type(), m.Patient, cx, auth, func(e *Event) { e.Delegate = m.Delegate }), nil
}

func setOptOut(st kv.Store, cx Context, m *tx.SetBreakGlassOptOut) (Event, error) {
	if err := checkPatient(st, m.Patient); err != nil {
		return Event{}, err
	}
	auth, err := authorize(st, cx, m.Patient, consent.OpOptOut, nil, nil)
	if err != nil {
		return Event{}, err
	}
	// Setting what is already in force succeeds and changes nothing, so a
	// repeated opt-out is harmless.
	if m.OptOut {
		err = st.Set(OptOutKey(m.Patient), []byte{1})
	} else {
		err = st.Delete(OptOutKey(m.Patient))
	}
	if err != nil {
		return Event{}, fmt.Errorf("store opt-out of %s: %w", m.Patient, err)
	}
	return event(m.Type(), m.Patient, cx, auth, func(e *Event) { e.OptOut = m.OptOut }), nil
}

// checkPatient requires patient to be a registered patient: only patients
// are the subject of consents.
func checkPatient(st kv.Reader, patient string) error {
	if err := checkIDs(patient); err != nil {
		return err
	}
	a, err := identity.Get(st, patient)
	if err != nil {
		if tx.CodeOf(err) == tx.CodeNotFound {
			return tx.Errorf(tx.CodeNotFound, "patient %s is not registered", patient)
		}
		return err
	}
	if a.Kind != tx.KindPatient {
		return tx.Errorf(tx.CodeInvalid, "%s is a %s, not a patient: only patients have consents", patient, a.Kind)
	}
	return nil
}

func checkIDs(ids ...string) error {
	for _, id := range ids {
		if !consent.IsValidID(id) {
			return tx.Errorf(tx.CodeInvalid, "%q is not a valid id", id)
		}
	}
	return nil
}

// authorize decides whether the signer may perform op on patient's
// consents at the block: as the patient, or as a delegate whose delegation
// covers it (consent.Authorize). A refusal is CodeUnauthorized naming the
// reason.
func authorize(st kv.Reader, cx Context, patient string, op consent.Operation, c *consent.Consent, d *consent.Delegation) (consent.Authorization, error) {
	var delegations []consent.Delegation
	if cx.Signer.ID == patient {
		// checkPatient established that patient is a patient, and ids are
		// unique, so the signer is that patient; say so anyway, since
		// everything below trusts it.
		if cx.Signer.Kind != tx.KindPatient {
			return consent.Authorization{}, tx.Errorf(tx.CodeUnauthorized, "%s is a %s, not a patient", cx.Signer.ID, cx.Signer.Kind)
		}
	} else {
		var err error
		if delegations, err = Delegations(st, patient); err != nil {
			return consent.Authorization{}, err
		}
	}
	a := consent.Authorize(consent.OperationRequest{Signer: cx.Signer.ID, Patient: patient, Operation: op, Consent: c, Delegation: d},
		delegations, cx.Block)
	if !a.Allowed {
		return a, tx.Errorf(tx.CodeUnauthorized, "%s may not %s for patient %s: %s (%s)", cx.Signer.ID, op, patient, a.Detail, a.Reason)
	}
	return a, nil
}

func event(typ tx.Type, patient string, cx Context, auth consent.Authorization, set func(*Event)) Event {
	e := Event{Type: typ.String(), Patient: patient, By: cx.Signer.ID, ByDelegate: auth.Reason == consent.AuthDelegate}
	set(&e)
	return e
}

func putRecord(st kv.Store, r *Record) error {
	if err := st.Set(ConsentKey(r.Consent.Patient, r.Consent.ID), r.Encode()); err != nil {
		return fmt.Errorf("store consent %s: %w", r.Consent.ID, err)
	}
	return nil
}

// delegation loads patient's delegation to delegate, or nil.
func delegation(st kv.Reader, patient, delegate string) (*consent.Delegation, error) {
	b, err := st.Get(DelegationKey(patient, delegate))
	if err != nil {
		return nil, fmt.Errorf("load delegation of %s to %s: %w", patient, delegate, err)
	}
	if b == nil {
		return nil, nil
	}
	d, err := consent.DecodeDelegation(b)
	if err != nil {
		return nil, fmt.Errorf("corrupt delegation of %s to %s: %w", patient, delegate, err)
	}
	return &d, nil
}
