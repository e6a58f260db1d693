// Package fhir is the HTTP plumbing of carechain's FHIR R4 API at /fhir:
// routing of the RESTful interactions, content negotiation
// (application/fhir+json only), OperationOutcome for every error, the
// CapabilityStatement at /fhir/metadata, and the bearer-token check in
// front of everything else.
//
// It promises that:
//
//   - no handler runs for a request without a valid access token (only
//     GET /fhir/metadata is public), nor for one whose scopes do not grant
//     the interaction on its resource type;
//   - every error, from the token check to a handler's, is an
//     OperationOutcome with the HTTP status that FHIR and RFC 6750 give it,
//     a stable carechain code, and the failing path where there is one;
//   - the CapabilityStatement lists exactly the interactions registered
//     with Handle, so it stays truthful as resources are added.
//
// The package holds no records: handlers registered by other packages do
// the work, and read the caller (smart.FromContext) and the parsed route
// (RouteFrom) from the request's context.
package fhir
