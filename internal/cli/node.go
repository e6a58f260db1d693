package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/bench"
	"github.com/carechain/carechain/internal/node"
)

func runInit(e *env, args []string) error {
	fs := newFlags(e, "init", "init [--home DIR] [--chain-id ID] [--json]")
	home := fs.String("home", defaultHome(), "node home directory")
	chainID := fs.String("chain-id", node.DefaultChainID, "chain id")
	basePort := fs.Int("base-port", 0, "listen on P (p2p), P+1 (CometBFT RPC), P+2 (API) instead of 26656, 26657, 26680")
	asJSON := fs.Bool("json", false, "print the node's addresses as JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if node.Initialized(*home) {
		return withHint(fmt.Errorf("%s already holds a node", *home), "use 'carechain start --home "+*home+"' to run it, or choose another --home")
	}
	m, err := node.Init(*home, *chainID, *basePort)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, memberView(m))
	}
	fmt.Fprintf(e.stdout, "created single-validator node in %s (chain %s)\n", *home, *chainID)
	fmt.Fprintf(e.stdout, "consortium admin key: %s (keep it safe: it admits organizations)\n", filepath.Join(*home, node.AdminKeyFile))
	fmt.Fprintf(e.stdout, "start it with: carechain start --home %s\n", *home)
	return nil
}

type memberJSON struct {
	Name string `json:"name"`
	Home string `json:"home"`
	RPC  string `json:"rpc"`
	API  string `json:"api"`
}

func memberView(m node.Member) memberJSON {
	return memberJSON{Name: m.Name, Home: m.Home, RPC: "http://" + m.RPC, API: "http://" + m.API}
}

func runStart(e *env, args []string) error {
	fs := newFlags(e, "start", "start [--home DIR]")
	home := fs.String("home", defaultHome(), "node home directory; created as a single-validator node if empty")
	appName := fs.String("app", "", "for benchmarks only: 'kvstore' runs CometBFT's example application instead of carechain's")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to FILE")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	opts := node.Options{LogOutput: e.stderr, Version: Version}
	switch *appName {
	case "":
	case "kvstore":
		opts.App = bench.KVStoreApp
	default:
		return usageError("--app %q: the only alternative application is kvstore", *appName)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if !node.Initialized(*home) {
		if entries, _ := os.ReadDir(*home); len(entries) > 0 {
			return withHint(fmt.Errorf("%s is not empty and holds no carechain node", *home), "choose an empty or new --home")
		}
		if _, err := node.Init(*home, node.DefaultChainID, 0); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created single-validator node in %s; admin key in %s\n", *home, filepath.Join(*home, node.AdminKeyFile))
	}
	n, err := node.Start(*home, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "carechain node %s running on chain %s\nAPI: %s\n", n.Config.Moniker, n.Config.ChainID, n.APIURL)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case <-sig:
	case <-e.ctx.Done():
	}
	fmt.Fprintln(e.stdout, "stopping")
	return n.Stop()
}

func runTestnet(e *env, args []string) error {
	fs := newFlags(e, "testnet", "testnet --validators N --dir DIR [--base-port P] [--chain-id ID] [--json]")
	n := fs.Int("validators", 4, "number of validators")
	dir := fs.String("dir", "", "directory for the node homes (node0 … nodeN-1) and admin.key.json")
	basePort := fs.Int("base-port", node.DefaultBasePort, "node i listens on P+10i (p2p), P+10i+1 (CometBFT RPC), P+10i+2 (API)")
	chainID := fs.String("chain-id", node.DefaultChainID, "chain id")
	asJSON := fs.Bool("json", false, `print [{"name","home","rpc","api"}]`)
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := required("dir", *dir); err != nil {
		return err
	}
	if *n < 1 {
		return usageError("--validators must be at least 1")
	}
	members, err := node.Testnet(*dir, *chainID, *n, *basePort)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]memberJSON, len(members))
		for i, m := range members {
			out[i] = memberView(m)
		}
		return printJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "created %d validators for chain %s in %s\n", len(members), *chainID, *dir)
	for _, m := range members {
		fmt.Fprintf(e.stdout, "  %s  api http://%s  rpc http://%s  start: carechain start --home %s\n", m.Name, m.API, m.RPC, m.Home)
	}
	fmt.Fprintf(e.stdout, "admin key: %s\n", filepath.Join(*dir, node.AdminKeyFile))
	return nil
}

// nodeFlags adds --node and --home and returns a function resolving the
// gateway URL: --node if given, else the gateway configured in --home.
func nodeFlags(e *env, fsName string, fs interface {
	String(name, value, usage string) *string
}) func() (*client.Client, error) {
	nodeURL := fs.String("node", "", "gateway URL (default: the gateway of --home)")
	home := fs.String("home", defaultHome(), "node home whose gateway to use when --node is not given")
	return func() (*client.Client, error) {
		if *nodeURL != "" {
			return client.New(*nodeURL), nil
		}
		cfg, err := node.LoadConfig(*home)
		if err != nil {
			return nil, withHint(err, "pass --node URL or --home DIR of a running node")
		}
		return client.New("http://" + cfg.API.Listen), nil
	}
}

func runStatus(e *env, args []string) error {
	fs := newFlags(e, "status", "status [--node URL | --home DIR] [--wait DURATION] [--json]")
	connect := nodeFlags(e, "status", fs)
	wait := fs.Duration("wait", 0, "wait up to DURATION for the node to answer and commit its first block")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	// A node started a moment ago may not have written its home yet.
	deadline := time.Now().Add(*wait)
	c, err := connect()
	for err != nil && time.Now().Before(deadline) {
		select {
		case <-e.ctx.Done():
			return e.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		c, err = connect()
	}
	if err != nil {
		return err
	}
	s, err := waitForStatus(e.ctx, c, time.Until(deadline))
	if err != nil {
		return withHint(err, "is the node running? start it with 'carechain start'")
	}
	if *asJSON {
		return printJSON(e.stdout, s)
	}
	printFields(e.stdout, [][2]string{
		{"chain", s.ChainID}, {"node", s.Moniker + " " + s.NodeID}, {"height", strconv.FormatInt(s.Height, 10)},
		{"state root", s.AppHash + " (after height " + strconv.FormatInt(s.Height, 10) + ")"}, {"block time", s.LatestBlockTime.Format(time.RFC3339)},
		{"catching up", strconv.FormatBool(s.CatchingUp)}, {"validators", strconv.Itoa(len(s.Validators))},
	})
	for _, v := range s.Validators {
		fmt.Fprintf(e.stdout, "  %-8s %s power %d\n", v.Name, v.Address, v.Power)
	}
	return nil
}

// waitForStatus asks for the node's status, retrying for up to wait until
// the node answers and has committed a block.
func waitForStatus(ctx context.Context, c *client.Client, wait time.Duration) (*client.Status, error) {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := c.Status(ctx)
		if err == nil && s.Height > 0 {
			return s, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("node at %s has committed no block yet", c.URL())
			}
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}
