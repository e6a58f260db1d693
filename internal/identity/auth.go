package identity

import (
	"encoding/binary"
	"fmt"

	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// Signer is what authentication establishes about a transaction: who signed
// it and which public key must verify its signature.
type Signer struct {
	Actor *Actor // nil for a self-registration, whose actor does not exist yet
	Key   []byte // the Ed25519 key the signature must verify under
}

// Authenticate finds the key that must have signed t and checks the nonce.
// It does not verify the signature itself: the caller does, so that it can
// remember a verification across CheckTx and FinalizeBlock.
//
// A self-registration (a patient or delegate registering themselves) is
// signed by the key in the message, by the id that key derives, with nonce 1.
// Once that id exists the registration is refused here, before its
// signature or nonce count: otherwise the actor's first key, even rotated
// away or revoked, could still spend the actor's nonces.
func Authenticate(st kv.Reader, t *tx.Tx, m tx.Msg) (Signer, error) {
	if reg, ok := m.(*tx.RegisterActor); ok && t.Signer == tx.ActorID(reg.SignKey) {
		if taken, err := st.Get(ActorKey(t.Signer)); err != nil {
			return Signer{}, fmt.Errorf("load actor %s: %w", t.Signer, err)
		} else if taken != nil {
			return Signer{}, tx.Errorf(tx.CodeAlreadyExists, "actor %s is already registered", t.Signer)
		}
		if reg.Kind != tx.KindPatient && reg.Kind != tx.KindDelegate {
			return Signer{}, tx.Errorf(tx.CodeUnauthorized, "a %s cannot register itself; its sponsor signs its registration", reg.Kind)
		}
		if err := checkNonce(st, t.Signer, t.Nonce); err != nil {
			return Signer{}, err
		}
		return Signer{Key: reg.SignKey}, nil
	}
	a, err := Get(st, t.Signer)
	if err != nil {
		if tx.CodeOf(err) == tx.CodeNotFound {
			return Signer{}, tx.Errorf(tx.CodeUnknownSigner, "signer %s is not registered", t.Signer)
		}
		return Signer{}, err
	}
	if a.Revoked {
		return Signer{}, tx.Errorf(tx.CodeSignerRevoked, "signer %s was revoked at height %d", a.ID, a.RevokedAt)
	}
	if err := checkNonce(st, t.Signer, t.Nonce); err != nil {
		return Signer{}, err
	}
	return Signer{Actor: a, Key: a.SignKey}, nil
}

// LastNonce returns the last nonce the actor used; 0 if none.
func LastNonce(st kv.Reader, id string) (uint64, error) {
	b, err := st.Get([]byte(prefixNonce + id))
	if err != nil {
		return 0, fmt.Errorf("load nonce of %s: %w", id, err)
	}
	if b == nil {
		return 0, nil
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || k != len(b) {
		return 0, fmt.Errorf("corrupt nonce of %s", id)
	}
	return n, nil
}

func checkNonce(st kv.Reader, id string, nonce uint64) error {
	last, err := LastNonce(st, id)
	if err != nil {
		return err
	}
	return CheckNonce(last, nonce)
}

// CheckNonce judges a nonce against the last one used: it must be exactly
// the next one, so transactions from one signer apply once and in order.
func CheckNonce(last, nonce uint64) error {
	switch {
	case nonce <= last:
		return tx.Errorf(tx.CodeNonceReplayed, "nonce %d already used; next is %d", nonce, last+1)
	case nonce > last+1:
		return tx.Errorf(tx.CodeNonceGap, "nonce %d skips ahead; next is %d", nonce, last+1)
	}
	return nil
}

// UseNonce records nonce as the signer's last. It is called for every
// transaction that passed authentication, whether or not its message then
// succeeds, so a failed transaction cannot be replayed either.
func UseNonce(st kv.Store, id string, nonce uint64) error {
	if err := st.Set([]byte(prefixNonce+id), binary.AppendUvarint(nil, nonce)); err != nil {
		return fmt.Errorf("store nonce of %s: %w", id, err)
	}
	return nil
}

// Member resolves who acts in a record message an organization signs on
// behalf of one of its members: the member, which must be a practitioner
// or application of exactly that organization and unrevoked. With no
// member named, the signer acts for itself. Only organizations sign for
// others, because only an organization's key is the one its gateway holds.
func Member(st kv.Reader, signer *Actor, member string) (*Actor, error) {
	if member == "" {
		return signer, nil
	}
	if signer.Kind != tx.KindOrganization {
		return nil, tx.Errorf(tx.CodeUnauthorized, "only an organization signs on behalf of another actor; %s is a %s", signer.ID, signer.Kind)
	}
	m, err := Get(st, member)
	if err != nil {
		return nil, err
	}
	if (m.Kind != tx.KindPractitioner && m.Kind != tx.KindApplication) || m.Org != signer.ID {
		return nil, tx.Errorf(tx.CodeUnauthorized, "%s is not a practitioner or application of organization %s", member, signer.ID)
	}
	if m.Revoked {
		return nil, tx.Errorf(tx.CodeSignerRevoked, "%s, on whose behalf %s signs, was revoked", member, signer.ID)
	}
	return m, nil
}
