package audit

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/carechain/carechain/internal/kv"
)

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// vectorEvent is a fixed, hand-readable event: golden files depend on it,
// so changing it changes them.
func vectorEvent(i int) Event {
	actions := []Action{ActionRecordRead, ActionRecordCreate, ActionRecordSearch, ActionConsentGrant, ActionRecordUpdate}
	e := Event{
		Height:   uint64(1 + i/3),
		Time:     epoch.Add(time.Duration(i/3) * 5 * time.Second),
		Actor:    fmt.Sprintf("prac-%d", i%4),
		ActorOrg: fmt.Sprintf("org-%d", i%2),
		Patient:  fmt.Sprintf("pat-%d", i%3),
		Action:   actions[i%len(actions)],
		Purpose:  "TREAT",
		Decision: Permit,
		Reason:   Reason{ConsentID: fmt.Sprintf("consent-%d", i%3), Provision: "provision[0]"},
		TxHash:   sha(fmt.Sprintf("tx-%d", i)),
	}
	switch e.Action {
	case ActionConsentGrant:
		e.Target = fmt.Sprintf("consent-%d", i)
		e.Actor, e.ActorOrg, e.Purpose = e.Patient, "", ""
		e.Reason = Reason{Rule: "patient-self"}
	case ActionRecordSearch:
	default:
		e.RecordIDs = []string{fmt.Sprintf("rec-%d", i)}
	}
	if i%7 == 6 {
		e.Decision = Deny
		e.Reason = Reason{Rule: "no-consent"}
	}
	return e
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// eventGen produces random but valid events in append order.
type eventGen struct {
	rnd      *rand.Rand
	patients int
	height   uint64
	t        time.Time
}

func newEventGen(seed uint64, patients int) *eventGen {
	return &eventGen{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), patients: patients, height: 1, t: epoch}
}

var (
	genActions  = []Action{ActionRecordRead, ActionRecordRead, ActionRecordRead, ActionRecordSearch, ActionRecordCreate, ActionRecordUpdate, ActionConsentGrant, ActionBreakGlass}
	genPurposes = []string{"TREAT", "TREAT", "HPAYMT", "HOPERAT", "PATRQT", "HRESCH"}
)

// patient picks a patient id; patient 0 is far busier than the others, so
// that some histories are long.
func (g *eventGen) patient() string {
	if g.rnd.IntN(20) == 0 {
		return "pat-0"
	}
	return fmt.Sprintf("pat-%d", 1+g.rnd.IntN(g.patients))
}

func (g *eventGen) next() Event {
	if g.rnd.IntN(4) == 0 {
		g.height++
		g.t = g.t.Add(time.Duration(1+g.rnd.IntN(6000)) * time.Millisecond)
	}
	org := g.rnd.IntN(20)
	e := Event{
		Height:   g.height,
		Time:     g.t,
		Actor:    fmt.Sprintf("prac-%d-%d", org, g.rnd.IntN(50)),
		ActorOrg: fmt.Sprintf("org-%d", org),
		Patient:  g.patient(),
		Action:   genActions[g.rnd.IntN(len(genActions))],
		Purpose:  genPurposes[g.rnd.IntN(len(genPurposes))],
		Decision: Permit,
		Reason:   Reason{ConsentID: fmt.Sprintf("c-%d", g.rnd.IntN(1000)), Provision: fmt.Sprintf("provision.provision[%d]", g.rnd.IntN(3)), Rule: "consent-permit"},
	}
	var tx [32]byte
	for i := range tx {
		tx[i] = byte(g.rnd.Uint32())
	}
	e.TxHash = tx[:]
	switch e.Action {
	case ActionConsentGrant:
		e.Target = fmt.Sprintf("c-%d", g.rnd.IntN(1000))
		e.Actor, e.ActorOrg, e.Purpose = e.Patient, "", ""
		e.Reason = Reason{Rule: "patient-self"}
	case ActionBreakGlass:
		e.Purpose, e.BreakGlass = "ETREAT", true
		e.Reason = Reason{Rule: "break-the-glass"}
	case ActionRecordSearch:
	default:
		e.RecordIDs = []string{fmt.Sprintf("rec-%08d", g.rnd.IntN(1e8))}
	}
	if g.rnd.IntN(10) == 0 {
		e.Decision = Deny
		e.Reason = Reason{Rule: "no-consent"}
	}
	return e
}

