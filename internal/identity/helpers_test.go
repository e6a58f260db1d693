package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

const testChain = "carechain-test"

// key is a deterministic actor key, so that failures reproduce exactly.
type key struct {
	sign ed25519.PrivateKey
	hpke []byte
}

func newKey(t testing.TB, label string) key {
	t.Helper()
	seed := sha256.Sum256([]byte("carechain/identity-test/sign/" + label))
	ikm := sha256.Sum256([]byte("carechain/identity-test/hpke/" + label))
	priv, err := tx.HPKE.DeriveKeyPair(ikm[:])
	if err != nil {
		t.Fatal(err)
	}
	return key{sign: ed25519.NewKeyFromSeed(seed[:]), hpke: priv.PublicKey().Bytes()}
}

func (k key) pub() []byte { return k.sign.Public().(ed25519.PublicKey) }
func (k key) id() string  { return tx.ActorID(k.pub()) }

// ledger is an identity state in memory with a tracked nonce per signer, so
// tests can read as a sequence of transactions.
type ledger struct {
	t      *testing.T
	st     *kv.Memory
	admin  key
	height int64
	nonces map[string]uint64
}

func newLedger(t *testing.T) *ledger {
	t.Helper()
	l := &ledger{t: t, st: kv.NewMemory(), admin: newKey(t, "admin"), height: 1, nonces: map[string]uint64{}}
	if err := InitGenesis(l.st, Genesis{Admin: GenesisKeys{SignKey: l.admin.pub(), HPKEKey: l.admin.hpke}}); err != nil {
		t.Fatal(err)
	}
	return l
}

// run authenticates and applies m as the app does in a block: the nonce is
// used once authentication passes, whether or not the message succeeds. It
// returns the result code and checks that a failed message wrote nothing but
// the nonce.
func (l *ledger) run(signerID string, m tx.Msg) (Event, tx.Code) {
	l.t.Helper()
	t := &tx.Tx{ChainID: testChain, Signer: signerID, Nonce: l.nonces[signerID] + 1, Type: m.Type(), Body: m.Encode()}
	signer, err := Authenticate(l.st, t, m)
	if err != nil {
		return Event{}, tx.CodeOf(err)
	}
	l.nonces[signerID] = t.Nonce
	if err := UseNonce(l.st, signerID, t.Nonce); err != nil {
		l.t.Fatal(err)
	}
	before := dump(l.st)
	ev, err := Apply(l.st, signer, signerID, m, l.height)
	if err != nil {
		if after := dump(l.st); after != before {
			l.t.Fatalf("a failed %s changed state:\nbefore %s\nafter  %s", m.Type(), before, after)
		}
		return Event{}, tx.CodeOf(err)
	}
	return ev, tx.CodeOK
}

// mustRun is run that must succeed.
func (l *ledger) mustRun(signerID string, m tx.Msg) Event {
	l.t.Helper()
	ev, code := l.run(signerID, m)
	if code != tx.CodeOK {
		l.t.Fatalf("%s by %s: code %s", m.Type(), signerID, code)
	}
	return ev
}

func (l *ledger) reg(kind tx.Kind, name, org string, k key) *tx.RegisterActor {
	return tx.NewRegistration(testChain, kind, name, org, k.sign, k.hpke)
}

// org registers an organization through the admin and returns its key.
func (l *ledger) org(label string) key {
	k := newKey(l.t, label)
	l.mustRun(l.admin.id(), l.reg(tx.KindOrganization, label, "", k))
	return k
}

// member registers a practitioner of org and returns its key.
func (l *ledger) member(org key, label string) key {
	k := newKey(l.t, label)
	l.mustRun(org.id(), l.reg(tx.KindPractitioner, label, org.id(), k))
	return k
}

func (l *ledger) patient(label string) key {
	k := newKey(l.t, label)
	l.mustRun(k.id(), l.reg(tx.KindPatient, "", "", k))
	return k
}

func (l *ledger) actor(id string) *Actor {
	l.t.Helper()
	a, err := Get(l.st, id)
	if err != nil {
		l.t.Fatal(err)
	}
	return a
}

// dump renders a store's whole content in key order.
func dump(st kv.Reader) string {
	var b strings.Builder
	_ = st.Iterate(nil, nil, false, func(k, v []byte) bool {
		fmt.Fprintf(&b, "%s=%x;", k, v)
		return true
	})
	return b.String()
}

// brokenStore fails every operation, as a corrupt or unreachable disk would.
type brokenStore struct{}

var errDisk = errors.New("disk failure")

func (brokenStore) Get([]byte) ([]byte, error) { return nil, errDisk }
func (brokenStore) Set(_, _ []byte) error      { return errDisk }
func (brokenStore) Delete([]byte) error        { return errDisk }
func (brokenStore) Iterate(_, _ []byte, _ bool, _ func(k, v []byte) bool) error {
	return errDisk
}

func sorted(ids ...string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}
