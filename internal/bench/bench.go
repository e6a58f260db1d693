// Package bench measures a local carechain network's committed transaction
// throughput and compares it with CometBFT's own kvstore example
// application driven by the same harness, network shape and settings, so
// that the ratio isolates what carechain's application costs.
//
// Both runs start N validators as separate processes (carechain start, the
// baseline with --app kvstore) on loopback with the node package's default
// short-block settings, keep each node's mempool fed through CometBFT's RPC
// from a pool of pre-signed transactions, and count committed transactions
// from the blocks themselves: the sum of block sizes between two heights
// divided by the difference of their BFT times.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	kvstore "github.com/cometbft/cometbft/abci/example/kvstore"
	"github.com/cometbft/cometbft/proxy"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"

	"github.com/carechain/carechain/internal/node"
)

// Options configure a benchmark run.
type Options struct {
	Validators int
	Duration   time.Duration
	BasePort   int
	Dir        string    // working directory; a temporary one if empty
	Progress   io.Writer // progress lines; nil for none
	CPUProfile string    // write a CPU profile of the carechain phase here
	// MaxTxs caps the pre-signed pool per phase; 0 picks one from Duration.
	MaxTxs int
}

// Result is what a run measured.
type Result struct {
	Validators     int     `json:"validators"`
	DurationSec    float64 `json:"duration_s"`
	AppTPS         float64 `json:"app_tps"`
	BaselineTPS    float64 `json:"baseline_tps"`
	Ratio          float64 `json:"ratio"`
	App            Phase   `json:"app"`
	Baseline       Phase   `json:"baseline"`
	GOMAXPROCS     int     `json:"gomaxprocs"`
	TxKind         string  `json:"tx_kind"`
	BaselineTxKind string  `json:"baseline_tx_kind"`
}

// Phase is one application's measurement.
type Phase struct {
	Committed     int     `json:"committed_txs"`
	Blocks        int64   `json:"blocks"`
	Seconds       float64 `json:"block_time_s"`
	TPS           float64 `json:"tps"`
	Submitted     int64   `json:"submitted"`
	Rejected      int64   `json:"rejected_by_mempool"`
	TxBytes       int     `json:"tx_bytes"`
	PoolExhausted bool    `json:"pool_exhausted"`
	MeanBlockTxs  float64 `json:"mean_block_txs"`
	// NodeCPUSeconds is the user+system CPU all validator processes used
	// over the whole phase (start-up and wind-down included);
	// NodeCPUPerTxUS divides it by the committed transactions.
	NodeCPUSeconds float64 `json:"node_cpu_s"`
	NodeCPUPerTxUS float64 `json:"node_cpu_us_per_tx"`
}

// Run measures carechain, then the kvstore baseline.
func Run(ctx context.Context, opt Options) (*Result, error) {
	if opt.Validators < 1 {
		return nil, errors.New("validators must be at least 1")
	}
	if opt.Duration < time.Second {
		return nil, errors.New("duration must be at least 1s")
	}
	if opt.BasePort == 0 {
		opt.BasePort = 28000
	}
	if opt.MaxTxs == 0 {
		opt.MaxTxs = int(opt.Duration.Seconds() * 4000)
	}
	dir, progress, cleanup, err := prepare(opt.Dir, opt.Progress)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	fmt.Fprintf(progress, "bench: signing %d carechain transactions\n", opt.MaxTxs)
	appTxs, err := registrations(opt.MaxTxs)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "bench: carechain, %d validators, %s\n", opt.Validators, opt.Duration)
	appPhase, err := runPhase(ctx, filepath.Join(dir, "carechain"), opt, appTxs, "", progress)
	if err != nil {
		return nil, fmt.Errorf("carechain phase: %w", err)
	}
	baseTxs := kvTxs(len(appTxs), len(appTxs[0]))
	fmt.Fprintf(progress, "bench: kvstore baseline, %d validators, %s\n", opt.Validators, opt.Duration)
	basePhase, err := runPhase(ctx, filepath.Join(dir, "kvstore"), Options{Validators: opt.Validators, Duration: opt.Duration,
		BasePort: opt.BasePort + 500}, baseTxs, "kvstore", progress)
	if err != nil {
		return nil, fmt.Errorf("baseline phase: %w", err)
	}
	r := &Result{Validators: opt.Validators, DurationSec: opt.Duration.Seconds(), AppTPS: appPhase.TPS, BaselineTPS: basePhase.TPS,
		App: *appPhase, Baseline: *basePhase, GOMAXPROCS: runtime.GOMAXPROCS(0),
		TxKind:         "identity.register (patient self-registration: Ed25519 signature, proof of possession, ML-KEM-768+X25519 key)",
		BaselineTxKind: "kvstore key=value, padded to the carechain transaction size"}
	if basePhase.TPS > 0 {
		r.Ratio = appPhase.TPS / basePhase.TPS
	}
	fmt.Fprintf(progress, "bench: validator CPU per committed tx: carechain %.0f µs, kvstore %.0f µs\n", appPhase.NodeCPUPerTxUS, basePhase.NodeCPUPerTxUS)
	if opt.CPUProfile != "" {
		fmt.Fprintf(progress, "bench: CPU profile of node0 in the carechain phase: %s\n", opt.CPUProfile)
	}
	return r, nil
}