// buildLog appends events to a fresh store and returns it with the encoded
// events in order.
func buildLog(t testing.TB, events []Event) (*kv.Memory, [][]byte) {
	t.Helper()
	s, encs, err := appendAll(events)
	if err != nil {
		t.Fatal(err)
	}
	return s, encs
}

func appendAll(events []Event) (*kv.Memory, [][]byte, error) {
	s := kv.NewMemory()
	encs := make([][]byte, len(events))
	for i, e := range events {
		seq, leaf, err := Append(s, e)
		if err != nil {
			return nil, nil, fmt.Errorf("append %d: %w", i, err)
		}
		if seq != uint64(i) {
			return nil, nil, fmt.Errorf("append %d: assigned seq %d", i, seq)
		}
		if encs[i], err = GetEncoded(s, seq); err != nil {
			return nil, nil, err
		}
		if !bytes.Equal(leaf, LeafHash(encs[i])) {
			return nil, nil, fmt.Errorf("append %d: returned leaf hash differs from stored event's", i)
		}
	}
	return s, encs, nil
}

// The literal reference: RFC 6962 section 2.1 transcribed, recursion and
// all, over leaf hashes, with crypto/sha256 and nothing from the merkle
// library. Slow and obviously right.

func refLeaf(data []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, data...))
	return h[:]
}

func refNode(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

// refSplit is the largest power of two smaller than n.
func refSplit(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// refMTH is MTH(D[n]) given the leaf hashes of D.
func refMTH(leaves [][]byte) []byte {
	switch n := len(leaves); n {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return leaves[0]
	default:
		k := refSplit(n)
		return refNode(refMTH(leaves[:k]), refMTH(leaves[k:]))
	}
}

// refPath is PATH(m, D[n]), the inclusion proof of leaf m.
func refPath(m int, leaves [][]byte) [][]byte {
	n := len(leaves)
	if n <= 1 {
		return [][]byte{}
	}
	k := refSplit(n)
	if m < k {
		return append(refPath(m, leaves[:k]), refMTH(leaves[k:]))
	}
	return append(refPath(m-k, leaves[k:]), refMTH(leaves[:k]))
}

// refProof is PROOF(m, D[n]), the consistency proof from size m to n.
func refProof(m int, leaves [][]byte) [][]byte {
	if m == 0 || m == len(leaves) {
		return [][]byte{}
	}
	return refSubproof(m, leaves, true)
}

func refSubproof(m int, leaves [][]byte, b bool) [][]byte {
	n := len(leaves)
	if m == n {
		if b {
			return [][]byte{}
		}
		return [][]byte{refMTH(leaves)}
	}
	k := refSplit(n)
	if m <= k {
		return append(refSubproof(m, leaves[:k], b), refMTH(leaves[k:]))
	}
	return append(refSubproof(m-k, leaves[k:], false), refMTH(leaves[:k]))
}

// refVerifyInclusion is RFC 9162 section 2.1.3.2, step by step.
func refVerifyInclusion(index, size uint64, leaf []byte, path [][]byte, root []byte) bool {
	if index >= size {
		return false
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range path {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			r = refNode(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = refNode(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && bytes.Equal(r, root)
}

// refVerifyConsistency is RFC 9162 section 2.1.4.2, step by step, plus the
// two cases the RFC leaves to the caller: equal sizes (empty proof, equal
// roots) and an empty first tree (empty proof).
func refVerifyConsistency(first, second uint64, path [][]byte, firstRoot, secondRoot []byte) bool {
	switch {
	case first > second:
		return false
	case first == second:
		return len(path) == 0 && bytes.Equal(firstRoot, secondRoot)
	case first == 0:
		return len(path) == 0
	case len(path) == 0:
		return false
	}
	if first&(first-1) == 0 {
		path = append([][]byte{firstRoot}, path...)
	}
	fn, sn := first-1, second-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := path[0], path[0]
	for _, c := range path[1:] {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			fr = refNode(c, fr)
			sr = refNode(c, sr)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			sr = refNode(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	return bytes.Equal(fr, firstRoot) && bytes.Equal(sr, secondRoot) && sn == 0
}

func nodeID(level uint, index uint64) compact.NodeID { return compact.NewNodeID(level, index) }
