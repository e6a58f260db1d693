package ledgerstate_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ledger is consent state in memory with registered patients, applying
// messages as a block would, one transaction at a time.
type ledger struct {
	t      testing.TB
	st     *kv.Memory
	height int64
	nonces map[string]uint64
	actors map[string]*identity.Actor
}

func newLedger(t testing.TB) *ledger {
	return &ledger{t: t, st: kv.NewMemory(), height: 1, nonces: map[string]uint64{}, actors: map[string]*identity.Actor{}}
}

// register adds a self-registered actor (a patient or delegate) with a key
// derived from label.
func (l *ledger) register(kind tx.Kind, label string) string {
	l.t.Helper()
	seed := sha256.Sum256([]byte("carechain/ledgerstate-test/" + label))
	ikm := sha256.Sum256([]byte("carechain/ledgerstate-test/hpke/" + label))
	h, err := tx.HPKE.DeriveKeyPair(ikm[:])
	if err != nil {
		l.t.Fatal(err)
	}
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	id := tx.ActorID(pub)
	m := &tx.RegisterActor{Kind: kind, SignKey: pub, HPKEKey: h.PublicKey().Bytes()}
	if _, err := identity.Apply(l.st, identity.Signer{}, id, m, l.height); err != nil {
		l.t.Fatal(err)
	}
	a, err := identity.Get(l.st, id)
	if err != nil {
		l.t.Fatal(err)
	}
	l.actors[id] = a
	return id
}

// apply runs m signed by signer in the current block and returns the event
// or error. Each call is a transaction with its own hash.
func (l *ledger) apply(signer string, m tx.Msg) (ledgerstate.Event, error) {
	l.nonces[signer]++
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", signer, l.nonces[signer]))
	return ledgerstate.Apply(l.st, ledgerstate.Context{Signer: l.actors[signer], Nonce: l.nonces[signer], TxHash: h,
		Block: consent.Block{Height: l.height, Time: t0.Add(time.Duration(l.height) * time.Second)}}, m)
}

func (l *ledger) must(signer string, m tx.Msg) ledgerstate.Event {
	l.t.Helper()
	ev, err := l.apply(signer, m)
	if err != nil {
		l.t.Fatalf("%s by %s: %v", m.Type(), signer, err)
	}
	return ev
}

func permit(patient string, actor consent.Actor, purposes ...consent.Purpose) consent.Consent {
	return consent.Consent{Status: consent.StatusActive, Patient: patient, Provision: consent.Provision{
		Type: consent.Permit, Actors: []consent.Actor{actor}, Purposes: purposes}}
}

func grantMsg(c consent.Consent) *tx.GrantConsent {
	return &tx.GrantConsent{Patient: c.Patient, Consent: consent.Encode(c)}
}

func TestRecordRoundTrip(t *testing.T) {
	c := permit("ccpatient", consent.Identity("ccdoctor"), consent.PurposeTreatment)
	c.ID, c.Grantor = "csone", "ccpatient"
	for _, r := range []ledgerstate.Record{
		{Consent: c, GrantedAt: 5},
		{Consent: c, GrantedAt: 5, UpdatedAt: 9, RevokedAt: 12, RevokedBy: "ccdelegate"},
	} {
		enc := r.Encode()
		got, err := ledgerstate.DecodeRecord(enc)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(&r, got); d != "" {
			t.Fatalf("round trip (-want +got):\n%s", d)
		}
		if !bytes.Equal(got.Encode(), enc) {
			t.Fatal("decode-then-encode changed the bytes")
		}
		for _, bad := range [][]byte{nil, enc[:len(enc)-1], append(bytes.Clone(enc), 0), append([]byte{2}, enc[1:]...)} {
			if _, err := ledgerstate.DecodeRecord(bad); err == nil {
				t.Fatalf("DecodeRecord accepted %x", bad)
			}
		}
	}
}

// FuzzDecodeRecord: no panic, and whatever decodes re-encodes to the same
// bytes, so a proven value has one meaning.
func FuzzDecodeRecord(f *testing.F) {
	c := permit("ccpatient", consent.Role("gp"), consent.PurposeTreatment)
	c.ID, c.Grantor = "csone", "ccpatient"
	f.Add((&ledgerstate.Record{Consent: c, GrantedAt: 3, RevokedAt: 4, RevokedBy: "ccpatient"}).Encode())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ledgerstate.DecodeRecord(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatalf("decode-then-encode changed the bytes:\n in %x\nout %x", b, r.Encode())
		}
	})
}

