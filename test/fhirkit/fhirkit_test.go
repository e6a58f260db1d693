// Package fhirkit drives a carechain gateway from outside Go: the npm
// package fhir-kit-client, a widely used FHIR R4 client, runs drive.mjs
// against a node (capability statement, create, read, vread, search,
// transaction, $everything), and every response is validated as FHIR R4
// with google/fhir/go's validating JSON unmarshaller.
//
// It needs node and the npm dependencies: run `npm ci` in this directory
// (.ci/run does). Without them the test is skipped with a message.
package fhirkit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/tx"
)

func TestFHIRKitClient(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		skipOutsideCI(t, "node is not installed")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "fhir-kit-client")); err != nil {
		skipOutsideCI(t, "fhir-kit-client is not installed: run `npm ci` in test/fhirkit")
	}
	o := nodetest.StartOrg(t, filepath.Join(t.TempDir(), "node"), "fhirkit-test", nil)
	n, org := o.Node, o.Org
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := client.New(n.APIURL)
	app, _ := keyfile.Generate()
	patient, _ := keyfile.Generate()
	for _, s := range []struct {
		by *keyfile.Key
		m  tx.Msg
	}{
		{org, tx.NewRegistration("fhirkit-test", tx.KindApplication, "EHR", org.ID, app.Sign, app.HPKEPublic())},
		{patient, tx.NewRegistration("fhirkit-test", tx.KindPatient, "", "", patient.Sign, patient.HPKEPublic())},
	} {
		signer := s.by.ID
		if s.by == patient {
			signer = patient.ID
		}
		if _, err := c.SendAs(ctx, signer, s.by, s.m); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := c.Token(ctx, app, "system/*.cruds", "TREAT")
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, nodeBin, "drive.mjs")
	cmd.Env = append(os.Environ(), "FHIR_BASE="+n.APIURL+"/fhir", "FHIR_TOKEN="+tok.AccessToken, "LEDGER_PATIENT="+patient.ID)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("drive.mjs: %v\n%s\n%s", err, stderr.String(), out)
	}

	um, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]json.RawMessage{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var line struct {
			Step     string          `json:"step"`
			Resource json.RawMessage `json:"resource"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("drive.mjs printed %q: %v", sc.Text(), err)
		}
		seen[line.Step] = line.Resource
		if _, err := um.Unmarshal(line.Resource); err != nil {
			t.Errorf("%s: not valid FHIR R4: %v\n%s", line.Step, err, line.Resource)
		}
	}
	for _, step := range []string{"capabilities", "create-patient", "create-observation", "read", "vread", "search", "transaction", "everything"} {
		if seen[step] == nil {
			t.Errorf("drive.mjs did not reach %s", step)
		}
	}
	for step, want := range map[string]string{
		"search":      `"total":1`,
		"transaction": `"201 Created"`,
		"everything":  `"total":4`,
		"read":        `"versionId":"1"`,
	} {
		if !strings.Contains(string(seen[step]), want) {
			t.Errorf("%s lacks %s: %s", step, want, seen[step])
		}
	}
}

// skipOutsideCI skips on a developer's machine without the outside client,
// and fails in CI, which installs it (.ci/run) and must run this test.
func skipOutsideCI(t *testing.T, why string) {
	t.Helper()
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal(why + " (CI must run this test)")
	}
	t.Skip(why)
}
