package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carechain/carechain/internal/blobstore"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/keyshare"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/tx"
)

// RecordWrite is a record version to write.
type RecordWrite struct {
	// Patient is whose record it is; for a new version it must be the
	// record's patient, and may be left empty.
	Patient string
	// RecordID is empty for a new record, or the record to add a version to.
	RecordID     string
	ResourceType string
	Labels       []string
	Date         time.Time // the clinical date, if any
	Resource     []byte    // the FHIR R4 JSON; it never leaves this process unencrypted
	// OnBehalfOf names the practitioner or application an organization's
	// key writes for; empty when the key's actor writes for itself.
	OnBehalfOf string
	// Wait is WaitCommit (the default) or WaitSync: return once the
	// mempool admits the version, for a writer that sends several and
	// checks their blocks afterwards (Tx).
	Wait string
}

// WrittenRecord is the result of WriteRecord.
type WrittenRecord struct {
	ID      string    `json:"id"`
	Version uint64    `json:"version"`
	Result  *TxResult `json:"result"`
}

// WriteRecord encrypts a record version on this machine under a fresh data
// key, splits the key across the ledger's validators (any k of n recover
// it), seals each share to its validator's HPKE key, and has the gateway
// anchor it: the transaction commits the ciphertext's hash and a
// commitment to every share, and the custody blob goes to every node.
// Validator keys are read with state proofs, so a gateway cannot slip its
// own key in.
func (c *Client) WriteRecord(ctx context.Context, key *keyfile.Key, w RecordWrite) (*WrittenRecord, error) {
	out, err := c.writeRecord(ctx, key, w)
	if sealedToOldSet(err) {
		return c.writeRecord(ctx, key, w)
	}
	return out, err
}

// sealedToOldSet reports a write refused because the validator set
// changed between reading it and the block: the writer seals to the new
// one, once.
func sealedToOldSet(err error) bool {
	var ce *Error
	return errors.As(err, &ce) && tx.Code(ce.Code) == tx.CodeInvalid && strings.Contains(ce.Message, records.ErrOtherValidatorSet)
}

// writeSetup is what sealing a write needs from the node: the chain id,
// the proven validator set, and the signer's next nonce.
func (c *Client) writeSetup(ctx context.Context, signer string) (chainID string, vals []identity.Validator, nonce uint64, err error) {
	if chainID, err = c.ChainID(ctx); err != nil {
		return "", nil, 0, err
	}
	if vals, err = c.provenValidators(ctx); err != nil {
		return "", nil, 0, err
	}
	if nonce, err = c.nextNonce(ctx, signer); err != nil {
		return "", nil, 0, err
	}
	return chainID, vals, nonce, nil
}

func (c *Client) writeRecord(ctx context.Context, key *keyfile.Key, w RecordWrite) (*WrittenRecord, error) {
	chainID, vals, n, err := c.writeSetup(ctx, key.ID)
	if err != nil {
		return nil, err
	}
	msg, blob, err := c.sealVersion(ctx, chainID, vals, w, tx.RecordID(key.ID, n))
	if err != nil {
		return nil, err
	}
	var res TxResult
	up := RecordUpload{Tx: tx.Build(chainID, key.ID, n, msg, key.Sign), Blob: blob}
	path := "/v1/records"
	if w.Wait == WaitSync {
		path += "?wait=sync"
	}
	if err := c.do(ctx, http.MethodPost, path, up, &res); err != nil {
		return nil, err
	}
	return &WrittenRecord{ID: msg.RecordID, Version: msg.Version, Result: &res}, nil
}

