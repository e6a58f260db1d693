package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// TestWriteBatch writes records and a directory entry in one batch and
// reads them back; a batch the ledger refuses in its last entry leaves
// nothing: no record, no blob on disk, no audit event. Uploads whose blobs
// do not match their entries are refused before anything is stored.
func TestWriteBatch(t *testing.T) {
	rn := startRecordNode(t)
	c := rn.c
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	patient := register(t, c, tx.KindPatient, nil)
	hospital := rn.org(t, "General")
	blobs := filepath.Join(rn.home, "data", "blobs")

	obs := func(text string) *client.RecordWrite {
		return &client.RecordWrite{Patient: patient.ID, ResourceType: "Observation",
			Resource: []byte(`{"resourceType":"Observation","status":"final","code":{"text":"` + text + `"}}`)}
	}
	entries := []client.BatchEntry{{Record: obs("first")},
		{Directory: &client.DirectoryWrite{ResourceType: "Location", Resource: []byte(`{"resourceType":"Location","name":"Ward 3"}`)}},
		{Record: obs("second")}}
	nonce, err := c.Nonce(ctx, hospital.ID)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := c.WriteBatch(ctx, hospital, entries, client.WaitCommit)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		typ := tx.TypePutRecord
		if e.Directory != nil {
			typ = tx.TypePutDirectory
		}
		if want := tx.BatchEntryID(typ, hospital.ID, nonce.Next, i); wb.IDs[i] != want || wb.Versions[i] != 1 {
			t.Errorf("entry %d: %s v%d, want %s v1", i, wb.IDs[i], wb.Versions[i], want)
		}
	}
	for _, i := range []int{0, 2} {
		got, err := c.ReadRecord(ctx, patient, wb.IDs[i], 0, "PATRQT", false)
		if err != nil {
			t.Fatalf("read entry %d: %v", i, err)
		}
		if !bytes.Equal(got.Resource, entries[i].Record.Resource) {
			t.Errorf("entry %d read back %s", i, got.Resource)
		}
	}
	if n := creates(t, ctx, c, patient); n != 2 {
		t.Fatalf("%d record.create events after the batch, want 2", n)
	}

	// The last entry names the organization as its patient: the ledger
	// refuses the batch, and the blob of the first entry goes too.
	filesBefore := countFiles(t, blobs)
	bad := []client.BatchEntry{{Record: obs("third")}, {Record: &client.RecordWrite{Patient: hospital.ID, ResourceType: "Observation", Resource: []byte(`{}`)}}}
	_, err = c.WriteBatch(ctx, hospital, bad, client.WaitCommit)
	if codeOf(err) != tx.CodeInvalid || !strings.Contains(err.Error(), "entry 1: ") {
		t.Fatalf("a batch with a bad last entry: %v; want invalid naming entry 1", err)
	}
	if n := countFiles(t, blobs); n != filesBefore {
		t.Errorf("a refused batch left %d blob files, before %d", n, filesBefore)
	}
	list, err := c.PatientRecords(ctx, patient, patient.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Records) != 2 {
		t.Errorf("the patient has %d records after a refused batch, want 2", len(list.Records))
	}
	if n := creates(t, ctx, c, patient); n != 2 {
		t.Errorf("%d record.create events after a refused batch, want 2", n)
	}

	// Uploads whose blobs do not fit their entries: refused, nothing staged.
	post := func(up client.BatchUpload) (int, string) {
		t.Helper()
		body, _ := json.Marshal(up)
		resp, err := http.Post(rn.url+"/v1/records/batch", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Code, Message string
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Code + ": " + e.Message
	}
	one := []client.BatchEntry{{Record: obs("fourth")}}
	up := captureBatch(t, ctx, rn.url, hospital, one)
	cases := map[string]client.BatchUpload{
		"no blob":         {Tx: up.Tx},
		"a blob too many": {Tx: up.Tx, Blobs: [][]byte{up.Blobs[0], up.Blobs[0]}},
		"another blob":    {Tx: up.Tx, Blobs: [][]byte{append(bytes.Clone(up.Blobs[0][:len(up.Blobs[0])-1]), up.Blobs[0][len(up.Blobs[0])-1]^1)}},
		"not a batch":     {Tx: tx.Build("gateway-test", hospital.ID, 1, &tx.EraseRecord{RecordID: "rcx"}, hospital.Sign), Blobs: up.Blobs},
		"not a tx":        {Tx: []byte("nope"), Blobs: up.Blobs},
	}
	for name, u := range cases {
		if status, msg := post(u); status != http.StatusBadRequest {
			t.Errorf("%s: %d %s; want 400", name, status, msg)
		}
	}
	if n := countFiles(t, blobs); n != filesBefore {
		t.Errorf("refused uploads left %d blob files, before %d", n, filesBefore)
	}
	if status, msg := post(up); status != http.StatusOK {
		t.Errorf("the good upload: %d %s", status, msg)
	}
}

// creates counts the record.create events in patient's history.
func creates(t *testing.T, ctx context.Context, c *client.Client, patient *keyfile.Key) int {
	t.Helper()
	_, events, err := c.AuditHistory(ctx, patient, patient.ID, client.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == audit.ActionRecordCreate {
			n++
		}
	}
	return n
}

// captureBatch seals a batch as WriteBatch does and returns its upload
// without sending it: the transport keeps the upload and answers 503.
func captureBatch(t *testing.T, ctx context.Context, baseURL string, key *keyfile.Key, entries []client.BatchEntry) client.BatchUpload {
	t.Helper()
	var up client.BatchUpload
	capture := roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path != "/v1/records/batch" {
			return http.DefaultTransport.RoundTrip(r)
		}
		if err := json.NewDecoder(r.Body).Decode(&up); err != nil {
			t.Fatal(err)
		}
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: io.NopCloser(strings.NewReader(`{}`)), Request: r}, nil
	})
	_, _ = client.NewWithHTTP(baseURL, &http.Client{Transport: capture}).WriteBatch(ctx, key, entries, client.WaitCommit)
	if len(up.Tx) == 0 || len(up.Blobs) != 1 {
		t.Fatalf("captured upload: %d tx bytes, %d blobs", len(up.Tx), len(up.Blobs))
	}
	return up
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
