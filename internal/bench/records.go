package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/keyshare"
	"github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/tx"
)

// RecordOptions configure a records benchmark.
type RecordOptions struct {
	Validators int
	Duration   time.Duration // per phase: writes, then reads
	BasePort   int
	Dir        string
	Progress   io.Writer
	Size       int    // bytes of each record's FHIR JSON
	Workers    int    // concurrent writers, then readers, spread over the gateways
	CPUProfile string // write a CPU profile of node0 here
}

// RecordResult is what a records benchmark measured.
type RecordResult struct {
	Validators  int     `json:"validators"`
	RecordBytes int     `json:"record_bytes"`
	Workers     int     `json:"workers"`
	Writes      int64   `json:"writes"`
	WritesPerS  float64 `json:"writes_per_s"`
	WriteP50MS  float64 `json:"write_p50_ms"`
	WriteP99MS  float64 `json:"write_p99_ms"`
	Reads       int64   `json:"reads"`
	ReadsPerS   float64 `json:"reads_per_s"`
	ReadP50MS   float64 `json:"read_p50_ms"`
	ReadP99MS   float64 `json:"read_p99_ms"`
	Failed      int64   `json:"failed"`
	// BlockIntervalMS is the mean time between blocks during the reads.
	BlockIntervalMS float64 `json:"block_interval_ms"`
	// Cost is the CPU cost of each cryptographic step for one record of
	// this size and this many validators, measured in this process.
	Cost RecordCost `json:"cost_us"`
}

// RecordCost breaks one record's cryptography down, in microseconds.
type RecordCost struct {
	AESEncrypt  float64 `json:"aes_encrypt"`
	ShamirSplit float64 `json:"shamir_split"`
	HPKESeal    float64 `json:"hpke_seal_per_share"`
	Reseal      float64 `json:"hpke_reseal_per_share"`
	HPKEOpen    float64 `json:"hpke_open_per_share"`
	Combine     float64 `json:"shamir_combine"`
	AESDecrypt  float64 `json:"aes_decrypt"`
}

// RunRecords measures audited, threshold-decrypted record writes and
// reads on a local network of separate validator processes.
func RunRecords(ctx context.Context, opt RecordOptions) (*RecordResult, error) {
	if opt.Size <= 0 {
		opt.Size = 10 << 10
	}
	if opt.Workers <= 0 {
		opt.Workers = 32
	}
	dir, progress, cleanup, err := prepare(opt.Dir, opt.Progress)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	members, err := node.Testnet(dir, "carechain-bench", opt.Validators, opt.BasePort)
	if err != nil {
		return nil, err
	}
	procs, rpcs, _, err := startNetwork(ctx, dir, members, "", opt.CPUProfile)
	defer stopNetwork(procs)
	if err != nil {
		return nil, err
	}
	gws := make([]*client.Client, len(members))
	for i, m := range members {
		gws[i] = client.New("http://" + m.API)
	}
	admin, err := keyfile.Load(filepath.Join(dir, node.AdminKeyFile))
	if err != nil {
		return nil, err
	}
	res := &RecordResult{Validators: opt.Validators, RecordBytes: opt.Size, Workers: opt.Workers}
	fmt.Fprintf(progress, "bench: registering a patient, a hospital and %d practitioners\n", opt.Workers)
	w, err := newRecordWorld(ctx, gws[0], admin, opt.Workers)
	if err != nil {
		return nil, err
	}
	resource := fhirOfSize(opt.Size)

	fmt.Fprintf(progress, "bench: writing %d-byte records with %d writers for %s\n", opt.Size, opt.Workers, opt.Duration)
	var ids sync.Map
	writes, wlat, failed := runWorkers(ctx, opt.Workers, opt.Duration, func(ctx context.Context, i int) error {
		out, err := gws[i%len(gws)].WriteRecord(ctx, w.doctors[i], client.RecordWrite{Patient: w.patient.ID, ResourceType: "Observation", Resource: resource})
		if err == nil {
			ids.Store(out.ID, true)
		}
		return err
	})
	res.Writes, res.Failed = writes, failed
	res.WritesPerS = float64(writes) / opt.Duration.Seconds()
	res.WriteP50MS, res.WriteP99MS = percentileMS(wlat, 50), percentileMS(wlat, 99)
	var all []string
	ids.Range(func(k, _ any) bool { all = append(all, k.(string)); return true })
	if len(all) == 0 {
		return nil, fmt.Errorf("no record was written (logs in %s)", dir)
	}
	fmt.Fprintf(progress, "bench:   %d writes, %.0f/s, p50 %.0f ms, p99 %.0f ms\n", writes, res.WritesPerS, res.WriteP50MS, res.WriteP99MS)

	// Readers are another organization's staff, with the patient's consent.
	if err := w.grantReaders(ctx, gws[0]); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "bench: reading with %d readers for %s\n", opt.Workers, opt.Duration)
	h0, _ := height(ctx, rpcs[0])
	var next atomic.Int64
	reads, rlat, rfailed := runWorkers(ctx, opt.Workers, opt.Duration, func(ctx context.Context, i int) error {
		id := all[int(next.Add(1))%len(all)]
		out, err := gws[i%len(gws)].ReadRecord(ctx, w.readers[i], id, 0, "TREAT", false)
		if err == nil && len(out.Resource) != len(resource) {
			return fmt.Errorf("read %d bytes of %d", len(out.Resource), len(resource))
		}
		return err
	})
	h1, _ := height(ctx, rpcs[0])
	res.Reads, res.Failed = reads, res.Failed+rfailed
	res.ReadsPerS = float64(reads) / opt.Duration.Seconds()
	res.ReadP50MS, res.ReadP99MS = percentileMS(rlat, 50), percentileMS(rlat, 99)
	if h1 > h0 {
		res.BlockIntervalMS = float64(opt.Duration.Milliseconds()) / float64(h1-h0)
	}
	fmt.Fprintf(progress, "bench:   %d reads, %.0f/s, p50 %.0f ms, p99 %.0f ms, a block every %.0f ms\n", reads, res.ReadsPerS, res.ReadP50MS, res.ReadP99MS, res.BlockIntervalMS)
	res.Cost, err = measureRecordCost(resource, opt.Validators)
	return res, err
}

