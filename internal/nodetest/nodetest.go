// Package nodetest helps tests run real carechain nodes side by side on
// loopback. It is for tests only.
package nodetest

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/tx"
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
	return StartWith(tb, home, chainID, nil, nil)
}

// StartWith is Start with a chance to change the node's carechain.toml
// between init and start, and a writer for the node's logs (nil discards
// them).
func StartWith(tb testing.TB, home, chainID string, configure func(cfg *node.Config), logs io.Writer) *node.Node {
	tb.Helper()
	base, err := FreeBasePort()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := node.Init(home, chainID, base); err != nil {
		tb.Fatal(err)
	}
	if configure != nil {
		cfg, err := node.LoadConfig(home)
		if err != nil {
			tb.Fatal(err)
		}
		configure(&cfg)
		if err := node.SaveConfig(home, cfg); err != nil {
			tb.Fatal(err)
		}
	}
	n, err := node.Start(home, node.Options{NoMetrics: true, Registerer: prometheus.NewRegistry(), LogOutput: logs})
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

// Org is a started node whose FHIR gateway acts for an organization, with
// the keys a test needs.
type Org struct {
	Node  *node.Node
	Home  string
	Admin *keyfile.Key // the consortium admin
	Org   *keyfile.Key // the organization the gateway acts for, registered
}

// StartOrg starts a single-validator node whose gateway acts for a new
// organization (gateway.org_key), registers that organization with the
// admin key, and returns once it is on the ledger. logs receives the
// node's logs (nil discards them).
func StartOrg(tb testing.TB, home, chainID string, logs io.Writer) *Org {
	tb.Helper()
	org, err := keyfile.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	n := StartWith(tb, home, chainID, func(cfg *node.Config) {
		if err := org.Save(filepath.Join(home, "org.key.json")); err != nil {
			tb.Fatal(err)
		}
		cfg.Gateway.OrgKey = "org.key.json"
	}, logs)
	admin, err := keyfile.Load(filepath.Join(home, node.AdminKeyFile))
	if err != nil {
		tb.Fatal(err)
	}
	reg := tx.NewRegistration(chainID, tx.KindOrganization, "Test Hospital", "", org.Sign, org.HPKEPublic())
	if _, err := client.New(n.APIURL).Send(context.Background(), admin, reg); err != nil {
		tb.Fatal(err)
	}
	return &Org{Node: n, Home: home, Admin: admin, Org: org}
}
