package app

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// block is what a module may know about the block it runs in.
type block struct {
	height int64
	time   time.Time
}

// result is the outcome of one transaction.
type result struct {
	code   tx.Code
	err    error
	typ    tx.Type
	events []abci.Event
	data   []byte // the leaf hashes of the audit events the transaction recorded, concatenated, if any
	// validator is the consensus change a successful validator.set makes.
	validator *abci.ValidatorUpdate
}

func (r result) log() string {
	var te *tx.Error
	switch {
	case r.err == nil:
		return ""
	case errors.As(r.err, &te):
		return te.Msg // the code travels separately
	}
	return r.err.Error()
}

func (r result) codespace() string {
	if r.code == tx.CodeOK {
		return ""
	}
	return "carechain"
}

func failed(typ tx.Type, err error) result { return result{code: tx.CodeOf(err), err: err, typ: typ} }

// validate decodes raw and checks everything that does not depend on state,
// remembering the outcome so that CheckTx, ProcessProposal and FinalizeBlock
// on this node do the work once per transaction.
func (a *App) validate(raw []byte) (*validated, error) {
	h := tx.Hash(raw)
	if v := a.checked.get(h); v != nil {
		return v, nil
	}
	t, err := tx.Decode(raw)
	if err != nil {
		return nil, err
	}
	if t.ChainID != a.chainID {
		return nil, tx.Errorf(tx.CodeWrongChain, "transaction is for chain %q; this is %q", t.ChainID, a.chainID)
	}
	m, err := tx.DecodeMsg(t.Type, t.Body)
	if err != nil {
		return nil, err
	}
	if err := tx.ValidateBasic(a.chainID, t, m); err != nil {
		return nil, err
	}
	if err := checkAnchors(m); err != nil {
		return nil, err
	}
	v := &validated{hash: h, tx: t, msg: m}
	a.checked.put(v)
	return v, nil
}

// checkAnchors checks the key-share anchor of every record version a
// message carries, which needs no state either.
func checkAnchors(m tx.Msg) error {
	switch m := m.(type) {
	case *tx.PutRecord:
		_, err := records.CheckPut(m)
		return err
	case *tx.WriteBatch:
		for i, e := range m.Entries {
			if put, ok := e.(*tx.PutRecord); ok {
				if _, err := records.CheckPut(put); err != nil {
					return tx.BatchEntryError(i, err)
				}
			}
		}
	}
	return nil
}

// verifySignature checks t's signature under key, once per key: the result
// of Ed25519 verification depends only on the bytes and the key, so a
// verification remembered from CheckTx or ProcessProposal is as good as a new
// one, provided the key is the same — a rotation in between forces a fresh
// check.
func (a *App) verifySignature(v *validated, key []byte) bool {
	if v.verifiedUnder(key) {
		return true
	}
	if !v.tx.Verify(key) {
		return false
	}
	v.markVerified(key)
	return true
}

// mode says why a transaction is executed.
type mode int

const (
	// modeCheck admits a new transaction to the mempool: everything runs,
	// against committed state plus the transactions admitted since.
	modeCheck mode = iota
	// modeRecheck re-admits a mempool transaction after a block: what a
	// block can change about the signer (existence, key, revocation, nonce)
	// is checked again, and only messages that change signers are applied,
	// so that waiting transactions which depend on them stay admitted. Other
	// message effects were judged at admission and are judged for good in
	// the block; re-running them for every waiting transaction after every
	// block would hold up consensus.
	modeRecheck
	// modeDeliver executes a transaction in a block.
	modeDeliver
)

// execute runs one transaction against st. When checking, nothing is kept
// unless the whole transaction succeeds, so a rejected transaction does not
// use up its nonce in the mempool's view; in a block the nonce is consumed
// as soon as the signer is authenticated, so a transaction whose message
// fails cannot be replayed.
func (a *App) execute(st kv.Store, raw []byte, b block, m mode) result {
	v, err := a.validate(raw)
	if err != nil {
		return failed(0, err)
	}
	if m == modeDeliver {
		defer a.checked.remove(v.hash)
	}
	outer := st
	if m != modeDeliver {
		outer = state.NewOverlay(st)
	}
	signer, err := identity.Authenticate(outer, v.tx, v.msg)
	if err != nil {
		return failed(v.tx.Type, err)
	}
	if !a.verifySignature(v, signer.Key) {
		return failed(v.tx.Type, tx.Errorf(tx.CodeBadSignature, "signature does not verify under the key of %s", v.tx.Signer))
	}
	if err := identity.UseNonce(outer, v.tx.Signer, v.tx.Nonce); err != nil {
		return failed(v.tx.Type, err)
	}
	var events []abci.Event
	var data []byte
	var valUpdate *abci.ValidatorUpdate
	if m != modeRecheck || changesSigners(v.msg) {
		inner := state.NewOverlay(outer)
		var audits []audit.Event
		if sv, ok := v.msg.(*tx.SetValidator); ok {
			events, valUpdate, err = setValidator(inner, signer, sv)
		} else {
			events, audits, err = a.dispatch(inner, signer, v, b)
		}
		if err != nil {
			if len(audits) != 1 || tx.CodeOf(err) != tx.CodeAccessDenied {
				return failed(v.tx.Type, err)
			}
			// A denied access is an outcome the block must record, not a
			// malformed request: the mempool admits it, and the block
			// keeps its audit event (and nothing else of it) under the
			// denial's code.
			if m == modeCheck {
				return a.admitted(v, outer)
			}
			inner.Discard()
			res := failed(v.tx.Type, err)
			if res.data, res.events, err = a.record(inner, audits[0]); err != nil {
				return failed(v.tx.Type, err)
			}
			if err := inner.Write(); err != nil {
				return failed(v.tx.Type, err)
			}
			return res
		}
		// The audit log is written in blocks only: the mempool's view needs
		// no sequence numbers, and a check has no block time to record.
		if m == modeDeliver {
			for _, e := range audits {
				leaf, auditEvents, err := a.record(inner, e)
				if err != nil {
					return failed(v.tx.Type, err)
				}
				data = append(data, leaf...)
				events = append(events, auditEvents...)
			}
		}
		if err := inner.Write(); err != nil {
			return failed(v.tx.Type, err)
		}
	}
	if m != modeDeliver {
		if err := outer.(*state.Overlay).Write(); err != nil {
			return failed(v.tx.Type, err)
		}
	}
	return result{code: tx.CodeOK, typ: v.tx.Type, events: events, data: data, validator: valUpdate}
}

