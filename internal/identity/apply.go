package identity

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/carechain/carechain/internal/codec"

	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// Event describes what an identity message changed, for the transaction's
// result and the node's event stream.
type Event struct {
	Type  string // "identity.register", "identity.rotate", "identity.revoke"
	Actor string
	Kind  tx.Kind
	By    string // the signer
}

// Apply executes an authenticated identity message at the given height. The
// signer has already been authenticated and its signature verified.
func Apply(st kv.Store, signer Signer, signerID string, m tx.Msg, height int64) (Event, error) {
	switch m := m.(type) {
	case *tx.RegisterActor:
		return register(st, signer, signerID, m, height)
	case *tx.RotateKey:
		return rotate(st, signer, m)
	case *tx.RevokeActor:
		return revoke(st, signer, m, height)
	case *tx.SetRoles:
		return setRoles(st, signer, m)
	}
	return Event{}, tx.Errorf(tx.CodeUnknownType, "identity does not handle %T", m)
}

func register(st kv.Store, signer Signer, signerID string, m *tx.RegisterActor, height int64) (Event, error) {
	if err := mayRegister(st, signer.Actor, m); err != nil {
		return Event{}, err
	}
	id := tx.ActorID(m.SignKey)
	if existing, err := st.Get(ActorKey(id)); err != nil {
		return Event{}, err
	} else if existing != nil {
		return Event{}, tx.Errorf(tx.CodeAlreadyExists, "actor %s is already registered", id)
	}
	a := &Actor{ID: id, Kind: m.Kind, Name: m.Name, Org: m.Org, SignKey: bytes.Clone(m.SignKey),
		HPKEKey: bytes.Clone(m.HPKEKey), RegisteredAt: height, KeyVersion: 1}
	if signer.Actor != nil {
		a.Sponsor = signer.Actor.ID
	}
	if err := put(st, a); err != nil {
		return Event{}, err
	}
	if a.Org != "" {
		if err := st.Set([]byte(prefixMember+a.Org+"/"+a.ID), indexMarker); err != nil {
			return Event{}, err
		}
	}
	return Event{Type: "identity.register", Actor: id, Kind: a.Kind, By: signerID}, nil
}

// mayRegister applies the admission rules. sponsor is nil for a
// self-registration, which Authenticate allowed only for patients and
// delegates.
func mayRegister(st kv.Reader, sponsor *Actor, m *tx.RegisterActor) error {
	if sponsor == nil {
		return nil
	}
	switch m.Kind {
	case tx.KindOrganization, tx.KindAuditor:
		if sponsor.Kind != tx.KindAdmin {
			return tx.Errorf(tx.CodeUnauthorized, "only the consortium admin admits a %s; signer is a %s", m.Kind, sponsor.Kind)
		}
	case tx.KindPractitioner, tx.KindApplication:
		if sponsor.Kind != tx.KindOrganization || sponsor.ID != m.Org {
			return tx.Errorf(tx.CodeUnauthorized, "a %s is registered by its organization %s; signer is %s", m.Kind, m.Org, sponsor.ID)
		}
	default:
		return tx.Errorf(tx.CodeUnauthorized, "a %s registers itself; it cannot be registered by %s", m.Kind, sponsor.ID)
	}
	return nil
}

// mayManage reports whether actor by may rotate or revoke target: the target
// itself, its sponsor, or the consortium admin.
func mayManage(by, target *Actor) bool {
	return by.ID == target.ID || by.ID == target.Sponsor || by.Kind == tx.KindAdmin
}

