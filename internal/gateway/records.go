package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/blobstore"
	"github.com/carechain/carechain/internal/custody"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/tx"
)

// shareTimeout bounds how long the gateway waits for each custodian when
// collecting shares: a validator that is down must not hold a read up for
// longer than this, since k of n answers are enough.
const shareTimeout = 5 * time.Second

// peerRetryInterval is how soon a peer that has not yet committed the
// block with a reader's access is asked for its share again.
const peerRetryInterval = 50 * time.Millisecond

func (g *Gateway) needCustody(w http.ResponseWriter) bool {
	if g.custody == nil || g.state == nil {
		writeError(w, http.StatusNotImplemented, tx.CodeInternal, "this node keeps no records")
		return false
	}
	return true
}

// putRecord takes a new record version: it checks that the blob is the one
// the transaction anchors, stages it so peers can fetch it, submits the
// transaction and waits for its block (or, with ?wait=sync, only for the
// mempool to admit it). A rejected version's blob is removed again.
func (g *Gateway) putRecord(w http.ResponseWriter, r *http.Request) {
	if !g.needCustody(w) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 2*(records.MaxBlobBytes+tx.MaxTxBytes)))
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeMalformed, "read body: "+err.Error())
		return
	}
	var up client.RecordUpload
	if err := json.Unmarshal(body, &up); err != nil || len(up.Tx) == 0 || len(up.Blob) == 0 {
		writeError(w, http.StatusBadRequest, tx.CodeMalformed, `body must be JSON {"tx": "<base64 record.put transaction>", "blob": "<base64 custody blob>"}`)
		return
	}
	put, err := checkUpload(up)
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeOf(err), err.Error())
		return
	}
	untilCommit, ok := waitParam(w, r)
	if !ok {
		return
	}
	h, err := g.custody.Stage(up.Blob)
	if err != nil {
		writeError(w, http.StatusInternalServerError, tx.CodeInternal, "stage blob: "+err.Error())
		return
	}
	res, status, err := g.submitAndWait(r.Context(), up.Tx, untilCommit)
	if err != nil {
		writeError(w, status, tx.CodeInternal, err.Error())
		return
	}
	if res.Code != 0 {
		if err := g.custody.Unstage(h, put.RecordID, put.Version); err != nil {
			g.log.Warn("remove blob of a rejected record version", "blob", h.String(), "err", err)
		}
	}
	writeTxResult(w, *res)
}

// checkUpload refuses an upload whose blob is not what its transaction
// anchors, before anything is stored.
func checkUpload(up client.RecordUpload) (*tx.PutRecord, error) {
	m, err := decodeUploaded(up.Tx)
	if err != nil {
		return nil, err
	}
	put, ok := m.(*tx.PutRecord)
	if !ok {
		return nil, tx.Errorf(tx.CodeInvalid, "POST /v1/records takes a record.put transaction, not %s", m.Type())
	}
	return put, checkBlob(put, up.Blob)
}

func decodeUploaded(raw []byte) (tx.Msg, error) {
	t, err := tx.Decode(raw)
	if err != nil {
		return nil, err
	}
	return tx.DecodeMsg(t.Type, t.Body)
}

// checkBlob checks that blob is the custody blob put anchors.
func checkBlob(put *tx.PutRecord, blob []byte) error {
	anchor, err := records.CheckPut(put)
	if err != nil {
		return err
	}
	if h := blobstore.Sum(blob); !bytes.Equal(h[:], put.BlobHash) {
		return tx.Errorf(tx.CodeInvalid, "the blob's SHA-256 is %s, the transaction anchors %x", h, put.BlobHash)
	}
	b, err := records.DecodeBlob(blob)
	if err != nil {
		return tx.Errorf(tx.CodeMalformed, "%v", err)
	}
	if uint64(len(b.Ciphertext)) != put.Size || len(b.Shares) != anchor.Commitments.N() {
		return tx.Errorf(tx.CodeInvalid, "the blob holds %d bytes and %d shares; the transaction says %d and %d",
			len(b.Ciphertext), len(b.Shares), put.Size, anchor.Commitments.N())
	}
	if err := anchor.CheckCiphertext(b.Ciphertext); err != nil {
		return tx.Errorf(tx.CodeInvalid, "%v", err)
	}
	return nil
}

// maxBatchUploadBytes bounds a batch upload: a Bundle of up to 16 MB of
// resources, its shares, and base64.
const maxBatchUploadBytes = 64 << 20

