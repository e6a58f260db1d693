package cli

import (
	"flag"
	"fmt"
	"time"

	"github.com/carechain/carechain/internal/bench"
)

func runBench(e *env, args []string) error {
	fs := newFlags(e, "bench", "bench [--validators 4] [--duration 20s] [--records [--size 10240] [--workers 32] | --fhir [--workers 8]] [--base-port P] [--cpuprofile FILE] [--json]")
	validators := fs.Int("validators", 4, "validators in the local network")
	duration := fs.Duration("duration", 20*time.Second, "how long to drive each application")
	basePort := fs.Int("base-port", 28000, "first loopback port; the baseline uses base-port+500")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the carechain phase to FILE")
	dir := fs.String("dir", "", "keep the networks' data in DIR (default: a temporary directory, removed afterwards)")
	asJSON := fs.Bool("json", false, `print {"app_tps","baseline_tps","ratio",...}`)
	recordsMode := fs.Bool("records", false, "measure encrypted record writes, then audited threshold-decrypted reads, for --duration each")
	size := fs.Int("size", 10<<10, "with --records: bytes of each record's FHIR JSON")
	workers := fs.Int("workers", 32, "concurrent clients: with --records, writers then readers spread over the gateways (32 unless set); with --fhir, FHIR clients (8 unless set)")
	fhirMode := fs.Bool("fhir", false, "measure FHIR reads and searches (p50, p99, throughput) through node0's gateway acting for an organization, for --duration each")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *validators < 1 || *validators > 16 {
		return usageError("--validators must be between 1 and 16")
	}
	if *duration < time.Second || *duration > 10*time.Minute {
		return usageError("--duration must be between 1s and 10m")
	}
	if *fhirMode {
		w := *workers
		if !flagSet(fs, "workers") {
			w = 8
		}
		if w < 1 || w > 256 || *duration > 4*time.Minute {
			return usageError("with --fhir, --workers must be 1 to 256 and --duration at most 4m")
		}
		r, err := bench.RunFHIR(e.ctx, bench.FHIROptions{Validators: *validators, Duration: *duration, BasePort: *basePort,
			Dir: *dir, Progress: e.stderr, Workers: w})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, r)
		}
		fmt.Fprintf(e.stdout, "FHIR read    %6.1f/s  p50 %5.0f ms  p99 %5.0f ms  (%d)\n", r.ReadsPerS, r.ReadP50MS, r.ReadP99MS, r.Reads)
		fmt.Fprintf(e.stdout, "FHIR search  %6.1f/s  p50 %5.0f ms  p99 %5.0f ms  (%d; %d resources a page)\n", r.SearchesPerS, r.SearchP50MS, r.SearchP99MS, r.Searches, r.PageSize)
		return nil
	}
	if *recordsMode {
		if *size < 100 || *size > 4<<20 || *workers < 1 || *workers > 256 {
			return usageError("--size must be 100 bytes to 4 MiB and --workers 1 to 256")
		}
		r, err := bench.RunRecords(e.ctx, bench.RecordOptions{Validators: *validators, Duration: *duration, BasePort: *basePort,
			Dir: *dir, Progress: e.stderr, Size: *size, Workers: *workers, CPUProfile: *cpuProfile})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, r)
		}
		fmt.Fprintf(e.stdout, "writes  %6.0f/s  p50 %5.0f ms  p99 %5.0f ms  (%d)\n", r.WritesPerS, r.WriteP50MS, r.WriteP99MS, r.Writes)
		fmt.Fprintf(e.stdout, "reads   %6.0f/s  p50 %5.0f ms  p99 %5.0f ms  (%d; a block every %.0f ms)\n", r.ReadsPerS, r.ReadP50MS, r.ReadP99MS, r.Reads, r.BlockIntervalMS)
		fmt.Fprintf(e.stdout, "cost per record (µs): AES %.0f+%.0f, Shamir %.0f+%.0f, HPKE seal %.0f, reseal %.0f, open %.0f per share\n",
			r.Cost.AESEncrypt, r.Cost.AESDecrypt, r.Cost.ShamirSplit, r.Cost.Combine, r.Cost.HPKESeal, r.Cost.Reseal, r.Cost.HPKEOpen)
		return nil
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

// flagSet reports whether the command line set the named flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
