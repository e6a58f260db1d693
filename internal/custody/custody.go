// Package custody is a validator's side of record keys. It keeps every
// record version's custody blob (ciphertext and sealed shares) in the
// node's blob store, releases this validator's share only for an access
// the committed ledger permitted and recorded, serves ciphertext only to
// permitted readers and authenticated peer validators, and keeps the blob
// store in step with the ledger: missing blobs are fetched from peers and
// checked against their anchored hash, erased ones are deleted.
//
// It is an edge package: it reads committed state, never the working tree,
// so nothing it does can run ahead of consensus.
package custody

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/blobstore"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyshare"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/tx"
)

// DefaultReleaseWindow is how many blocks after a permitted access its
// shares may still be released. A reader collects them within seconds; an
// older event is not a licence to read again later — after a revocation
// above all — so it must ask again, and the ledger decides again.
const DefaultReleaseWindow = 600

// Committed reads the node's last committed state.
type Committed func() (kv.Reader, int64, error)

// Peer is another node's gateway.
type Peer struct {
	Address string // validator address, upper-case hex
	API     string // gateway base URL
}

// Config is what a Service needs.
type Config struct {
	ChainID string
	Blobs   blobstore.Store
	// HPKE is this validator's HPKE private key, whose public half the
	// ledger lists; its shares are sealed to it.
	HPKE hpke.PrivateKey
	// PeerKey is this validator's consensus key (Ed25519), whose address
	// the ledger lists: it signs this node's blob requests to peers.
	PeerKey ed25519.PrivateKey
	Peers   []Peer
	State   Committed
	// StateAt reads the committed state after block height, to compare a
	// patient's consents then and now.
	StateAt       func(height int64) (kv.Reader, error)
	ReleaseWindow int64 // blocks; 0 means DefaultReleaseWindow
	Log           *slog.Logger
	HTTP          *http.Client
}

// Service is one validator's custody of record keys and ciphertext.
type Service struct {
	cfg     Config
	address []byte
	id      string

	mu      sync.Mutex
	missing map[blobstore.Hash]bool // blobs the ledger names that no peer has served yet
}

