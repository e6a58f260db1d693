package tx

import (
	"crypto/ed25519"
	"crypto/hpke"
	"strings"
)

// HPKE is the KEM every actor and validator key uses: ML-KEM-768 with X25519
// (X-Wing), so records sealed today stay private against a future quantum
// adversary.
var HPKE = hpke.MLKEM768X25519()

// ValidateBasic checks everything about a message that does not depend on
// ledger state: field presence and sizes, key encodings, proofs of
// possession, and the rules of an embedded consent or delegation (a CEL
// condition that does not compile is refused here, with the compiler's
// message). CheckTx and ProcessProposal share it, and its result for a
// given transaction never changes, so a node may remember it.
func ValidateBasic(chainID string, t *Tx, m Msg) error {
	if t == nil {
		return Errorf(CodeMalformed, "no transaction")
	}
	switch m := m.(type) {
	case *RegisterActor:
		if _, ok := kindNames[m.Kind]; !ok || m.Kind == KindAdmin {
			return Errorf(CodeInvalid, "kind %d cannot be registered", m.Kind)
		}
		if m.Kind == KindPatient && m.Name != "" {
			return Errorf(CodeInvalid, "patients are registered without a name: no direct identifiers go on the ledger")
		}
		needsOrg := m.Kind == KindPractitioner || m.Kind == KindApplication
		if needsOrg != (m.Org != "") {
			if needsOrg {
				return Errorf(CodeInvalid, "a %s must name its organization", m.Kind)
			}
			return Errorf(CodeInvalid, "a %s does not belong to an organization", m.Kind)
		}
		if SelfRegistered(m.Kind) {
			// The envelope signature, verified under m.SignKey because the
			// signer is the id that key derives, proves possession.
			if t.Signer != ActorID(m.SignKey) {
				return Errorf(CodeUnauthorized, "a %s registers itself: the signer must be %s, the id of the key being registered", m.Kind, ActorID(m.SignKey))
			}
			if len(m.Possession) != 0 {
				return Errorf(CodeInvalid, "a self-registration carries no separate proof of possession")
			}
			return checkHPKEKey(m.HPKEKey)
		}
		return checkKeys(chainID, ActorID(m.SignKey), m.SignKey, m.HPKEKey, m.Possession)
	case *RotateKey:
		if m.Actor == "" {
			return Errorf(CodeInvalid, "actor id is empty")
		}
		return checkKeys(chainID, m.Actor, m.SignKey, m.HPKEKey, m.Possession)
	case *RevokeActor:
		if m.Actor == "" {
			return Errorf(CodeInvalid, "actor id is empty")
		}
		return nil
	}
	if r, ok := m.(*SetRoles); ok {
		return validateRoles(r)
	}
	if v, ok := m.(*SetValidator); ok {
		return validateValidatorMsg(v)
	}
	if rf, ok := m.(*RecordRefusal); ok {
		if err := checkID("actor", rf.Actor); err != nil {
			return err
		}
		if rf.Code == "" || strings.ContainsFunc(rf.Code, func(c rune) bool { return !(c >= 'a' && c <= 'z' || c == '_') }) {
			return Errorf(CodeInvalid, "refusal code %q must be lower-case letters and '_'", rf.Code)
		}
		return nil
	}
	if rs, ok := m.(*RecordUnattributedRefusals); ok {
		return validateRefusalTallies(rs)
	}
	if q, ok := m.(*QueryAuditHistory); ok {
		if q.Patient == "" {
			return nil // the events about no patient
		}
		return checkID("patient", q.Patient)
	}
	if handled, err := validateConsentMsg(t, m); handled {
		return err
	}
	if handled, err := validateDirectoryMsg(t, m); handled {
		return err
	}
	if handled, err := validateRecordMsg(t, m); handled {
		return err
	}
	if handled, err := validateBatchMsg(t, m); handled {
		return err
	}
	return Errorf(CodeUnknownType, "unknown message %T", m)
}

func checkHPKEKey(hpkeKey []byte) error {
	if _, err := HPKE.NewPublicKey(hpkeKey); err != nil {
		return Errorf(CodeInvalid, "HPKE public key is not a valid ML-KEM-768+X25519 key: %v", err)
	}
	return nil
}

func checkKeys(chainID, actorID string, signKey, hpkeKey, possession []byte) error {
	if err := checkHPKEKey(hpkeKey); err != nil {
		return err
	}
	if len(signKey) != ed25519.PublicKeySize { // ed25519.Verify panics on any other length
		return Errorf(CodeInvalid, "signing key is %d bytes, want %d", len(signKey), ed25519.PublicKeySize)
	}
	if len(possession) != ed25519.SignatureSize || !ed25519.Verify(signKey, PossessionBytes(chainID, actorID, signKey, hpkeKey), possession) {
		return Errorf(CodeBadSignature, "proof of possession does not verify under the new signing key")
	}
	return nil
}
