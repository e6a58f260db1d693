package cluster

import (
	"testing"

	"github.com/carechain/carechain/internal/identity"
)

// patientsWhileDown is how many patients register while a validator is down:
// each waits for its own block, so they also show the height advancing.
const patientsWhileDown = 5

// TestKillAnyValidatorKeepsCommitting kills one validator of four with
// SIGKILL and registers patients through another node's gateway while it is
// down; the network must keep committing, and the restarted node must catch
// up to the same state root as the others, holding everything committed in
// its absence. It does this for two different validators in turn, the
// second only once the first has caught up, so that at most one (f = 1) is
// ever down.
func TestKillAnyValidatorKeepsCommitting(t *testing.T) {
	c := newTestnet(t, 4)
	for _, round := range []struct{ victim, gateway int }{{victim: 1, gateway: 2}, {victim: 3, gateway: 0}} {
		c.killRegisterAndCatchUp(round.victim, round.gateway)
	}
}

func (c *cluster) killRegisterAndCatchUp(victim, gateway int) {
	t := c.t
	t.Helper()
	v := c.nodes[victim]
	// The victim first commits a patient through its own gateway, so the
	// crash hits a node with state of its own to recover.
	regs := []registered{c.mustRegisterPatient(victim)}
	c.kill(victim)
	if _, err := v.api.Status(t.Context()); err == nil {
		t.Fatalf("%s still answers after SIGKILL; the test would prove nothing", v.name)
	}

	last := c.maxHeight()
	for range patientsWhileDown {
		r := c.mustRegisterPatient(gateway)
		// Each registration is submitted after the previous one committed,
		// so a network that keeps committing puts each in a later block.
		if r.height <= last {
			t.Fatalf("with %s down, a registration committed at height %d, not after %d", v.name, r.height, last)
		}
		last = r.height
		regs = append(regs, r)
	}
	t.Logf("%s down: %d patients committed through %s at heights %d–%d", v.name, patientsWhileDown, c.nodes[gateway].name, regs[1].height, last)

	c.startAndWait(victim)
	h := c.commonHeight() // the restarted node included
	// The same root on all four nodes at one height means the same state;
	// the restarted node must also prove what it had and what it missed.
	p := c.stateAt(identity.ActorKey(regs[len(regs)-1].id), h)
	c.requireRegistered(victim, regs, h)
	// Caught up once is not enough: it must keep up with new blocks.
	c.waitHeight(victim, h+2, catchUpTimeout)
	t.Logf("%s restarted and caught up: state root %X at height %d on every node", v.name, p.Root, h)
}
