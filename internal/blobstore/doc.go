// Package blobstore keeps record ciphertext beside the ledger, addressed by
// its SHA-256.
//
// What it promises:
//
//   - Get returns exactly the bytes whose hash was asked for, or an error:
//     every read is hashed, and a blob whose content no longer matches its
//     name is reported as ErrCorrupt (a *CorruptError naming the hash),
//     never returned, and never confused with ErrNotFound.
//   - Put is atomic and durable: a blob is either absent or complete,
//     whatever the moment of a crash, and once Put returns it survives one.
//     Putting the same content twice, even concurrently, is harmless.
//   - Delete removes the blob's file, for erasure. It does not overwrite the
//     disk blocks underneath: secure deletion on journaling filesystems and
//     SSDs is not something a file API can promise, and what is stored here
//     is ciphertext whose key shares are deleted with it.
//   - Check reads every blob and names the corrupt ones.
//
// Blobs are limited in size (Options.MaxBlobSize, 4 MiB by default): a
// record is a FHIR resource, and a bound keeps one hostile writer from
// filling a node's disk with one call.
//
// Store is an interface with two implementations: Disk for nodes and Memory
// for tests. Nothing here knows what the bytes are; callers store
// ciphertext only.
package blobstore
