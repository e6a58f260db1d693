package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"unicode/utf8"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// Genesis is the identity part of the chain's genesis state.
type Genesis struct {
	Admin      GenesisKeys        `json:"admin"`
	Validators []GenesisValidator `json:"validators"`
}

// GenesisKeys are an actor's public keys.
type GenesisKeys struct {
	SignKey []byte `json:"sign_key"`
	HPKEKey []byte `json:"hpke_key"`
}

// GenesisValidator names a validator and the HPKE key its key shares are
// sealed to. Address is the CometBFT validator address.
type GenesisValidator struct {
	Name    string `json:"name"`
	Address []byte `json:"address"`
	HPKEKey []byte `json:"hpke_key"`
}

// maxValidatorAddressLen bounds a validator address (CometBFT's are 20 bytes).
const maxValidatorAddressLen = 64

// Validator is a validator's entry in state.
type Validator struct {
	Name    string
	Address []byte
	HPKEKey []byte
	// API is the validator's gateway URL, where peers fetch custody blobs
	// and readers' gateways collect key shares. Validators added by
	// validator.set carry it; genesis ones may leave it to configuration.
	API string
}

// maxAPILen bounds a gateway URL.
const maxAPILen = 256

// InitGenesis writes the admin and the validators' keys.
func InitGenesis(st kv.Store, g Genesis) error {
	if len(g.Admin.SignKey) != ed25519.PublicKeySize {
		return fmt.Errorf("genesis admin signing key is %d bytes, want %d", len(g.Admin.SignKey), ed25519.PublicKeySize)
	}
	if _, err := tx.HPKE.NewPublicKey(g.Admin.HPKEKey); err != nil {
		return fmt.Errorf("genesis admin HPKE key: %w", err)
	}
	admin := &Actor{ID: tx.ActorID(g.Admin.SignKey), Kind: tx.KindAdmin, Name: "consortium admin",
		SignKey: g.Admin.SignKey, HPKEKey: g.Admin.HPKEKey, KeyVersion: 1}
	if err := put(st, admin); err != nil {
		return err
	}
	if err := st.Set([]byte(keyAdmin), []byte(admin.ID)); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, v := range g.Validators {
		if _, err := tx.HPKE.NewPublicKey(v.HPKEKey); err != nil {
			return fmt.Errorf("genesis validator %s HPKE key: %w", v.Name, err)
		}
		// Reject what Validators could not read back, and duplicates, which
		// would silently replace each other.
		if len(v.Name) > tx.MaxNameLen || !utf8.ValidString(v.Name) {
			return fmt.Errorf("genesis validator name %q: not UTF-8 or longer than %d bytes", v.Name, tx.MaxNameLen)
		}
		if len(v.Address) == 0 || len(v.Address) > maxValidatorAddressLen {
			return fmt.Errorf("genesis validator %s address is %d bytes; want 1 to %d", v.Name, len(v.Address), maxValidatorAddressLen)
		}
		if seen[string(v.Address)] {
			return fmt.Errorf("genesis validator address %X appears twice", v.Address)
		}
		seen[string(v.Address)] = true
		if err := PutValidator(st, Validator{Name: v.Name, Address: v.Address, HPKEKey: v.HPKEKey}); err != nil {
			return err
		}
	}
	return nil
}

// ValidatorKey is the state key of a validator's entry, for proofs.
func ValidatorKey(address []byte) []byte {
	return []byte(prefixValidator + hex.EncodeToString(address))
}

// PutValidator records a validator's HPKE key.
func PutValidator(st kv.Store, v Validator) error {
	w := codec.NewWriter(64 + len(v.HPKEKey))
	w.String(v.Name)
	w.BytesField(v.Address)
	w.BytesField(v.HPKEKey)
	if v.API != "" {
		// Present only when set, so entries without one keep the encoding
		// they always had.
		w.String(v.API)
	}
	return st.Set(ValidatorKey(v.Address), w.Bytes())
}

// DecodeValidator decodes a validator's entry as stored, for clients
// checking a proven value.
func DecodeValidator(b []byte) (Validator, error) {
	r := codec.NewReader(b)
	v := Validator{Name: r.String(tx.MaxNameLen), Address: bytes.Clone(r.BytesField(maxValidatorAddressLen)), HPKEKey: bytes.Clone(r.BytesField(tx.HPKEKeyMaxLen))}
	if r.Err() == nil && r.Remaining() > 0 {
		if v.API = r.String(maxAPILen); r.Err() == nil && v.API == "" {
			r.Fail("empty gateway URL is encoded by omission")
		}
	}
	return v, r.Done()
}

// Validators lists the validators' keys in address order.
func Validators(st kv.Reader) ([]Validator, error) {
	var out []Validator
	var decodeErr error
	err := st.Iterate([]byte(prefixValidator), kv.PrefixEnd([]byte(prefixValidator)), false, func(_, b []byte) bool {
		var v Validator
		if v, decodeErr = DecodeValidator(b); decodeErr != nil {
			return false
		}
		out = append(out, v)
		return true
	})
	if err == nil && decodeErr != nil {
		err = fmt.Errorf("corrupt validator record: %w", decodeErr)
	}
	return out, err
}

// AdminID returns the consortium admin's actor id.
func AdminID(st kv.Reader) (string, error) {
	b, err := st.Get([]byte(keyAdmin))
	return string(b), err
}

// ValidatorAddress is a consensus key's validator address, as CometBFT
// derives it: the first 20 bytes of the key's SHA-256.
func ValidatorAddress(pub []byte) []byte {
	sum := sha256.Sum256(pub)
	return sum[:20]
}

// SetValidator applies a validator change, which only the consortium
// admin may sign: it adds the validator or replaces its entry, or, for
// power 0, removes it. It returns the validator's address. The caller
// passes the same change to consensus.
func SetValidator(st kv.Store, signer *Actor, m *tx.SetValidator) ([]byte, error) {
	if signer == nil || signer.Kind != tx.KindAdmin {
		return nil, tx.Errorf(tx.CodeUnauthorized, "only the consortium admin changes the validator set")
	}
	addr := ValidatorAddress(m.PubKey)
	vals, err := Validators(st)
	if err != nil {
		return nil, err
	}
	known := false
	for _, v := range vals {
		known = known || bytes.Equal(v.Address, addr)
	}
	if m.Power == 0 {
		switch {
		case !known:
			return nil, tx.Errorf(tx.CodeNotFound, "%X is not a validator", addr)
		case len(vals) == 1:
			return nil, tx.Errorf(tx.CodeInvalid, "the last validator cannot be removed")
		}
		if err := st.Delete(ValidatorKey(addr)); err != nil {
			return nil, fmt.Errorf("remove validator %X: %w", addr, err)
		}
		return addr, nil
	}
	if !known && len(vals) >= tx.MaxValidators {
		return nil, tx.Errorf(tx.CodeInvalid, "already %d validators, the most a record's key is split across", len(vals))
	}
	if err := PutValidator(st, Validator{Name: m.Name, Address: addr, HPKEKey: bytes.Clone(m.HPKEKey), API: m.API}); err != nil {
		return nil, fmt.Errorf("store validator %X: %w", addr, err)
	}
	return addr, nil
}