// KVStoreApp runs CometBFT's kvstore example application instead of
// carechain's, for the baseline phase (carechain start --app kvstore).
func KVStoreApp(home string) (proxy.ClientCreator, func() error, error) {
	app := kvstore.NewPersistentApplication(filepath.Join(home, "data", "kvstore"))
	// The same per-connection locking as carechain's node; kvstore's CheckTx
	// reads no state, so this is safe for it too.
	return proxy.NewConnSyncLocalClientCreator(app), func() error { return nil }, nil
}

func runPhase(ctx context.Context, dir string, opt Options, txs [][]byte, appName string, progress io.Writer) (*Phase, error) {
	members, err := node.Testnet(dir, "carechain-bench", opt.Validators, opt.BasePort)
	if err != nil {
		return nil, err
	}
	procs, clients, startHeight, err := startNetwork(ctx, dir, members, appName, opt.CPUProfile)
	var phase *Phase
	defer func() {
		cpu := stopNetwork(procs)
		if phase != nil {
			phase.NodeCPUSeconds = cpu.Seconds()
			if phase.Committed > 0 {
				phase.NodeCPUPerTxUS = float64(cpu.Microseconds()) / float64(phase.Committed)
			}
		}
	}()
	if err != nil {
		return nil, err
	}

	var submitted, rejected, next atomic.Int64
	runCtx, cancel := context.WithTimeout(ctx, opt.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func(c *rpchttp.HTTP) {
			defer wg.Done()
			feed(runCtx, c, txs, &next, &submitted, &rejected)
		}(c)
	}
	wg.Wait()
	endHeight, err := height(ctx, clients[0])
	if err != nil {
		return nil, err
	}
	if endHeight <= startHeight {
		return nil, fmt.Errorf("network committed no blocks during the run (heights %d..%d; logs in %s)", startHeight, endHeight, dir)
	}
	p := &Phase{Blocks: endHeight - startHeight, Submitted: submitted.Load(), Rejected: rejected.Load(),
		TxBytes: len(txs[0]), PoolExhausted: next.Load() >= int64(len(txs))}
	phase = p
	// Count whole blocks after the start block up to the end block; time
	// runs between their BFT timestamps.
	var first, last time.Time
	for lo := startHeight; lo <= endHeight; lo += 20 {
		hi := min(lo+19, endHeight)
		info, err := clients[0].BlockchainInfo(ctx, lo, hi)
		if err != nil {
			return nil, err
		}
		for _, m := range info.BlockMetas {
			switch h := m.Header.Height; {
			case h == startHeight:
				first = m.Header.Time
			case h > startHeight:
				p.Committed += m.NumTxs
				if h == endHeight {
					last = m.Header.Time
				}
			}
		}
	}
	p.Seconds = last.Sub(first).Seconds()
	if p.Seconds > 0 {
		p.TPS = float64(p.Committed) / p.Seconds
	}
	p.MeanBlockTxs = float64(p.Committed) / float64(p.Blocks)
	fmt.Fprintf(progress, "bench:   %d txs in %d blocks over %.1fs of block time: %.0f tx/s\n", p.Committed, p.Blocks, p.Seconds, p.TPS)
	return p, nil
}