// putBatch takes a record.batch and the blobs of its record entries, in
// order. Every blob is checked against its entry before any is stored;
// all are staged, the transaction submitted, and if the ledger refuses
// the batch every blob is removed again, so a refused batch leaves
// nothing on any node.
func (g *Gateway) putBatch(w http.ResponseWriter, r *http.Request) {
	if !g.needCustody(w) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBatchUploadBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeMalformed, "read body: "+err.Error())
		return
	}
	if len(body) > maxBatchUploadBytes {
		writeError(w, http.StatusRequestEntityTooLarge, tx.CodeTooLarge, fmt.Sprintf("a batch upload is at most %d bytes", maxBatchUploadBytes))
		return
	}
	var up client.BatchUpload
	if err := json.Unmarshal(body, &up); err != nil || len(up.Tx) == 0 {
		writeError(w, http.StatusBadRequest, tx.CodeMalformed, `body must be JSON {"tx": "<base64 record.batch transaction>", "blobs": ["<base64 custody blob>", …]}`)
		return
	}
	m, err := decodeUploaded(up.Tx)
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeOf(err), err.Error())
		return
	}
	batch, ok := m.(*tx.WriteBatch)
	if !ok {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, fmt.Sprintf("POST /v1/records/batch takes a record.batch transaction, not %s", m.Type()))
		return
	}
	var puts []*tx.PutRecord
	for i, e := range batch.Entries {
		put, ok := e.(*tx.PutRecord)
		if !ok {
			continue
		}
		if len(puts) == len(up.Blobs) {
			writeError(w, http.StatusBadRequest, tx.CodeInvalid, fmt.Sprintf("entry %d is a record with no blob: send one blob per record entry, in order", i))
			return
		}
		if err := checkBlob(put, up.Blobs[len(puts)]); err != nil {
			err = tx.BatchEntryError(i, err)
			writeError(w, http.StatusBadRequest, tx.CodeOf(err), err.Error())
			return
		}
		puts = append(puts, put)
	}
	if len(puts) != len(up.Blobs) {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, fmt.Sprintf("%d blobs for %d record entries", len(up.Blobs), len(puts)))
		return
	}
	untilCommit, ok := waitParam(w, r)
	if !ok {
		return
	}
	staged := make([]blobstore.Hash, 0, len(puts))
	unstage := func() {
		for i, h := range staged {
			if err := g.custody.Unstage(h, puts[i].RecordID, puts[i].Version); err != nil {
				g.log.Warn("remove blob of a refused batch", "blob", h.String(), "err", err)
			}
		}
	}
	for _, blob := range up.Blobs {
		h, err := g.custody.Stage(blob)
		if err != nil {
			unstage()
			writeError(w, http.StatusInternalServerError, tx.CodeInternal, "stage blob: "+err.Error())
			return
		}
		staged = append(staged, h)
	}
	res, status, err := g.submitAndWait(r.Context(), up.Tx, untilCommit)
	if err != nil {
		writeError(w, status, tx.CodeInternal, err.Error())
		return
	}
	if res.Code != 0 {
		unstage()
	}
	writeTxResult(w, *res)
}

// recordInfo renders a record and its versions.
func recordInfo(rec *records.Record, vs []*records.Version) client.RecordInfo {
	out := client.RecordInfo{ID: rec.ID, Patient: rec.Patient, AuthorOrg: rec.AuthorOrg, Version: rec.Latest, Erased: rec.Erased, ErasedBy: rec.ErasedBy}
	for _, v := range vs {
		out.Versions = append(out.Versions, client.RecordVersion{Version: v.Version, Type: v.ResourceType, Labels: nonNil(v.Labels),
			Author: v.Author, AuthorOrg: v.AuthorOrg, Height: v.Height, Time: time.Unix(0, v.Time).UTC(), Size: v.Size,
			BlobHash: hex.EncodeToString(v.BlobHash[:]), Threshold: v.Anchor.Commitments.K, Shares: v.Anchor.Commitments.N()})
	}
	if n := len(out.Versions); n > 0 {
		first, last := out.Versions[0], out.Versions[n-1]
		out.Type, out.Labels, out.Author, out.Created, out.Updated = last.Type, last.Labels, last.Author, first.Time, last.Time
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// recordQuery reads a record.query request, has the ledger decide and
// record it, and returns it once permitted; otherwise it has answered.
func (g *Gateway) recordQuery(w http.ResponseWriter, r *http.Request, one bool) *tx.QueryRecords {
	var req client.ConsentQueryRequest
	if !readQueryBody(w, r, &req, &req.Tx, `{"tx": "<base64 record.query transaction>"}`) {
		return nil
	}
	if g.state == nil {
		writeStateError(w, errNoState)
		return nil
	}
	_, m, err := decodeQuery(req.Tx, tx.TypeQueryRecords)
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeOf(err), err.Error())
		return nil
	}
	q := m.(*tx.QueryRecords)
	if one != (q.RecordID != "") {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, "POST /v1/records/read takes a record.query naming a record; /v1/records/list one naming only the patient")
		return nil
	}
	if g.runQuery(r.Context(), w, req.Tx) == nil {
		return nil
	}
	return q
}

