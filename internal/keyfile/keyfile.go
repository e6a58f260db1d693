// Package keyfile creates, saves and loads an actor's key pair: an Ed25519
// signing key and an HPKE (ML-KEM-768+X25519) key.
//
// A key file is JSON, written with mode 0600 and never overwritten: losing a
// key means losing an identity, so Save refuses to replace an existing file.
package keyfile

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/carechain/carechain/internal/tx"
)

// Key is an actor's private key material.
type Key struct {
	ID   string // actor id: derived from the first signing key, kept across rotation
	Sign ed25519.PrivateKey
	HPKE hpke.PrivateKey
}

type fileFormat struct {
	Version        int    `json:"version"`
	ID             string `json:"id"`
	SignPrivateKey []byte `json:"sign_private_key"` // 32-byte Ed25519 seed
	SignPublicKey  []byte `json:"sign_public_key"`
	HPKEPrivateKey []byte `json:"hpke_private_key"`
	HPKEPublicKey  []byte `json:"hpke_public_key"`
	KEM            string `json:"kem"`
}

const kemName = "MLKEM768-X25519"

// Generate returns a new key whose id derives from its signing key.
func Generate() (*Key, error) {
	k, err := generateKeys()
	if err != nil {
		return nil, err
	}
	k.ID = tx.ActorID(k.SignPublic())
	return k, nil
}

// GenerateFor returns new keys for an existing actor id, for rotation.
func GenerateFor(id string) (*Key, error) {
	k, err := generateKeys()
	if err != nil {
		return nil, err
	}
	k.ID = id
	return k, nil
}

func generateKeys() (*Key, error) {
	_, sign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	h, err := tx.HPKE.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generate HPKE key: %w", err)
	}
	return &Key{Sign: sign, HPKE: h}, nil
}

// SignPublic returns the Ed25519 public key.
func (k *Key) SignPublic() ed25519.PublicKey { return k.Sign.Public().(ed25519.PublicKey) }

// HPKEPublic returns the serialized HPKE public key.
func (k *Key) HPKEPublic() []byte { return k.HPKE.PublicKey().Bytes() }

// Marshal returns the key file's JSON.
func (k *Key) Marshal() ([]byte, error) {
	hpkePriv, err := k.HPKE.Bytes()
	if err != nil {
		return nil, fmt.Errorf("serialize HPKE key: %w", err)
	}
	return json.MarshalIndent(fileFormat{Version: 1, ID: k.ID, SignPrivateKey: k.Sign.Seed(),
		SignPublicKey: k.SignPublic(), HPKEPrivateKey: hpkePriv, HPKEPublicKey: k.HPKEPublic(), KEM: kemName}, "", "  ")
}

// Save writes the key to path with mode 0600. It refuses to overwrite an
// existing file.
func (k *Key) Save(path string) error {
	b, err := k.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; refusing to overwrite a key", path)
	}
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync key file: %w", err)
	}
	return f.Close()
}

// Load reads a key file.
func Load(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	k, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// Unmarshal parses a key file's JSON and checks that its halves match.
func Unmarshal(b []byte) (*Key, error) {
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("not a carechain key file: %w", err)
	}
	if f.Version != 1 || f.KEM != kemName {
		return nil, fmt.Errorf("unsupported key file (version %d, kem %q)", f.Version, f.KEM)
	}
	if len(f.SignPrivateKey) != ed25519.SeedSize {
		return nil, errors.New("signing key has the wrong length")
	}
	sign := ed25519.NewKeyFromSeed(f.SignPrivateKey)
	if f.SignPublicKey != nil && !sign.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(f.SignPublicKey)) {
		return nil, errors.New("signing public key does not match the private key")
	}
	h, err := tx.HPKE.NewPrivateKey(f.HPKEPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("HPKE private key: %w", err)
	}
	if f.HPKEPublicKey != nil && string(h.PublicKey().Bytes()) != string(f.HPKEPublicKey) {
		return nil, errors.New("HPKE public key does not match the private key")
	}
	if f.ID == "" {
		return nil, errors.New("key file has no id")
	}
	return &Key{ID: f.ID, Sign: sign, HPKE: h}, nil
}
