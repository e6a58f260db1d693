package gateway_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/proof"
	"github.com/carechain/carechain/internal/tx"
)

// TestAuditConsistency keeps a checkpoint of the signed audit log as a
// client would, lets the log grow, and checks the node's consistency
// bundles from it offline; it asks for an earlier size explicitly and
// for ranges the log cannot answer.
func TestAuditConsistency(t *testing.T) {
	n := startNode(t)
	c := client.New(n.APIURL)
	ctx := context.Background()
	genesis, err := types.GenesisDocFromFile(n.Comet.Config().GenesisFile())
	if err != nil {
		t.Fatal(err)
	}
	var ce *client.Error
	if _, _, err := c.VerifyAuditConsistency(ctx, genesis, proof.EmptyLog()); !errors.As(err, &ce) || ce.HTTPStatus != 404 {
		t.Fatalf("consistency of an empty log: %v", err)
	}

	patient := register(t, c, tx.KindPatient, nil)
	doctor := register(t, c, tx.KindPatient, nil)
	for i := 0; i < 3; i++ {
		grantFor(t, c, patient, doctor)
	}
	first, _, err := c.VerifyAuditConsistency(ctx, genesis, proof.EmptyLog())
	if err != nil {
		t.Fatal(err)
	}
	cp := first.To()
	if cp.Size == 0 || cp.Size > 3 {
		t.Fatalf("first checkpoint %s", cp)
	}
	for i := 0; i < 4; i++ {
		grantFor(t, c, patient, doctor)
	}
	next, data, err := c.VerifyAuditConsistency(ctx, genesis, cp)
	if err != nil {
		t.Fatal(err)
	}
	if next.From.String() != cp.String() || next.LogSize <= cp.Size {
		t.Fatalf("from %s to %d events", next.From, next.LogSize)
	}
	t.Logf("consistency bundle %d→%d: %d bytes", cp.Size, next.LogSize, len(data))

	// A client holding another root for the same size learns that the
	// log it saw is not the one signed now.
	forged := proof.Checkpoint{Size: cp.Size, Root: append([]byte(nil), cp.Root...)}
	forged.Root[5] ^= 1
	if _, err := proof.VerifyConsistency(data, genesis, forged); !errors.Is(err, proof.ErrNotVerified) {
		t.Fatalf("a forged checkpoint: %v", err)
	}

	// An earlier signed size, asked for explicitly, is proven by the
	// state of the block that ended with it.
	earlier, err := c.AuditConsistency(ctx, 0, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	v, err := proof.VerifyConsistency(earlier, genesis, proof.EmptyLog())
	if err != nil {
		t.Fatal(err)
	}
	if v.To().String() != cp.String() || v.StateHeight >= next.StateHeight {
		t.Fatalf("size %d proven as %s at height %d", cp.Size, v.To(), v.StateHeight)
	}

	for _, bad := range []struct {
		name     string
		from, to uint64
		status   int
	}{
		{"from beyond to", next.LogSize, cp.Size, 400},
		{"to beyond the log", 0, 1 << 40, 404},
	} {
		if _, err := c.AuditConsistency(ctx, bad.from, bad.to); !errors.As(err, &ce) || ce.HTTPStatus != bad.status {
			t.Errorf("%s: %v", bad.name, err)
		}
	}
	for _, q := range []string{"", "?from=x", "?from=1&to=0", "?from=-1"} {
		if status, _ := get(t, n.APIURL+"/v1/audit/consistency"+q); status != 400 {
			t.Errorf("%q: status %d", q, status)
		}
	}
}

// BenchmarkAuditConsistency measures building a consistency bundle from
// the first event to the latest signed log through the gateway, and
// reports its size.
func BenchmarkAuditConsistency(b *testing.B) {
	n := nodetest.Start(b, b.TempDir()+"/node", "gateway-test")
	c := client.New(n.APIURL)
	ctx := context.Background()
	patient := registerPatient(b, c)
	doctor := registerPatient(b, c)
	for i := 0; i < 9; i++ {
		grantFor(b, c, patient, doctor)
	}
	data, err := c.AuditConsistency(ctx, 1, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if data, err = c.AuditConsistency(ctx, 1, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bundle-bytes")
}
