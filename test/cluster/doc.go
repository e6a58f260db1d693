// Package cluster tests carechain the way operators run it: validators are
// separate processes started from the real carechain binary, talking to each
// other over loopback, and the tests reach them only through their HTTP
// gateways and the CLI.
//
// The suite proves what unit tests of the application cannot:
//
//   - a 4-validator network keeps committing while any one validator is
//     killed, and the killed node, restarted, catches up to the same state
//     root as the others;
//   - a validator killed in the middle of a load, and a lone validator killed
//     the same way, come back holding every transaction a gateway reported
//     committed;
//   - the same transactions give the same state root on every node at every
//     height;
//   - the carechain CLI works against a running network and reports a
//     revoked signer with exit status 1 and a "carechain: error:" line.
//
// Run it with
//
//	go test ./test/cluster/
//
// TestMain builds cmd/carechain once. Each test creates its own network in a
// temporary directory on loopback ports it has checked are free, so the
// suite can run beside other packages' tests; -short skips it. When a test
// fails it prints the tail of every node's log.
package cluster