// record serves POST /v1/records/read: one record and its versions, once
// the ledger has permitted and recorded the reader's record.query.
func (g *Gateway) record(w http.ResponseWriter, r *http.Request) {
	q := g.recordQuery(w, r, true)
	if q == nil {
		return
	}
	snap, version, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	rec, vs, err := records.Versions(snap, q.RecordID)
	if err != nil {
		writeTxError(w, err)
		return
	}
	info := recordInfo(rec, vs)
	info.Height = version
	writeJSON(w, http.StatusOK, info)
}

// patientRecords serves POST /v1/records/list: a patient's records, the
// metadata every validator sees and never content, once the ledger has
// permitted and recorded the reader's record.query.
func (g *Gateway) patientRecords(w http.ResponseWriter, r *http.Request) {
	q := g.recordQuery(w, r, false)
	if q == nil {
		return
	}
	snap, _, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	ids, err := records.List(snap, q.Patient)
	if err != nil {
		writeStateError(w, err)
		return
	}
	out := client.RecordList{Records: []client.RecordInfo{}}
	for _, id := range ids {
		rec, vs, err := records.Versions(snap, id)
		if err != nil {
			writeStateError(w, err)
			return
		}
		info := recordInfo(rec, vs)
		info.Versions = nil
		out.Records = append(out.Records, info)
	}
	writeJSON(w, http.StatusOK, out)
}

// accessParams reads the record, version and audit event of a share or
// blob request.
func accessParams(r *http.Request) (id string, version, seq uint64, err error) {
	id = r.PathValue("id")
	if id == "" {
		id = r.URL.Query().Get("record")
	}
	vs := r.PathValue("version")
	if vs == "" {
		vs = r.URL.Query().Get("version")
	}
	if version, err = strconv.ParseUint(vs, 10, 64); err != nil || version == 0 {
		return "", 0, 0, errors.New("version must be a positive integer")
	}
	if seq, err = strconv.ParseUint(r.URL.Query().Get("event"), 10, 64); err != nil {
		return "", 0, 0, errors.New("event= must name the audit event (its sequence number) that permitted the read")
	}
	return id, version, seq, nil
}

// accessRequest reads a share request's record, version and audit event,
// answering a bad one.
func (g *Gateway) accessRequest(w http.ResponseWriter, r *http.Request) (id string, version, seq uint64, ok bool) {
	if !g.needCustody(w) {
		return "", 0, 0, false
	}
	id, version, seq, err := accessParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, err.Error())
		return "", 0, 0, false
	}
	return id, version, seq, true
}

// share releases this validator's share for a permitted, committed access.
func (g *Gateway) share(w http.ResponseWriter, r *http.Request) {
	id, version, seq, ok := g.accessRequest(w, r)
	if !ok {
		return
	}
	s, err := g.custody.Release(r.Context(), id, version, seq)
	if err != nil {
		writeCustodyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, client.ReleasedShare{Validator: strings.ToUpper(hex.EncodeToString(g.custody.Address())), Index: int(s.Index), Share: s.Encode()})
}

