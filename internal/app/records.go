package app

import (
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/tx"
)

// putRecord anchors a record version and records its creation or update.
func putRecord(st kv.Store, signer identity.Signer, m *tx.PutRecord, b block, txHash [32]byte) ([]abci.Event, *audit.Event, error) {
	by, err := identity.Member(st, signer.Actor, m.OnBehalfOf)
	if err != nil {
		return nil, nil, err
	}
	ev, err := records.Put(st, records.Context{Signer: by, Height: b.height, Time: b.time}, m)
	if err != nil {
		return nil, nil, err
	}
	action := audit.ActionRecordUpdate
	if ev.Created {
		action = audit.ActionRecordCreate
	}
	return []abci.Event{recordEvent(ev)}, recordAuditEvent(ev, by, action, b, txHash), nil
}

// writeBatch applies a batch's entries in order, each as it would be
// alone, and returns their events and audit events together. The first
// entry refused refuses the batch: the caller discards the state the
// entries before it wrote, so a batch is all or nothing.
func writeBatch(st kv.Store, signer identity.Signer, m *tx.WriteBatch, b block, txHash [32]byte) ([]abci.Event, []audit.Event, error) {
	var events []abci.Event
	var audits []audit.Event
	for i, e := range m.Entries {
		var evs []abci.Event
		var rec *audit.Event
		var err error
		switch e := e.(type) {
		case *tx.PutRecord:
			evs, rec, err = putRecord(st, signer, e, b, txHash)
		case *tx.PutDirectory:
			evs, rec, err = putDirectory(st, signer, e, b)
		default:
			err = tx.Errorf(tx.CodeInvalid, "a batch holds record.put and directory.put, not %s", e.Type())
		}
		if err != nil {
			return nil, nil, tx.BatchEntryError(i, err)
		}
		events = append(events, evs...)
		if rec != nil {
			audits = append(audits, *rec)
		}
	}
	return events, audits, nil
}

// eraseRecord marks a record erased and records the erasure; nodes delete
// the blobs the event names once the block commits.
func eraseRecord(st kv.Store, signer identity.Signer, m *tx.EraseRecord, b block, txHash [32]byte) ([]abci.Event, *audit.Event, error) {
	by, err := identity.Member(st, signer.Actor, m.OnBehalfOf)
	if err != nil {
		return nil, nil, err
	}
	ev, err := records.Erase(st, records.Context{Signer: by, Height: b.height, Time: b.time}, m)
	if err != nil {
		return nil, nil, err
	}
	return []abci.Event{recordEvent(ev)}, recordAuditEvent(ev, by, audit.ActionRecordErase, b, txHash), nil
}

// recordAuditEvent records a write or erasure by actor: the signer, or the
// member its organization signed for.
func recordAuditEvent(ev records.Event, actor *identity.Actor, action audit.Action, b block, txHash [32]byte) *audit.Event {
	e := &audit.Event{Height: uint64(b.height), Time: b.time, Actor: ev.By, ActorOrg: actor.Org, Patient: ev.Patient,
		Action: action, RecordIDs: []string{tx.RecordRef{ID: ev.RecordID, Version: ev.Version}.String()},
		Decision: audit.Permit, Reason: audit.Reason{Rule: "author"}, TxHash: txHash[:]}
	if ev.ByPatient {
		e.Reason.Rule = "patient"
	}
	if actor.Kind == tx.KindOrganization {
		e.ActorOrg = actor.ID
	}
	return e
}

func recordEvent(ev records.Event) abci.Event {
	attrs := []abci.EventAttribute{
		{Key: "record_id", Value: ev.RecordID, Index: true},
		{Key: "version", Value: strconv.FormatUint(ev.Version, 10)},
		{Key: "patient", Value: ev.Patient, Index: true},
		{Key: "by", Value: ev.By, Index: true},
	}
	for _, h := range ev.BlobHashes {
		attrs = append(attrs, abci.EventAttribute{Key: "blob", Value: hex.EncodeToString(h[:])})
	}
	return abci.Event{Type: ev.Type, Attributes: attrs}
}

