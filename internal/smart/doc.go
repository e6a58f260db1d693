// Package smart is carechain's authorization server for SMART Backend
// Services (SMART App Launch 2.x, "backend services"): a system client —
// an organization, or a practitioner or application of one — proves who it
// is with a JWT signed by its ledger key and receives a short-lived bearer
// token for the node's FHIR API.
//
// It promises that:
//
//   - an access token is issued only for an assertion signed (EdDSA,
//     RFC 8037) by the current key of an unrevoked organization,
//     practitioner or application on the ledger, naming this node's token
//     endpoint as its audience, living at most five minutes, and never
//     presented before (its jti is remembered until it expires); on a
//     gateway that acts for an organization, only to that organization
//     and its members;
//   - an access token lives at most five minutes, is signed by this node
//     alone (HMAC-SHA256 under a per-node secret), and is accepted only while
//     its client is still on the ledger, unrevoked and on the same key;
//   - scopes are SMART system scopes, parsed strictly: a scope this package
//     does not understand is refused, never silently widened or dropped.
//
// The checks (scopes, assertions, tokens, the replay cache) are pure: time
// and the ledger come in as arguments. Server is the HTTP edge; it reads the
// clock and draws random token ids.
//
// docs/smart.md describes the flows, claims and lifetimes.
package smart