// New returns a custody service.
func New(cfg Config) (*Service, error) {
	if cfg.Blobs == nil || cfg.HPKE == nil || cfg.State == nil || cfg.StateAt == nil || len(cfg.PeerKey) != ed25519.PrivateKeySize {
		return nil, errors.New("custody: blob store, HPKE key, peer key and state are required")
	}
	if cfg.ReleaseWindow == 0 {
		cfg.ReleaseWindow = DefaultReleaseWindow
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	addr := PeerAddress(cfg.PeerKey.Public().(ed25519.PublicKey))
	return &Service{cfg: cfg, address: addr, id: records.CustodianID(addr), missing: make(map[blobstore.Hash]bool)}, nil
}

// Address is this validator's address.
func (s *Service) Address() []byte { return s.address }

// Error is a refusal with the HTTP status and result code to answer it
// with.
type Error struct {
	Status int
	Code   tx.Code
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func refuse(status int, code tx.Code, format string, args ...any) error {
	return &Error{Status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// NotYetCommitted is in the refusal of a share for an audit event beyond
// this validator's committed log: a reader's gateway may have committed
// the block first, and asks again.
const NotYetCommitted = "is not in the committed log"

// Release re-seals this validator's share of a record version to the
// reader named by audit event seq, if and only if that event is in the
// committed log, permitted a read of exactly this version, is recent, and
// the record is not erased. This is audit-before-access: no share leaves
// for an access the ledger has not first permitted and recorded.
func (s *Service) Release(ctx context.Context, recordID string, version uint64, seq uint64) (keyshare.SealedShare, error) {
	snap, height, err := s.cfg.State()
	if err != nil {
		return keyshare.SealedShare{}, err
	}
	ev, v, err := s.permitted(snap, height, recordID, version, seq)
	if err != nil {
		return keyshare.SealedShare{}, err
	}
	index := -1
	for i, c := range v.Custodians {
		if string(c) == string(s.address) {
			index = i
		}
	}
	if index < 0 {
		return keyshare.SealedShare{}, refuse(http.StatusNotFound, tx.CodeNotFound, "this validator holds no share of record %s version %d", recordID, v.Version)
	}
	blob, err := s.blob(ctx, v.BlobHash)
	if err != nil {
		return keyshare.SealedShare{}, err
	}
	b, err := records.DecodeBlob(blob)
	if err != nil || index >= len(b.Shares) {
		return keyshare.SealedShare{}, fmt.Errorf("custody blob of %s v%d is not usable: %v", recordID, v.Version, err)
	}
	// The recipient, not the actor, when an organization signed the access
	// for one of its members: its gateway holds the key that opens shares.
	reader, err := identity.Get(snap, ev.ReleaseTo())
	if err != nil {
		return keyshare.SealedShare{}, err
	}
	if reader.Revoked {
		return keyshare.SealedShare{}, refuse(http.StatusForbidden, tx.CodeSignerRevoked, "the reader's keys were revoked")
	}
	pub, err := tx.HPKE.NewPublicKey(reader.HPKEKey)
	if err != nil {
		return keyshare.SealedShare{}, fmt.Errorf("reader %s HPKE key: %w", reader.ID, err)
	}
	custody := keyshare.ShareInfo{ChainID: s.cfg.ChainID, RecordID: v.RecordID, Version: v.Version, Index: uint8(index), Recipient: s.id}
	release := custody
	release.Recipient, release.AuditSeq = reader.ID, seq
	out, err := keyshare.Reseal(s.cfg.HPKE, b.Shares[index], custody, pub, release)
	if err != nil {
		return keyshare.SealedShare{}, fmt.Errorf("release share %d of %s v%d: %w", index, v.RecordID, v.Version, err)
	}
	s.cfg.Log.Info("key share released", "record", v.RecordID, "version", v.Version, "index", index, "reader", reader.ID, "audit_seq", seq)
	return out, nil
}

// permitted finds the committed audit event seq and checks that it permits
// a read of the version, returning it and the version.
func (s *Service) permitted(snap kv.Reader, height int64, recordID string, version uint64, seq uint64) (audit.Event, *records.Version, error) {
	size, _, err := audit.Root(snap)
	if err != nil {
		return audit.Event{}, nil, err
	}
	if seq >= size {
		return audit.Event{}, nil, refuse(http.StatusNotFound, tx.CodeNotFound, "audit event %d %s (size %d): no share before the access is on the ledger", seq, NotYetCommitted, size)
	}
	ev, err := audit.Get(snap, seq)
	if err != nil {
		return audit.Event{}, nil, err
	}
	if ev.Action != audit.ActionRecordRead || ev.Decision != audit.Permit {
		return audit.Event{}, nil, refuse(http.StatusForbidden, tx.CodeAccessDenied, "audit event %d is a %s %s, not a permitted read", seq, ev.Decision, ev.Action)
	}
	if height-int64(ev.Height) > s.cfg.ReleaseWindow {
		return audit.Event{}, nil, refuse(http.StatusForbidden, tx.CodeAccessDenied, "audit event %d is from height %d, more than %d blocks ago: request access again", seq, ev.Height, s.cfg.ReleaseWindow)
	}
	if err := s.stillPermitted(snap, ev, seq); err != nil {
		return audit.Event{}, nil, err
	}
	rec, v, err := records.GetVersion(snap, recordID, version)
	if err != nil {
		if tx.CodeOf(err) == tx.CodeNotFound {
			return audit.Event{}, nil, refuse(http.StatusNotFound, tx.CodeNotFound, "%v", err)
		}
		return audit.Event{}, nil, err
	}
	if rec.Erased {
		return audit.Event{}, nil, refuse(http.StatusGone, tx.CodeErased, "record %s was erased at height %d", rec.ID, rec.ErasedAt)
	}
	ref := tx.RecordRef{ID: v.RecordID, Version: v.Version}.String()
	found := false
	for _, id := range ev.RecordIDs {
		found = found || id == ref
	}
	if !found {
		return audit.Event{}, nil, refuse(http.StatusForbidden, tx.CodeAccessDenied, "audit event %d did not permit a read of %s", seq, ref)
	}
	return ev, v, nil
}

// stillPermitted refuses a release for a permit the patient has since
// taken back: their consents changed after the access was decided (a
// revocation above all), or they opted out of break-the-glass after an
// emergency access. The reader must ask again, and the ledger decides
// again. Any change counts, not only one that would deny this reader:
// telling them apart would mean deciding here, outside consensus.
func (s *Service) stillPermitted(now kv.Reader, ev audit.Event, seq uint64) error {
	then, err := s.cfg.StateAt(int64(ev.Height))
	if err != nil {
		return err
	}
	revThen, err := ledgerstate.Revision(then, ev.Patient)
	if err != nil {
		return err
	}
	revNow, err := ledgerstate.Revision(now, ev.Patient)
	if err != nil {
		return err
	}
	if revThen != revNow {
		return refuse(http.StatusForbidden, tx.CodeAccessDenied, "the patient's consents changed after audit event %d permitted this read: request access again", seq)
	}
	if ev.BreakGlass {
		out, err := ledgerstate.OptedOut(now, ev.Patient)
		if err != nil {
			return err
		}
		if out {
			return refuse(http.StatusForbidden, tx.CodeAccessDenied, "the patient opted out of break-the-glass after audit event %d", seq)
		}
	}
	return nil
}

// ReaderBlob returns a custody blob to a reader whose access audit event
// seq permitted a read of a version stored in it.
func (s *Service) ReaderBlob(ctx context.Context, h blobstore.Hash, recordID string, version uint64, seq uint64) ([]byte, error) {
	snap, height, err := s.cfg.State()
	if err != nil {
		return nil, err
	}
	_, v, err := s.permitted(snap, height, recordID, version, seq)
	if err != nil {
		return nil, err
	}
	if v.BlobHash != h {
		return nil, refuse(http.StatusNotFound, tx.CodeNotFound, "blob %s is not the custody blob of %s v%d", h, v.RecordID, v.Version)
	}
	return s.blob(ctx, h)
}

// PeerBlob returns a blob to an authenticated peer validator, for
// replication. Only blobs a committed, unerased record version names are
// served.
func (s *Service) PeerBlob(r *http.Request, h blobstore.Hash) ([]byte, error) {
	snap, _, err := s.cfg.State()
	if err != nil {
		return nil, err
	}
	if err := s.checkPeer(snap, r, h); err != nil {
		return nil, err
	}
	data, err := s.cfg.Blobs.Get(h)
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
		return nil, refuse(http.StatusNotFound, tx.CodeNotFound, "blob %s is not stored here", h)
	case err != nil:
		return nil, err
	}
	return data, nil
}

// blob reads a blob, fetching it from peers when it is missing or corrupt
// here.
func (s *Service) blob(ctx context.Context, h blobstore.Hash) ([]byte, error) {
	data, err := s.cfg.Blobs.Get(h)
	if err == nil {
		return data, nil
	}
	if !errors.Is(err, blobstore.ErrNotFound) && !errors.Is(err, blobstore.ErrCorrupt) {
		return nil, err
	}
	if errors.Is(err, blobstore.ErrCorrupt) {
		s.cfg.Log.Error("stored blob is corrupt; fetching it from peers", "blob", h.String())
	}
	if err := s.Ensure(ctx, h); err != nil {
		return nil, refuse(http.StatusServiceUnavailable, tx.CodeNotFound, "blob %s is neither here nor at any peer: %v", h, err)
	}
	return s.cfg.Blobs.Get(h)
}

// Ensure makes sure blob h is stored here intact, fetching it from the
// peers in turn and keeping the first copy that hashes to h. A peer that
// serves anything else is logged and skipped.
func (s *Service) Ensure(ctx context.Context, h blobstore.Hash) error {
	if _, err := s.cfg.Blobs.Get(h); err == nil {
		return nil
	}
	var errs []error
	for _, p := range s.Peers() {
		data, err := s.fetch(ctx, p, h)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.API, err))
			continue
		}
		if blobstore.Sum(data) != h {
			s.cfg.Log.Warn("peer served a blob that does not match its hash", "peer", p.Address, "blob", h.String())
			errs = append(errs, fmt.Errorf("%s served a corrupt copy", p.API))
			continue
		}
		if _, err := s.cfg.Blobs.Put(data); err != nil {
			return err
		}
		s.mu.Lock()
		delete(s.missing, h)
		s.mu.Unlock()
		return nil
	}
	if len(errs) == 0 {
		return errors.New("no peers configured")
	}
	return errors.Join(errs...)
}

