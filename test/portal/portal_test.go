// Package portal_test drives the patient portal in a real headless
// Chromium against a real single-validator node: sign-in with a key file,
// consents granted and revoked in the page, a provider's reads of an
// encrypted record permitted and then denied, break-the-glass, the access
// history and its live notifications, proof downloads, the records list
// and an erasure, and a check that no request from the page carries the
// private key. Screenshots of every view go to testdata/screenshots (or
// $ARTIFACTS/portal).
package portal_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/proof"
	"github.com/carechain/carechain/internal/tx"
)

const passphrase = "correct horse battery"

func TestPortal(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	admin, err := keyfile.Load(filepath.Join(e.home, "admin.key.json"))
	if err != nil {
		t.Fatal(err)
	}
	patient := e.register(tx.KindPatient, "", "", nil)
	// The hospital wrote the patient's records; the clinic's doctor, of
	// another organization, reads them only with the patient's consent; the
	// emergency department's medic may break the glass.
	hospital := e.register(tx.KindOrganization, "General Hospital", "", admin)
	writer := e.register(tx.KindPractitioner, "Dr Quill", hospital.ID, hospital)
	clinic := e.register(tx.KindOrganization, "City Clinic", "", admin)
	doctor := e.register(tx.KindPractitioner, "Dr Who", clinic.ID, clinic)
	er := e.register(tx.KindOrganization, "Emergency Department", "", admin)
	medic := e.register(tx.KindPractitioner, "Dr Rush", er.ID, er)
	if _, err := e.c.Send(ctx, er, &tx.SetRoles{Actor: medic.ID, Roles: []string{"emergency"}}); err != nil {
		t.Fatalf("the emergency role: %v", err)
	}
	guardian := e.register(tx.KindDelegate, "Sam Guardian", "", nil)
	// The test reads the ledger's view of the patient's consents and
	// records as an auditor: a signed, recorded query like anyone's, with
	// nonces of its own so it never races the page's signing. Each such
	// read is an event in the patient's timeline too, so the test never
	// counts the timeline's entries.
	auditor := e.register(tx.KindAuditor, "Test Auditor", "", admin)
	observation, err := e.c.WriteRecord(ctx, writer, client.RecordWrite{Patient: patient.ID, ResourceType: "Observation",
		Resource: []byte(`{"resourceType":"Observation","status":"final","code":{"text":"blood pressure"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.WriteRecord(ctx, writer, client.RecordWrite{RecordID: observation.ID, ResourceType: "Observation",
		Resource: []byte(`{"resourceType":"Observation","status":"amended","code":{"text":"blood pressure"}}`)}); err != nil {
		t.Fatal(err)
	}
	condition, err := e.c.WriteRecord(ctx, writer, client.RecordWrite{Patient: patient.ID, ResourceType: "Condition", Labels: []string{"PSY"},
		Resource: []byte(`{"resourceType":"Condition","code":{"text":"anxiety"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(t.TempDir(), "alice.json")
	if err := patient.Save(keyPath); err != nil {
		t.Fatal(err)
	}
	byID := func(id string) string { return "document.getElementById(" + jsString(id) + ")" }
	visible := func(id string) string { return "!" + byID(id) + ".closest('[hidden]')" }
	// A view is ready once it has loaded what it shows (aria-busy gone).
	goTo := func(view string) {
		e.do("open "+view, chromedp.Evaluate[chromedp.Void]("location.hash = '#"+view+"'"))
		e.waitJS(view+" loaded", visible("view-"+view)+" && !"+byID("view-"+view)+".hasAttribute('aria-busy')")
	}

	// signInAsDelegate locks the portal and imports k's key file to act
	// for the patient.
	signInAsDelegate := func(k *keyfile.Key) {
		path := filepath.Join(t.TempDir(), k.ID+".json")
		if err := k.Save(path); err != nil {
			t.Fatal(err)
		}
		e.do("lock", chromedp.Click(chromedp.ID("lock")))
		e.waitJS("sign-in shown", visible("import-form")+" && "+byID("signin")+".dataset.ready")
		e.do("import "+k.ID+"'s key",
			chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{path}),
			chromedp.SendKeys(chromedp.ID("import-pass"), passphrase),
			chromedp.SendKeys(chromedp.ID("import-pass2"), passphrase),
			chromedp.SendKeys(chromedp.ID("import-patient"), patient.ID),
			chromedp.Click(chromedp.ID("import-submit")))
	}

	step := func(name string, f func()) {
		if t.Failed() {
			return
		}
		t.Log("step:", name)
		f()
	}

	step("sign in with the key file", func() {
		e.do("load the portal", chromedp.Navigate(e.rec.URL+"/ui/"))
		e.waitJS("page ready", "document.body.dataset.ready === 'true' && "+visible("import-form"))
		e.do("fill the import form",
			chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{keyPath}),
			chromedp.SendKeys(chromedp.ID("import-pass"), passphrase),
			chromedp.SendKeys(chromedp.ID("import-pass2"), passphrase))
		e.screenshot("01-sign-in")
		start := time.Now()
		e.do("import", chromedp.Click(chromedp.ID("import-submit")))
		e.waitJS("signed in", visible("view-history")+" && "+byID("session-id")+".textContent === "+jsString(patient.ID))
		t.Logf("import, encryption (PBKDF2, 600,000 iterations), unlock and the ledger's check took %v", time.Since(start).Round(time.Millisecond))
		e.waitJS("live updates on", byID("live-status")+".classList.contains('on')")
		e.waitJS("history loaded", "document.querySelectorAll('#timeline li').length > 0")
	})

	// The page's checks re-encode what the node prepared; its encoder
	// must agree with the node's byte for byte, multi-byte varints and
	// UTF-8 included, or the page would refuse honest transactions.
	step("the page encodes as the node does", func() {
		long := strings.Repeat("ü", 70) // 140 bytes: a two-byte length
		body := bytes.Repeat([]byte{0xab}, 200)
		for _, nonce := range []uint64{1, 127, 128, 300, 1 << 40} {
			want := (&tx.Tx{ChainID: long, Signer: patient.ID, Nonce: nonce, Type: tx.TypeQueryAuditHistory, Body: body}).Encode()
			got := e.eval(fmt.Sprintf(`import("./codec.js").then((m) => m.hexencode(m.envelope(%s, %s, %d, 50, new Uint8Array(200).fill(0xab))))`,
				jsString(long), jsString(patient.ID), nonce))
			if got != hex.EncodeToString(want) {
				t.Errorf("nonce %d: the page encodes %s, the node %x", nonce, got, want)
			}
		}
		for _, m := range []struct {
			desc string
			msg  tx.Msg
		}{
			{`{op: "consent.revoke", patient: "p-1", consent_id: "` + long + `"}`, &tx.RevokeConsent{Patient: "p-1", ConsentID: long}},
			{`{op: "delegate.remove", patient: "p-1", delegate: "d-2"}`, &tx.RemoveDelegate{Patient: "p-1", Delegate: "d-2"}},
			{`{op: "breakglass.optout", patient: "p-1", opt_out: true}`, &tx.SetBreakGlassOptOut{Patient: "p-1", OptOut: true}},
			{`{op: "breakglass.optout", patient: "p-1", opt_out: false}`, &tx.SetBreakGlassOptOut{Patient: "p-1"}},
			{`{op: "audit.query", patient: "p-1"}`, &tx.QueryAuditHistory{Patient: "p-1"}},
			{`{op: "consent.query", patient: "p-1"}`, &tx.QueryConsents{Patient: "p-1"}},
			{`{op: "consent.query", patient: "p-1", consent_id: "` + long + `"}`, &tx.QueryConsents{Patient: "p-1", ConsentID: long}},
			{`{op: "consent.query", patient: "p-1", requester: "r-3"}`, &tx.QueryConsents{Patient: "p-1", Requester: "r-3"}},
			{`{op: "record.query", patient: "p-1"}`, &tx.QueryRecords{Patient: "p-1"}},
			{`{op: "record.query", record_id: "rc-4"}`, &tx.QueryRecords{RecordID: "rc-4"}},
			{`{op: "record.erase", record_id: "rc-4"}`, &tx.EraseRecord{RecordID: "rc-4"}},
			{`{op: "record.erase", record_id: "rc-4", reason: "` + long + `"}`, &tx.EraseRecord{RecordID: "rc-4", Reason: long}},
		} {
			got := e.eval(`import("./codec.js").then((m) => m.hexencode(m.expectedBody(` + m.desc + `)))`)
			if got != hex.EncodeToString(m.msg.Encode()) {
				t.Errorf("%s: the page encodes %s, the node %x", m.desc, got, m.msg.Encode())
			}
		}
	})

	step("grant a consent in the page", func() {
		goTo("consents")
		e.waitJS("consents shown", visible("consent-form")+" && document.querySelector('#consent-list .empty')")
		e.do("fill the grant form",
			chromedp.SendKeys(chromedp.ID("c-actor"), doctor.ID),
			chromedp.Click(chromedp.ID("purpose-TREAT")),
			chromedp.SendKeys(chromedp.ID("c-types"), "Observation"),
			chromedp.Click(chromedp.ID("label-PSY")),
			chromedp.SetValue(chromedp.ID("c-until"), "2099-12-31"))
		e.screenshot("03-consent-form")
		e.do("grant", chromedp.Click(chromedp.ID("consent-submit")))
		e.waitJS("consent listed", "document.querySelector('#consent-list [data-consent] .badge.permit')")
		list, err := e.c.PatientConsents(ctx, auditor, patient.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Consents) != 1 || list.Consents[0].Status != "active" || list.Consents[0].Form == nil {
			t.Fatalf("consents after the grant: %+v", list.Consents)
		}
		f := list.Consents[0].Form
		if len(f.Actors) != 1 || f.Actors[0] != (client.FormActor{Kind: "id", ID: doctor.ID}) || strings.Join(f.Purposes, ",") != "TREAT" ||
			strings.Join(f.Types, ",") != "Observation" || strings.Join(f.Labels, ",") != "PSY" || f.Until == nil || f.Until.Year() != 2099 {
			t.Fatalf("granted consent: %+v", f)
		}
		d, err := e.c.Decide(ctx, auditor, client.DecideQuery{Patient: patient.ID, Requester: doctor.ID, Purpose: "TREAT", Type: "Observation", Labels: []string{"PSY"}})
		if err != nil || !d.Allowed {
			t.Fatalf("the doctor's read after the grant: %+v, %v", d, err)
		}
		e.screenshot("04-consents")
	})

	step("edit the consent in the page", func() {
		id := e.eval("document.querySelector('#consent-list [data-consent]').dataset.consent")
		e.do("edit", chromedp.Click(chromedp.CSS(`#consent-list button[aria-label^="Edit"]`)))
		e.waitJS("form filled", byID("c-id")+".value === "+jsString(id)+" && "+byID("c-types")+".value === 'Observation'")
		e.do("add a type", chromedp.Evaluate[chromedp.Void](byID("c-types")+".value = ''"),
			chromedp.SendKeys(chromedp.ID("c-types"), "Observation, Condition"))
		e.do("save", chromedp.Click(chromedp.ID("consent-submit")))
		e.waitJS("shown changed", "document.querySelector('#consent-list [data-consent]').textContent.includes('Condition')")
		list, err := e.c.PatientConsents(ctx, auditor, patient.ID)
		if err != nil || len(list.Consents) != 1 || list.Consents[0].ID != id || list.Consents[0].UpdatedAt == 0 ||
			strings.Join(list.Consents[0].Form.Types, ",") != "Condition,Observation" {
			t.Fatalf("after the edit: %+v, %v", list, err)
		}
	})

	step("name a delegate in the page", func() {
		goTo("delegates")
		e.waitJS("delegates shown", visible("delegate-form"))
		e.do("fill the delegate form",
			chromedp.SendKeys(chromedp.ID("d-id"), guardian.ID),
			chromedp.Click(chromedp.ID("op-read-history")))
		e.do("save", chromedp.Click(chromedp.ID("delegate-submit")))
		e.waitJS("delegate listed", "document.querySelector('#delegate-list [data-delegate="+jsString(guardian.ID)+"]')")
		e.screenshot("05-delegates")
	})

	// A delegate's read of the history is someone else's read too: the
	// ledger decides and records it, and the patient hears of it at once.
	step("a delegate's read appears live, and after removal appears denied", func() {
		goTo("history")
		e.waitJS("live updates on", byID("live-status")+".classList.contains('on')")
		if _, _, err := e.c.AuditHistory(ctx, guardian, patient.ID, client.HistoryFilter{}); err != nil {
			t.Fatalf("the delegate's read: %v", err)
		}
		e.waitJS("the read shown live", "document.querySelector('#timeline li.fresh[data-action=\"audit.query\"][data-decision=\"permit\"]')")
		e.waitJS("a notice", byID("notices")+".textContent.includes('Sam Guardian read your access history')")
		e.waitJS("the grant in the timeline", "document.querySelector('#timeline li[data-action=\"consent.grant\"]')")
		e.screenshot("06-history-live")

		goTo("delegates")
		e.waitJS("delegates shown", "document.querySelector('#delegate-list [data-delegate] button')")
		e.do("remove", chromedp.Click(chromedp.CSS("#delegate-list [data-delegate] button")))
		e.do("confirm", chromedp.Click(chromedp.CSS("#delegate-list [data-delegate] button.danger:not(.secondary)")))
		e.waitJS("delegate gone", "!document.querySelector('#delegate-list [data-delegate]')")
		_, _, err := e.c.AuditHistory(ctx, guardian, patient.ID, client.HistoryFilter{})
		var ce *client.Error
		if !errors.As(err, &ce) || tx.Code(ce.Code) != tx.CodeAccessDenied {
			t.Fatalf("the removed delegate's read: %v", err)
		}
		goTo("history")
		e.waitJS("the denied read shown", "document.querySelector('#timeline li[data-action=\"audit.query\"][data-decision=\"deny\"]')")
		e.waitJS("a denial notice", byID("notices")+".textContent.includes('Refused: Sam Guardian tried to read your access history')")
		e.screenshot("07-history-denied")
	})

	// The must-show: a provider of another organization than the author
	// reads the patient's record with their consent, from Go as a clinic's
	// software would; the patient sees it at once. The record is the
	// psychiatric one, which the consent releases by naming its label.
	step("a provider's read with consent appears live", func() {
		goTo("history")
		e.waitJS("live updates on", byID("live-status")+".classList.contains('on')")
		got, err := e.c.ReadRecord(ctx, doctor, condition.ID, 0, "TREAT", false)
		if err != nil {
			t.Fatalf("the doctor's read with consent: %v", err)
		}
		if got.Version != 1 || !strings.Contains(string(got.Resource), "anxiety") {
			t.Fatalf("the doctor read %+v", got)
		}
		read := fmt.Sprintf(`document.querySelector('#timeline li.fresh[data-action="record.read"][data-decision="permit"][data-seq="%d"]')`, got.AuditSeq)
		e.waitJS("the read shown live", read+" && "+read+".textContent.includes('Dr Who') && "+read+".textContent.includes('City Clinic')"+
			" && "+read+".textContent.includes('consent-permit')")
		e.waitJS("a notice", byID("notices")+".textContent.includes('Dr Who of City Clinic read your records')")
		e.screenshot("06b-history-provider-read")
	})

	// A node that lies to the page, consistently with itself: the page
	// re-encodes what it is asked to sign and refuses.
	step("refuse to sign what was not asked for", func() {
		reseal := func(p *client.PreparedTx, m tx.Msg) {
			t := &tx.Tx{ChainID: p.ChainID, Signer: p.Signer, Nonce: p.Nonce, Type: m.Type(), Body: m.Encode()}
			p.Body, p.Unsigned, p.SignBytes = t.Body, t.Encode(), t.SignBytes()
		}
		submitted := func() int {
			n := 0
			for _, r := range e.rec.all() {
				if r.Method == "POST" && (r.URL == "/v1/txs" || strings.HasPrefix(r.URL, "/v1/txs?")) {
					n++
				}
			}
			return n
		}
		cases := []struct {
			name   string
			tamper func(*client.PreparedTx)
			says   string
		}{
			{"another consent revoked", func(p *client.PreparedTx) {
				reseal(p, &tx.RevokeConsent{Patient: patient.ID, ConsentID: "csnotthisone"})
			}, "its message differs from what was asked"},
			{"bytes to sign that are not the envelope", func(p *client.PreparedTx) {
				p.SignBytes = append([]byte("carechain/tx/v1\x00"), tx.Build(p.ChainID, p.Signer, p.Nonce+1, &tx.RevokeConsent{Patient: patient.ID, ConsentID: "cs1"}, doctor.Sign)...)
			}, "the bytes to sign are not its envelope"},
			{"another signer", func(p *client.PreparedTx) { p.Signer = doctor.ID }, "it names another signer"},
		}
		goTo("consents")
		for _, c := range cases {
			before := submitted()
			tamper := c.tamper
			e.rec.setTamper(func(p *client.PreparedTx) {
				if p.TypeName == "consent.revoke" { // leave the stream's queries alone
					tamper(p)
				}
			})
			e.do("revoke ("+c.name+")", chromedp.Click(chromedp.CSS(`#consent-list button[aria-label^="Revoke"]`)),
				chromedp.Click(chromedp.CSS("#consent-list [data-consent] button.danger:not(.secondary)")))
			e.waitJS("refused: "+c.name, visible("consents-error")+" && "+byID("consents-error")+".textContent.includes("+jsString(c.says)+")")
			e.rec.setTamper(nil)
			if n := submitted(); n != before {
				t.Fatalf("%s: the page submitted %d transactions", c.name, n-before)
			}
			e.do("keep", chromedp.Click(chromedp.CSS("#consent-list [data-consent] button.secondary:not(.danger)")))
		}
		// A grant whose consent the node changed: another actor added
		// (everything else re-encoded to match), or dated years ago.
		regrant := func(change func(*consent.Consent)) func(*client.PreparedTx) {
			return func(p *client.PreparedTx) {
				m, err := tx.DecodeMsg(tx.Type(p.Type), p.Body)
				if err != nil {
					return
				}
				g, ok := m.(*tx.GrantConsent)
				if !ok {
					return // only grants are changed
				}
				c, err := consent.Decode(g.Consent)
				if err != nil {
					return
				}
				change(&c)
				reseal(p, &tx.GrantConsent{Patient: g.Patient, Consent: consent.Encode(c)})
			}
		}
		for _, c := range []struct {
			name   string
			tamper func(*client.PreparedTx)
			says   string
		}{
			{"another reader added", regrant(func(c *consent.Consent) {
				c.Provision.Actors = append(c.Provision.Actors, consent.Organization(hospital.ID))
			}), "its message differs from what was asked"},
			{"dated years ago", regrant(func(c *consent.Consent) { c.DateTime = c.DateTime.AddDate(-3, 0, 0) }), "dates the consent"},
		} {
			before := submitted()
			e.rec.setTamper(c.tamper)
			e.do("grant ("+c.name+")", chromedp.SendKeys(chromedp.ID("c-actor"), doctor.ID), chromedp.Click(chromedp.ID("purpose-TREAT")),
				chromedp.Click(chromedp.ID("consent-submit")))
			e.waitJS("refused: "+c.name, visible("consent-form-error")+" && "+byID("consent-form-error")+".textContent.includes("+jsString(c.says)+")")
			e.rec.setTamper(nil)
			if n := submitted(); n != before {
				t.Fatalf("%s: the page submitted %d transactions", c.name, n-before)
			}
			e.do("clear the form", chromedp.Evaluate[chromedp.Void](`document.getElementById("consent-form").reset()`))
		}
		e.screenshot("08a-refused-to-sign")
		list, err := e.c.PatientConsents(ctx, auditor, patient.ID)
		if err != nil || list.Consents[0].Status != "active" {
			t.Fatalf("after the refusals: %+v, %v", list, err)
		}
	})

	step("revoke the consent in the page", func() {
		goTo("consents")
		e.waitJS("revoke offered", "document.querySelector('#consent-list button[aria-label^=\"Revoke\"]')")
		e.do("revoke", chromedp.Click(chromedp.CSS(`#consent-list button[aria-label^="Revoke"]`)))
		e.do("confirm", chromedp.Click(chromedp.CSS("#consent-list [data-consent] button.danger:not(.secondary)")))
		e.waitJS("shown revoked", "document.querySelector('#consent-list [data-consent] .badge.inactive')")
		list, err := e.c.PatientConsents(ctx, auditor, patient.ID)
		if err != nil || len(list.Consents) != 1 || list.Consents[0].Status != "inactive" {
			t.Fatalf("consents after the revocation: %+v, %v", list, err)
		}
		d, err := e.c.Decide(ctx, auditor, client.DecideQuery{Patient: patient.ID, Requester: doctor.ID, Purpose: "TREAT", Type: "Observation"})
		if err != nil || d.Allowed {
			t.Fatalf("the decision for the doctor after the revocation: %+v, %v", d, err)
		}
		e.screenshot("08-consent-revoked")
	})

	step("the provider's next read is denied, and appears denied", func() {
		goTo("history")
		_, err := e.c.ReadRecord(ctx, doctor, condition.ID, 0, "TREAT", false)
		var ce *client.Error
		if !errors.As(err, &ce) || tx.Code(ce.Code) != tx.CodeAccessDenied {
			t.Fatalf("the doctor's read after the revocation: %v", err)
		}
		denied := `document.querySelector('#timeline li.fresh[data-action="record.read"][data-decision="deny"]')`
		e.waitJS("the denied read shown live", denied+" && "+denied+".textContent.includes('Dr Who') && "+denied+".textContent.includes('no-consent')")
		e.waitJS("a denial notice", byID("notices")+".textContent.includes('Refused: Dr Who of City Clinic tried to read your records')")
		e.screenshot("08b-history-provider-denied")
	})

	// Break-the-glass for real: the emergency department's medic, who
	// holds the emergency role, reads without any consent.
	step("break-the-glass shows up live", func() {
		got, err := e.c.ReadRecord(ctx, medic, observation.ID, 0, "ETREAT", true)
		if err != nil {
			t.Fatalf("the break-the-glass read: %v", err)
		}
		e.waitJS("alert raised", "document.querySelector('#alerts .alert') && document.title.startsWith('(!)') && "+
			byID("alerts")+".textContent.includes('Dr Rush of Emergency Department read your records in an emergency')")
		btg := fmt.Sprintf(`document.querySelector('#timeline li.breakglass[data-action="record.read"][data-seq="%d"]')`, got.AuditSeq)
		e.waitJS("highlighted in the timeline", btg+" && "+btg+".querySelector('.badge.btg') && "+btg+".textContent.includes('break-the-glass')")
		e.screenshot("10-break-the-glass")
		e.do("review", chromedp.Click(chromedp.CSS("#alerts .alert button")))
		e.waitJS("focus on the event", "document.activeElement && document.activeElement.classList.contains('breakglass')")
	})

	step("opt out of break-the-glass in the page", func() {
		goTo("consents")
		e.do("opt out", chromedp.Click(chromedp.ID("btg-toggle")))
		e.do("confirm", chromedp.Click(chromedp.ID("btg-toggle")))
		e.waitJS("shown opted out", byID("btg-state")+".textContent.includes('You have opted out')")
		list, err := e.c.PatientConsents(ctx, auditor, patient.ID)
		if err != nil || !list.OptedOut {
			t.Fatalf("opt-out not on the ledger: %+v, %v", list, err)
		}
		// The medic who broke the glass a moment ago is refused now.
		_, err = e.c.ReadRecord(ctx, medic, observation.ID, 0, "ETREAT", true)
		var ce *client.Error
		if !errors.As(err, &ce) || tx.Code(ce.Code) != tx.CodeAccessDenied {
			t.Fatalf("break-the-glass after the opt-out: %v", err)
		}
		goTo("history")
		e.waitJS("the refused emergency read shown", `[...document.querySelectorAll('#timeline li[data-action="record.read"][data-decision="deny"]')]`+
			`.some((li) => li.textContent.includes('Dr Rush') && li.textContent.includes('break-the-glass-opted-out'))`)
	})

	step("filter the timeline", func() {
		goTo("history")
		e.do("open the filter", chromedp.Click(chromedp.CSS("#filter-box summary")))
		e.do("only denials", chromedp.SetValue(chromedp.ID("f-decision"), "deny"), chromedp.Click(chromedp.ID("filter-apply")))
		e.waitJS("only denials shown", "(() => { const li = [...document.querySelectorAll('#timeline li')];"+
			" return li.length > 0 && li.every((x) => x.dataset.decision === 'deny'); })()")
		e.screenshot("09-history-filtered")
		e.do("clear", chromedp.Click(chromedp.ID("filter-reset")))
		e.waitJS("everything again", "document.querySelector('#timeline li[data-decision=\"permit\"]')")
	})

	step("download and check a proof", func() {
		e.do("download", chromedp.Click(chromedp.CSS(`#timeline li[data-action="consent.grant"] button`)))
		e.waitJS("checked in the page", "document.querySelector('#timeline li[data-action=\"consent.grant\"] .proof-status.ok')")
		seq := e.eval(`document.querySelector('#timeline li[data-action="consent.grant"]').dataset.seq`)
		path := filepath.Join(e.download, "carechain-event-"+seq+".json")
		var data []byte
		for deadline := time.Now().Add(30 * time.Second); ; {
			if data, err = os.ReadFile(path); err == nil && len(data) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no download at %s", path)
			}
			time.Sleep(100 * time.Millisecond) // polling the download directory with a deadline
		}
		ev, err := proof.Verify(data, e.node.Comet.GenesisDoc())
		if err != nil {
			t.Fatalf("downloaded bundle: %v", err)
		}
		if ev.Action != audit.ActionConsentGrant || ev.Patient != patient.ID || fmt.Sprint(ev.Seq) != seq {
			t.Fatalf("downloaded bundle proves %+v", ev)
		}
	})

	step("keyboard and labels", func() {
		e.do("focus the consents tab", chromedp.Focus(chromedp.ID("tab-consents")), chromedp.KeyEvent("\r"))
		e.waitJS("consents opened by keyboard, focus on its heading", visible("view-consents")+
			" && document.activeElement === "+byID("consents-title"))
		// Every control the patient can reach has a label a screen reader reads.
		unlabelled := e.eval(`[...document.querySelectorAll("input, select, textarea, button")]
			.filter((c) => c.type !== "hidden" && !c.closest("[hidden]"))
			.filter((c) => !(c.labels && c.labels.length) && !c.getAttribute("aria-label") && !c.textContent.trim())
			.map((c) => c.id || c.outerHTML.slice(0, 60)).join(", ")`)
		if unlabelled != "" {
			t.Errorf("controls without a label: %s", unlabelled)
		}
	})

	// WCAG 2.1 AA contrast for every visible piece of text in the views
	// with the most colour: 4.5:1, or 3:1 for large text.
	step("text contrast", func() {
		// The check must see low contrast when there is some.
		probe := e.eval(`(() => { const p = document.createElement("p"); p.textContent = "contrast-probe"; p.style.color = "#bbbbbb";
			document.getElementById("main").prepend(p); const r = ` + contrastCheck + `; p.remove(); return r; })()`)
		if !strings.Contains(probe, "contrast-probe") {
			t.Fatalf("the contrast check missed a light grey probe: %q", probe)
		}
		for _, view := range []string{"history", "consents", "delegates", "records"} {
			goTo(view)
			low := e.eval(contrastCheck)
			if low != "" {
				t.Errorf("%s: text below WCAG AA contrast: %s", view, low)
			}
		}
	})

	step("the records list, and an erasure requested in the page", func() {
		goTo("records")
		row := func(id string) string { return `document.querySelector('#records tr[data-record="` + id + `"]')` }
		e.waitJS("records listed", "document.querySelectorAll('#records tr[data-record]').length === 2 && "+
			row(observation.ID)+".textContent.includes('Observation') && "+row(observation.ID)+".querySelector('[data-label=Version]').textContent === '2' && "+
			row(observation.ID)+".textContent.includes('Dr Quill') && "+row(observation.ID)+".textContent.includes('General Hospital') && "+
			row(condition.ID)+".querySelector('[data-label=Labels]').textContent.includes('Psychiatry (PSY)') && "+
			row(condition.ID)+".textContent.includes('Kept')")
		e.screenshot("15-records")

		eraseButton := chromedp.CSS(`#records tr[data-record="` + condition.ID + `"] button`)
		yes := chromedp.CSS(`#records tr[data-confirm="` + condition.ID + `"] button.danger`)
		keep := chromedp.CSS(`#records tr[data-confirm="` + condition.ID + `"] button.secondary`)
		panel := `document.querySelector('#records tr[data-confirm="` + condition.ID + `"]')`
		// Asking is not erasing: the confirmation says what erasure means,
		// takes the focus, and "Keep it" gives the focus back.
		e.do("ask to erase", chromedp.Click(eraseButton))
		e.waitJS("the confirmation asks", panel+" && "+panel+".textContent.includes('cannot be undone') && document.activeElement === "+
			panel+".querySelector('input')")
		e.screenshot("16-records-erase-confirm")
		e.do("keep it", chromedp.Click(keep))
		e.waitJS("nothing erased, focus back", "!"+panel+" && document.activeElement === "+row(condition.ID)+".querySelector('button')")

		// A node that swaps the record to erase is refused before anything
		// is signed.
		submitted := func() int {
			n := 0
			for _, r := range e.rec.all() {
				if r.Method == "POST" && r.URL == "/v1/txs" {
					n++
				}
			}
			return n
		}
		before := submitted()
		e.rec.setTamper(func(p *client.PreparedTx) {
			if p.TypeName == "record.erase" {
				m := &tx.EraseRecord{RecordID: observation.ID}
				t := &tx.Tx{ChainID: p.ChainID, Signer: p.Signer, Nonce: p.Nonce, Type: m.Type(), Body: m.Encode()}
				p.Body, p.Unsigned, p.SignBytes = t.Body, t.Encode(), t.SignBytes()
			}
		})
		e.do("erase (another record swapped in)", chromedp.Click(eraseButton), chromedp.Click(yes))
		e.waitJS("refused: another record", panel+" && "+panel+".querySelector('.error:not([hidden])') && "+
			panel+".textContent.includes('its message differs from what was asked')")
		e.rec.setTamper(nil)
		if n := submitted(); n != before {
			t.Fatalf("the page submitted %d transactions for a swapped erasure", n-before)
		}
		e.waitJS("focus stays in the confirmation", panel+".contains(document.activeElement)")
		e.do("escape", chromedp.KeyEvent(kb.Escape))
		e.waitJS("closed by Escape, focus back", "!"+panel+" && document.activeElement === "+row(condition.ID)+".querySelector('button')")

		// The real one, with a reason; once it commits the record shows erased.
		e.do("ask to erase again", chromedp.Click(eraseButton))
		e.do("give a reason and confirm", chromedp.SendKeys(chromedp.CSS(`#records tr[data-confirm="`+condition.ID+`"] input`), "no longer relevant"),
			chromedp.Click(yes))
		e.waitJS("shown erased", "!"+panel+" && "+row(condition.ID)+".textContent.includes('Erased by you') && !"+row(condition.ID)+".querySelector('button')"+
			" && "+row(observation.ID)+".querySelector('button')")
		info, err := e.c.Record(ctx, auditor, condition.ID)
		if err != nil || !info.Erased || info.ErasedBy != patient.ID {
			t.Fatalf("the erasure on the ledger: %+v, %v", info, err)
		}
		if _, err := e.c.ReadRecord(ctx, doctor, condition.ID, 0, "TREAT", false); codeOf(err) != tx.CodeErased {
			t.Fatalf("a read after the erasure: %v", err)
		}
		e.screenshot("17-records-erased")
		goTo("history")
		e.waitJS("the erasure in the timeline", `document.querySelector('#timeline li[data-action="record.erase"][data-decision="permit"]')`)
	})

	step("phone-sized screen", func() {
		e.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
		goTo("history")
		e.waitJS("history shown", visible("view-history"))
		e.viewShot("12-phone-history")
		e.do("scroll to the timeline", chromedp.Evaluate[chromedp.Void]("document.getElementById('timeline').scrollIntoView()"))
		e.viewShot("12-phone-history-timeline")
		goTo("consents")
		e.waitJS("consents shown", visible("consent-form"))
		e.viewShot("13-phone-consents")
		goTo("records")
		e.waitJS("records shown", "document.querySelector('#records tr[data-record]')")
		e.do("scroll to the records", chromedp.Evaluate[chromedp.Void]("document.getElementById('records-title').scrollIntoView()"))
		e.viewShot("13a-phone-records")
		e.do("desktop viewport", chromedp.EmulateViewport(1200, 900))
	})

	step("lock, then unlock with the passphrase", func() {
		e.do("lock", chromedp.Click(chromedp.ID("lock")))
		e.waitJS("unlock offered", visible("unlock-form")+" && "+byID("signin")+".dataset.ready")
		e.do("wrong passphrase", chromedp.SendKeys(chromedp.ID("unlock-pass"), "not the passphrase"), chromedp.Click(chromedp.ID("unlock-submit")))
		e.waitJS("refused", visible("unlock-error")+" && "+byID("unlock-error")+".textContent.includes('Wrong passphrase')")
		e.screenshot("02-unlock")
		e.do("right passphrase", chromedp.SendKeys(chromedp.ID("unlock-pass"), passphrase),
			chromedp.Click(chromedp.ID("unlock-submit")))
		e.waitJS("signed in again", visible("view-history")+" && document.querySelectorAll('#timeline li').length > 0")
	})

	// A delegate signs in with their own key and the patient's id, and
	// acts within the limits the patient set in the page.
	step("a delegate signs in and acts within their limits", func() {
		goTo("delegates")
		e.do("fill the delegate form",
			chromedp.SendKeys(chromedp.ID("d-id"), guardian.ID),
			chromedp.Click(chromedp.ID("op-grant")), chromedp.Click(chromedp.ID("op-read-history")),
			chromedp.SendKeys(chromedp.ID("d-purposes"), "TREAT"))
		e.do("save", chromedp.Click(chromedp.ID("delegate-submit")))
		e.waitJS("delegate listed", "document.querySelector('#delegate-list [data-delegate="+jsString(guardian.ID)+"]')")
		signInAsDelegate(guardian)
		e.waitJS("signed in for the patient", visible("view-history")+" && "+byID("session-for")+".textContent.includes("+jsString(patient.ID)+")")
		e.waitJS("the patient's history", "document.querySelector('#timeline li[data-action=\"consent.grant\"]')")
		goTo("consents")
		e.do("grant within the delegation",
			chromedp.SendKeys(chromedp.ID("c-actor"), doctor.ID), chromedp.Click(chromedp.ID("purpose-TREAT")),
			chromedp.Click(chromedp.ID("consent-submit")))
		e.waitJS("granted", "document.querySelectorAll('#consent-list .badge.permit').length === 1")
		list, err := e.c.PatientConsents(ctx, auditor, patient.ID)
		if err != nil {
			t.Fatal(err)
		}
		var byGuardian int
		for _, c := range list.Consents {
			if c.Grantor == guardian.ID && c.Status == "active" {
				byGuardian++
			}
		}
		if byGuardian != 1 {
			t.Fatalf("consents granted by the delegate: %+v", list.Consents)
		}
		e.do("grant beyond the delegation",
			chromedp.SendKeys(chromedp.ID("c-actor"), doctor.ID), chromedp.Click(chromedp.ID("purpose-HRESCH")),
			chromedp.Click(chromedp.ID("consent-submit")))
		e.waitJS("refused", visible("consent-form-error")+" && "+byID("consent-form-error")+".textContent.includes('unauthorized')")
		e.screenshot("14-delegate-refused")
		// A delegate reads the records list but is offered no erasure: the
		// ledger would refuse it.
		goTo("records")
		e.waitJS("the patient's records", "document.querySelectorAll('#records tr[data-record]').length === 2 && !document.querySelector('#records button')"+
			" && document.querySelector('#records caption').textContent.includes('Only the patient can ask')")
	})

	// A delegate who may not read the history is told so, and the page
	// does not keep asking: each try would be a denied read on the record.
	step("a delegate without read-history", func() {
		proxyKey := e.register(tx.KindDelegate, "Pat Proxy", "", nil)
		d := consent.Delegation{Patient: patient.ID, Delegate: proxyKey.ID, Operations: []consent.Operation{consent.OpGrant}}
		if _, err := e.c.Send(ctx, patient, &tx.SetDelegate{Delegation: consent.EncodeDelegation(d)}); err != nil {
			t.Fatal(err)
		}
		signInAsDelegate(proxyKey)
		e.waitJS("live updates refused", byID("live-status")+".textContent.includes('not allowed')")
		e.waitJS("history refused", visible("history-error")+" && "+byID("history-error")+".textContent.includes('access_denied')")
		e.screenshot("14a-delegate-without-history")
		streams := func() int {
			n := 0
			for _, r := range e.rec.all() {
				if strings.HasPrefix(r.URL, "/v1/audit/stream") && strings.Contains(r.URL, "tx=") {
					n++
				}
			}
			return n
		}
		before := streams()
		// The page's first retry would come 2 s after a failure; three
		// blocks (one a second at least) give it the time to show itself.
		st, err := e.c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for {
			now, err := e.c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if now.Height >= st.Height+3 {
				break
			}
			time.Sleep(100 * time.Millisecond) // polling the chain's height with the test's deadline
		}
		if n := streams(); n != before {
			t.Fatalf("the page asked for the stream %d more times after the refusal", n-before)
		}
	})

	step("served under a path prefix", func() {
		e.do("load the portal under a prefix", chromedp.Navigate(e.rec.URL+pathPrefix+"/ui/"))
		e.waitJS("talks to its node", "document.body.dataset.ready === 'true' && "+byID("node-status")+".textContent.includes("+jsString(chainID)+") && "+
			visible("unlock-form"))
		for _, r := range e.rec.all() {
			if strings.HasPrefix(r.URL, pathPrefix+"/v1/status") {
				return
			}
		}
		t.Fatal("the page under a prefix did not ask its API under the prefix")
	})

	step("no request carried the private key", func() {
		secrets := keyEncodings(t, patient)
		for name, s := range keyEncodings(t, guardian) {
			secrets["delegate's "+name] = s
		}
		reqs := e.rec.all()
		if len(reqs) < 20 {
			t.Fatalf("only %d requests recorded; the proxy is not in the path", len(reqs))
		}
		// The check can see bodies and URLs: the signer's id travels in both.
		var inBody, inURL bool
		for _, r := range reqs {
			inBody = inBody || bytes.Contains(r.Body, []byte(patient.ID))
			inURL = inURL || strings.Contains(r.URL, patient.ID)
		}
		if !inBody || !inURL {
			t.Fatalf("the patient's id is in no request body (%v) or URL (%v): the recording is blind", inBody, inURL)
		}
		for _, r := range reqs {
			unescaped, _ := url.QueryUnescape(r.URL)
			for name, s := range secrets {
				if bytes.Contains(r.Body, s) || strings.Contains(r.URL, string(s)) || strings.Contains(unescaped, string(s)) {
					t.Errorf("%s %s carries the %s", r.Method, r.URL, name)
				}
			}
		}
		// And the browser sent nothing anywhere else.
		for {
			select {
			case u := <-e.urls:
				if !strings.HasPrefix(u, e.rec.URL+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") && u != "about:blank" {
					t.Errorf("the page requested %s, outside its node", u)
				}
				continue
			default:
			}
			break
		}
		// The page raised no script error and broke no security policy.
		for _, f := range e.pageFaults() {
			t.Errorf("the page: %s", f)
		}
		// What the browser stores is ciphertext.
		stored := e.eval(`new Promise((ok, fail) => { const r = indexedDB.open("carechain-portal");
			r.onsuccess = () => { const g = r.result.transaction("keys").objectStore("keys").getAll();
			g.onsuccess = () => ok(JSON.stringify(g.result)); g.onerror = fail; }; r.onerror = fail; })`)
		if !strings.Contains(stored, patient.ID) {
			t.Fatalf("stored keys: %s", stored)
		}
		for name, s := range secrets {
			if strings.Contains(stored, string(s)) {
				t.Errorf("the browser stores the %s in the clear", name)
			}
		}
	})
}

// contrastCheck lists visible text whose contrast with the background
// behind it is below WCAG 2.1 AA, as "text (ratio)"; empty when none is.
const contrastCheck = `(() => {
  const rgb = (c) => { const m = c.match(/[\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; };
  const lum = ({ r, g, b }) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.a > 0.5) return c; }
    return { r: 255, g: 255, b: 255, a: 1 }; };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || !el.checkVisibility() || el.closest("[hidden], option")) continue;
    const st = getComputedStyle(el);
    const fg = rgb(st.color), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) out.push(n.textContent.trim().slice(0, 40) + " (" + ratio.toFixed(2) + ")");
  }
  return [...new Set(out)].join("; ");
})()`

func codeOf(err error) tx.Code {
	var ce *client.Error
	if errors.As(err, &ce) {
		return tx.Code(ce.Code)
	}
	return tx.CodeOK
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
