package tx

import "github.com/carechain/carechain/internal/codec"

// Audit message types (range 50–69). Numbers are part of the protocol and
// never reused.
const (
	TypeQueryAuditHistory Type = 50
	TypeRecordRefusal     Type = 51
)

// MaxRefusalCodeLen bounds a refusal's code.
const MaxRefusalCodeLen = 64

// RecordRefusal puts on the record a request an organization's gateway
// refused before the ledger was asked — an authenticated SMART client
// asking beyond its token's scope, for another organization, or without a
// purpose. The gateway's organization signs; Actor is the client, Code the
// gateway's stable refusal code. Requests that name no authenticated
// actor (no token, a forged one) are not put on the ledger: anyone could
// write them; the node logs them.
type RecordRefusal struct {
	Actor string
	Code  string
}

func (*RecordRefusal) Type() Type { return TypeRecordRefusal }

func (m *RecordRefusal) Encode() []byte {
	w := codec.NewWriter(len(m.Actor) + len(m.Code) + 2)
	w.String(m.Actor)
	w.String(m.Code)
	return w.Bytes()
}

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
	if t == TypeRecordRefusal {
		return &RecordRefusal{Actor: r.String(MaxIDLen), Code: r.String(MaxRefusalCodeLen)}
	}
	return nil
}
