package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// MaxResourceBytes bounds a resource in a request body.
const MaxResourceBytes = 4 << 20

// ReadResource reads the resource in a create or update request: one JSON
// object, at most MaxResourceBytes, whose resourceType is the route's and,
// for an update, whose id is the URL's (FHIR R4 3.1.0.4.2). Failures are
// 400s naming the failing element. It returns the body as sent.
func ReadResource(r *http.Request, rt Route) (json.RawMessage, *Error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxResourceBytes+1))
	if err != nil {
		return nil, Invalid("", "cannot read the request body: %v", err)
	}
	if len(b) > MaxResourceBytes {
		return nil, Errorf(http.StatusRequestEntityTooLarge, IssueTooCostly, "too_large", "the resource is larger than %d bytes", MaxResourceBytes)
	}
	var head struct {
		ResourceType *string `json:"resourceType"`
		ID           *string `json:"id"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&head); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, Errorf(http.StatusBadRequest, IssueStructure, "invalid", "%s must be a string", typeErr.Field).At(rt.Type + "." + typeErr.Field)
		}
		return nil, Errorf(http.StatusBadRequest, IssueStructure, "invalid", "the body is not a JSON object: %v", err)
	}
	if dec.More() || trailing(dec) {
		return nil, Errorf(http.StatusBadRequest, IssueStructure, "invalid", "the body holds more than one JSON value")
	}
	switch {
	case head.ResourceType == nil:
		return nil, Errorf(http.StatusBadRequest, IssueRequired, "invalid", "resourceType is required").At("resourceType")
	case *head.ResourceType != rt.Type:
		return nil, Invalid("resourceType", "resourceType %.80q does not match the URL's %s", *head.ResourceType, rt.Type)
	}
	if rt.Interaction == Update {
		switch {
		case head.ID == nil:
			return nil, Errorf(http.StatusBadRequest, IssueRequired, "invalid", "an update must carry the resource's id").At(rt.Type + ".id")
		case *head.ID != rt.ID:
			return nil, Invalid(rt.Type+".id", "id %.80q does not match the URL's %s", *head.ID, rt.ID)
		}
	}
	return b, nil
}

// trailing reports whether anything but white space follows the first
// value.
func trailing(dec *json.Decoder) bool {
	_, err := dec.Token()
	return err != io.EOF
}