// mempoolTarget is how many transactions the feeder keeps waiting in each
// node's mempool: two full blocks' worth, enough that no block goes out
// short, few enough that rechecking the waiting ones after every block does
// not crowd out the work being measured.
const (
	mempoolTarget = 1500
	batchSize     = 10 // CometBFT's default rpc.max_request_batch_size
)

// feed keeps c's mempool topped up from the shared pool, in JSON-RPC
// batches, until ctx ends or the pool runs out.
func feed(ctx context.Context, c *rpchttp.HTTP, txs [][]byte, next, submitted, rejected *atomic.Int64) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		un, err := c.NumUnconfirmedTxs(ctx)
		if err == nil && un.Total < mempoolTarget {
			b := c.NewBatch()
			for range batchSize {
				i := next.Add(1) - 1
				if i >= int64(len(txs)) {
					break
				}
				_, _ = b.BroadcastTxSync(ctx, txs[i])
			}
			if b.Count() == 0 {
				return
			}
			n := int64(b.Count())
			results, err := b.Send(ctx)
			submitted.Add(n)
			if err != nil || len(results) != int(n) {
				rejected.Add(n)
				continue
			}
			for _, r := range results {
				if res, ok := r.(*ctypes.ResultBroadcastTx); ok && res.Code != 0 {
					rejected.Add(1)
				}
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

func height(ctx context.Context, c *rpchttp.HTTP) (int64, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// waitHeight polls until the node reports height h, returning its height.
func waitHeight(ctx context.Context, c *rpchttp.HTTP, h int64, timeout time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if cur, err := height(ctx, c); err == nil && cur >= h {
			return cur, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("network did not reach height %d within %s", h, timeout)
		case <-tick.C:
		}
	}
}

// startNetwork starts one process per member, with appName ("" for
// carechain), and returns once every validator is committing, with the
// height node0 was at then. The processes are returned even on error, for
// stopNetwork.
func startNetwork(ctx context.Context, dir string, members []node.Member, appName, cpuProfile string) ([]*exec.Cmd, []*rpchttp.HTTP, int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, 0, err
	}
	procs := make([]*exec.Cmd, 0, len(members))
	clients := make([]*rpchttp.HTTP, len(members))
	for i, m := range members {
		args := []string{"start", "--home", m.Home}
		if appName != "" {
			args = append(args, "--app", appName)
		}
		if i == 0 && cpuProfile != "" {
			args = append(args, "--cpuprofile", cpuProfile)
		}
		logf, err := os.Create(filepath.Join(dir, m.Name+".log"))
		if err != nil {
			return procs, nil, 0, err
		}
		cmd := exec.Command(exe, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		// The nodes die with the harness, even if it is killed.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		err = cmd.Start()
		logf.Close() // the child has its own descriptor
		if err != nil {
			return procs, nil, 0, fmt.Errorf("start %s: %w", m.Name, err)
		}
		procs = append(procs, cmd)
		if clients[i], err = rpchttp.New("http://"+m.RPC, "/websocket"); err != nil {
			return procs, nil, 0, err
		}
	}
	// Every validator must be up and committing before measuring: a
	// network missing one still runs, slower, and would skew the figure.
	var startHeight int64
	for i, c := range clients {
		h, err := waitHeight(ctx, c, 3, 60*time.Second)
		if err != nil {
			return procs, nil, 0, fmt.Errorf("%s: %w (logs in %s)", members[i].Name, err, dir)
		}
		if i == 0 {
			startHeight = h
		}
	}
	return procs, clients, startHeight, nil
}

// stopNetwork stops the processes and returns the CPU time they used.
func stopNetwork(procs []*exec.Cmd) time.Duration {
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	var cpu time.Duration
	for _, p := range procs {
		_ = p.Wait()
		if p.ProcessState != nil {
			cpu += p.ProcessState.UserTime() + p.ProcessState.SystemTime()
		}
	}
	return cpu
}

// workDir returns dir, or a new temporary directory removed by cleanup.
// prepare returns the run's directory (see workDir) and where progress
// goes (nowhere if progress is nil).
func prepare(dir string, progress io.Writer) (string, io.Writer, func(), error) {
	if progress == nil {
		progress = io.Discard
	}
	d, cleanup, err := workDir(dir)
	return d, progress, cleanup, err
}

func workDir(dir string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	d, err := os.MkdirTemp("", "carechain-bench-")
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}
