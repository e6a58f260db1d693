// Package identity keeps the ledger's actors — patients, organizations,
// practitioners, applications, delegates, auditors and the consortium admin —
// with their signing and HPKE keys, and the validators' HPKE keys.
//
// It promises that a transaction is attributed to an actor only if that
// actor's current, unrevoked key signed it with the actor's next nonce, and
// that actors are admitted only by whoever the rules name: patients and
// delegates admit themselves, the admin admits organizations and auditors,
// an organization admits its practitioners and applications.
//
// The package is pure: state comes in as a kv.Store, block height as an
// argument; it does no I/O and reads no clock.
package identity

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// Key layout, all under "id/":
//
//	id/a/<actor id>          → Actor (canonical encoding)
//	id/n/<actor id>          → last nonce used by the actor (uvarint)
//	id/m/<org id>/<actor id> → 0x01; members of an organization
//	id/v/<validator address> → Validator (canonical encoding), address in hex
//	id/admin                 → the consortium admin's actor id
const (
	prefixActor     = "id/a/"
	prefixNonce     = "id/n/"
	prefixMember    = "id/m/"
	prefixValidator = "id/v/"
	keyAdmin        = "id/admin"
)

// ActorKey returns the state key of an actor, for proofs.
func ActorKey(id string) []byte { return []byte(prefixActor + id) }

// Actor is an identity on the ledger.
type Actor struct {
	ID           string
	Kind         tx.Kind
	Name         string
	Org          string
	SignKey      []byte
	HPKEKey      []byte
	Sponsor      string // who admitted it; empty for self-registered actors
	RegisteredAt int64  // block height
	KeyVersion   uint32 // 1 at registration, +1 per rotation
	Revoked      bool
	RevokedAt    int64
}

func (a *Actor) encode() []byte {
	w := codec.NewWriter(96 + len(a.HPKEKey))
	w.String(a.ID)
	w.Byte(byte(a.Kind))
	w.String(a.Name)
	w.String(a.Org)
	w.BytesField(a.SignKey)
	w.BytesField(a.HPKEKey)
	w.String(a.Sponsor)
	w.Varint(a.RegisteredAt)
	w.Uvarint(uint64(a.KeyVersion))
	w.Bool(a.Revoked)
	w.Varint(a.RevokedAt)
	return w.Bytes()
}

func decodeActor(b []byte) (*Actor, error) {
	r := codec.NewReader(b)
	a := &Actor{
		ID:           r.String(tx.MaxIDLen),
		Kind:         tx.Kind(r.Byte()),
		Name:         r.String(tx.MaxNameLen),
		Org:          r.String(tx.MaxIDLen),
		SignKey:      bytes.Clone(r.BytesField(ed25519.PublicKeySize)),
		HPKEKey:      bytes.Clone(r.BytesField(tx.HPKEKeyMaxLen)),
		Sponsor:      r.String(tx.MaxIDLen),
		RegisteredAt: r.Varint(),
		KeyVersion:   readUint32(r),
		Revoked:      r.Bool(),
		RevokedAt:    r.Varint(),
	}
	return a, r.Done()
}

// readUint32 reads a uvarint that must fit in 32 bits; truncating a larger
// one would make two encodings decode to the same actor.
func readUint32(r *codec.Reader) uint32 {
	v := r.Uvarint()
	if v > math.MaxUint32 {
		r.Fail("value %d exceeds 32 bits", v)
		return 0
	}
	return uint32(v)
}

// DecodeActor decodes an actor as stored in state, for clients that verify
// a proven state value.
func DecodeActor(b []byte) (*Actor, error) { return decodeActor(b) }

// Get loads an actor. It returns a tx.ErrNotFound-class error when the actor
// does not exist, and a plain error when state is unreadable.
func Get(st kv.Reader, id string) (*Actor, error) {
	b, err := st.Get(ActorKey(id))
	if err != nil {
		return nil, fmt.Errorf("load actor %s: %w", id, err)
	}
	if b == nil {
		return nil, tx.Errorf(tx.CodeNotFound, "actor %s is not registered", id)
	}
	a, err := decodeActor(b)
	if err != nil {
		return nil, fmt.Errorf("corrupt actor record %s: %w", id, err)
	}
	return a, nil
}

func put(st kv.Store, a *Actor) error {
	if err := st.Set(ActorKey(a.ID), a.encode()); err != nil {
		return fmt.Errorf("store actor %s: %w", a.ID, err)
	}
	return nil
}

// Members lists the ids of the actors an organization admitted, in id order.
func Members(st kv.Reader, org string) ([]string, error) {
	prefix := []byte(prefixMember + org + "/")
	var ids []string
	err := st.Iterate(prefix, kv.PrefixEnd(prefix), false, func(k, _ []byte) bool {
		ids = append(ids, string(k[len(prefix):]))
		return true
	})
	return ids, err
}

// Requester is the organization and role codes consent decides on for a
// request by a: an organization acts for itself; a practitioner or an
// application for its organization, a practitioner in the practitioner
// role.
func (a *Actor) Requester() (org string, roles []string) {
	switch a.Kind {
	case tx.KindOrganization:
		return a.ID, nil
	case tx.KindPractitioner:
		return a.Org, []string{"practitioner"}
	}
	return a.Org, nil
}