// sealVersion encrypts a record version under a fresh data key, splits
// the key across vals and seals each share to its validator: the anchor
// to sign and the custody blob to upload. A new record takes newID, the
// id its transaction will give it.
func (c *Client) sealVersion(ctx context.Context, chainID string, vals []identity.Validator, w RecordWrite, newID string) (*tx.PutRecord, []byte, error) {
	ad := keyshare.AssociatedData{RecordID: w.RecordID, Version: 1, Patient: w.Patient}
	if w.RecordID == "" {
		ad.RecordID = newID
	} else {
		rec, _, err := c.provenRecord(ctx, w.RecordID, 0)
		if err != nil {
			return nil, nil, err
		}
		if w.Patient != "" && w.Patient != rec.Patient {
			return nil, nil, fmt.Errorf("record %s belongs to another patient", w.RecordID)
		}
		ad.Version, ad.Patient = rec.Latest+1, rec.Patient
	}
	ct, dk, err := keyshare.Seal(rand.Reader, w.Resource, ad)
	if err != nil {
		return nil, nil, err
	}
	shares, commits, err := dk.Split(rand.Reader, keyshare.DefaultParams(len(vals)))
	if err != nil {
		return nil, nil, err
	}
	blob := records.Blob{Ciphertext: ct, Shares: make([]keyshare.SealedShare, len(vals))}
	for i, v := range vals {
		pub, err := tx.HPKE.NewPublicKey(v.HPKEKey)
		if err != nil {
			return nil, nil, fmt.Errorf("validator %X HPKE key: %w", v.Address, err)
		}
		info := keyshare.ShareInfo{ChainID: chainID, RecordID: ad.RecordID, Version: ad.Version, Index: uint8(i), Recipient: records.CustodianID(v.Address)}
		if blob.Shares[i], err = keyshare.SealShare(pub, shares[i], info); err != nil {
			return nil, nil, err
		}
	}
	encoded := blob.Encode()
	blobHash := sha256.Sum256(encoded)
	set := records.CustodySetHash(vals)
	msg := &tx.PutRecord{Patient: ad.Patient, RecordID: ad.RecordID, Version: ad.Version, ResourceType: w.ResourceType,
		Labels: tx.SortLabels(w.Labels), Size: uint64(len(ct)), BlobHash: blobHash[:],
		Anchor: keyshare.NewAnchor(ad, ct, commits).Encode(), Custodians: set[:], OnBehalfOf: w.OnBehalfOf}
	if !w.Date.IsZero() {
		msg.Date = w.Date.Unix()
	}
	return msg, encoded, nil
}

// BatchEntry is one entry of a batch write: a record version or a
// directory version, exactly one of them set. Their Wait fields are not
// used: the batch waits as a whole.
type BatchEntry struct {
	Record    *RecordWrite
	Directory *DirectoryWrite
}

// WrittenBatch is the result of WriteBatch: each entry's id and version,
// in the order given.
type WrittenBatch struct {
	IDs      []string  `json:"ids"`
	Versions []uint64  `json:"versions"`
	Result   *TxResult `json:"result"`
}

// WriteBatch writes records and directory entries in one record.batch
// transaction, which the ledger applies all together or not at all: a
// refused entry (the error names it, "entry 3: …") leaves nothing of the
// others. A new entry at position i gets the id tx.BatchEntryID derives
// from key's next nonce and i, so a caller that knows the nonce knows
// every id beforehand. Records are sealed as WriteRecord seals them, and
// all their blobs go up with the transaction; wait is WaitCommit (the
// default) or WaitSync.
func (c *Client) WriteBatch(ctx context.Context, key *keyfile.Key, entries []BatchEntry, wait string) (*WrittenBatch, error) {
	out, err := c.writeBatch(ctx, key, entries, wait)
	if sealedToOldSet(err) {
		return c.writeBatch(ctx, key, entries, wait)
	}
	return out, err
}

