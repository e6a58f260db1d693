package check

// LoadValidators exposes the validator loader to the external tests, which
// compare it with CometBFT's on a real node.
var LoadValidators = loadValidators

// AuditEventKey exposes the audit log's event key for the tests that
// change an event.
var AuditEventKey = auditEventKey

// AuditHeadKey is the audit log's head key.
var AuditHeadKey = auditHeadKey
