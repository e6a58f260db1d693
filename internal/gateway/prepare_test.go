package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// signPrepared signs a prepared transaction as the portal does: the sign
// bytes, appended to the unsigned envelope.
func signPrepared(t *testing.T, p *client.PreparedTx, k *keyfile.Key) []byte {
	t.Helper()
	if !bytes.Equal(p.SignBytes, append([]byte("carechain/tx/v1\x00"), p.Unsigned...)) {
		t.Fatalf("sign bytes are not the domain and the envelope")
	}
	envelope := &tx.Tx{ChainID: p.ChainID, Signer: p.Signer, Nonce: p.Nonce, Type: tx.Type(p.Type), Body: p.Body}
	if !bytes.Equal(envelope.Encode(), p.Unsigned) {
		t.Fatalf("the envelope does not encode its fields")
	}
	return append(append([]byte(nil), p.Unsigned...), ed25519.Sign(k.Sign, p.SignBytes)...)
}

// TestPrepare checks that transactions the node prepares, signed with
// nothing but the sign bytes, are accepted, and that it refuses
// descriptions the ledger would refuse.
func TestPrepare(t *testing.T) {
	n := startNode(t)
	c := client.New(n.APIURL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	patient := register(t, c, tx.KindPatient, nil)
	friend := register(t, c, tx.KindPatient, nil)

	until := time.Date(2030, 1, 31, 23, 59, 59, 0, time.UTC)
	form := &client.ConsentForm{Actors: []client.FormActor{{Kind: "id", ID: friend.ID}}, Purposes: []string{"TREAT"},
		Types: []string{"Observation"}, Labels: []string{"PSY"}, Until: &until}
	p, err := c.Prepare(ctx, client.PrepareRequest{Signer: patient.ID, Op: "consent.grant", Patient: patient.ID, Consent: form})
	if err != nil {
		t.Fatal(err)
	}
	if p.TypeName != "consent.grant" || p.Nonce != 2 || p.ConsentID != tx.ConsentID(patient.ID, 2) || p.ChainID != "gateway-test" {
		t.Fatalf("prepared %+v", p)
	}
	res, err := c.Submit(ctx, signPrepared(t, p, patient), client.WaitCommit)
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.PatientConsents(ctx, patient, patient.ID)
	if err != nil || len(list.Consents) != 1 || list.Consents[0].ID != p.ConsentID || list.Consents[0].Form == nil {
		t.Fatalf("after grant at %d: %+v, %v", res.Height, list, err)
	}
	got := list.Consents[0].Form
	if got.ID != p.ConsentID || got.Until == nil || !got.Until.Equal(until) || len(got.Actions) != 1 || got.Actions[0] != "access" {
		t.Fatalf("the form read back: %+v", got)
	}

	// An edit keeps the id; a revocation ends it.
	form.ID, form.Labels = p.ConsentID, nil
	p, err = c.Prepare(ctx, client.PrepareRequest{Signer: patient.ID, Op: "consent.update", Patient: patient.ID, Consent: form})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, signPrepared(t, p, patient), client.WaitCommit); err != nil {
		t.Fatal(err)
	}
	p, err = c.Prepare(ctx, client.PrepareRequest{Signer: patient.ID, Op: "consent.revoke", Patient: patient.ID, ConsentID: form.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, signPrepared(t, p, patient), client.WaitCommit); err != nil {
		t.Fatal(err)
	}
	list, err = c.PatientConsents(ctx, patient, patient.ID)
	if err != nil || list.Consents[0].Status != "inactive" || list.Consents[0].Form.Labels != nil {
		t.Fatalf("after update and revoke: %+v, %v", list, err)
	}

	// Refusals come with stable codes, before anything is signed.
	for _, bad := range []struct {
		req  client.PrepareRequest
		code tx.Code
	}{
		{client.PrepareRequest{Signer: "not an id", Op: "audit.query", Patient: patient.ID}, tx.CodeInvalid},
		{client.PrepareRequest{Signer: patient.ID, Op: "identity.revoke", Patient: patient.ID}, tx.CodeUnknownType},
		{client.PrepareRequest{Signer: patient.ID, Op: "consent.grant", Patient: patient.ID}, tx.CodeInvalid},
		{client.PrepareRequest{Signer: patient.ID, Op: "consent.grant", Patient: patient.ID,
			Consent: &client.ConsentForm{Purposes: []string{"TREAT"}}}, tx.CodeInvalid},
		{client.PrepareRequest{Signer: patient.ID, Op: "consent.grant", Patient: patient.ID,
			Consent: &client.ConsentForm{Actors: []client.FormActor{{Kind: "team", ID: "x"}}}}, tx.CodeInvalid},
		{client.PrepareRequest{Signer: patient.ID, Op: "delegate.remove", Patient: patient.ID, Delegate: patient.ID}, tx.CodeInvalid},
	} {
		_, err := c.Prepare(ctx, bad.req)
		var ce *client.Error
		if !errors.As(err, &ce) || tx.Code(ce.Code) != bad.code || ce.HTTPStatus != 400 {
			t.Errorf("%+v: %v, want %s", bad.req, err, bad.code)
		}
	}
}

// prepareJSON posts a description to POST /v1/txs/prepare as the portal
// does, with the fields of the query and erasure ops, which are the
// gateway's own (client.PrepareRequest covers the consent ops).
func prepareJSON(t *testing.T, ctx context.Context, api string, desc map[string]any) (*client.PreparedTx, int, *client.ErrorDetail) {
	t.Helper()
	body, err := json.Marshal(desc)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/txs/prepare", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		var e client.ErrorBody
		if err := json.Unmarshal(data, &e); err != nil || e.Error.Name == "" {
			t.Fatalf("prepare %v: %d %s", desc, resp.StatusCode, data)
		}
		return nil, resp.StatusCode, &e.Error
	}
	var p client.PreparedTx
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return &p, resp.StatusCode, nil
}

