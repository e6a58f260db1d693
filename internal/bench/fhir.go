package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/tx"
)

// FHIROptions configure a FHIR API benchmark.
type FHIROptions struct {
	Validators int
	Duration   time.Duration // per phase: reads, then searches
	BasePort   int
	Dir        string
	Progress   io.Writer
	Workers    int // concurrent FHIR clients
	Records    int // Observations written before the phases
	PageSize   int // _count of each search
}

// FHIRResult is what a FHIR benchmark measured.
type FHIRResult struct {
	Validators   int     `json:"validators"`
	Workers      int     `json:"workers"`
	Records      int     `json:"records"`
	PageSize     int     `json:"page_size"`
	Reads        int64   `json:"reads"`
	ReadsPerS    float64 `json:"reads_per_s"`
	ReadP50MS    float64 `json:"read_p50_ms"`
	ReadP99MS    float64 `json:"read_p99_ms"`
	Searches     int64   `json:"searches"`
	SearchesPerS float64 `json:"searches_per_s"`
	SearchP50MS  float64 `json:"search_p50_ms"`
	SearchP99MS  float64 `json:"search_p99_ms"`
	Failed       int64   `json:"failed"`
	// Bundles is how many transaction Bundles of BundleEntries
	// Observations set the scene up, and BundleMeanMS how long each took
	// on average: one record.batch each, sealed, anchored and committed.
	Bundles       int     `json:"bundles"`
	BundleEntries int     `json:"bundle_entries"`
	BundleMeanMS  float64 `json:"bundle_mean_ms"`
}

