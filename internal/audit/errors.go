package audit

import "errors"

var (
	// ErrInvalidEvent marks an event that may not enter the log: a field is
	// missing, malformed or too long, the action is unknown, or its block
	// height or time is earlier than the log's last event.
	ErrInvalidEvent = errors.New("invalid audit event")

	// ErrInvalidQuery marks a history query or cursor the caller got wrong.
	ErrInvalidQuery = errors.New("invalid audit query")

	// ErrNotFound marks a sequence number or tree size beyond the log.
	ErrNotFound = errors.New("not in audit log")

	// ErrBadProof marks a proof that does not verify, or is malformed.
	ErrBadProof = errors.New("audit proof does not verify")

	// ErrCorrupt marks stored audit state that cannot be what Append wrote.
	// It is a storage failure, not a user error.
	ErrCorrupt = errors.New("audit state corrupt")
)
