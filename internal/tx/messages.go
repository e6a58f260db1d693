package tx

import (
	"crypto/ed25519"
	"fmt"

	"github.com/carechain/carechain/internal/codec"
)

// Type names the message a transaction carries. Numbers are part of the
// protocol and are never reused. Ranges are reserved per module: 1–9
// identity, 10–29 consent, 30–49 records, 50–69 audit, 70–79 directory.
type Type uint32

const (
	TypeRegisterActor Type = 1
	TypeRotateKey     Type = 2
	TypeRevokeActor   Type = 3
)

// Types lists every message type in ascending order, for documentation and
// tests.
func Types() []Type {
	return []Type{TypeRegisterActor, TypeRotateKey, TypeRevokeActor, TypeSetValidator, TypeSetRoles,
		TypeGrantConsent, TypeUpdateConsent, TypeRevokeConsent, TypeSetDelegate, TypeRemoveDelegate, TypeSetBreakGlassOptOut,
		TypeQueryConsents, TypePutRecord, TypeAccessRecords, TypeEraseRecord, TypeQueryRecords, TypeWriteBatch,
		TypeQueryAuditHistory, TypeRecordRefusal, TypeRecordUnattributedRefusals, TypePutDirectory}
}

func (t Type) String() string {
	switch t {
	case TypeRegisterActor:
		return "identity.register"
	case TypeRotateKey:
		return "identity.rotate"
	case TypeRevokeActor:
		return "identity.revoke"
	case TypeSetValidator:
		return "validator.set"
	case TypeSetRoles:
		return "identity.roles"
	case TypeGrantConsent:
		return "consent.grant"
	case TypeUpdateConsent:
		return "consent.update"
	case TypeRevokeConsent:
		return "consent.revoke"
	case TypeSetDelegate:
		return "delegate.set"
	case TypeRemoveDelegate:
		return "delegate.remove"
	case TypeSetBreakGlassOptOut:
		return "breakglass.optout"
	case TypePutRecord:
		return "record.put"
	case TypeAccessRecords:
		return "record.access"
	case TypeEraseRecord:
		return "record.erase"
	case TypeQueryRecords:
		return "record.query"
	case TypeWriteBatch:
		return "record.batch"
	case TypeQueryConsents:
		return "consent.query"
	case TypeQueryAuditHistory:
		return "audit.query"
	case TypeRecordRefusal:
		return "audit.refusal"
	case TypeRecordUnattributedRefusals:
		return "audit.refusals"
	case TypePutDirectory:
		return "directory.put"
	}
	return fmt.Sprintf("type_%d", uint32(t))
}

// Kind is the kind of an actor on the ledger.
type Kind uint8

const (
	KindPatient      Kind = 1
	KindOrganization Kind = 2
	KindPractitioner Kind = 3
	KindApplication  Kind = 4
	KindDelegate     Kind = 5
	KindAuditor      Kind = 6
	KindAdmin        Kind = 7 // the consortium admin, created only by genesis
)

var kindNames = map[Kind]string{
	KindPatient: "patient", KindOrganization: "organization", KindPractitioner: "practitioner",
	KindApplication: "application", KindDelegate: "delegate", KindAuditor: "auditor", KindAdmin: "admin",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind_%d", uint8(k))
}

// ParseKind maps a kind name to its Kind.
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s {
			return k, true
		}
	}
	return 0, false
}

// Field limits for identity messages.
const (
	MaxNameLen    = 128
	MaxReasonLen  = 256
	HPKEKeyMaxLen = 2048
)

// Msg is a message carried in a transaction body.
type Msg interface {
	Type() Type
	Encode() []byte
}

// RegisterActor admits a new actor. A patient or delegate signs their own
// registration (the transaction's signer is the new id); an organization or
// auditor is registered by the consortium admin; a practitioner or
// application by its organization.
//
// Nobody can register a key they do not hold. A self-registration proves it
// with the transaction's own signature, made by the new key; a sponsored
// registration carries Possession, a signature by the new signing key over
// PossessionBytes, and a self-registration must leave it empty.
type RegisterActor struct {
	Kind       Kind
	Name       string // display name; empty for patients (no PHI on the ledger)
	Org        string // the organization a practitioner or application belongs to
	SignKey    []byte // Ed25519 public key
	HPKEKey    []byte // HPKE public key (ML-KEM-768+X25519)
	Possession []byte
}