// RunFHIR measures FHIR reads (GET Observation/{id}) and searches (a page
// of a patient's Observations) through node0's gateway, which acts for an
// organization, on a local network of separate validator processes. Each
// read and each search page is one audited ledger access.
func RunFHIR(ctx context.Context, opt FHIROptions) (*FHIRResult, error) {
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	if opt.Records <= 0 {
		opt.Records = 200
	}
	if opt.PageSize <= 0 {
		opt.PageSize = 10
	}
	if opt.Duration > 4*time.Minute {
		return nil, fmt.Errorf("a FHIR phase may last at most 4 minutes: one access token serves it")
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
	org, err := keyfile.Generate()
	if err != nil {
		return nil, err
	}
	if err := actFor(members[0].Home, org); err != nil {
		return nil, err
	}
	procs, _, _, err := startNetwork(ctx, dir, members, "", "")
	defer stopNetwork(procs)
	if err != nil {
		return nil, err
	}
	gw := client.New("http://" + members[0].API)
	admin, err := keyfile.Load(filepath.Join(dir, node.AdminKeyFile))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "bench: registering an organization, a practitioner and a patient; writing %d Observations\n", opt.Records)
	doctor, patientRef, ids, bundles, err := fhirWorld(ctx, gw, admin, org, opt.Records)
	if err != nil {
		return nil, err
	}
	res := &FHIRResult{Validators: opt.Validators, Workers: opt.Workers, Records: len(ids), PageSize: opt.PageSize,
		Bundles: len(bundles), BundleEntries: bundleEntries}
	var total time.Duration
	for _, d := range bundles {
		total += d
	}
	if len(bundles) > 0 {
		res.BundleMeanMS = float64(total.Microseconds()) / 1000 / float64(len(bundles))
	}
	fmt.Fprintf(progress, "bench:   %d transaction Bundles of %d Observations, %.0f ms each on average\n", res.Bundles, bundleEntries, res.BundleMeanMS)
	phase := func(name string, op func(ctx context.Context, token string) error) (int64, float64, float64, float64, error) {
		tok, err := gw.Token(ctx, doctor, "system/*.rs", "TREAT")
		if err != nil {
			return 0, 0, 0, 0, err
		}
		fmt.Fprintf(progress, "bench: %s with %d clients for %s\n", name, opt.Workers, opt.Duration)
		var once sync.Once
		n, lat, failed := runWorkers(ctx, opt.Workers, opt.Duration, func(ctx context.Context, _ int) error {
			err := op(ctx, tok.AccessToken)
			if err != nil {
				once.Do(func() { fmt.Fprintf(progress, "bench:   first failure: %v\n", err) })
			}
			return err
		})
		res.Failed += failed
		perS := float64(n) / opt.Duration.Seconds()
		p50, p99 := percentileMS(lat, 50), percentileMS(lat, 99)
		fmt.Fprintf(progress, "bench:   %d %s, %.1f/s, p50 %.0f ms, p99 %.0f ms, %d failed\n", n, name, perS, p50, p99, failed)
		return n, perS, p50, p99, nil
	}
	get := func(ctx context.Context, token, path string) error {
		status, body, err := gw.FHIR(ctx, token, http.MethodGet, path, nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("GET %s: %d %s", path, status, body)
		}
		return nil
	}
	if res.Reads, res.ReadsPerS, res.ReadP50MS, res.ReadP99MS, err = phase("reads", func(ctx context.Context, token string) error {
		return get(ctx, token, "/Observation/"+ids[rand.IntN(len(ids))])
	}); err != nil {
		return nil, err
	}
	if res.Searches, res.SearchesPerS, res.SearchP50MS, res.SearchP99MS, err = phase("searches", func(ctx context.Context, token string) error {
		offset := rand.IntN(max(1, len(ids)-opt.PageSize))
		return get(ctx, token, fmt.Sprintf("/Observation?patient=%s&_count=%d&_offset=%d", patientRef, opt.PageSize, offset))
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// actFor makes a node's gateway act for org.
func actFor(home string, org *keyfile.Key) error {
	if err := org.Save(filepath.Join(home, "org.key.json")); err != nil {
		return err
	}
	cfg, err := node.LoadConfig(home)
	if err != nil {
		return err
	}
	cfg.Gateway.OrgKey = "org.key.json"
	return node.SaveConfig(home, cfg)
}

// bundleEntries is how many Observations each of the bench's transaction
// Bundles holds.
const bundleEntries = 50

// fhirWorld registers the organization, a practitioner of it and a
// patient, and writes the patient's Patient resource and n Observations
// through the FHIR API, in transaction Bundles of bundleEntries, whose
// durations it returns.
func fhirWorld(ctx context.Context, gw *client.Client, admin, org *keyfile.Key, n int) (*keyfile.Key, string, []string, []time.Duration, error) {
	chainID, err := gw.ChainID(ctx)
	if err != nil {
		return nil, "", nil, nil, err
	}
	doctor, _ := keyfile.Generate()
	patient, _ := keyfile.Generate()
	for _, s := range []struct {
		signer *keyfile.Key
		m      tx.Msg
	}{
		{admin, tx.NewRegistration(chainID, tx.KindOrganization, "Bench General", "", org.Sign, org.HPKEPublic())},
		{org, tx.NewRegistration(chainID, tx.KindPractitioner, "Dr Bench", org.ID, doctor.Sign, doctor.HPKEPublic())},
		{patient, tx.NewRegistration(chainID, tx.KindPatient, "", "", patient.Sign, patient.HPKEPublic())},
	} {
		if _, err := gw.Send(ctx, s.signer, s.m); err != nil {
			return nil, "", nil, nil, err
		}
	}
	tok, err := gw.Token(ctx, doctor, "system/*.c", "")
	if err != nil {
		return nil, "", nil, nil, err
	}
	post := func(entries []any) ([]string, error) {
		b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
		status, body, err := gw.FHIR(ctx, tok.AccessToken, http.MethodPost, "", b)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("transaction: %d %s", status, body)
		}
		var resp struct {
			Entry []struct {
				Response struct{ Location string } `json:"response"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			return nil, err
		}
		var ids []string
		for _, e := range resp.Entry {
			parts := strings.Split(e.Response.Location, "/")
			if len(parts) < 2 {
				return nil, fmt.Errorf("location %q", e.Response.Location)
			}
			ids = append(ids, parts[1])
		}
		return ids, nil
	}
	pids, err := post([]any{map[string]any{"request": map[string]any{"method": "POST", "url": "Patient"}, "resource": map[string]any{
		"resourceType": "Patient", "identifier": []any{map[string]any{"system": "urn:carechain:patient", "value": patient.ID}}}}})
	if err != nil {
		return nil, "", nil, nil, err
	}
	ref := "Patient/" + pids[0]
	var ids []string
	var took []time.Duration
	for len(ids) < n {
		var entries []any
		for i := 0; i < min(bundleEntries, n-len(ids)); i++ {
			entries = append(entries, map[string]any{"request": map[string]any{"method": "POST", "url": "Observation"}, "resource": map[string]any{
				"resourceType": "Observation", "status": "final", "subject": map[string]any{"reference": ref},
				"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4"}}},
				"effectiveDateTime": time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(len(ids)+i) * time.Hour).Format(time.RFC3339),
				"valueQuantity":     map[string]any{"value": 60 + i%40, "unit": "/min"}}})
		}
		start := time.Now()
		got, err := post(entries)
		if err != nil {
			return nil, "", nil, nil, err
		}
		took = append(took, time.Since(start))
		ids = append(ids, got...)
	}
	return doctor, ref, ids, took, nil
}