func (s *Service) fetch(ctx context.Context, p Peer, h blobstore.Hash) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(p.API, "/")+"/v1/blobs/"+h.String(), nil)
	if err != nil {
		return nil, err
	}
	s.signPeerRequest(req, h, time.Now())
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return readLimited(resp, records.MaxBlobBytes)
}

// Peer authentication: a node asks a peer for a blob with a signature by
// its consensus key over the chain, the blob and the time, and the peer
// serves it only if that key's address is one of the ledger's validators
// and the time is within a minute of its own clock.
const (
	headerPeerKey  = "Carechain-Peer-Key"
	headerPeerTime = "Carechain-Peer-Time"
	headerPeerSig  = "Carechain-Peer-Signature"
	peerDomain     = "carechain/peer-blob/v1\x00"
	peerClockSkew  = time.Minute
)

func peerMessage(chainID string, h blobstore.Hash, unix int64) []byte {
	return []byte(peerDomain + chainID + "\x00" + h.String() + "\x00" + strconv.FormatInt(unix, 10))
}

func (s *Service) signPeerRequest(req *http.Request, h blobstore.Hash, now time.Time) {
	unix := now.Unix()
	req.Header.Set(headerPeerKey, hex.EncodeToString(s.cfg.PeerKey.Public().(ed25519.PublicKey)))
	req.Header.Set(headerPeerTime, strconv.FormatInt(unix, 10))
	req.Header.Set(headerPeerSig, hex.EncodeToString(ed25519.Sign(s.cfg.PeerKey, peerMessage(s.cfg.ChainID, h, unix))))
}

