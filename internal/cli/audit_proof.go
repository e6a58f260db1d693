package cli

import (
	"strconv"
)

func init() { auditSubcommands["proof"] = runAuditProof }

// runAuditProof prints the proof bundle of one audit event, as the node
// encoded it, for 'carechain verify' to check offline.
//
// The key is required now so that scripts keep working when reading a
// proof becomes an audited, authorized query like reading a history; today
// the node does not ask for it. The bundle holds the event itself (actor,
// pseudonymous patient, action, purpose, decision): whoever gets the file
// learns that one event, nothing else of the log.
func runAuditProof(e *env, args []string) error {
	fs := newFlags(e, "audit proof", "audit proof --key FILE [--node URL | --home DIR] EVENT_ID > bundle.json")
	connect := nodeFlags(e, "audit proof", fs)
	keyPath := fs.String("key", "", "key file of the reader (will authorize the read; not yet sent)")
	_ = fs.Bool("json", false, "accepted for consistency: the bundle is JSON already")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := loadKey("key", *keyPath); err != nil {
		return err
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
	data, err := c.AuditProof(e.ctx, seq)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(data)
	return err
}