// postSigned posts a signed query to one of the read endpoints, as the
// portal does, and decodes the answer into out.
func postSigned(t *testing.T, ctx context.Context, api, path string, raw []byte, out any) int {
	t.Helper()
	body, err := json.Marshal(client.ConsentQueryRequest{Tx: raw})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s: %v in %s", path, err, data)
		}
	}
	return resp.StatusCode
}

// TestPrepareQueriesAndErasure checks the ops the portal reads and erases
// with: a prepared consent.query lists the patient's consents, a prepared
// record.query lists and reads their records, and a prepared record.erase
// erases one, each signed with nothing but the sign bytes; and the node
// refuses what the ledger would refuse before anything is signed.
func TestPrepareQueriesAndErasure(t *testing.T) {
	rn := startRecordNode(t)
	c := rn.c
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	patient := register(t, c, tx.KindPatient, nil)
	hospital := rn.org(t, "General")
	writer := registerMember(t, c, tx.KindPractitioner, hospital)
	w, err := c.WriteRecord(ctx, writer, client.RecordWrite{Patient: patient.ID, ResourceType: "Observation", Labels: []string{"PSY"},
		Resource: []byte(`{"resourceType":"Observation","status":"final"}`)})
	if err != nil {
		t.Fatal(err)
	}

	p, _, perr := prepareJSON(t, ctx, c.URL(), map[string]any{"signer": patient.ID, "op": "consent.query", "patient": patient.ID})
	if perr != nil {
		t.Fatal(perr)
	}
	if p.TypeName != "consent.query" || p.Type != uint32(tx.TypeQueryConsents) ||
		!bytes.Equal(p.Body, (&tx.QueryConsents{Patient: patient.ID}).Encode()) {
		t.Fatalf("prepared %+v", p)
	}
	var consents client.ConsentList
	if code := postSigned(t, ctx, c.URL(), "/v1/consents/list", signPrepared(t, p, patient), &consents); code != http.StatusOK ||
		consents.Patient != patient.ID || consents.Query == nil || consents.Query.Code != 0 {
		t.Fatalf("consent list with a prepared query: %d %+v", code, consents)
	}

	p, _, perr = prepareJSON(t, ctx, c.URL(), map[string]any{"signer": patient.ID, "op": "record.query", "patient": patient.ID})
	if perr != nil {
		t.Fatal(perr)
	}
	var list client.RecordList
	if code := postSigned(t, ctx, c.URL(), "/v1/records/list", signPrepared(t, p, patient), &list); code != http.StatusOK ||
		len(list.Records) != 1 || list.Records[0].ID != w.ID || list.Records[0].Type != "Observation" ||
		strings.Join(list.Records[0].Labels, ",") != "PSY" || list.Records[0].Author != writer.ID || list.Records[0].Erased {
		t.Fatalf("record list with a prepared query: %d %+v", code, list)
	}
	p, _, perr = prepareJSON(t, ctx, c.URL(), map[string]any{"signer": patient.ID, "op": "record.query", "record_id": w.ID})
	if perr != nil {
		t.Fatal(perr)
	}
	var info client.RecordInfo
	if code := postSigned(t, ctx, c.URL(), "/v1/records/read", signPrepared(t, p, patient), &info); code != http.StatusOK ||
		info.ID != w.ID || len(info.Versions) != 1 {
		t.Fatalf("record read with a prepared query: %d %+v", code, info)
	}

	p, _, perr = prepareJSON(t, ctx, c.URL(), map[string]any{"signer": patient.ID, "op": "record.erase", "record_id": w.ID,
		"reason": "patient request"})
	if perr != nil {
		t.Fatal(perr)
	}
	if !bytes.Equal(p.Body, (&tx.EraseRecord{RecordID: w.ID, Reason: "patient request"}).Encode()) {
		t.Fatalf("prepared erasure %+v", p)
	}
	if _, err := c.Submit(ctx, signPrepared(t, p, patient), client.WaitCommit); err != nil {
		t.Fatal(err)
	}
	rec, err := c.Record(ctx, patient, w.ID)
	if err != nil || !rec.Erased || rec.ErasedBy != patient.ID {
		t.Fatalf("after the prepared erasure: %+v, %v", rec, err)
	}
	if _, err := c.ReadRecord(ctx, patient, w.ID, 0, "PATRQT", false); codeOf(err) != tx.CodeErased {
		t.Fatalf("read after the prepared erasure: %v", err)
	}

	// Refusals come with stable codes, before anything is signed.
	for _, bad := range []struct {
		desc map[string]any
		code tx.Code
	}{
		{map[string]any{"op": "consent.query", "patient": patient.ID, "consent_id": "cs1", "requester": writer.ID}, tx.CodeInvalid},
		{map[string]any{"op": "consent.query"}, tx.CodeInvalid},
		{map[string]any{"op": "record.query"}, tx.CodeInvalid},
		{map[string]any{"op": "record.erase"}, tx.CodeInvalid},
		{map[string]any{"op": "record.erase", "record_id": w.ID, "reason": strings.Repeat("r", tx.MaxReasonLen+1)}, tx.CodeMalformed},
		{map[string]any{"op": "record.query", "patient": strings.Repeat("p", tx.MaxIDLen+1)}, tx.CodeMalformed},
	} {
		bad.desc["signer"] = patient.ID
		_, status, ce := prepareJSON(t, ctx, c.URL(), bad.desc)
		if ce == nil || tx.Code(ce.Code) != bad.code || status != http.StatusBadRequest {
			t.Errorf("%v: %d %+v, want %s", bad.desc, status, ce, bad.code)
		}
	}
}
