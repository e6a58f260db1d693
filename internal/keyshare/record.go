package keyshare

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"

	"go.dedis.ch/kyber/v4"

	"github.com/carechain/carechain/internal/codec"
)

// AssociatedData names the record version a ciphertext, its key and its
// shares belong to. It is authenticated, not encrypted: a ciphertext, a
// share or a commitment moved to another record, version or patient fails
// to verify.
type AssociatedData struct {
	RecordID string
	Version  uint64 // record versions start at 1
	Patient  string // the patient's pseudonymous ledger id
}

// Validate checks the shape of every field.
func (ad AssociatedData) Validate() error {
	if err := checkID("record id", ad.RecordID, MaxIDLen); err != nil {
		return err
	}
	if ad.Version == 0 {
		return invalidf("record %s: version 0; versions start at 1", ad.RecordID)
	}
	return checkID("patient id", ad.Patient, MaxIDLen)
}

func (ad AssociatedData) write(w *codec.Writer) {
	w.String(ad.RecordID)
	w.Uvarint(ad.Version)
	w.String(ad.Patient)
}

func readAssociatedData(r *codec.Reader) AssociatedData {
	ad := AssociatedData{RecordID: r.String(MaxIDLen), Version: r.Uvarint(), Patient: r.String(MaxIDLen)}
	if r.Err() == nil {
		if err := ad.Validate(); err != nil {
			r.Fail("%v", err)
		}
	}
	return ad
}

// bind returns domain followed by the canonical encoding of ad, the one
// byte string every derivation and check for this record starts from.
func (ad AssociatedData) bind(domain string) []byte {
	w := codec.NewWriter(len(domain) + 2*MaxIDLen + 12)
	w.Fixed([]byte(domain))
	ad.write(w)
	return w.Bytes()
}

func (ad AssociatedData) String() string {
	return fmt.Sprintf("record %s v%d", ad.RecordID, ad.Version)
}

// Domain separation strings. Each use of the secret scalar gets its own, so
// no derived value can stand in for another.
const (
	domainAESKey   = "carechain/record-key/v1/aes-256-gcm\x00"
	domainKeyCheck = "carechain/record-key/v1/key-commitment\x00"
	domainRecord   = "carechain/record/v1\x00"
)

// DataKey is one record version's key: a uniformly random scalar, the value
// that is Shamir-split, from which the AES-256 key and the public key
// commitment are derived with HKDF-SHA256. It is bound to the record it was
// made for. Its String method never prints the secret.
type DataKey struct {
	secret kyber.Scalar
	ad     AssociatedData
}

// usable reports whether k came from Seal or Combine; a zero DataKey holds
// no secret and is refused rather than dereferenced.
func (k *DataKey) usable() bool { return k != nil && k.secret != nil }

// Record returns the record version the key belongs to.
func (k *DataKey) Record() AssociatedData {
	if k == nil {
		return AssociatedData{}
	}
	return k.ad
}

// Equal reports whether k and o are the same key for the same record, in
// constant time with respect to the secret.
func (k *DataKey) Equal(o *DataKey) bool {
	if !k.usable() || !o.usable() || k.ad != o.ad {
		return false
	}
	return k.secret.Equal(o.secret)
}

// String and GoString have value receivers so that no verb prints the
// secret, whether given a DataKey or a pointer to one.
func (k DataKey) String() string   { return "keyshare.DataKey(" + k.ad.String() + ", secret redacted)" }
func (k DataKey) GoString() string { return k.String() }

// derive expands the secret under a domain bound to the record. HKDF's
// extract step turns the 252-bit scalar into a uniform pseudorandom key;
// the expand step separates the AES key from the key commitment.
func (k *DataKey) derive(domain string) ([]byte, error) {
	if !k.usable() {
		return nil, invalidf("an empty DataKey; keys come from Seal or Combine")
	}
	ikm, err := encodeScalar(k.secret)
	if err != nil {
		return nil, err
	}
	out, err := hkdf.Key(sha256.New, ikm[:], nil, string(k.ad.bind(domain)), 32)
	clear(ikm[:])
	if err != nil {
		return nil, fmt.Errorf("derive %s key: %w", k.ad, err)
	}
	return out, nil
}

