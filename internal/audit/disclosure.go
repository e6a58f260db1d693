package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DisclosureReport is a patient's accounting of disclosures (45 CFR
// 164.528): for each disclosure its date, the recipient, a brief description
// of what was disclosed and the purpose.
type DisclosureReport struct {
	Patient     string       `json:"patient"`
	Disclosures []Disclosure `json:"disclosures"`
}

// Disclosure is one row of the report.
type Disclosure struct {
	// Date is the block time, RFC 3339 in UTC.
	Date string `json:"date"`
	// Recipient is the name of the person who received the information if
	// the caller knows it, otherwise their ledger id; RecipientID is always
	// the ledger id. The same holds for the organization.
	Recipient               string `json:"recipient"`
	RecipientID             string `json:"recipientId"`
	RecipientOrganization   string `json:"recipientOrganization,omitempty"`
	RecipientOrganizationID string `json:"recipientOrganizationId,omitempty"`
	// Description says what was disclosed: the action and the records.
	Description string `json:"description"`
	// Purpose is the purpose-of-use code and its meaning.
	Purpose string `json:"purpose"`
	// BreakGlass marks emergency access.
	BreakGlass bool `json:"breakGlass"`
	// Event is the sequence number of the audit event, whose inclusion
	// proof backs the row; Transaction is the hash of its transaction.
	Event       uint64 `json:"event"`
	Transaction string `json:"transaction,omitempty"`
}

// DisclosureOptions shape a report.
type DisclosureOptions struct {
	// ExcludeTPO drops disclosures for treatment, payment and health care
	// operations (purposes TREAT, ETREAT, HPAYMT, HOPERAT), which 45 CFR
	// 164.528(a)(1)(i) exempts from the accounting. Break-the-glass access
	// is kept regardless: carechain promises the patient sees it. The
	// default keeps every disclosure, the fuller access report.
	ExcludeTPO bool
	// Names maps actor and organization ids to display names. The ledger
	// holds pseudonymous ids only; the gateway resolves names off-chain.
	Names map[string]string
}

const maxDescribedRecords = 10

// NewDisclosureReport builds the patient's report from events, keeping those
// that are disclosures (IsDisclosure) about the patient, in log order. Events
// of other patients are ignored, so a caller may pass a History page as is.
func NewDisclosureReport(patient string, events []Event, opts DisclosureOptions) DisclosureReport {
	rep := DisclosureReport{Patient: patient, Disclosures: []Disclosure{}}
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b Event) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	for _, e := range sorted {
		if e.Patient != patient || !IsDisclosure(e) {
			continue
		}
		if opts.ExcludeTPO && isTPO(e.Purpose) && !e.BreakGlass {
			continue
		}
		info, _ := LookupAction(e.Action) // IsDisclosure checked it exists
		d := Disclosure{
			Date:                    e.Time.UTC().Format(timeLayout),
			Recipient:               nameOf(opts.Names, e.Actor),
			RecipientID:             e.Actor,
			RecipientOrganization:   nameOf(opts.Names, e.ActorOrg),
			RecipientOrganizationID: e.ActorOrg,
			Description:             describe(info, e),
			Purpose:                 describePurpose(e),
			BreakGlass:              e.BreakGlass,
			Event:                   e.Seq,
		}
		if len(e.TxHash) > 0 {
			d.Transaction = hex.EncodeToString(e.TxHash)
		}
		rep.Disclosures = append(rep.Disclosures, d)
	}
	return rep
}

func isTPO(purpose string) bool {
	switch purpose {
	case "TREAT", "ETREAT", "HPAYMT", "HOPERAT":
		return true
	}
	return false
}

func nameOf(names map[string]string, id string) string {
	if id == "" {
		return ""
	}
	if n, ok := names[id]; ok && n != "" {
		return n
	}
	return id
}

func describe(info ActionInfo, e Event) string {
	s := info.Description
	if n := len(e.RecordIDs); n > 0 {
		shown := e.RecordIDs[:min(n, maxDescribedRecords)]
		s += ": " + strings.Join(shown, ", ")
		if n > len(shown) {
			s += fmt.Sprintf(" and %d more", n-len(shown))
		}
	}
	return s
}

func describePurpose(e Event) string {
	s := "not stated"
	if e.Purpose != "" {
		s = e.Purpose
		if d := purposeDisplay[e.Purpose]; d != "" {
			s += " (" + d + ")"
		}
	}
	if e.BreakGlass {
		s += "; break-the-glass emergency access"
	}
	return s
}

// JSON renders the report as indented JSON.
func (r DisclosureReport) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("disclosure report for %s: %w", r.Patient, err)
	}
	return append(b, '\n'), nil
}

// csvHeader names the report's CSV columns.
var csvHeader = []string{
	"date", "recipient", "recipient_id", "recipient_organization", "recipient_organization_id",
	"description", "purpose", "break_glass", "event", "transaction",
}

// CSV renders the report as RFC 4180 CSV with a header row. Cells that a
// spreadsheet would run as a formula are prefixed with a single quote.
func (r DisclosureReport) CSV() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(csvHeader); err != nil {
		return nil, fmt.Errorf("disclosure report for %s: %w", r.Patient, err)
	}
	for _, d := range r.Disclosures {
		row := []string{
			d.Date, d.Recipient, d.RecipientID, d.RecipientOrganization, d.RecipientOrganizationID,
			d.Description, d.Purpose, strconv.FormatBool(d.BreakGlass), strconv.FormatUint(d.Event, 10), d.Transaction,
		}
		for i := range row {
			row[i] = defuseFormula(row[i])
		}
		if err := w.Write(row); err != nil {
			return nil, fmt.Errorf("disclosure report for %s: %w", r.Patient, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("disclosure report for %s: %w", r.Patient, err)
	}
	return buf.Bytes(), nil
}

func defuseFormula(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