type recordWorld struct {
	patient *keyfile.Key
	clinic  *keyfile.Key
	doctors []*keyfile.Key // the hospital's writers
	readers []*keyfile.Key // the clinic's readers
}

func newRecordWorld(ctx context.Context, gw *client.Client, admin *keyfile.Key, n int) (*recordWorld, error) {
	chainID, err := gw.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	gen := func() *keyfile.Key { k, _ := keyfile.Generate(); return k }
	w := &recordWorld{patient: gen(), clinic: gen()}
	hospital := gen()
	if _, err := gw.Send(ctx, w.patient, tx.NewRegistration(chainID, tx.KindPatient, "", "", w.patient.Sign, w.patient.HPKEPublic())); err != nil {
		return nil, err
	}
	for _, org := range []*keyfile.Key{hospital, w.clinic} {
		if _, err := gw.Send(ctx, admin, tx.NewRegistration(chainID, tx.KindOrganization, "Org", "", org.Sign, org.HPKEPublic())); err != nil {
			return nil, err
		}
	}
	for range n {
		w.doctors, w.readers = append(w.doctors, gen()), append(w.readers, gen())
	}
	// Registrations by one organization are sequential nonces: send them
	// in batches without waiting, then wait for each batch's last, so the
	// mempool never holds more of one signer's than a block takes.
	const batch = 40
	for _, staff := range []struct {
		org  *keyfile.Key
		keys []*keyfile.Key
	}{{hospital, w.doctors}, {w.clinic, w.readers}} {
		for lo := 0; lo < len(staff.keys); lo += batch {
			nonce, err := gw.Nonce(ctx, staff.org.ID)
			if err != nil {
				return nil, err
			}
			hi := min(lo+batch, len(staff.keys))
			for i, k := range staff.keys[lo:hi] {
				wait := client.WaitSync
				if lo+i == hi-1 {
					wait = client.WaitCommit
				}
				raw := tx.Build(chainID, staff.org.ID, nonce.Next+uint64(i), tx.NewRegistration(chainID, tx.KindPractitioner, "Dr", staff.org.ID, k.Sign, k.HPKEPublic()), staff.org.Sign)
				if _, err := gw.Submit(ctx, raw, wait); err != nil {
					return nil, err
				}
			}
		}
	}
	return w, nil
}

