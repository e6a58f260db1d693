package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/identity"
)

// loadTimeout bounds a whole load run, crash and restart included.
const loadTimeout = 150 * time.Second

// TestCrashRecoveryMidLoad kills a validator with SIGKILL in the middle of
// a load of registrations submitted through several gateways, and restarts
// it while the load goes on. Every registration any gateway reported
// committed must then be proven present on the restarted node, at the
// height the gateway reported; on a network, all nodes must agree on the
// state root at a common height, and a lone validator must keep committing.
func TestCrashRecoveryMidLoad(t *testing.T) {
	t.Run("four validators", func(t *testing.T) {
		c := newTestnet(t, 4)
		const total, workers, victim = 300, 6, 1
		regs, afterCrash := c.loadThroughCrash(total, workers, victim)
		h := c.commonHeight() // the restarted node included
		c.stateAt(identity.ActorKey(regs[len(regs)-1].id), h)
		c.requireRegistered(victim, regs, h)
		t.Logf("%d registrations committed (%d after the crash), all present on the restarted %s at height %d",
			len(regs), afterCrash, c.nodes[victim].name, h)
	})
	t.Run("single validator", func(t *testing.T) {
		c := newSingleValidator(t)
		const total, workers = 120, 4
		regs, afterCrash := c.loadThroughCrash(total, workers, 0)
		if afterCrash == 0 {
			t.Fatal("nothing committed after the restart")
		}
		h := c.commonHeight()
		c.requireRegistered(0, regs, h)
		c.waitHeight(0, h+2, catchUpTimeout)
		t.Logf("%d registrations committed (%d after the crash), all present after restart at height %d", len(regs), afterCrash, h)
	})
}

// loadThroughCrash runs a load of total registrations from workers
// goroutines, SIGKILLs node victim once a third of them have committed and
// restarts it once two thirds have. It returns the registrations reported
// committed and how many of them were reported after the kill.
func (c *cluster) loadThroughCrash(total, workers, victim int) ([]registered, int) {
	t := c.t
	t.Helper()
	l := c.startLoad(total, workers, loadTimeout)
	l.waitCommitted(t, int64(total/3), loadTimeout)
	c.kill(victim)
	atKill := l.committed.Load()
	if atKill >= int64(total) {
		t.Fatal("the load ended before the crash; the test would prove nothing")
	}
	if len(c.nodes) > 1 {
		// The others go on committing while the victim is down.
		l.waitCommitted(t, int64(2*total/3), loadTimeout)
	}
	c.startAndWait(victim)
	regs, unknown := l.wait(t)
	after := len(regs) - int(atKill)
	t.Logf("load: %d of %d reported committed (%s), %d outcomes unknown (in flight at the crash or timed out)",
		len(regs), total, perGateway(regs), unknown)
	if len(regs) < total/2 {
		t.Fatalf("only %d of %d registrations committed; the network did not carry the load", len(regs), total)
	}
	return regs, after
}

// perGateway says how many registrations each gateway reported committed.
func perGateway(regs []registered) string {
	counts := map[string]int{}
	for _, r := range regs {
		counts[r.via]++
	}
	names := slices.Sorted(maps.Keys(counts))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, counts[n])
	}
	return strings.Join(parts, ", ")
}
