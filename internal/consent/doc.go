// Package consent models patient consents on FHIR R4 Consent and decides,
// deterministically, whether an access to a patient's record is allowed and
// why.
//
// The package promises:
//
//   - Purity. Nothing here reads the network, the disk, the wall clock or a
//     random source. The block height and time come in as arguments, so every
//     validator reaches the same decision for the same inputs.
//   - A reason for every decision: the consent and provision path that
//     decided (for example "provision.provision[1]"), or a named rule such as
//     patient-self, author-org, no-consent or break-the-glass. See Reason.
//   - One encoding. Encode writes the single canonical form of a consent and
//     Decode rejects every other byte string, so decode-then-encode is the
//     identity.
//   - Bounded cost. Validate caps the size and nesting of a consent and the
//     static cost of its CEL conditions; evaluation runs each condition under
//     a runtime cost limit, and Decide looks only at the consents an Index
//     files under the requester and the purpose.
//   - Clear refusals. Validate, Decode and FromFHIR return an *Error with a
//     stable Code and the path of the offending element.
//
// The ledger (package ledgerstate) keeps consents in state, builds one
// Index per patient from them, and calls Decide with the request, the block
// and the patient's break-the-glass opt-out. Authorize decides whether a
// signer may grant or revoke a patient's consents, as the patient or as a
// registered delegate. docs/consent.md describes the rules, their order,
// the encoding and the ledger's use of them.
package consent