// changesSigners reports whether msg changes what authenticating a later
// transaction sees (who exists, their keys, revocation). A recheck must apply
// such messages, or a waiting transaction that depends on one — an
// organization's first act after its registration, a signature by the key a
// rotation installs — fails its own recheck and is evicted.
func changesSigners(msg tx.Msg) bool {
	switch msg.(type) {
	case *tx.RegisterActor, *tx.RotateKey, *tx.RevokeActor:
		return true
	}
	return false
}

// admitted keeps a checked transaction's nonce use and admits it.
func (a *App) admitted(v *validated, outer kv.Store) result {
	if err := outer.(*state.Overlay).Write(); err != nil {
		return failed(v.tx.Type, err)
	}
	return result{code: tx.CodeOK, typ: v.tx.Type}
}

// record appends an audit event and returns its leaf hash, for the
// transaction's result data, and an "audit" event naming it.
func (a *App) record(st kv.Store, e audit.Event) ([]byte, []abci.Event, error) {
	seq, leaf, err := audit.Append(st, e)
	if err != nil {
		return nil, nil, fmt.Errorf("record audit event: %w", err)
	}
	return leaf, []abci.Event{{Type: "audit", Attributes: []abci.EventAttribute{
		{Key: "seq", Value: strconv.FormatUint(seq, 10), Index: true},
		{Key: "leaf_hash", Value: hex.EncodeToString(leaf)},
		{Key: "decision", Value: e.Decision.String()},
	}}}, nil
}

// dispatch hands an authenticated message to the module that owns it. It
// returns the events to emit and, for what the audit log records, the
// audit events (without their sequence numbers): none, one, or one per
// entry of a batch or a tally.
func (a *App) dispatch(st kv.Store, signer identity.Signer, v *validated, b block) ([]abci.Event, []audit.Event, error) {
	switch m := v.msg.(type) {
	case *tx.WriteBatch:
		return writeBatch(st, signer, m, b, v.hash)
	case *tx.RecordUnattributedRefusals:
		return unattributedRefusals(signer, m, b, v.hash)
	}
	return one(a.dispatchOne(st, signer, v, b))
}

// one turns a handler's single audit event (or none) into dispatch's list.
func one(events []abci.Event, e *audit.Event, err error) ([]abci.Event, []audit.Event, error) {
	if e == nil {
		return events, nil, err
	}
	return events, []audit.Event{*e}, err
}

// dispatchOne dispatches the messages that record at most one audit event.
func (a *App) dispatchOne(st kv.Store, signer identity.Signer, v *validated, b block) ([]abci.Event, *audit.Event, error) {
	switch m := v.msg.(type) {
	case *tx.RegisterActor, *tx.RotateKey, *tx.RevokeActor, *tx.SetRoles:
		ev, err := identity.Apply(st, signer, v.tx.Signer, v.msg, b.height)
		if err != nil {
			return nil, nil, err
		}
		return []abci.Event{{Type: ev.Type, Attributes: []abci.EventAttribute{
			{Key: "actor", Value: ev.Actor, Index: true},
			{Key: "kind", Value: ev.Kind.String()},
			{Key: "by", Value: ev.By, Index: true},
		}}}, nil, nil
	case *tx.GrantConsent, *tx.UpdateConsent, *tx.RevokeConsent, *tx.SetDelegate, *tx.RemoveDelegate, *tx.SetBreakGlassOptOut:
		ev, err := ledgerstate.Apply(st, ledgerstate.Context{Signer: signer.Actor, Nonce: v.tx.Nonce, TxHash: v.hash,
			Block: consent.Block{Height: b.height, Time: b.time}}, v.msg)
		if err != nil {
			return nil, nil, err
		}
		return []abci.Event{consentEvent(ev)}, consentAuditEvent(ev, signer, b, v.hash), nil
	case *tx.QueryAuditHistory:
		return historyQuery(st, signer, m, b, v.hash)
	case *tx.RecordRefusal:
		return recordRefusal(st, signer, m, b, v.hash)
	case *tx.PutRecord:
		return putRecord(st, signer, m, b, v.hash)
	case *tx.AccessRecords:
		return a.accessRecords(st, signer, m, b, v.hash)
	case *tx.EraseRecord:
		return eraseRecord(st, signer, m, b, v.hash)
	case *tx.QueryRecords:
		return recordQuery(st, signer, m, b, v.hash)
	case *tx.QueryConsents:
		return consentQuery(st, signer, m, b, v.hash)
	case *tx.PutDirectory:
		return putDirectory(st, signer, m, b)
	}
	return nil, nil, tx.Errorf(tx.CodeUnknownType, "no module handles %s", v.tx.Type)
}

