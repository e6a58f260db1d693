package smart

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/tx"
)

// ledger is an in-memory Clients.
type ledger struct {
	mu      sync.Mutex
	clients map[string]*Client
	fail    error
}

func (l *ledger) Client(id string) (*Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, l.fail
	}
	c, ok := l.clients[id]
	if !ok {
		return nil, fmt.Errorf("actor %s: %w", id, ErrUnknownClient)
	}
	cp := *c
	return &cp, nil
}

func (l *ledger) update(id string, f func(*Client)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l.clients[id])
}

// party is a ledger actor with its private key.
type party struct {
	id  string
	key ed25519.PrivateKey
}

func newParty(seed byte) party {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	k := ed25519.NewKeyFromSeed(s)
	return party{id: tx.ActorID(k.Public().(ed25519.PublicKey)), key: k}
}

// world is a ledger with one actor of each interesting kind, and a second
// organization with a practitioner of its own.
type world struct {
	ledger                        *ledger
	org, app, doc, patient, stray party // stray is not registered
	other, outsider               party // outsider is a practitioner of other
}

func newWorld() *world {
	w := &world{ledger: &ledger{clients: map[string]*Client{}}, org: newParty(1), app: newParty(2), doc: newParty(3), patient: newParty(4), stray: newParty(5),
		other: newParty(6), outsider: newParty(7)}
	add := func(p party, k tx.Kind, org string) {
		w.ledger.clients[p.id] = &Client{ID: p.id, Kind: k, Org: org, SignKey: p.key.Public().(ed25519.PublicKey), KeyVersion: 1}
	}
	add(w.org, tx.KindOrganization, w.org.id)
	add(w.app, tx.KindApplication, w.org.id)
	add(w.doc, tx.KindPractitioner, w.org.id)
	add(w.patient, tx.KindPatient, "")
	add(w.other, tx.KindOrganization, w.other.id)
	add(w.outsider, tx.KindPractitioner, w.other.id)
	return w
}

const testAud = "http://127.0.0.1:1/auth/token"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func assertion(t testing.TB, p party, aud string, now time.Time, life time.Duration, jti string) string {
	t.Helper()
	a, err := NewAssertion(p.key, p.id, aud, now, life, jti, "")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func reasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
