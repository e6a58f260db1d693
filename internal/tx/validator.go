package tx

import (
	"crypto/ed25519"
	"strings"

	"github.com/carechain/carechain/internal/codec"
)

// TypeSetValidator is in the identity range: a validator is an identity of
// the consortium.
const TypeSetValidator Type = 4

// MaxValidatorPower bounds one validator's voting power, far inside
// CometBFT's limit on the total.
const MaxValidatorPower = 1_000_000

// SetValidator adds a validator, changes its voting power, or removes it
// (Power 0). Only the consortium admin signs it. PubKey is the validator's
// consensus (Ed25519) key; HPKEKey is the key record shares are sealed to,
// required unless the validator is being removed. The change takes effect
// in consensus two blocks later, as CometBFT applies validator updates;
// records written from the next block on are sealed to the new set.
type SetValidator struct {
	Name    string
	PubKey  []byte
	Power   uint64
	HPKEKey []byte
	// API is the validator's gateway URL (http or https), where its peers
	// fetch blobs from it and ask it for key shares.
	API string
}

// MaxAPILen bounds a gateway URL.
const MaxAPILen = 256

func (*SetValidator) Type() Type { return TypeSetValidator }

func (m *SetValidator) Encode() []byte {
	w := codec.NewWriter(64 + len(m.HPKEKey))
	w.String(m.Name)
	w.Fixed(m.PubKey)
	w.Uvarint(m.Power)
	w.BytesField(m.HPKEKey)
	w.String(m.API)
	return w.Bytes()
}

func decodeValidatorMsg(t Type, r *codec.Reader) Msg {
	if t == TypeSetRoles {
		return &SetRoles{Actor: r.String(MaxIDLen), Roles: r.Strings(MaxRoles, MaxRoleLen)}
	}
	if t != TypeSetValidator {
		return nil
	}
	return &SetValidator{Name: r.String(MaxNameLen), PubKey: r.Fixed(ed25519.PublicKeySize), Power: r.Uvarint(), HPKEKey: r.BytesField(HPKEKeyMaxLen), API: r.String(MaxAPILen)}
}

func validateValidatorMsg(m *SetValidator) error {
	switch {
	case m.Power > MaxValidatorPower:
		return Errorf(CodeInvalid, "voting power %d, at most %d", m.Power, MaxValidatorPower)
	case m.Power == 0 && (len(m.HPKEKey) != 0 || m.API != ""):
		return Errorf(CodeInvalid, "a removal carries no HPKE key or gateway")
	case m.Power != 0 && !strings.HasPrefix(m.API, "http://") && !strings.HasPrefix(m.API, "https://"):
		return Errorf(CodeInvalid, "a validator's gateway URL must start with http:// or https://, not %q", m.API)
	case m.Power == 0:
		return nil
	case m.Name == "":
		return Errorf(CodeInvalid, "a validator needs a name")
	}
	return checkHPKEKey(m.HPKEKey)
}

// TypeSetRoles is in the identity range: roles are part of who an actor is.
const TypeSetRoles Type = 5

// Role limits.
const (
	MaxRoles   = 8
	MaxRoleLen = 32
)

// SetRoles replaces the role codes of a practitioner or application, such
// as "emergency", which may break the glass. Its organization (or the
// consortium admin) signs: an organization vouches for what its staff do.
// Roles are ascending and unique; none clears them.
type SetRoles struct {
	Actor string
	Roles []string
}

func (*SetRoles) Type() Type { return TypeSetRoles }

func (m *SetRoles) Encode() []byte {
	w := codec.NewWriter(64 + 16*len(m.Roles))
	w.String(m.Actor)
	w.Strings(m.Roles)
	return w.Bytes()
}

func validateRoles(m *SetRoles) error {
	if m.Actor == "" {
		return Errorf(CodeInvalid, "actor id is empty")
	}
	for i, r := range m.Roles {
		if r == "" || strings.ContainsFunc(r, func(c rune) bool { return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') }) {
			return Errorf(CodeInvalid, "role %q must be lower-case letters, digits and '-'", r)
		}
		if i > 0 && m.Roles[i-1] >= r {
			return Errorf(CodeInvalid, "roles must be ascending and unique (%s then %s)", m.Roles[i-1], r)
		}
	}
	return nil
}