func TestKeyLayout(t *testing.T) {
	l := newLedger(t)
	pat := l.register(tx.KindPatient, "patient")
	del := l.register(tx.KindDelegate, "delegate")
	ev := l.must(pat, grantMsg(permit(pat, consent.Identity("ccdoctor"), consent.PurposeTreatment)))
	l.must(pat, &tx.SetDelegate{Delegation: consent.EncodeDelegation(consent.Delegation{Patient: pat, Delegate: del,
		Operations: []consent.Operation{consent.OpGrant}})})
	l.must(pat, &tx.SetBreakGlassOptOut{Patient: pat, OptOut: true})
	var keys []string
	if err := l.st.Iterate([]byte("cs/"), kv.PrefixEnd([]byte("cs/")), false, func(k, _ []byte) bool {
		keys = append(keys, string(k))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"cs/c/" + pat + "/" + ev.ConsentID, "cs/d/" + pat + "/" + del, "cs/i/" + ev.ConsentID, "cs/o/" + pat, "cs/r/" + pat}
	if d := cmp.Diff(want, keys); d != "" {
		t.Fatalf("consent keys (-want +got):\n%s", d)
	}
	if v, _ := l.st.Get(ledgerstate.PatientKey(ev.ConsentID)); string(v) != pat {
		t.Fatalf("consent id maps to %q", v)
	}
	// The revision is SHA-256(zero || tx hash of the grant).
	first := sha256.Sum256(fmt.Appendf(nil, "%s/%d", pat, 1))
	want32 := sha256.Sum256(append(make([]byte, 32), first[:]...))
	if rev, err := ledgerstate.Revision(l.st, pat); err != nil || rev != want32 {
		t.Fatalf("revision %x, %v; want %x", rev, err, want32)
	}
	// Opting out and delegating do not change the patient's consents, so
	// the revision stays.
	if ev.ConsentID != tx.ConsentID(pat, 1) {
		t.Fatalf("consent id %s, want %s", ev.ConsentID, tx.ConsentID(pat, 1))
	}
}

// TestIndexCacheMatchesFreshIndex plays random grants, updates and
// revocations and, after each, requires every decision the cache gives to
// equal the one from an index built afresh from state. A cache keyed on
// anything less than the revision would serve an index from before the
// change; the test checks that the cache is in fact used and that decisions
// do change along the way, so a stale index could not go unnoticed.
func TestIndexCacheMatchesFreshIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := newLedger(t)
	patients := []string{l.register(tx.KindPatient, "p1"), l.register(tx.KindPatient, "p2")}
	cache := ledgerstate.NewIndexCache(8)
	actors := []consent.Actor{consent.Identity("ccdoc1"), consent.Identity("ccdoc2"), consent.Organization("ccorg1"), consent.Role("gp")}
	purposes := []consent.Purpose{consent.PurposeTreatment, consent.PurposeResearch}
	requests := func(patient string) []consent.Request {
		var out []consent.Request
		for _, who := range []struct{ id, org string }{{"ccdoc1", "ccorg1"}, {"ccdoc2", ""}, {"ccnurse", "ccorg2"}} {
			for _, p := range purposes {
				for _, labels := range [][]string{nil, {"PSY"}} {
					out = append(out, consent.Request{Requester: who.id, RequesterOrg: who.org, Roles: []string{"gp"}, Patient: patient,
						Action: consent.ActionAccess, Purpose: p, Record: consent.Record{Type: "Observation", Labels: labels}})
				}
			}
		}
		return out
	}
	var active [2][]string
	changed := 0
	var previous map[string]string
	for step := 0; step < 300; step++ {
		pi := rng.IntN(2)
		pat := patients[pi]
		l.height++
		switch op := rng.IntN(4); {
		case op <= 1 || len(active[pi]) == 0:
			c := permit(pat, actors[rng.IntN(len(actors))], purposes[rng.IntN(len(purposes))])
			if rng.IntN(3) == 0 {
				c.Provision.Type = consent.Deny
			}
			if rng.IntN(3) == 0 {
				c.Provision.Labels = []string{"PSY"}
			}
			ev := l.must(pat, grantMsg(c))
			active[pi] = append(active[pi], ev.ConsentID)
		case op == 2:
			i := rng.IntN(len(active[pi]))
			c := permit(pat, actors[rng.IntN(len(actors))], purposes[rng.IntN(len(purposes))])
			c.ID = active[pi][i]
			l.must(pat, &tx.UpdateConsent{Patient: pat, Consent: consent.Encode(c)})
		default:
			i := rng.IntN(len(active[pi]))
			l.must(pat, &tx.RevokeConsent{Patient: pat, ConsentID: active[pi][i]})
			active[pi] = append(active[pi][:i], active[pi][i+1:]...)
		}
		now := map[string]string{}
		circ := consent.Circumstances{Block: consent.Block{Height: l.height, Time: t0.Add(time.Duration(l.height) * time.Second)}}
		for _, p := range patients {
			fresh, err := ledgerstate.LoadIndex(l.st, p)
			if err != nil {
				t.Fatal(err)
			}
			// Twice from the cache: the second is a hit whenever the first
			// was a miss.
			for range 2 {
				for i, req := range requests(p) {
					got, err := cache.Decide(l.st, req, circ)
					if err != nil {
						t.Fatal(err)
					}
					want := consent.Decide(fresh, req, circ)
					if d := cmp.Diff(want, got); d != "" {
						t.Fatalf("step %d, patient %s, request %d: cached decision differs from a fresh index (-fresh +cached):\n%s", step, p, i, d)
					}
					now[fmt.Sprint(p, i)] = got.String()
				}
			}
		}
		if previous != nil && !cmp.Equal(previous, now) {
			changed++
		}
		previous = now
	}
	entries, builds := cache.Stats()
	if entries == 0 || entries > 8 {
		t.Fatalf("cache holds %d entries; its bound is 8", entries)
	}
	if builds > 2*300 {
		t.Fatalf("%d index builds for 300 changes: the cache is not being used", builds)
	}
	if changed < 50 {
		t.Fatalf("decisions changed after only %d of 300 steps: the test would not notice a stale index", changed)
	}
}

