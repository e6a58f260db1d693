// Package nodetest helps tests run real carechain nodes side by side on
// loopback. It is for tests only.
package nodetest

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/node"
)

// FreeBasePort returns P such that P, P+1 and P+2 are free on 127.0.0.1:
// the ports a node made with node.Init(home, chainID, P) listens on. Free
// now is not free forever, but a clash fails a test loudly, never silently.
func FreeBasePort() (int, error) {
	// Below Linux's ephemeral range (32768–60999), where a busy machine's
	// outgoing connections would take ports between the check and the
	// listen, and below the range the cluster tests use (20000–32700). A
	// random start keeps test processes running side by side apart.
	const lo, hi = 10000, 19997
	start := rand.IntN((hi - lo) / 3)
	for try := range 500 {
		base := lo + ((start+try)%((hi-lo)/3))*3
		free := true
		for p := base; free && p < base+3; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base, nil
		}
	}
	return 0, errors.New("no three consecutive free loopback ports")
}

// Start creates a single-validator node for chainID in home (which must be
// new) on free loopback ports, runs it in this process, stops it when the
// test ends, and returns once it has committed its first block.
func Start(tb testing.TB, home, chainID string) *node.Node {
	tb.Helper()
	base, err := FreeBasePort()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := node.Init(home, chainID, base); err != nil {
		tb.Fatal(err)
	}
	n, err := node.Start(home, node.Options{NoMetrics: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = n.Stop() })
	c := client.New(n.APIURL)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s, err := c.Status(context.Background()); err == nil && s.Height >= 1 {
			return n
		}
		if time.Now().After(deadline) {
			tb.Fatal("node did not commit a block in time")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}
