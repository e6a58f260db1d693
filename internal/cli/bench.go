package cli

import (
	"fmt"
	"time"

	"github.com/carechain/carechain/internal/bench"
)

func runBench(e *env, args []string) error {
	fs := newFlags(e, "bench", "bench [--validators 4] [--duration 20s] [--base-port P] [--cpuprofile FILE] [--json]")
	validators := fs.Int("validators", 4, "validators in the local network")
	duration := fs.Duration("duration", 20*time.Second, "how long to drive each application")
	basePort := fs.Int("base-port", 28000, "first loopback port; the baseline uses base-port+500")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the carechain phase to FILE")
	dir := fs.String("dir", "", "keep the networks' data in DIR (default: a temporary directory, removed afterwards)")
	asJSON := fs.Bool("json", false, `print {"app_tps","baseline_tps","ratio",...}`)
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *validators < 1 || *validators > 16 {
		return usageError("--validators must be between 1 and 16")
	}
	if *duration < time.Second || *duration > 10*time.Minute {
		return usageError("--duration must be between 1s and 10m")
	}
	r, err := bench.Run(e.ctx, bench.Options{Validators: *validators, Duration: *duration, BasePort: *basePort,
		Dir: *dir, Progress: e.stderr, CPUProfile: *cpuProfile})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, "carechain  %8.0f tx/s  (%d txs, %d blocks, %d-byte txs)\n", r.AppTPS, r.App.Committed, r.App.Blocks, r.App.TxBytes)
	fmt.Fprintf(e.stdout, "kvstore    %8.0f tx/s  (%d txs, %d blocks)\n", r.BaselineTPS, r.Baseline.Committed, r.Baseline.Blocks)
	fmt.Fprintf(e.stdout, "ratio      %8.2f\n", r.Ratio)
	if r.App.PoolExhausted || r.Baseline.PoolExhausted {
		fmt.Fprintln(e.stdout, "note: the pre-signed pool ran out; the figures are lower bounds")
	}
	return nil
}
