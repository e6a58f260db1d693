package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// requestTimeout bounds one submission; the gateway itself gives up waiting
// for a commit after 30 s.
const requestTimeout = 45 * time.Second

// registered is a patient whose registration a gateway reported committed.
type registered struct {
	id     string
	height int64  // the height the gateway reported
	via    string // the node whose gateway reported it
}

// registerPatient self-registers a fresh patient through gw and waits for
// the block that commits it.
func registerPatient(ctx context.Context, gw *client.Client, chainID string) (*keyfile.Key, *client.TxResult, error) {
	k, err := keyfile.Generate()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	res, err := gw.Send(ctx, k, tx.NewRegistration(chainID, tx.KindPatient, "", "", k.Sign, k.HPKEPublic()))
	return k, res, err
}

// mustRegisterPatient registers a patient through node i's gateway and
// fails the test unless it commits.
func (c *cluster) mustRegisterPatient(i int) registered {
	c.t.Helper()
	k, res, err := registerPatient(c.t.Context(), c.nodes[i].api, c.chainID)
	if err != nil {
		c.t.Fatalf("register a patient through %s: %v", c.nodes[i].name, err)
	}
	if res.Code != 0 || res.Height <= 0 {
		c.t.Fatalf("register a patient through %s: code %d (%s) at height %d", c.nodes[i].name, res.Code, res.CodeName, res.Height)
	}
	return registered{id: k.ID, height: res.Height, via: c.nodes[i].name}
}

// load is a bounded run of patient registrations by several workers, each
// sending through the running gateways in turn and waiting for the commit.
type load struct {
	done      chan struct{}
	committed atomic.Int64

	mu       sync.Mutex
	regs     []registered // reported committed: code 0 at a height
	unknown  int          // the gateway failed or timed out: outcome unknown
	rejected []string     // a fresh registration refused: never expected
}

// startLoad starts total registrations from workers goroutines, stopping
// early when timeout passes.
func (c *cluster) startLoad(total, workers int, timeout time.Duration) *load {
	ctx, cancel := context.WithTimeout(c.t.Context(), timeout)
	l := &load{done: make(chan struct{})}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > total || ctx.Err() != nil {
					return
				}
				gw, err := c.runningGateway(ctx, w+i)
				if err != nil {
					return
				}
				k, res, err := registerPatient(ctx, c.nodes[gw].api, c.chainID)
				l.record(c.nodes[gw].name, k, res, err)
			}
		}()
	}
	go func() {
		wg.Wait()
		cancel()
		close(l.done)
	}()
	return l
}

// record sorts one submission's outcome.
func (l *load) record(via string, k *keyfile.Key, res *client.TxResult, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var rejected *client.Error
	switch {
	case err == nil && res.Code == 0 && res.Height > 0:
		l.regs = append(l.regs, registered{id: k.ID, height: res.Height, via: via})
		l.committed.Add(1)
	case err == nil:
		l.rejected = append(l.rejected, fmt.Sprintf("via %s: code %d (%s) at height %d", via, res.Code, res.CodeName, res.Height))
	case errors.As(err, &rejected) && rejected.Result != nil:
		// The node refused the transaction itself, not just failed to answer.
		l.rejected = append(l.rejected, fmt.Sprintf("via %s: %v", via, err))
	default:
		l.unknown++
	}
}

// runningGateway picks a running node, starting from the one numbered hint,
// waiting while none is running (a lone validator being restarted).
func (c *cluster) runningGateway(ctx context.Context, hint int) (int, error) {
	pick := -1
	err := poll(ctx, requestTimeout, func(context.Context) (bool, error) {
		for k := range c.nodes {
			if i := (hint + k) % len(c.nodes); c.nodes[i].up.Load() {
				pick = i
				return true, nil
			}
		}
		return false, errors.New("no node is running")
	})
	return pick, err
}

// waitCommitted waits until the load has n committed registrations, or has
// ended.
func (l *load) waitCommitted(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	err := poll(t.Context(), timeout, func(context.Context) (bool, error) {
		select {
		case <-l.done:
			return true, nil
		default:
		}
		got := l.committed.Load()
		return got >= n, fmt.Errorf("%d committed", got)
	})
	if err != nil {
		t.Fatalf("load did not reach %d committed registrations: %v", n, err)
	}
}

// wait waits for every worker to finish and returns the outcome.
func (l *load) wait(t *testing.T) (regs []registered, unknown int) {
	t.Helper()
	select {
	case <-l.done:
	case <-t.Context().Done():
		t.Fatal("test ended before the load did")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.rejected {
		t.Errorf("a fresh patient registration was rejected %s", r)
	}
	return l.regs, l.unknown
}

// requireRegistered checks that node i proves, at height h, every actor a
// gateway reported committed, registered at the height it reported.
func (c *cluster) requireRegistered(i int, regs []registered, h int64) {
	c.t.Helper()
	n := c.nodes[i]
	for _, r := range regs {
		p, err := n.api.StateAt(c.t.Context(), identity.ActorKey(r.id), h)
		if err != nil {
			c.t.Fatalf("%s: actor %s at height %d: %v", n.name, r.id, h, err)
		}
		if p.Value == nil {
			c.t.Fatalf("%s proves actor %s absent at height %d, though %s reported it committed at height %d", n.name, r.id, h, r.via, r.height)
		}
		a, err := identity.DecodeActor(p.Value)
		if err != nil {
			c.t.Fatalf("%s: actor %s: %v", n.name, r.id, err)
		}
		if a.ID != r.id || a.RegisteredAt != r.height {
			c.t.Fatalf("%s holds actor %s registered at height %d; %s reported %s committed at height %d", n.name, a.ID, a.RegisteredAt, r.via, r.id, r.height)
		}
	}
}