func rotate(st kv.Store, signer Signer, m *tx.RotateKey) (Event, error) {
	target, err := Get(st, m.Actor)
	if err != nil {
		return Event{}, err
	}
	if !mayManage(signer.Actor, target) {
		return Event{}, tx.Errorf(tx.CodeUnauthorized, "%s may not rotate the keys of %s", signer.Actor.ID, target.ID)
	}
	if target.Revoked {
		return Event{}, tx.Errorf(tx.CodeSignerRevoked, "actor %s is revoked; a revoked identity cannot be given new keys", target.ID)
	}
	if bytes.Equal(target.SignKey, m.SignKey) {
		return Event{}, tx.Errorf(tx.CodeInvalid, "the new signing key equals the current one")
	}
	target.SignKey = bytes.Clone(m.SignKey)
	target.HPKEKey = bytes.Clone(m.HPKEKey)
	target.KeyVersion++
	if err := put(st, target); err != nil {
		return Event{}, err
	}
	return Event{Type: "identity.rotate", Actor: target.ID, Kind: target.Kind, By: signer.Actor.ID}, nil
}

func revoke(st kv.Store, signer Signer, m *tx.RevokeActor, height int64) (Event, error) {
	target, err := Get(st, m.Actor)
	if err != nil {
		return Event{}, err
	}
	if !mayManage(signer.Actor, target) {
		return Event{}, tx.Errorf(tx.CodeUnauthorized, "%s may not revoke %s", signer.Actor.ID, target.ID)
	}
	if target.Kind == tx.KindAdmin {
		return Event{}, tx.Errorf(tx.CodeUnauthorized, "the consortium admin cannot be revoked by a transaction; change it in genesis")
	}
	if target.Revoked {
		return Event{}, tx.Errorf(tx.CodeSignerRevoked, "actor %s is already revoked", target.ID)
	}
	target.Revoked, target.RevokedAt = true, height
	if err := put(st, target); err != nil {
		return Event{}, err
	}
	return Event{Type: "identity.revoke", Actor: target.ID, Kind: target.Kind, By: signer.Actor.ID}, nil
}

const prefixRoles = "id/r/"

// RolesKey is the state key of an actor's roles, for proofs.
func RolesKey(id string) []byte { return []byte(prefixRoles + id) }

// Roles returns the role codes an actor's organization gave it.
func Roles(st kv.Reader, id string) ([]string, error) {
	b, err := st.Get(RolesKey(id))
	if err != nil || b == nil {
		return nil, err
	}
	r := codec.NewReader(b)
	roles := r.Strings(tx.MaxRoles, tx.MaxRoleLen)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("corrupt roles of %s: %w", id, err)
	}
	return roles, nil
}

// RequesterIn is what consent decides on for a request by a, as st holds
// it: a's organization, and its roles — those its kind implies and those
// its organization gave it — ascending, without duplicates.
func RequesterIn(st kv.Reader, a *Actor) (org string, roles []string, err error) {
	org, roles = a.Requester()
	given, err := Roles(st, a.ID)
	if err != nil {
		return "", nil, err
	}
	roles = append(roles, given...)
	slices.Sort(roles)
	return org, slices.Compact(roles), nil
}

func setRoles(st kv.Store, signer Signer, m *tx.SetRoles) (Event, error) {
	target, err := Get(st, m.Actor)
	if err != nil {
		return Event{}, err
	}
	if target.Kind != tx.KindPractitioner && target.Kind != tx.KindApplication {
		return Event{}, tx.Errorf(tx.CodeInvalid, "roles are given to practitioners and applications, not to a %s", target.Kind)
	}
	if signer.Actor.ID != target.Sponsor && signer.Actor.Kind != tx.KindAdmin {
		return Event{}, tx.Errorf(tx.CodeUnauthorized, "only %s's organization gives it roles", target.ID)
	}
	if len(m.Roles) == 0 {
		err = st.Delete(RolesKey(target.ID))
	} else {
		w := codec.NewWriter(16 * len(m.Roles))
		w.Strings(m.Roles)
		err = st.Set(RolesKey(target.ID), w.Bytes())
	}
	if err != nil {
		return Event{}, fmt.Errorf("store roles of %s: %w", target.ID, err)
	}
	return Event{Type: "identity.roles", Actor: target.ID, Kind: target.Kind, By: signer.Actor.ID}, nil
}

// indexMarker is the value of an index entry whose key says it all. It is
// not empty: ICS23 cannot prove an empty value, and every state value must
// be provable.
var indexMarker = []byte{1}
