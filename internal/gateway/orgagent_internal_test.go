package gateway

import (
	"testing"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// TestAgentAdmitted follows the organization agent's nonce count through
// what the mempool answers: an admission keeps it, a refusal gives the
// nonce back, and a nonce refusal — a replay, or a gap left by a lost
// transaction ahead — makes it ask the node again rather than send the
// same nonce into the same gap.
func TestAgentAdmitted(t *testing.T) {
	key, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		code     tx.Code
		wantNext uint64
	}{
		{"admitted", tx.CodeOK, 8},
		{"refused", tx.CodeInvalid, 7},
		{"nonce replayed", tx.CodeNonceReplayed, 0},
		{"nonce gap", tx.CodeNonceGap, 0},
	}
	for _, c := range cases {
		a := newOrgAgent(key, client.New("http://127.0.0.1:1"))
		done, err := a.begin(t.Context(), false)
		if err != nil {
			t.Fatal(err)
		}
		a.next = 7
		n, err := a.nonce(t.Context(), key.ID)
		if err != nil || n != 7 {
			t.Fatalf("%s: nonce %d %v", c.name, n, err)
		}
		a.admitted(tx.Build("chain", key.ID, n, &tx.RevokeActor{Actor: key.ID}, key.Sign), uint32(c.code), nil)
		if a.next != c.wantNext || a.pending != 0 {
			t.Errorf("%s: next %d pending %d, want next %d and nothing pending", c.name, a.next, a.pending, c.wantNext)
		}
		select {
		case a.slot <- struct{}{}:
			<-a.slot
		default:
			t.Errorf("%s: the answer did not free the slot", c.name)
		}
		done()
	}
}
