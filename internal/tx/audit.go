package tx

import "github.com/carechain/carechain/internal/codec"

// Audit message types (range 50–69). Numbers are part of the protocol and
// never reused.
const (
	TypeQueryAuditHistory Type = 50
)

// QueryAuditHistory asks to read Patient's access history. Reading who saw
// a patient's records is itself a disclosure, so the query is a
// transaction: the ledger checks that the signer is the patient, a delegate
// the patient allowed to read the history, or an auditor, and records the
// query in the audit log before any node answers it.
type QueryAuditHistory struct {
	Patient string
}

func (*QueryAuditHistory) Type() Type { return TypeQueryAuditHistory }

func (m *QueryAuditHistory) Encode() []byte {
	w := codec.NewWriter(len(m.Patient) + 2)
	w.String(m.Patient)
	return w.Bytes()
}

// decodeAuditMsg decodes the body of an audit message type, or returns nil
// when t is not one.
func decodeAuditMsg(t Type, r *codec.Reader) Msg {
	if t == TypeQueryAuditHistory {
		return &QueryAuditHistory{Patient: r.String(MaxIDLen)}
	}
	return nil
}