func (*RegisterActor) Type() Type { return TypeRegisterActor }

func (m *RegisterActor) Encode() []byte {
	w := codec.NewWriter(64 + len(m.HPKEKey))
	w.Byte(byte(m.Kind))
	w.String(m.Name)
	w.String(m.Org)
	w.Fixed(m.SignKey)
	w.BytesField(m.HPKEKey)
	w.BytesField(m.Possession)
	return w.Bytes()
}

// SelfRegistered reports whether actors of kind k register themselves.
func SelfRegistered(k Kind) bool { return k == KindPatient || k == KindDelegate }

// RotateKey replaces an actor's keys. The actor signs with its current key,
// or its sponsor (its organization, or the admin for an organization) signs
// to recover a lost key. The actor id does not change.
type RotateKey struct {
	Actor      string
	SignKey    []byte
	HPKEKey    []byte
	Possession []byte
}

func (*RotateKey) Type() Type { return TypeRotateKey }

func (m *RotateKey) Encode() []byte {
	w := codec.NewWriter(128 + len(m.HPKEKey))
	w.String(m.Actor)
	w.Fixed(m.SignKey)
	w.BytesField(m.HPKEKey)
	w.Fixed(m.Possession)
	return w.Bytes()
}

// RevokeActor revokes an actor's keys for good: nothing signed by it is
// accepted afterwards. The actor itself, its sponsor or the admin may sign.
type RevokeActor struct {
	Actor  string
	Reason string
}

func (*RevokeActor) Type() Type { return TypeRevokeActor }

func (m *RevokeActor) Encode() []byte {
	w := codec.NewWriter(64 + len(m.Reason))
	w.String(m.Actor)
	w.String(m.Reason)
	return w.Bytes()
}

// DecodeMsg decodes the body of a transaction of type t.
func DecodeMsg(t Type, body []byte) (Msg, error) {
	r := codec.NewReader(body)
	var m Msg
	switch t {
	case TypeRegisterActor:
		m = &RegisterActor{
			Kind:       Kind(r.Byte()),
			Name:       r.String(MaxNameLen),
			Org:        r.String(MaxIDLen),
			SignKey:    r.Fixed(ed25519.PublicKeySize),
			HPKEKey:    r.BytesField(HPKEKeyMaxLen),
			Possession: r.BytesField(ed25519.SignatureSize),
		}
		if p := m.(*RegisterActor).Possession; len(p) != 0 && len(p) != ed25519.SignatureSize {
			r.Fail("proof of possession is %d bytes", len(p))
		}
	case TypeRotateKey:
		m = &RotateKey{
			Actor:      r.String(MaxIDLen),
			SignKey:    r.Fixed(ed25519.PublicKeySize),
			HPKEKey:    r.BytesField(HPKEKeyMaxLen),
			Possession: r.Fixed(ed25519.SignatureSize),
		}
	case TypeRevokeActor:
		m = &RevokeActor{Actor: r.String(MaxIDLen), Reason: r.String(MaxReasonLen)}
	default:
		if m = decodeConsentMsg(t, r); m == nil {
			if m = decodeAuditMsg(t, r); m == nil {
				if m = decodeRecordMsg(t, r); m == nil {
					if m = decodeValidatorMsg(t, r); m == nil {
						if m = decodeDirectoryMsg(t, r); m == nil {
							if m = decodeBatchMsg(t, r); m == nil {
								return nil, Errorf(CodeUnknownType, "unknown message type %d", uint32(t))
							}
						}
					}
				}
			}
		}
	}
	if err := r.Done(); err != nil {
		return nil, Errorf(CodeMalformed, "decode %s: %v", t, err)
	}
	return m, nil
}

const possessionDomain = "carechain/possession/v1\x00"

// PossessionBytes is what a new signing key signs to prove it is held by the
// actor being registered or rotated: the chain, the actor id and both new
// public keys.
func PossessionBytes(chainID, actorID string, signKey, hpkeKey []byte) []byte {
	w := codec.NewWriter(256 + len(hpkeKey))
	w.Fixed([]byte(possessionDomain))
	w.String(chainID)
	w.String(actorID)
	w.BytesField(signKey)
	w.BytesField(hpkeKey)
	return w.Bytes()
}