func (c *Client) writeBatch(ctx context.Context, key *keyfile.Key, entries []BatchEntry, wait string) (*WrittenBatch, error) {
	if len(entries) == 0 || len(entries) > tx.MaxBatchEntries {
		return nil, fmt.Errorf("a batch holds 1 to %d entries, not %d", tx.MaxBatchEntries, len(entries))
	}
	chainID, vals, n, err := c.writeSetup(ctx, key.ID)
	if err != nil {
		return nil, err
	}
	batch := &tx.WriteBatch{Entries: make([]tx.Msg, len(entries))}
	out := &WrittenBatch{IDs: make([]string, len(entries)), Versions: make([]uint64, len(entries))}
	var up BatchUpload
	for i, e := range entries {
		switch {
		case e.Record != nil && e.Directory == nil:
			msg, blob, err := c.sealVersion(ctx, chainID, vals, *e.Record, tx.BatchEntryID(tx.TypePutRecord, key.ID, n, i))
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
			batch.Entries[i], out.IDs[i], out.Versions[i] = msg, msg.RecordID, msg.Version
			up.Blobs = append(up.Blobs, blob)
		case e.Directory != nil && e.Record == nil:
			d := e.Directory
			msg := &tx.PutDirectory{ID: d.ID, Version: d.Version, ResourceType: d.ResourceType, Resource: d.Resource, OnBehalfOf: d.OnBehalfOf}
			if msg.ID == "" {
				msg.ID, msg.Version = tx.BatchEntryID(tx.TypePutDirectory, key.ID, n, i), 1
			}
			batch.Entries[i], out.IDs[i], out.Versions[i] = msg, msg.ID, msg.Version
		default:
			return nil, fmt.Errorf("entry %d: set exactly one of Record and Directory", i)
		}
	}
	up.Tx = tx.Build(chainID, key.ID, n, batch, key.Sign)
	if len(up.Tx) > tx.MaxBatchTxBytes {
		return nil, &Error{HTTPStatus: http.StatusRequestEntityTooLarge, Code: uint32(tx.CodeTooLarge), Name: tx.CodeTooLarge.String(),
			Message: fmt.Sprintf("the batch's transaction is %d bytes, at most %d: write fewer entries at once", len(up.Tx), tx.MaxBatchTxBytes)}
	}
	path := "/v1/records/batch"
	if wait == WaitSync {
		path += "?wait=sync"
	}
	var res TxResult
	if err := c.do(ctx, http.MethodPost, path, up, &res); err != nil {
		return nil, err
	}
	out.Result = &res
	return out, nil
}