func (s *Service) checkPeer(snap kv.Reader, r *http.Request, h blobstore.Hash) error {
	key, err1 := hex.DecodeString(r.Header.Get(headerPeerKey))
	sig, err2 := hex.DecodeString(r.Header.Get(headerPeerSig))
	unix, err3 := strconv.ParseInt(r.Header.Get(headerPeerTime), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || len(key) != ed25519.PublicKeySize {
		return refuse(http.StatusUnauthorized, tx.CodeUnauthorized, "blobs are served to permitted readers (?record=&version=&event=) and to validators signing with their consensus key")
	}
	if d := time.Since(time.Unix(unix, 0)); d > peerClockSkew || d < -peerClockSkew {
		return refuse(http.StatusUnauthorized, tx.CodeUnauthorized, "peer request time is %s away from this node's clock", d.Round(time.Second))
	}
	if !ed25519.Verify(key, peerMessage(s.cfg.ChainID, h, unix), sig) {
		return refuse(http.StatusUnauthorized, tx.CodeBadSignature, "peer signature does not verify")
	}
	vals, err := identity.Validators(snap)
	if err != nil {
		return err
	}
	addr := PeerAddress(key)
	for _, v := range vals {
		if string(v.Address) == string(addr) {
			return nil
		}
	}
	return refuse(http.StatusForbidden, tx.CodeUnauthorized, "%X is not a validator of this chain", addr)
}

// PeerAddress is a consensus key's validator address, as CometBFT derives
// it: the first 20 bytes of its SHA-256.
func PeerAddress(pub ed25519.PublicKey) []byte {
	sum := sha256.Sum256(pub)
	return sum[:20]
}

// Peers are the other validators' gateways: those configured, and those
// the ledger lists for validators the configuration does not name (a
// validator that joined later). A configured address wins: operators may
// reach a peer by an internal name.
func (s *Service) Peers() []Peer {
	peers := slices.Clone(s.cfg.Peers)
	snap, _, err := s.cfg.State()
	if err != nil {
		return peers
	}
	vals, err := identity.Validators(snap)
	if err != nil {
		return peers
	}
	known := make(map[string]bool, len(peers))
	for _, p := range peers {
		known[strings.ToUpper(p.Address)] = true
	}
	for _, v := range vals {
		addr := strings.ToUpper(hex.EncodeToString(v.Address))
		if v.API == "" || known[addr] || string(v.Address) == string(s.address) {
			continue
		}
		peers = append(peers, Peer{Address: addr, API: v.API})
	}
	return peers
}
