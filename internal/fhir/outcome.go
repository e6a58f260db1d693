package fhir

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/carechain/carechain/internal/tx"
)

// IssueType is a FHIR issue-type code (OperationOutcome.issue.code).
type IssueType string

// The issue types carechain answers with.
const (
	IssueInvalid      IssueType = "invalid"
	IssueStructure    IssueType = "structure"
	IssueRequired     IssueType = "required"
	IssueValue        IssueType = "value"
	IssueLogin        IssueType = "login"
	IssueUnknown      IssueType = "unknown"
	IssueExpired      IssueType = "expired"
	IssueForbidden    IssueType = "forbidden"
	IssueNotSupported IssueType = "not-supported"
	IssueNotFound     IssueType = "not-found"
	IssueDeleted      IssueType = "deleted"
	IssueConflict     IssueType = "conflict"
	IssueDuplicate    IssueType = "duplicate"
	IssueBusinessRule IssueType = "business-rule"
	IssueProcessing   IssueType = "processing"
	IssueTooCostly    IssueType = "too-costly"
	IssueException    IssueType = "exception"
	IssueTransient    IssueType = "transient"
)

// ErrorSystem is the code system of carechain's stable error codes, carried
// in OperationOutcome.issue.details.
const ErrorSystem = "urn:carechain:error"

// Error is a failed FHIR request: the HTTP status, the FHIR issue type, a
// stable carechain code, a message, and the paths (FHIRPath expressions)
// of the offending elements, if any.
type Error struct {
	Status     int
	Issue      IssueType
	Code       string // stable, e.g. "token_expired", "access_denied"
	Message    string
	Expression []string
	// Header holds response headers the error needs (WWW-Authenticate,
	// Allow).
	Header http.Header
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s (%s): %s", e.Status, e.Issue, e.Code, e.Message)
}

// Errorf returns an error with the given status, issue type and stable code.
func Errorf(status int, issue IssueType, code, format string, args ...any) *Error {
	return &Error{Status: status, Issue: issue, Code: code, Message: fmt.Sprintf(format, args...)}
}

// At names the failing elements, e.g. At("Observation.status").
func (e *Error) At(expr ...string) *Error {
	e.Expression = append(e.Expression, expr...)
	return e
}

// Invalid is a 400 for a bad resource or parameter at path.
func Invalid(path, format string, args ...any) *Error {
	e := Errorf(http.StatusBadRequest, IssueInvalid, "invalid", format, args...)
	if path != "" {
		e.At(path)
	}
	return e
}

// NotFound is a 404.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, IssueNotFound, "not_found", format, args...)
}

// Gone is a 410, for an erased record.
func Gone(format string, args ...any) *Error {
	return Errorf(http.StatusGone, IssueDeleted, "erased", format, args...)
}

// Conflict is a 409, e.g. a version conflict.
func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, IssueConflict, "conflict", format, args...)
}

// Unprocessable is a 422: well-formed, but breaking a rule, at path.
func Unprocessable(path, format string, args ...any) *Error {
	e := Errorf(http.StatusUnprocessableEntity, IssueBusinessRule, "unprocessable", format, args...)
	if path != "" {
		e.At(path)
	}
	return e
}

// Forbidden is a 403 whose message says why (e.g. which consent provision
// denied the access).
func Forbidden(code, format string, args ...any) *Error {
	return Errorf(http.StatusForbidden, IssueForbidden, code, format, args...)
}

// FromTx maps a ledger result code to a FHIR error, for handlers that
// submit transactions: a refused access is 403, an erased record 410, and
// so on. The code's stable name is the error's code.
func FromTx(code tx.Code, msg string) *Error {
	status, issue := http.StatusUnprocessableEntity, IssueProcessing
	switch code {
	case tx.CodeAccessDenied, tx.CodeUnauthorized, tx.CodeSignerRevoked, tx.CodeUnknownSigner:
		status, issue = http.StatusForbidden, IssueForbidden
	case tx.CodeNotFound:
		status, issue = http.StatusNotFound, IssueNotFound
	case tx.CodeErased:
		status, issue = http.StatusGone, IssueDeleted
	case tx.CodeAlreadyExists:
		status, issue = http.StatusConflict, IssueDuplicate
	case tx.CodeMalformed, tx.CodeTooLarge:
		status, issue = http.StatusBadRequest, IssueStructure
	case tx.CodeInvalid:
		status, issue = http.StatusBadRequest, IssueInvalid
	case tx.CodeNonceReplayed, tx.CodeNonceGap:
		status, issue = http.StatusConflict, IssueConflict
	case tx.CodeInternal:
		status, issue = http.StatusInternalServerError, IssueException
	}
	return &Error{Status: status, Issue: issue, Code: code.String(), Message: msg}
}

// OperationOutcome is the FHIR R4 resource, as much of it as carechain
// writes.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity    string           `json:"severity"`
	Code        IssueType        `json:"code"`
	Details     *CodeableConcept `json:"details,omitempty"`
	Diagnostics string           `json:"diagnostics,omitempty"`
	Expression  []string         `json:"expression,omitempty"`
}

// CodeableConcept is the FHIR data type, reduced to codings and text.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Coding is the FHIR data type.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// Outcome returns e as an OperationOutcome.
func (e *Error) Outcome() OperationOutcome {
	severity := "error"
	if e.Status >= 500 {
		severity = "fatal"
	}
	iss := Issue{Severity: severity, Code: e.Issue, Diagnostics: e.Message, Expression: e.Expression}
	if e.Code != "" {
		iss.Details = &CodeableConcept{Coding: []Coding{{System: ErrorSystem, Code: e.Code}}, Text: e.Message}
	}
	return OperationOutcome{ResourceType: "OperationOutcome", Issue: []Issue{iss}}
}

// WriteError answers with e as an OperationOutcome.
func WriteError(w http.ResponseWriter, e *Error) {
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	WriteResource(w, e.Status, e.Outcome())
}

// ContentType is what every FHIR response is sent as.
const ContentType = "application/fhir+json; charset=utf-8"

// WriteResource answers with a resource as FHIR JSON.
func WriteResource(w http.ResponseWriter, status int, resource any) {
	b, err := json.Marshal(resource)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(Errorf(status, IssueException, "internal", "encode the response: %v", err).Outcome())
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