// consentAuditEvent is the audit log's record of a consent change: who
// changed what for which patient, acting as the patient or as a delegate.
func consentAuditEvent(ev ledgerstate.Event, signer identity.Signer, b block, txHash [32]byte) *audit.Event {
	e := &audit.Event{Height: uint64(b.height), Time: b.time, Actor: ev.By, Patient: ev.Patient,
		Action: audit.Action(ev.Type), Decision: audit.Permit, Reason: audit.Reason{Rule: "patient"}, TxHash: txHash[:]}
	if ev.ByDelegate {
		e.Reason.Rule = "delegate"
	}
	if signer.Actor != nil {
		e.ActorOrg = signer.Actor.Org
	}
	switch {
	case ev.ConsentID != "":
		e.Target = ev.ConsentID
	case ev.Delegate != "":
		e.Target = ev.Delegate
	}
	return e
}

// consentEvent renders a consent module event. Ids are indexed so that a
// patient's consent history can be searched by patient, consent or signer.
func consentEvent(ev ledgerstate.Event) abci.Event {
	attrs := []abci.EventAttribute{{Key: "patient", Value: ev.Patient, Index: true}}
	switch {
	case ev.ConsentID != "":
		attrs = append(attrs, abci.EventAttribute{Key: "consent_id", Value: ev.ConsentID, Index: true})
	case ev.Delegate != "":
		attrs = append(attrs, abci.EventAttribute{Key: "delegate_id", Value: ev.Delegate, Index: true})
	case ev.Type == tx.TypeSetBreakGlassOptOut.String():
		attrs = append(attrs, abci.EventAttribute{Key: "opt_out", Value: strconv.FormatBool(ev.OptOut)})
	}
	attrs = append(attrs, abci.EventAttribute{Key: "by", Value: ev.By, Index: true})
	if ev.ByDelegate {
		attrs = append(attrs, abci.EventAttribute{Key: "delegate", Value: "true"})
	}
	return abci.Event{Type: ev.Type, Attributes: attrs}
}

// prevalidate validates a proposal's transactions in parallel and verifies
// the signatures of those this node has not seen against committed keys. It
// fails only on stateless faults, which no correct proposer includes;
// signatures that do not verify yet may verify in the block, after a key
// rotation earlier in it, and are judged by FinalizeBlock.
func (a *App) prevalidate(txs [][]byte) error {
	snap, _, err := a.store.Snapshot(0)
	if err != nil {
		return err
	}
	errs := make([]error, len(txs))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				v, err := a.validate(txs[i])
				if err != nil {
					errs[i] = err
					continue
				}
				if key := committedKey(snap, v); key != nil {
					a.verifySignature(v, key)
				}
			}
		}()
	}
	for i := range txs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return errors.New("tx " + strconv.Itoa(i) + ": " + err.Error())
		}
	}
	return nil
}

// committedKey is the key v's signer holds in committed state, or nil.
func committedKey(snap kv.Reader, v *validated) []byte {
	if reg, ok := v.msg.(*tx.RegisterActor); ok && v.tx.Signer == tx.ActorID(reg.SignKey) {
		return reg.SignKey
	}
	actor, err := identity.Get(snap, v.tx.Signer)
	if err != nil {
		return nil
	}
	return actor.SignKey
}

// validated is a transaction that passed stateless validation.
type validated struct {
	hash [32]byte
	tx   *tx.Tx
	msg  tx.Msg

	mu          sync.Mutex
	verifiedKey []byte
}

func (v *validated) verifiedUnder(key []byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.verifiedKey != nil && bytes.Equal(v.verifiedKey, key)
}

func (v *validated) markVerified(key []byte) {
	v.mu.Lock()
	v.verifiedKey = bytes.Clone(key)
	v.mu.Unlock()
}

// readOnly adapts a snapshot to kv.Store for use under an Overlay, which
// never writes through until told; writing to it is a programming error
// reported as a storage failure.
type readOnly struct{ kv.Reader }

var errReadOnly = errors.New("write to read-only snapshot")

func (readOnly) Set(_, _ []byte) error { return errReadOnly }
func (readOnly) Delete(_ []byte) error { return errReadOnly }
