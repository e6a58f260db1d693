// Package node runs a carechain validator: CometBFT embedded in-process
// with the carechain application over a local ABCI connection, the
// authenticated state store, and the HTTP gateway. It also creates node
// homes, for one node (Init) or a local consortium (Testnet).
//
// A node home holds CometBFT's config/ and data/ beside carechain's own
// carechain.toml, the validator's HPKE key and the application state in
// data/app.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/carechain/carechain/internal/app"
	"github.com/carechain/carechain/internal/custody"
	"github.com/carechain/carechain/internal/gateway"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/smart"
	"github.com/carechain/carechain/internal/state"
)

// Options change how a node runs, mostly for tests and benchmarks.
type Options struct {
	// LogOutput receives logs; nil discards them.
	LogOutput io.Writer
	// Registerer receives the app's metrics; nil uses Prometheus's default
	// registry. Several nodes in one process must not share one.
	Registerer prometheus.Registerer
	// NoMetrics disables CometBFT's Prometheus metrics, which register
	// globally and so can be enabled for only one node per process.
	NoMetrics bool
	// Version is the software version the FHIR CapabilityStatement
	// reports; empty reports "dev".
	Version string
	// App, if set, replaces the carechain application (benchmark baseline).
	App func(home string) (proxyApp proxy.ClientCreator, closer func() error, err error)
}

// Node is a running validator.
type Node struct {
	Config  Config
	Comet   *cmtnode.Node
	APIURL  string
	store   *state.Store
	closeFn func() error
	api     *http.Server
	apiLn   net.Listener
	gw      *gateway.Gateway
	custody *custody.Service
	// pendingNonce reads nonces counting the mempool, for the gateway.
	pendingNonce func(id string) (uint64, error)
	ctx          context.Context // ends when the node stops
	cancel       context.CancelFunc
	log          *slog.Logger
	stopping     atomic.Bool
}

// Start runs the node in home until Stop is called. Before CometBFT opens
// the stores it checks a few records of each (check.Startup) and refuses a
// corrupted one with an error that names it.
func Start(home string, opt Options) (*Node, error) {
	cfg, err := LoadConfig(home)
	if err != nil {
		return nil, err
	}
	ccfg, err := loadCometConfig(home)
	if err != nil {
		return nil, err
	}
	logger, err := newLogger(opt.LogOutput, cfg.Log)
	if err != nil {
		return nil, err
	}
	if opt.NoMetrics {
		ccfg.Instrumentation.Prometheus = false
	}
	n := &Node{Config: cfg, log: logger}
	var creator proxy.ClientCreator
	if opt.App != nil {
		creator, n.closeFn, err = opt.App(home)
		if err != nil {
			return nil, err
		}
	} else {
		n.store, err = state.Open(filepath.Join(home, AppDataDir))
		if err != nil {
			return nil, err
		}
		if err := n.checkStores(home, ccfg); err != nil {
			n.store.Close()
			return nil, err
		}
		reg := opt.Registerer
		if reg == nil {
			reg = prometheus.DefaultRegisterer
		}
		application := app.New(cfg.ChainID, n.store, logger.With("module", "app"), app.NewMetrics(reg))
		// One lock per ABCI connection, not one for all: the mempool's
		// CheckTx and queries run beside block execution instead of queuing
		// consensus behind them. The app is written for this (see package app).
		creator = proxy.NewConnSyncLocalClientCreator(application)
		n.pendingNonce = application.PendingNonce
		n.closeFn = n.store.Close
		if err := n.startCustody(home, cfg, ccfg); err != nil {
			n.store.Close()
			return nil, err
		}
	}
	if err := n.startComet(ccfg, creator, cfg.Log); err != nil {
		n.closeFn()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.ctx, n.cancel = ctx, cancel
	if n.custody != nil {
		if err := n.runCustody(ctx); err != nil {
			n.Stop()
			return nil, err
		}
	}
	if err := n.startGateway(home, cfg, opt.Version); err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

func (n *Node) startComet(ccfg *cmtcfg.Config, creator proxy.ClientCreator, lc LogConfig) error {
	nodeKey, err := p2p.LoadNodeKey(ccfg.NodeKeyFile())
	if err != nil {
		return fmt.Errorf("load node key: %w", err)
	}
	pv := privval.LoadFilePV(ccfg.PrivValidatorKeyFile(), ccfg.PrivValidatorStateFile())
	cn, err := cmtnode.NewNode(ccfg, pv, nodeKey, creator,
		cmtnode.DefaultGenesisDocProviderFunc(ccfg), cmtcfg.DefaultDBProvider,
		cmtnode.DefaultMetricsProvider(ccfg.Instrumentation), cometLogger(n.log, lc.Consensus, &n.stopping))
	if err != nil {
		return fmt.Errorf("create consensus node: %w", err)
	}
	if err := cn.Start(); err != nil {
		return fmt.Errorf("start consensus node: %w", err)
	}
	n.Comet = cn
	return nil
}

func (n *Node) startGateway(home string, cfg Config, version string) error {
	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("gateway cannot listen on %s: %w (is another node running? change api.listen in %s)", cfg.API.Listen, err, ConfigFile)
	}
	var st gateway.State
	if n.store != nil {
		st = n.store
	}
	n.gw, err = gateway.New(n.Comet, st, n.custody, n.log.With("module", "gateway"))
	if err == nil && n.pendingNonce != nil {
		n.gw.SetPendingNonces(n.pendingNonce)
	}
	if err != nil {
		ln.Close()
		return err
	}
	n.apiLn = ln
	n.APIURL = "http://" + ln.Addr().String()
	if n.store != nil {
		if err := n.enableFHIR(home, cfg, version); err != nil {
			n.gw.Close()
			ln.Close()
			return err
		}
	}
	// Requests run under the node's context, so that long-lived ones (the
	// access stream) end when the node stops rather than hold the
	// shutdown until its timeout.
	n.api = &http.Server{Handler: n.gw.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return n.ctx }}
	go func() {
		if err := n.api.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("gateway stopped", "err", err)
		}
	}()
	return nil
}