// provenValidators reads the validators record keys are split across and
// their HPKE keys, each with a state proof, in the ledger's order (by
// address). A node that left one out would only get the write refused:
// the ledger checks the whole set's hash.
func (c *Client) provenValidators(ctx context.Context) ([]identity.Validator, error) {
	var st struct {
		Validators []Validator `json:"validators"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/custodians", nil, &st); err != nil {
		return nil, err
	}
	var out []identity.Validator
	for _, v := range st.Validators {
		addr, err := hex.DecodeString(v.Address)
		if err != nil {
			return nil, fmt.Errorf("validator address %q: %w", v.Address, err)
		}
		// An entry proven before with the same address and key needs no
		// second proof: the seal goes to the key, and the ledger checks
		// the whole set's hash anyway.
		cacheKey := v.Address + "/" + hex.EncodeToString(v.HPKEKey)
		c.mu.Lock()
		known := c.provenValidator[cacheKey]
		c.mu.Unlock()
		if known {
			out = append(out, identity.Validator{Name: v.Name, Address: addr, HPKEKey: v.HPKEKey})
			continue
		}
		p, err := c.StateAt(ctx, identity.ValidatorKey(addr), 0)
		if err != nil {
			return nil, fmt.Errorf("prove validator %s: %w", v.Address, err)
		}
		if p.Value == nil {
			return nil, fmt.Errorf("validator %s has no HPKE key on the ledger", v.Address)
		}
		pv, err := identity.DecodeValidator(p.Value)
		if err != nil {
			return nil, fmt.Errorf("proven validator %s: %w", v.Address, err)
		}
		out = append(out, pv)
		c.mu.Lock()
		if c.provenValidator == nil {
			c.provenValidator = map[string]bool{}
		}
		c.provenValidator[strings.ToUpper(hex.EncodeToString(pv.Address))+"/"+hex.EncodeToString(pv.HPKEKey)] = true
		c.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b identity.Validator) int { return bytes.Compare(a.Address, b.Address) })
	if len(out) == 0 {
		return nil, errors.New("the node reports no validators")
	}
	return out, nil
}

// provenRecord reads a record and one of its versions (0: the latest),
// each with a state proof.
func (c *Client) provenRecord(ctx context.Context, id string, version uint64) (*records.Record, *records.Version, error) {
	p, err := c.StateAt(ctx, records.RecordKey(id), 0)
	if err != nil {
		return nil, nil, err
	}
	if p.Value == nil {
		return nil, nil, &Error{HTTPStatus: http.StatusNotFound, Code: uint32(tx.CodeNotFound), Name: tx.CodeNotFound.String(), Message: "record " + id + " does not exist (the node proves it absent)"}
	}
	rec, err := records.DecodeRecord(p.Value)
	if err != nil {
		return nil, nil, fmt.Errorf("proven record %s: %w", id, err)
	}
	if version == 0 {
		version = rec.Latest
	}
	if version > rec.Latest {
		return nil, nil, &Error{HTTPStatus: http.StatusNotFound, Code: uint32(tx.CodeNotFound), Name: tx.CodeNotFound.String(),
			Message: fmt.Sprintf("record %s has no version %d (latest is %d)", id, version, rec.Latest)}
	}
	cacheKey := id + "/" + strconv.FormatUint(version, 10)
	c.mu.Lock()
	cached := c.provenVersion[cacheKey]
	c.mu.Unlock()
	if cached != nil {
		return rec, cached, nil
	}
	vp, err := c.StateAt(ctx, records.VersionKey(id, version), p.Height)
	if err != nil {
		return nil, nil, err
	}
	if vp.Value == nil {
		return nil, nil, fmt.Errorf("the node proves version %d of record %s absent", version, id)
	}
	v, err := records.DecodeVersion(vp.Value)
	if err != nil {
		return nil, nil, fmt.Errorf("proven record %s version %d: %w", id, version, err)
	}
	c.mu.Lock()
	if c.provenVersion == nil || len(c.provenVersion) > 100_000 {
		c.provenVersion = map[string]*records.Version{}
	}
	c.provenVersion[cacheKey] = v
	c.mu.Unlock()
	return rec, v, nil
}

// RecordRead is a record read and decrypted.
type RecordRead struct {
	ID       string `json:"id"`
	Version  uint64 `json:"version"`
	Patient  string `json:"patient"`
	Type     string `json:"type"`
	AuditSeq uint64 `json:"auditSeq"` // the audit event that permitted the read
	Resource []byte `json:"-"`
	// BadShares names the validators whose share was missing or failed its
	// commitment: the read went on without them, and they are worth an
	// operator's look.
	BadShares []ShareFault `json:"badShares,omitempty"`
}

// ShareFault is a validator whose share could not be used.
type ShareFault struct {
	Validator string `json:"validator"`
	Index     int    `json:"index"`
	Reason    string `json:"reason"`
}

// ReadRecord reads one version of a record (0: the latest) for a purpose.
// It asks the ledger for access; the block decides against the patient's
// consents and records the decision in the audit log. Only then do the
// validators release their shares, sealed to key's HPKE key. Each share is
// checked against its commitment on the ledger, k good ones are combined,
// and the ciphertext, checked against its anchored hash, is decrypted
// here. A denial is an *Error with code access_denied.
func (c *Client) ReadRecord(ctx context.Context, key *keyfile.Key, id string, version uint64, purpose string, breakGlass bool) (*RecordRead, error) {
	out, err := c.ReadRecords(ctx, key, ReadRequest{Records: []tx.RecordRef{{ID: id, Version: version}}, Purpose: purpose, BreakGlass: breakGlass})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// ReadRequest names records of one patient to read in one access.
type ReadRequest struct {
	Records    []tx.RecordRef // versions 0 mean the latest
	Purpose    string
	BreakGlass bool
	// OnBehalfOf names the practitioner or application of key's
	// organization the read is for: consent decides on it and the audit
	// names it, and the shares come sealed to key.
	OnBehalfOf string
}

// ReadRecords reads several records of one patient under a single access
// decision (one audit event; permitted only if every record is), in the
// order asked. Each is proven, decrypted and checked as in ReadRecord.
func (c *Client) ReadRecords(ctx context.Context, key *keyfile.Key, req ReadRequest) ([]*RecordRead, error) {
	if len(req.Records) == 0 {
		return nil, errors.New("read records: name at least one")
	}
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	type proven struct {
		rec *records.Record
		v   *records.Version
	}
	got := make([]proven, len(req.Records))
	refs := make([]tx.RecordRef, 0, len(req.Records))
	for i, ref := range req.Records {
		rec, v, err := c.provenRecord(ctx, ref.ID, ref.Version)
		if err != nil {
			return nil, err
		}
		if rec.Erased {
			return nil, &Error{HTTPStatus: http.StatusGone, Code: uint32(tx.CodeErased), Name: tx.CodeErased.String(),
				Message: fmt.Sprintf("record %s was erased at height %d", ref.ID, rec.ErasedAt)}
		}
		if i > 0 && rec.Patient != got[0].rec.Patient {
			return nil, fmt.Errorf("records %s and %s belong to different patients: read them apart", got[0].rec.ID, rec.ID)
		}
		got[i] = proven{rec, v}
		refs = append(refs, tx.RecordRef{ID: ref.ID, Version: v.Version})
	}
	slices.SortFunc(refs, func(a, b tx.RecordRef) int { return strings.Compare(a.ID, b.ID) })
	if len(slices.CompactFunc(slices.Clone(refs), func(a, b tx.RecordRef) bool { return a.ID == b.ID })) != len(refs) {
		return nil, errors.New("read records: a record is named twice")
	}
	res, err := c.Send(ctx, key, &tx.AccessRecords{Patient: got[0].rec.Patient, Records: refs, Purpose: req.Purpose,
		BreakGlass: req.BreakGlass, OnBehalfOf: req.OnBehalfOf})
	if err != nil {
		return nil, err
	}
	seq, err := auditSeq(res)
	if err != nil {
		return nil, err
	}
	out := make([]*RecordRead, len(got))
	for i, p := range got {
		r := &RecordRead{ID: p.rec.ID, Version: p.v.Version, Patient: p.rec.Patient, Type: p.v.ResourceType, AuditSeq: seq}
		r.Resource, r.BadShares, err = c.openRecord(ctx, chainID, key, p.v, seq)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// openRecord collects the released shares of a permitted access, combines
// k that pass their commitments, and decrypts the ciphertext.
func (c *Client) openRecord(ctx context.Context, chainID string, key *keyfile.Key, v *records.Version, seq uint64) ([]byte, []ShareFault, error) {
	ad := v.Anchor.Record
	// Ask for k shares; only if they do not recover the key (a custodian
	// is down or lied), ask every custodian and combine whatever is good.
	want := v.Anchor.Commitments.K
	if c.AllShares {
		want = 0
	}
	dk, faults, err := c.collectShares(ctx, chainID, key, v, seq, want)
	if err != nil && want != 0 && want < len(v.Custodians) {
		dk, faults, err = c.collectShares(ctx, chainID, key, v, seq, 0)
	}
	if err != nil {
		return nil, faults, err
	}
	q := url.Values{"record": {v.RecordID}, "version": {strconv.FormatUint(v.Version, 10)}, "event": {strconv.FormatUint(seq, 10)}}
	data, err := c.raw(ctx, "/v1/blobs/"+hex.EncodeToString(v.BlobHash[:])+"?"+q.Encode())
	if err != nil {
		return nil, faults, err
	}
	if blobstore.Sum(data) != v.BlobHash {
		return nil, faults, fmt.Errorf("the node at %s served a custody blob that does not match the ledger's hash", c.base)
	}
	b, err := records.DecodeBlob(data)
	if err != nil {
		return nil, faults, err
	}
	if err := v.Anchor.CheckCiphertext(b.Ciphertext); err != nil {
		return nil, faults, err
	}
	pt, err := keyshare.Decrypt(dk, b.Ciphertext, ad)
	return pt, faults, err
}

// collectShares asks the gateway for want released shares (0: every
// custodian's), opens them, and combines those that pass their
// commitments, reporting the custodians whose share was unusable.
func (c *Client) collectShares(ctx context.Context, chainID string, key *keyfile.Key, v *records.Version, seq uint64, want int) (*keyshare.DataKey, []ShareFault, error) {
	ad := v.Anchor.Record
	var rel ReleasedShares
	path := fmt.Sprintf("/v1/records/%s/versions/%d/shares?event=%d", url.PathEscape(v.RecordID), v.Version, seq)
	if want > 0 {
		path += "&want=" + strconv.Itoa(want)
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &rel); err != nil {
		return nil, nil, err
	}
	var faults []ShareFault
	var shares []keyshare.Share
	for _, r := range rel.Shares {
		if r.NotAsked {
			continue
		}
		fault := func(reason string) {
			faults = append(faults, ShareFault{Validator: r.Validator, Index: r.Index, Reason: reason})
		}
		if r.Error != "" {
			fault(r.Error)
			continue
		}
		sealed, err := keyshare.DecodeSealedShare(r.Share)
		if err != nil || int(sealed.Index) != r.Index || r.Index >= len(v.Custodians) ||
			!strings.EqualFold(hex.EncodeToString(v.Custodians[r.Index]), r.Validator) {
			fault("not a sealed share of this custodian")
			continue
		}
		s, err := keyshare.OpenReleased(key.HPKE, sealed, keyshare.ShareInfo{ChainID: chainID, RecordID: ad.RecordID,
			Version: ad.Version, Index: sealed.Index, Recipient: key.ID, AuditSeq: seq})
		if err != nil {
			fault("does not open: " + err.Error())
			continue
		}
		shares = append(shares, s)
	}
	dk, bad, err := keyshare.Combine(ad, v.Anchor.Commitments, shares)
	for _, i := range bad {
		faults = append(faults, ShareFault{Validator: strings.ToUpper(hex.EncodeToString(v.Custodians[i])), Index: i, Reason: "fails its commitment on the ledger"})
	}
	if err != nil {
		return nil, faults, fmt.Errorf("recover the key of %s v%d: %w (%d faulty shares)", ad.RecordID, ad.Version, err, len(faults))
	}
	return dk, faults, nil
}

// auditSeq is the sequence number of the audit event a transaction
// recorded.
func auditSeq(res *TxResult) (uint64, error) {
	for _, e := range res.Events {
		if e.Type == "audit" {
			return strconv.ParseUint(e.Attributes["seq"], 10, 64)
		}
	}
	return 0, errors.New("the access was committed without an audit event")
}

// EraseRecord erases a record: every node deletes its ciphertext and key
// shares once the block commits.
func (c *Client) EraseRecord(ctx context.Context, key *keyfile.Key, id, reason string) (*TxResult, error) {
	return c.EraseRecordFor(ctx, key, id, reason, "")
}

// EraseRecordFor erases a record as key's organization on behalf of one of
// its practitioners or applications, whom the audit names.
func (c *Client) EraseRecordFor(ctx context.Context, key *keyfile.Key, id, reason, member string) (*TxResult, error) {
	return c.Send(ctx, key, &tx.EraseRecord{RecordID: id, Reason: reason, OnBehalfOf: member})
}

// Record reads, as key's actor, what the ledger holds about a record and
// its versions: a signed record.query the ledger must permit (the patient,
// a delegate in effect, an auditor, or the record's author organization)
// and records.
func (c *Client) Record(ctx context.Context, key *keyfile.Key, id string) (*RecordInfo, error) {
	raw, err := c.signAs(ctx, key.ID, key, &tx.QueryRecords{RecordID: id})
	if err != nil {
		return nil, err
	}
	var out RecordInfo
	if err := c.do(ctx, http.MethodPost, "/v1/records/read", ConsentQueryRequest{Tx: raw}, &out); err != nil {
		return nil, err
	}
	if out.ID != id {
		return nil, fmt.Errorf("asked for record %s, the node answered with %s", id, out.ID)
	}
	return &out, nil
}

// PatientRecords lists a patient's records as key's actor, through a
// signed record.query that the ledger must permit (the patient, a
// delegate in effect or an auditor) and records.
func (c *Client) PatientRecords(ctx context.Context, key *keyfile.Key, patient string) (*RecordList, error) {
	raw, err := c.signAs(ctx, key.ID, key, &tx.QueryRecords{Patient: patient})
	if err != nil {
		return nil, err
	}
	var out RecordList
	if err := c.do(ctx, http.MethodPost, "/v1/records/list", ConsentQueryRequest{Tx: raw}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DirectoryWrite is a directory version to publish.
type DirectoryWrite struct {
	ID           string // empty for a new entry
	Version      uint64 // the version to write: 1 for a new entry
	ResourceType string
	Resource     []byte // FHIR R4 JSON without id and version meta
	OnBehalfOf   string
	Wait         string // WaitCommit (the default) or WaitSync, as on RecordWrite
}

// PutDirectory publishes a directory version (tx.PutDirectory) signed by
// key and returns the entry's id: for a new entry, the id the ledger
// derives from the transaction.
func (c *Client) PutDirectory(ctx context.Context, key *keyfile.Key, w DirectoryWrite) (string, *TxResult, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return "", nil, err
	}
	n, err := c.nextNonce(ctx, key.ID)
	if err != nil {
		return "", nil, err
	}
	m := &tx.PutDirectory{ID: w.ID, Version: w.Version, ResourceType: w.ResourceType, Resource: w.Resource, OnBehalfOf: w.OnBehalfOf}
	if m.ID == "" {
		m.ID, m.Version = tx.DirectoryID(key.ID, n), 1
	}
	wait := WaitCommit
	if w.Wait == WaitSync {
		wait = WaitSync
	}
	res, err := c.Submit(ctx, tx.Build(chainID, key.ID, n, m, key.Sign), wait)
	return m.ID, res, err
}
