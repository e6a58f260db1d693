package keyshare

import (
	"crypto/hpke"
	"fmt"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/tx"
)

// The HPKE suite for shares: carechain's KEM (ML-KEM-768 with X25519), with
// HKDF-SHA256 and AES-256-GCM.
var (
	shareKDF  = hpke.HKDFSHA256()
	shareAEAD = hpke.AES256GCM()
)

// ShareInfo is the context a sealed share is bound to through HPKE's info
// parameter: opening with any field different fails. Custody seals (to the
// validator that keeps the share) and releases (to a reader) are also told
// apart, so one can never be presented as the other.
type ShareInfo struct {
	ChainID   string
	RecordID  string
	Version   uint64
	Index     uint8  // the share's index
	Recipient string // actor id of the key the share is sealed to
	// AuditSeq is, for a release, the sequence number of the committed audit
	// event that permitted the read, so a released share names the access
	// it was released for. It must be 0 for custody.
	AuditSeq uint64
}

type stage byte

const (
	stageCustody stage = 1
	stageRelease stage = 2
)

func (s stage) String() string {
	if s == stageCustody {
		return "custody"
	}
	return "release"
}

func (in ShareInfo) validate(st stage) error {
	if err := checkID("chain id", in.ChainID, MaxChainIDLen); err != nil {
		return err
	}
	if err := checkID("record id", in.RecordID, MaxIDLen); err != nil {
		return err
	}
	if in.Version == 0 {
		return invalidf("record %s: version 0; versions start at 1", in.RecordID)
	}
	if int(in.Index) >= MaxShares {
		return invalidf("share index %d; at most %d", in.Index, MaxShares-1)
	}
	if err := checkID("recipient", in.Recipient, MaxIDLen); err != nil {
		return err
	}
	if st == stageCustody && in.AuditSeq != 0 {
		return invalidf("custody seal with audit event %d; only releases name one", in.AuditSeq)
	}
	return nil
}

const domainShareHPKE = "carechain/keyshare/hpke/v1\x00"

func (in ShareInfo) bytes(st stage) []byte {
	w := codec.NewWriter(len(domainShareHPKE) + 3*MaxIDLen + 32)
	w.Fixed([]byte(domainShareHPKE))
	w.Byte(byte(st))
	w.String(in.ChainID)
	w.String(in.RecordID)
	w.Uvarint(in.Version)
	w.Byte(in.Index)
	w.String(in.Recipient)
	w.Uvarint(in.AuditSeq)
	return w.Bytes()
}

func (in ShareInfo) String() string {
	return fmt.Sprintf("share %d of record %s v%d for %s", in.Index, in.RecordID, in.Version, in.Recipient)
}

// SealedShare is a share encrypted to one recipient. Index is in the clear
// so a store or a reader can file it without opening it; it is also bound
// inside, so changing it makes the share fail to open.
type SealedShare struct {
	Index      uint8
	Ciphertext []byte // HPKE encapsulated key followed by the AEAD output
}

func checkSuite(kem hpke.KEM) error {
	if kem == nil || kem.ID() != tx.HPKE.ID() {
		return invalidf("HPKE key is not an ML-KEM-768+X25519 key")
	}
	return nil
}

// SealShare seals s to a validator's HPKE public key for custody.
func SealShare(validator hpke.PublicKey, s Share, info ShareInfo) (SealedShare, error) {
	return seal(validator, s, info, stageCustody)
}

// OpenShare opens a share sealed to this validator for custody.
func OpenShare(validator hpke.PrivateKey, sealed SealedShare, info ShareInfo) (Share, error) {
	return open(validator, sealed, info, stageCustody)
}

// Reseal releases a share: the validator opens its custody copy and seals
// the share to the reader. The caller must have seen the committed audit
// event that permitted the read (release.AuditSeq); this package cannot
// check that, so it is the one rule the caller owns. release must name the
// same chain, record, version and index as custody.
func Reseal(validator hpke.PrivateKey, sealed SealedShare, custody ShareInfo, reader hpke.PublicKey, release ShareInfo) (SealedShare, error) {
	if release.ChainID != custody.ChainID || release.RecordID != custody.RecordID ||
		release.Version != custody.Version || release.Index != custody.Index {
		return SealedShare{}, invalidf("release of %s names a different share (%s)", custody, release)
	}
	s, err := open(validator, sealed, custody, stageCustody)
	if err != nil {
		return SealedShare{}, err
	}
	out, err := seal(reader, s, release, stageRelease)
	clear(s.Value[:])
	clear(s.Salt[:])
	return out, err
}

// OpenReleased opens a share a validator released to this reader.
func OpenReleased(reader hpke.PrivateKey, sealed SealedShare, release ShareInfo) (Share, error) {
	return open(reader, sealed, release, stageRelease)
}

func seal(to hpke.PublicKey, s Share, info ShareInfo, st stage) (SealedShare, error) {
	if to == nil {
		return SealedShare{}, invalidf("seal %s: no recipient key", info)
	}
	if err := checkSuite(to.KEM()); err != nil {
		return SealedShare{}, fmt.Errorf("seal %s: %w", info, err)
	}
	if err := info.validate(st); err != nil {
		return SealedShare{}, fmt.Errorf("seal %s: %w", st, err)
	}
	if s.Index != info.Index {
		return SealedShare{}, invalidf("seal %s: the share has index %d", info, s.Index)
	}
	pt := s.Encode()
	ct, err := hpke.Seal(to, shareKDF, shareAEAD, info.bytes(st), pt)
	clear(pt)
	if err != nil {
		return SealedShare{}, fmt.Errorf("seal %s: %w", info, err)
	}
	return SealedShare{Index: s.Index, Ciphertext: ct}, nil
}

func open(with hpke.PrivateKey, sealed SealedShare, info ShareInfo, st stage) (Share, error) {
	if with == nil {
		return Share{}, invalidf("open %s: no private key", info)
	}
	if err := checkSuite(with.KEM()); err != nil {
		return Share{}, fmt.Errorf("open %s: %w", info, err)
	}
	if err := info.validate(st); err != nil {
		return Share{}, fmt.Errorf("open %s: %w", st, err)
	}
	if sealed.Index != info.Index {
		return Share{}, fmt.Errorf("open %s: %w: the sealed share is labelled index %d", info, ErrUnseal, sealed.Index)
	}
	pt, err := hpke.Open(with, shareKDF, shareAEAD, info.bytes(st), sealed.Ciphertext)
	if err != nil {
		return Share{}, fmt.Errorf("open %s (%s): %w", info, st, ErrUnseal)
	}
	s, err := DecodeShare(pt)
	clear(pt)
	if err != nil {
		// Authentic bytes that do not decode: the sealer was broken or hostile.
		return Share{}, fmt.Errorf("open %s: %w", info, err)
	}
	if s.Index != info.Index {
		return Share{}, fmt.Errorf("open %s: %w: the sealer put share %d inside", info, ErrUnseal, s.Index)
	}
	return s, nil
}