// Stop shuts the node down: gateway first, then consensus, then the store.
func (n *Node) Stop() error {
	n.stopping.Store(true)
	if n.cancel != nil {
		n.cancel()
	}
	var errs []error
	if n.api != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := n.api.Shutdown(ctx); err != nil {
			// A request still running after the grace period is cut off:
			// stopping must not fail for a slow client.
			n.log.Warn("gateway requests still running at shutdown; closing them", "err", err)
			_ = n.api.Close()
		}
		cancel()
	}
	if n.gw != nil {
		n.gw.Close()
	}
	if n.Comet != nil && n.Comet.IsRunning() {
		errs = append(errs, n.Comet.Stop())
		n.Comet.Wait()
	}
	if n.closeFn != nil {
		errs = append(errs, n.closeFn())
	}
	return errors.Join(errs...)
}

// enableFHIR turns on SMART Backend Services and /fhir, with the node's
// access-token key (created on first start) and the URL clients reach the
// gateway at: api.public_url behind a reverse proxy, else the listener's.
func (n *Node) enableFHIR(home string, cfg Config, version string) error {
	key, err := smart.LoadOrCreateTokenKey(filepath.Join(home, TokenKeyFile))
	if err != nil {
		return err
	}
	base := cfg.API.PublicURL
	if base == "" {
		base = n.APIURL
		if addr, ok := n.apiLn.Addr().(*net.TCPAddr); ok && addr.IP.IsUnspecified() {
			// Clients cannot reach 0.0.0.0: their assertions, aimed at the
			// URL they use, would all miss this audience.
			n.log.Warn("the gateway listens on all interfaces but api.public_url is not set; SMART clients will be refused until it names the URL they use",
				"listen", cfg.API.Listen, "config", ConfigFile)
		}
	}
	fc := gateway.FHIRConfig{BaseURL: base, TokenKey: key, Version: version, APIURL: n.APIURL}
	if cfg.Gateway.OrgKey != "" {
		path := cfg.Gateway.OrgKey
		if !filepath.IsAbs(path) {
			path = filepath.Join(home, path)
		}
		if fc.OrgKey, err = keyfile.Load(path); err != nil {
			return fmt.Errorf("gateway.org_key in %s: %w", ConfigFile, err)
		}
		n.log.Info("the FHIR gateway acts for its organization", "org", fc.OrgKey.ID)
	}
	return n.gw.EnableFHIR(fc)
}
