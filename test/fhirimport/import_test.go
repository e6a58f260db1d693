// Package fhirimport checks the FHIR import end to end: every Synthea
// Bundle of the shared test data (patients, and the hospital and
// practitioner directories) is loaded with `carechain import`
// into a node whose gateway acts for an organization, and every resource
// is read back through the FHIR API, JSON-equal to what went in.
package fhirimport

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/cli"
	"github.com/carechain/carechain/internal/fhir"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/tx"
)

const syntheaDir = "../../../shared/data/synthea-r4"

func TestImportSyntheaAndReadBack(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(syntheaDir, "*.json"))
	if len(files) == 0 {
		t.Skipf("no Synthea bundles in %s (the shared test data is absent)", syntheaDir)
	}
	o := nodetest.StartOrg(t, filepath.Join(t.TempDir(), "node"), "import-test", nil)
	n, org := o.Node, o.Org
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := client.New(n.APIURL)
	app, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, org, tx.NewRegistration("import-test", tx.KindApplication, "EHR import", org.ID, app.Sign, app.HPKEPublic())); err != nil {
		t.Fatal(err)
	}
	appKey := filepath.Join(t.TempDir(), "app.key.json")
	if err := app.Save(appKey); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	args := append([]string{"import", "--node", n.APIURL, "--key", appKey, "--patient-keys", filepath.Join(t.TempDir(), "patients"), "--json"}, files...)
	start := time.Now()
	if err := cli.Run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("import: %v\n%s\n%s", err, stderr.String(), stdout.String())
	}
	var sum cli.ImportSummary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("imported %d resources (%d skipped) in %s: %s", sum.Resources, sum.Skipped, time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr.String()))
	if !strings.Contains(stderr.String(), "[1/") {
		t.Errorf("no progress lines on a non-terminal: %q", stderr.String())
	}

	tok, err := c.Token(ctx, app, "system/*.rs", "TREAT")
	if err != nil {
		t.Fatal(err)
	}
	readStart, reads := time.Now(), 0
	for _, b := range sum.Bundles {
		if len(b.Created) == 0 {
			if len(b.Skipped) == 0 {
				t.Errorf("%s: nothing imported and nothing skipped", b.File)
			}
			continue
		}
		want := expected(t, b)
		for _, e := range b.Created {
			status, body, err := c.FHIR(ctx, tok.AccessToken, http.MethodGet, "/"+e.Location, nil)
			if err != nil || status != http.StatusOK {
				t.Fatalf("read %s: %d %v %s", e.Location, status, err, body)
			}
			reads++
			got, err := fhir.ParseResource(body)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := comparable(got), comparable(want[e.FullURL]); g != w {
				t.Errorf("%s (%s) read back differs:\n got %s\nwant %s", e.Location, e.FullURL, g, w)
			}
		}
	}
	if reads != sum.Resources || reads < 600 || sum.Skipped != 0 {
		t.Errorf("read %d resources back, imported %d, skipped %d", reads, sum.Resources, sum.Skipped)
	}
	el := time.Since(readStart)
	t.Logf("read %d resources back in %s (%.1f reads/s)", reads, el.Round(time.Millisecond), float64(reads)/el.Seconds())

	// The imported directory is searchable by identifier and name.
	for _, c2 := range []struct {
		query string
		want  string
	}{
		{"/Organization?identifier=https://github.com/synthetichealth/synthea|ef58ea08-d883-3957-8300-150554edc8fb", "HEALTHALLIANCE HOSPITALS, INC"},
		{"/Organization?name=healthalliance", "HEALTHALLIANCE HOSPITALS, INC"},
		{"/Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|" + firstPractitionerNPI(t), `"resourceType":"Practitioner"`},
	} {
		status, body, err := c.FHIR(ctx, tok.AccessToken, http.MethodGet, c2.query, nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: %d %v %s", c2.query, status, err, body)
		}
		var b struct {
			Total int `json:"total"`
		}
		if err := json.Unmarshal(body, &b); err != nil || b.Total != 1 || !strings.Contains(string(body), c2.want) {
			t.Errorf("%s: total %d, want one with %s: %.300s", c2.query, b.Total, c2.want, body)
		}
	}
}

// firstPractitionerNPI is the NPI of the first Practitioner in Synthea's
// practitioner Bundle.
func firstPractitionerNPI(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(syntheaDir, "practitionerInformation*.json"))
	if len(files) != 1 {
		t.Fatalf("practitioner bundles: %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Entry []struct {
			Resource struct {
				Identifier []struct{ System, Value string } `json:"identifier"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil || len(b.Entry) == 0 {
		t.Fatalf("practitioner bundle: %v", err)
	}
	for _, id := range b.Entry[0].Resource.Identifier {
		if id.System == "http://hl7.org/fhir/sid/us-npi" {
			return id.Value
		}
	}
	t.Fatal("the first practitioner has no NPI")
	return ""
}

// expected is what each created entry of a bundle should read back as: the
// resource in the file with its ledger patient identifier (for Patient)
// and its references to other entries rewritten to their new ids.
func expected(t *testing.T, b cli.ImportedBundle) map[string]fhir.Resource {
	data, err := os.ReadFile(b.File)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := fhir.ParseResource(data)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, e := range b.Created {
		ids[e.FullURL] = e.Location
	}
	out := map[string]fhir.Resource{}
	patients := 0
	for _, v := range bundle["entry"].([]any) {
		m := v.(map[string]any)
		res := fhir.Resource(m["resource"].(map[string]any))
		full, _ := m["fullUrl"].(string)
		if _, ok := ids[full]; !ok {
			continue
		}
		if res.Type() == "Patient" {
			idents, _ := res["identifier"].([]any)
			res["identifier"] = append(idents, map[string]any{"system": fhir.PatientIdentifierSystem, "value": b.Patients[patients]})
			patients++
		}
		fhir.RewriteReferences(res, ids)
		out[full] = res
	}
	return out
}

// comparable is a resource without what the server assigns, as canonical
// JSON.
func comparable(r fhir.Resource) string { return string(r.WithoutServerMeta().Marshal()) }