// keyCheck is the key commitment published in the anchor. It lets a reader
// confirm the key it recovered is the one the writer used, and makes
// AES-GCM, which alone does not commit to its key, decrypt a ciphertext
// under at most one recoverable key. The construction (a second HKDF output
// published beside the ciphertext) is the one AWS's Encryption SDK uses for
// key commitment. It reveals nothing: it is a PRF output of a 252-bit secret.
func (k *DataKey) keyCheck() ([32]byte, error) {
	var out [32]byte
	b, err := k.derive(domainKeyCheck)
	if err != nil {
		return out, err
	}
	copy(out[:], b)
	return out, nil
}

func (k *DataKey) checks(want [32]byte) (bool, error) {
	got, err := k.keyCheck()
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1, nil
}

func (k *DataKey) gcm() (cipher.AEAD, error) {
	key, err := k.derive(domainAESKey)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("AES key for %s: %w", k.ad, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("GCM for %s: %w", k.ad, err)
	}
	return aead, nil
}

// Record ciphertext layout: format(1) | nonce(12) | AES-256-GCM output. The
// key is used for this one ciphertext only, so a random nonce is more than
// enough; it is drawn anyway so that reusing a key by mistake does not
// repeat a nonce.
const (
	ciphertextFormat = 1
	nonceSize        = 12
	tagSize          = 16
	// CiphertextOverhead is how much longer a record ciphertext is than its
	// plaintext.
	CiphertextOverhead = 1 + nonceSize + tagSize
)

// Seal encrypts plaintext for the record version ad under a fresh data key
// drawn from rand, and returns the ciphertext and the key to split.
func Seal(rand io.Reader, plaintext []byte, ad AssociatedData) ([]byte, *DataKey, error) {
	if err := ad.Validate(); err != nil {
		return nil, nil, fmt.Errorf("seal record: %w", err)
	}
	secret, err := randomScalar(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("seal %s: data key: %w", ad, err)
	}
	key := &DataKey{secret: secret, ad: ad}
	aead, err := key.gcm()
	if err != nil {
		return nil, nil, err
	}
	var nonce [nonceSize]byte
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, nil, fmt.Errorf("seal %s: nonce: %w", ad, err)
	}
	out := make([]byte, 0, CiphertextOverhead+len(plaintext))
	out = append(out, ciphertextFormat)
	out = append(out, nonce[:]...)
	out = aead.Seal(out, nonce[:], plaintext, ad.bind(domainRecord))
	return out, key, nil
}

// Decrypt opens a record ciphertext with key, checking that both belong to
// the record version ad.
func Decrypt(key *DataKey, ciphertext []byte, ad AssociatedData) ([]byte, error) {
	if !key.usable() {
		return nil, invalidf("decrypt %s: no key", ad)
	}
	if key.ad != ad {
		return nil, fmt.Errorf("decrypt %s: %w: the key belongs to %s", ad, ErrDecrypt, key.ad)
	}
	if len(ciphertext) < CiphertextOverhead {
		return nil, fmt.Errorf("decrypt %s: %w: %d bytes is shorter than any ciphertext", ad, ErrDecrypt, len(ciphertext))
	}
	if ciphertext[0] != ciphertextFormat {
		return nil, fmt.Errorf("decrypt %s: %w: format %d, want %d", ad, ErrDecrypt, ciphertext[0], ciphertextFormat)
	}
	aead, err := key.gcm()
	if err != nil {
		return nil, err
	}
	nonce, sealed := ciphertext[1:1+nonceSize], ciphertext[1+nonceSize:]
	plaintext, err := aead.Open(nil, nonce, sealed, ad.bind(domainRecord))
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", ad, ErrDecrypt)
	}
	return plaintext, nil
}
