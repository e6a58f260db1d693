package cli

import (
	"strconv"
)

func init() { auditSubcommands["proof"] = runAuditProof }

// runAuditProof prints the proof bundle of one audit event, as the node
// encoded it, for 'carechain verify' to check offline.
//
// Reading a proof is reading the patient's history: the key signs an
// audit.query that the ledger must permit (the patient, a delegate allowed
// to read the history, or an auditor) and records. The bundle holds the
// event itself (actor, pseudonymous patient, action, purpose, decision):
// whoever gets the file learns that one event, nothing else of the log.
func runAuditProof(e *env, args []string) error {
	fs := newFlags(e, "audit proof", "audit proof --key FILE [--patient ID] [--node URL | --home DIR] EVENT_ID > bundle.json")
	connect := nodeFlags(e, "audit proof", fs)
	keyPath := fs.String("key", "", "key file of the reader: the patient, a delegate allowed to read the history, or an auditor")
	patient := fs.String("patient", "", "the event's patient (default: the key's own)")
	_ = fs.Bool("json", false, "accepted for consistency: the bundle is JSON already")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	if *patient == "" {
		*patient = k.ID
	}
	seq, err := strconv.ParseUint(pos[0], 10, 64)
	if err != nil {
		return withHint(usageError("EVENT_ID %q is not an audit event sequence number", pos[0]),
			"the SEQ column of 'carechain audit list', or the seq of a transaction's audit event")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	data, err := c.AuditProof(e.ctx, k, *patient, seq)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(data)
	return err
}