func (w *recordWorld) grantReaders(ctx context.Context, gw *client.Client) error {
	c := consent.Consent{Status: consent.StatusActive, Patient: w.patient.ID, Provision: consent.Provision{Type: consent.Permit,
		Actors: []consent.Actor{consent.Organization(w.clinic.ID)}, Actions: []consent.Action{consent.ActionAccess},
		Purposes: []consent.Purpose{consent.PurposeTreatment}}}
	_, err := gw.Send(ctx, w.patient, &tx.GrantConsent{Patient: w.patient.ID, Consent: consent.Encode(c)})
	return err
}

// runWorkers runs op in n workers until d has passed, returning the count
// of successes, their latencies and the count of failures.
func runWorkers(ctx context.Context, n int, d time.Duration, op func(context.Context, int) error) (int64, []time.Duration, int64) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				err := op(context.WithoutCancel(ctx), i)
				took := time.Since(start)
				// An operation started in the window counts however long it
				// takes: one that hangs past the window is a failure or a
				// slow success, not a request that never happened.
				if err != nil {
					failed.Add(1)
					continue
				}
				ok.Add(1)
				mu.Lock()
				lat = append(lat, took)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ok.Load(), lat, failed.Load()
}

func percentileMS(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	i = min(max(i-1, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// fhirOfSize is an Observation of about n bytes of JSON.
func fhirOfSize(n int) []byte {
	head := `{"resourceType":"Observation","status":"final","code":{"text":"bench"},"note":[{"text":"`
	tail := `"}]}`
	return []byte(head + strings.Repeat("x", max(0, n-len(head)-len(tail))) + tail)
}

// measureRecordCost times each cryptographic step for one record.
func measureRecordCost(resource []byte, n int) (RecordCost, error) {
	const rounds = 50
	vkeys := make([]*keyfile.Key, n)
	for i := range vkeys {
		vkeys[i], _ = keyfile.Generate()
	}
	reader, _ := keyfile.Generate()
	ad := keyshare.AssociatedData{RecordID: "rcbench", Version: 1, Patient: "ccpatient"}
	var c RecordCost
	per := func(d time.Duration, k int) float64 { return float64(d.Microseconds()) / float64(k) }
	for range rounds {
		t := time.Now()
		ct, dk, err := keyshare.Seal(rand.Reader, resource, ad)
		if err != nil {
			return c, err
		}
		c.AESEncrypt += per(time.Since(t), rounds)
		t = time.Now()
		shares, commits, err := dk.Split(rand.Reader, keyshare.DefaultParams(n))
		if err != nil {
			return c, err
		}
		c.ShamirSplit += per(time.Since(t), rounds)
		released := make([]keyshare.Share, n)
		for i, s := range shares {
			info := keyshare.ShareInfo{ChainID: "bench", RecordID: ad.RecordID, Version: 1, Index: uint8(i), Recipient: "validator"}
			t = time.Now()
			sealed, err := keyshare.SealShare(vkeys[i].HPKE.PublicKey(), s, info)
			if err != nil {
				return c, err
			}
			c.HPKESeal += per(time.Since(t), rounds*n)
			rel := info
			rel.Recipient, rel.AuditSeq = "reader", 1
			t = time.Now()
			out, err := keyshare.Reseal(vkeys[i].HPKE, sealed, info, reader.HPKE.PublicKey(), rel)
			if err != nil {
				return c, err
			}
			c.Reseal += per(time.Since(t), rounds*n)
			t = time.Now()
			if released[i], err = keyshare.OpenReleased(reader.HPKE, out, rel); err != nil {
				return c, err
			}
			c.HPKEOpen += per(time.Since(t), rounds*n)
		}
		t = time.Now()
		key, _, err := keyshare.Combine(ad, commits, released)
		if err != nil {
			return c, err
		}
		c.Combine += per(time.Since(t), rounds)
		t = time.Now()
		if _, err := keyshare.Decrypt(key, ct, ad); err != nil {
			return c, err
		}
		c.AESDecrypt += per(time.Since(t), rounds)
	}
	return c, nil
}
