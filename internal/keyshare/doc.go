// Package keyshare protects one record version: it encrypts the record under
// a fresh data key, splits that key k-of-n across the validators, commits to
// every share so a reader can tell a good share from a bad one, and seals
// each share with HPKE to the validator that keeps it and, on release, to the
// reader.
//
// What it promises:
//
//   - Seal encrypts with AES-256-GCM under a key used for nothing else, and
//     binds the ciphertext to the record's id, version and patient
//     (AssociatedData); Decrypt refuses a ciphertext moved to another record.
//   - Any K of the N shares recover the key. Fewer than K reveal nothing about
//     it: the shares are Shamir shares (kyber's share package) of a uniformly
//     random scalar, and every key is equally consistent with K-1 of them.
//   - The Commitments that go on the public ledger reveal nothing about the
//     key either: each is a salted SHA-256 hash whose salt travels only inside
//     the sealed share. Combine checks every share against its commitment,
//     names the bad ones, and recovers from any K good ones.
//   - A sealed share opens only with the recipient's private key and the exact
//     ShareInfo it was sealed under: chain, record, version, share index,
//     recipient and, for a release, the audit event that permitted it.
//   - Every decoder accepts only canonical bytes: decode then encode returns
//     the input.
//
// The package does no I/O and keeps no state. Randomness comes in through an
// io.Reader so tests are reproducible; the one exception is HPKE sealing,
// which crypto/hpke draws from crypto/rand itself. The formats, the threshold
// and the commitment choice are explained in docs/keys.md.
package keyshare
