// Package proof is carechain's audit proof bundle: one audit event together
// with everything needed to check, offline and trusting nothing but the
// chain's genesis document, that the event is in the ledger's audit log.
//
// A bundle chains four links, each checked by Verify:
//
//  1. the event's canonical bytes are leaf Seq of the RFC 6962 audit log of
//     size N with root R (an inclusion proof);
//  2. N and R are the audit head stored at HeadKey in the application state
//     after block H (an ICS23 proof against the state root);
//  3. that state root is the app hash in the header of block H+1, signed by
//     more than two thirds of the voting power of its validator set;
//  4. that validator set is the genesis set, or is reached from it by
//     CometBFT's light-client rules through the headers the bundle carries.
//
// A consistency bundle (Consistency) replaces link 1 with an RFC 6962
// consistency proof: the signed log extends a log the client saw before (a
// Checkpoint), so nothing the client saw was removed or changed since.
//
// The package promises:
//
//   - Decode and DecodeConsistency accept exactly one encoding of a bundle,
//     Encode's, and neither accepts the other kind. Any other
//     bytes are rejected before anything is verified, so a changed byte is
//     never silently ignored.
//   - Verify trusts only the genesis document's chain id, initial height and
//     validator set; it checks every signature in every commit, not just
//     enough of them. It never panics, whatever it is given.
//   - The verifier is pure: no network, disk or clock. The time a check
//     needs comes from the headers themselves.
//   - TrustPath picks the headers a bundle needs when the validator set has
//     changed since genesis, with the same checks Verify applies, so a
//     bundle a node builds is one Verify accepts.
//
// docs/proof-bundle.md describes the format and every verification step.
package proof