// TestIndexCacheSharedAcrossStates serves two states with different
// revisions of one patient from one cache, as the app does for the
// mempool's view and committed state.
func TestIndexCacheSharedAcrossStates(t *testing.T) {
	l := newLedger(t)
	pat := l.register(tx.KindPatient, "p")
	ev := l.must(pat, grantMsg(permit(pat, consent.Identity("ccdoc1"), consent.PurposeTreatment)))
	before := kv.NewMemory()
	if err := l.st.Iterate(nil, nil, false, func(k, v []byte) bool { _ = before.Set(k, v); return true }); err != nil {
		t.Fatal(err)
	}
	l.must(pat, &tx.RevokeConsent{Patient: pat, ConsentID: ev.ConsentID})
	cache := ledgerstate.NewIndexCache(4)
	req := consent.Request{Requester: "ccdoc1", Patient: pat, Action: consent.ActionAccess, Purpose: consent.PurposeTreatment,
		Record: consent.Record{Type: "Observation"}}
	circ := consent.Circumstances{Block: consent.Block{Height: 2, Time: t0}}
	for range 2 {
		if d, _ := cache.Decide(before, req, circ); !d.Allowed {
			t.Fatalf("before the revocation: %s", d)
		}
		if d, _ := cache.Decide(l.st, req, circ); d.Allowed || d.Reason != consent.ReasonNoConsent {
			t.Fatalf("after the revocation: %s", d)
		}
	}
	if entries, builds := cache.Stats(); entries != 2 || builds != 2 {
		t.Fatalf("%d entries, %d builds; want one of each per revision", entries, builds)
	}
	// The opt-out comes from state, not from the caller.
	l.must(pat, &tx.SetBreakGlassOptOut{Patient: pat, OptOut: true})
	bg := req
	bg.Roles, bg.BreakGlass, bg.Purpose = []string{consent.DefaultEmergencyRole}, true, consent.PurposeEmergencyTreatment
	if d, _ := cache.Decide(l.st, bg, circ); d.Reason != consent.ReasonBreakTheGlassOptedOut {
		t.Fatalf("break-the-glass after opting out: %s", d)
	}
	// An id that is not one is refused as a request, without a state read.
	bad := req
	bad.Patient = "a/b"
	if d, err := cache.Decide(l.st, bad, circ); err != nil || d.Reason != consent.ReasonInvalidRequest {
		t.Fatalf("bad patient id: %s, %v", d, err)
	}
}

// TestIndexCacheConcurrent shares one cache among goroutines deciding for
// several patients at once, as the gateway's handlers do; run with -race.
func TestIndexCacheConcurrent(t *testing.T) {
	l := newLedger(t)
	var patients []string
	for i := range 6 {
		p := l.register(tx.KindPatient, fmt.Sprint("p", i))
		l.must(p, grantMsg(permit(p, consent.Identity("ccdoc1"), consent.PurposeTreatment)))
		patients = append(patients, p)
	}
	cache := ledgerstate.NewIndexCache(3) // smaller than the patients: evictions race with hits
	circ := consent.Circumstances{Block: consent.Block{Height: 2, Time: t0}}
	done := make(chan error)
	for g := range 4 {
		go func() {
			for i := range 200 {
				p := patients[(g+i)%len(patients)]
				d, err := cache.Decide(l.st, consent.Request{Requester: "ccdoc1", Patient: p, Action: consent.ActionAccess,
					Purpose: consent.PurposeTreatment, Record: consent.Record{Type: "Observation"}}, circ)
				if err == nil && !d.Allowed {
					err = fmt.Errorf("patient %s: %s", p, d)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := cache.Stats(); entries > 3 {
		t.Fatalf("%d entries in a cache of 3", entries)
	}
}