// accessRecords decides a read of records against the patient's consents
// at this block. The request is permitted only if every record is; the
// decision, either way, is an audit event, and only a permitted, committed
// one lets validators release key shares. Records that do not exist or
// were erased are refused without a decision: there is nothing to read.
//
// When an organization signs for a member, consent decides on the member
// (its id, organization and roles), the event names the member as actor,
// and the shares are released to the organization, which signed and holds
// the key its gateway decrypts with.
func (a *App) accessRecords(st kv.Reader, signer identity.Signer, m *tx.AccessRecords, b block, txHash [32]byte) ([]abci.Event, *audit.Event, error) {
	by, err := identity.Member(st, signer.Actor, m.OnBehalfOf)
	if err != nil {
		return nil, nil, err
	}
	org, roles, err := identity.RequesterIn(st, by)
	if err != nil {
		return nil, nil, err
	}
	e := &audit.Event{Height: uint64(b.height), Time: b.time, Actor: by.ID, ActorOrg: org, Patient: m.Patient,
		Action: audit.ActionRecordRead, Purpose: m.Purpose, Decision: audit.Permit, TxHash: txHash[:]}
	if by != signer.Actor {
		e.Recipient = signer.Actor.ID
	}
	versions := make([]*records.Version, len(m.Records))
	for i, ref := range m.Records {
		rec, v, err := records.GetVersion(st, ref.ID, ref.Version)
		if err != nil {
			return nil, nil, err
		}
		if rec.Patient != m.Patient {
			return nil, nil, tx.Errorf(tx.CodeInvalid, "record %s is not a record of %s", ref.ID, m.Patient)
		}
		if rec.Erased {
			return nil, nil, tx.Errorf(tx.CodeErased, "record %s was erased at height %d", rec.ID, rec.ErasedAt)
		}
		versions[i] = v
		e.RecordIDs = append(e.RecordIDs, tx.RecordRef{ID: v.RecordID, Version: v.Version}.String())
	}
	// "id/_history/v" sorts differently from ids when an id holds '-' or '.'.
	slices.Sort(e.RecordIDs)
	var decision consent.Decision
	for i, v := range versions {
		req := consent.Request{Requester: by.ID, RequesterOrg: org, Roles: roles, Patient: m.Patient,
			Action: consent.ActionAccess, Purpose: consent.Purpose(m.Purpose), BreakGlass: m.BreakGlass,
			Record: consent.Record{ID: v.RecordID, Type: v.ResourceType, Labels: v.Labels, AuthorOrg: v.AuthorOrg}}
		if v.Date != 0 {
			req.Record.Date = time.Unix(v.Date, 0).UTC()
		}
		d, err := a.Decide(st, req, consent.Circumstances{Block: consent.Block{Height: b.height, Time: b.time}})
		if err != nil {
			return nil, nil, err
		}
		if i == 0 || !d.Allowed {
			decision = d // the first denial decides; otherwise the first permit explains
		}
		if !d.Allowed {
			e.Decision, e.BreakGlass = audit.Deny, false
			e.Reason = audit.Reason{ConsentID: d.ConsentID, Provision: d.Provision, Rule: string(d.Reason)}
			return nil, e, tx.Errorf(tx.CodeAccessDenied, "%s may not read record %s of %s for %s: %s", by.ID, v.RecordID, m.Patient, m.Purpose, d)
		}
		if d.BreakGlass {
			e.BreakGlass = true
		}
	}
	e.Reason = audit.Reason{ConsentID: decision.ConsentID, Provision: decision.Provision, Rule: string(decision.Reason)}
	attrs := []abci.EventAttribute{
		{Key: "patient", Value: m.Patient, Index: true},
		{Key: "by", Value: by.ID, Index: true},
		{Key: "signer", Value: signer.Actor.ID},
		{Key: "purpose", Value: m.Purpose},
		{Key: "rule", Value: e.Reason.Rule},
	}
	if e.BreakGlass {
		attrs = append(attrs, abci.EventAttribute{Key: "break_glass", Value: "true", Index: true})
	}
	return []abci.Event{{Type: tx.TypeAccessRecords.String(), Attributes: attrs}}, e, nil
}