// shares collects every custodian's release of its share for one access,
// this node's own among them, in parallel, each bounded by shareTimeout.
// The answers are passed on as they are: the reader checks each share
// against its commitment and routes around bad ones.
func (g *Gateway) shares(w http.ResponseWriter, r *http.Request) {
	id, version, seq, ok := g.accessRequest(w, r)
	if !ok {
		return
	}
	snap, _, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	_, v, err := records.GetVersion(snap, id, version)
	if err != nil {
		writeTxError(w, err)
		return
	}
	size, _, err := audit.Root(snap)
	if err != nil {
		writeStateError(w, err)
		return
	}
	committed := seq < size // the event is in this node's committed log
	peers := map[string]string{}
	for _, p := range g.custody.Peers() {
		peers[strings.ToUpper(p.Address)] = p.API
	}
	want := len(v.Custodians)
	if q := r.URL.Query().Get("want"); q != "" {
		if want, err = strconv.Atoi(q); err != nil || want < 1 {
			writeError(w, http.StatusBadRequest, tx.CodeInvalid, "want must be a positive number of shares")
			return
		}
		want = min(want, len(v.Custodians))
	}
	out := make([]client.ReleasedShare, len(v.Custodians))
	for i, addr := range v.Custodians {
		out[i] = client.ReleasedShare{Validator: strings.ToUpper(hex.EncodeToString(addr)), Index: i, NotAsked: true}
	}
	// ask releases share i into out[i].
	ask := func(i int) {
		ctx, cancel := context.WithTimeout(r.Context(), shareTimeout)
		defer cancel()
		out[i].NotAsked = false
		if bytes.Equal(v.Custodians[i], g.custody.Address()) {
			s, err := g.custody.Release(ctx, id, version, seq)
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].Share = s.Encode()
			return
		}
		api, ok := peers[out[i].Validator]
		if !ok {
			out[i].Error = "no gateway configured for this validator"
			return
		}
		var res client.ReleasedShare
		path := fmt.Sprintf("/v1/records/%s/versions/%d/share?event=%d", id, version, seq)
		for {
			err := g.peerClient(api).Get(ctx, path, &res)
			if err == nil {
				break
			}
			// A peer that answers "not found" for an event this node
			// has committed has not yet committed that block itself: a
			// reader asks the moment its access commits, and peers
			// commit the same block a moment apart. Ask again until it
			// has, within shareTimeout.
			var ce *client.Error
			if committed && errors.As(err, &ce) && ce.HTTPStatus == http.StatusNotFound {
				select {
				case <-ctx.Done():
				case <-time.After(peerRetryInterval):
					continue
				}
			}
			out[i].Error = err.Error()
			return
		}
		out[i].Share = res.Share
	}
	// Ask want custodians at once, this node first (no network), the rest
	// in an order that turns with the audit event so that reads spread
	// the re-sealing over the validators; ask more only for those that
	// failed. A reader that needs k shares asks for k and saves n−k
	// validators the work; one that finds a bad share asks again for all.
	order := make([]int, 0, len(v.Custodians))
	for i, addr := range v.Custodians {
		if bytes.Equal(addr, g.custody.Address()) {
			order = append(order, i)
		}
	}
	for j := range v.Custodians {
		if i := (int(seq) + j) % len(v.Custodians); !bytes.Equal(v.Custodians[i], g.custody.Address()) {
			order = append(order, i)
		}
	}
	got := 0
	for len(order) > 0 && got < want {
		round := order[:min(want-got, len(order))]
		order = order[len(round):]
		var wg sync.WaitGroup
		for _, i := range round {
			wg.Add(1)
			go func() { defer wg.Done(); ask(i) }()
		}
		wg.Wait()
		for _, i := range round {
			if out[i].Error == "" {
				got++
			}
		}
	}
	writeJSON(w, http.StatusOK, client.ReleasedShares{Shares: out})
}

// blob serves a custody blob: to a reader whose committed access permits
// the record version it belongs to (?record=&version=&event=), or to a peer
// validator replicating it (signed request headers).
func (g *Gateway) blob(w http.ResponseWriter, r *http.Request) {
	if !g.needCustody(w) {
		return
	}
	h, err := blobstore.ParseHash(r.PathValue("hash"))
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, err.Error())
		return
	}
	var data []byte
	if r.URL.Query().Has("event") {
		id, version, seq, perr := accessParams(r)
		if perr != nil {
			writeError(w, http.StatusBadRequest, tx.CodeInvalid, perr.Error())
			return
		}
		data, err = g.custody.ReaderBlob(r.Context(), h, id, version, seq)
	} else {
		data, err = g.custody.PeerBlob(r, h)
	}
	if err != nil {
		writeCustodyError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

func writeCustodyError(w http.ResponseWriter, err error) {
	var ce *custody.Error
	if errors.As(err, &ce) {
		writeError(w, ce.Status, ce.Code, ce.Msg)
		return
	}
	writeTxError(w, err)
}

// writeTxError answers a state read that failed with a result code, or
// with a storage failure.
func writeTxError(w http.ResponseWriter, err error) {
	switch tx.CodeOf(err) {
	case tx.CodeNotFound:
		writeError(w, http.StatusNotFound, tx.CodeNotFound, err.Error())
	case tx.CodeErased:
		writeError(w, http.StatusGone, tx.CodeErased, err.Error())
	case tx.CodeInvalid:
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, err.Error())
	default:
		writeStateError(w, err)
	}
}

// peerClient returns the one client kept per peer gateway, so that share
// requests reuse connections.
func (g *Gateway) peerClient(api string) *client.Client {
	if c, ok := g.peers.Load(api); ok {
		return c.(*client.Client)
	}
	c, _ := g.peers.LoadOrStore(api, client.New(api))
	return c.(*client.Client)
}
