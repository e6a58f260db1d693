package gateway_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/tx"
)

// startNode runs a real single-validator node in this process.
func startNode(t *testing.T) *node.Node {
	t.Helper()
	return nodetest.Start(t, filepath.Join(t.TempDir(), "node"), "gateway-test")
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestHealthMetricsAndErrors(t *testing.T) {
	n := startNode(t)

	status, body := get(t, n.APIURL+"/healthz")
	var h client.Health
	if status != 200 || json.Unmarshal(body, &h) != nil || h.Status != "ok" || h.Height < 1 || len(h.AppHash) != 64 || h.ChainID != "gateway-test" {
		t.Fatalf("healthz = %d %s", status, body)
	}

	if status, body = get(t, n.APIURL+"/metrics"); status != 200 || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("metrics = %d, %.200s", status, body)
	}

	// Every error is JSON with a stable code.
	cases := []struct {
		method, path, body string
		status             int
		code               tx.Code
	}{
		{"GET", "/v1/actors/ccaaaaaaaaaaaaaaaaaaaaaaaa", "", 404, tx.CodeNotFound},
		{"GET", "/v1/state/zz", "", 400, tx.CodeInvalid},
		{"GET", "/v1/state/00?height=-1", "", 400, tx.CodeInvalid},
		{"GET", "/v1/state/00?height=999999", "", 404, tx.CodeNotFound},
		// Consent metadata and audit events only through audited reads;
		// the audit head stays public.
		{"GET", "/v1/state/63732f632f78", "", 403, tx.CodeUnauthorized},
		{"GET", "/v1/state/63732f", "", 403, tx.CodeUnauthorized},
		{"GET", "/v1/state/61756469742f652f", "", 403, tx.CodeUnauthorized},
		{"GET", "/v1/state/61756469742f702f78", "", 403, tx.CodeUnauthorized},
		{"GET", "/v1/txs/1234", "", 400, tx.CodeInvalid},
		{"GET", "/v1/nothing-here", "", 404, tx.CodeNotFound},
		{"POST", "/v1/txs", "not json", 400, tx.CodeMalformed},
		{"POST", "/v1/txs", `{"tx":""}`, 400, tx.CodeMalformed},
		{"POST", "/v1/txs?wait=forever", `{"tx":"AAAA"}`, 400, tx.CodeInvalid},
		{"POST", "/v1/txs", `{"tx":"AAAA"}`, 422, tx.CodeMalformed},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, n.APIURL+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d (%s)", c.method, c.path, resp.StatusCode, c.status, b)
			continue
		}
		var eb client.ErrorBody
		var tr client.TxResult
		code := uint32(0)
		if json.Unmarshal(b, &eb) == nil && eb.Error.Name != "" {
			code = eb.Error.Code
		} else if json.Unmarshal(b, &tr) == nil {
			code = tr.Code
		}
		if tx.Code(code) != c.code {
			t.Errorf("%s %s: code %d, want %d (%s)", c.method, c.path, code, c.code, b)
		}
	}
}

func TestSubmitWaitsForCommitAndProvesState(t *testing.T) {
	n := startNode(t)
	c := client.New(n.APIURL)
	ctx := context.Background()
	k, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Send(ctx, k, tx.NewRegistration("gateway-test", tx.KindPatient, "", "", k.Sign, k.HPKEPublic()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Height < 1 || res.Code != 0 || len(res.Events) != 1 || res.Events[0].Attributes["actor"] != k.ID {
		t.Fatalf("register result = %+v", res)
	}
	// The committed transaction can be looked up by hash once CometBFT's
	// indexer, which runs beside the commit event, has seen it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := c.Tx(ctx, res.Hash)
		if err == nil && got.Height == res.Height && got.Code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lookup = %+v, %v", got, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	// The actor is readable with a verified proof at the committed height.
	a, err := c.Actor(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Actor.Kind != "patient" || a.Proof.Height < res.Height {
		t.Fatalf("actor = %+v", a)
	}
	// A tampered proof fails verification in the client.
	a.Proof.Value = append([]byte(nil), a.Proof.Value...)
	a.Proof.Value[0] ^= 1
	if err := client.VerifyStateProof(a.Proof, a.Proof.Key); err == nil {
		t.Fatal("a tampered value verified")
	}
	// A rejection comes back as a client.Error with the code.
	_, sign, _ := ed25519.GenerateKey(nil)
	raw := tx.Build("gateway-test", k.ID, 1, &tx.RevokeActor{Actor: k.ID}, sign) // replayed nonce, wrong key
	_, err = c.Submit(ctx, raw, client.WaitCommit)
	var ce *client.Error
	if !errors.As(err, &ce) || tx.Code(ce.Code) != tx.CodeNonceReplayed {
		t.Fatalf("bad submission: %v", err)
	}
	if n, err := c.Nonce(ctx, k.ID); err != nil || n.Last != 1 || n.Next != 2 {
		t.Fatalf("nonce = %+v, %v", n, err)
	}
}