// putDirectory publishes a directory version. Directory entries are
// about no patient, so they are not in the audit log (which records what
// was done with patients' data); the transaction and its event are their
// record.
func putDirectory(st kv.Store, signer identity.Signer, m *tx.PutDirectory, b block) ([]abci.Event, *audit.Event, error) {
	by, err := identity.Member(st, signer.Actor, m.OnBehalfOf)
	if err != nil {
		return nil, nil, err
	}
	d, err := records.PutDirectory(st, records.Context{Signer: by, Height: b.height, Time: b.time}, m)
	if err != nil {
		return nil, nil, err
	}
	return []abci.Event{{Type: tx.TypePutDirectory.String(), Attributes: []abci.EventAttribute{
		{Key: "entry", Value: d.ID, Index: true},
		{Key: "version", Value: strconv.FormatUint(d.Version, 10)},
		{Key: "type", Value: d.ResourceType},
		{Key: "org", Value: d.Org, Index: true},
		{Key: "by", Value: d.Author, Index: true},
	}}}, nil, nil
}

// setValidator changes the validator set in state and returns the change
// for consensus.
func setValidator(st kv.Store, signer identity.Signer, m *tx.SetValidator) ([]abci.Event, *abci.ValidatorUpdate, error) {
	addr, err := identity.SetValidator(st, signer.Actor, m)
	if err != nil {
		return nil, nil, err
	}
	u := abci.Ed25519ValidatorUpdate(m.PubKey, int64(m.Power))
	return []abci.Event{{Type: tx.TypeSetValidator.String(), Attributes: []abci.EventAttribute{
		{Key: "address", Value: strings.ToUpper(hex.EncodeToString(addr)), Index: true},
		{Key: "power", Value: strconv.FormatUint(m.Power, 10)},
		{Key: "name", Value: m.Name},
	}}}, &u, nil
}

// Rules that decide a record query, as the audit log records them.
const (
	ruleRecordsPatient  = "patient"
	ruleRecordsDelegate = "delegate"
	ruleRecordsAuditor  = "auditor"
	ruleRecordsAuthor   = "author-org"
	ruleRecordsDenied   = "not-authorized-for-records"
)

// recordQuery decides whether the signer may read the ledger's metadata of
// a patient's records: the patient, a delegate in effect, an auditor, and
// for one record the organization that wrote it (or its staff). Either way
// the query is an audit event; a refusal is kept on the record.
func recordQuery(st kv.Reader, signer identity.Signer, m *tx.QueryRecords, b block, txHash [32]byte) ([]abci.Event, *audit.Event, error) {
	var rec *records.Record
	patient := m.Patient
	if m.RecordID != "" {
		var err error
		if rec, err = records.Get(st, m.RecordID); err != nil && tx.CodeOf(err) != tx.CodeNotFound {
			return nil, nil, err
		}
		if rec == nil || (patient != "" && rec.Patient != patient) {
			return nil, nil, tx.Errorf(tx.CodeNotFound, "no record %s of that patient", m.RecordID)
		}
		patient = rec.Patient
	}
	e, err := queryEvent(st, signer, patient, audit.ActionRecordSearch, b, txHash)
	if err != nil {
		return nil, nil, err
	}
	if rec != nil {
		e.RecordIDs = []string{rec.ID}
	}
	by := signer.Actor
	if by.Kind == tx.KindOrganization {
		e.ActorOrg = by.ID
	}
	switch {
	case by.ID == patient:
		e.Reason.Rule = ruleRecordsPatient
	case by.Kind == tx.KindAuditor:
		e.Reason.Rule = ruleRecordsAuditor
	case rec != nil && rec.AuthorOrg != "" && e.ActorOrg == rec.AuthorOrg:
		e.Reason.Rule = ruleRecordsAuthor
	default:
		ok, err := delegateInEffect(st, patient, by.ID, b)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			e.Reason.Rule = ruleRecordsDelegate
		}
	}
	if e.Reason.Rule == "" {
		e.Decision, e.Reason.Rule = audit.Deny, ruleRecordsDenied
		return nil, e, tx.Errorf(tx.CodeAccessDenied, "%s may not read the records of %s: only the patient, a delegate in effect, an auditor, or for one record its author organization", by.ID, patient)
	}
	return []abci.Event{{Type: tx.TypeQueryRecords.String(), Attributes: []abci.EventAttribute{
		{Key: "patient", Value: patient, Index: true},
		{Key: "by", Value: by.ID, Index: true},
		{Key: "rule", Value: e.Reason.Rule},
	}}}, e, nil
}
