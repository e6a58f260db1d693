package cluster

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// TestDeterminism runs a mix of identity transactions, accepted and
// rejected, through all four gateways, then checks that every node has the
// same state root at every height from 1 to the last, and that the root
// each node proves at a height is the app hash its consensus signed in the
// next block's header.
func TestDeterminism(t *testing.T) {
	c := newTestnet(t, 4)

	// Patients register themselves, each through a different node.
	p1, p2, p3 := c.newKey(), c.newKey(), c.newKey()
	for i, p := range []*keyfile.Key{p1, p2, p3} {
		c.mustCommit(i, p, tx.NewRegistration(c.chainID, tx.KindPatient, "", "", p.Sign, p.HPKEPublic()))
	}
	// The consortium admin admits an organization, which admits a
	// practitioner.
	org, doc := c.newKey(), c.newKey()
	c.mustCommit(3, c.admin, tx.NewRegistration(c.chainID, tx.KindOrganization, "General Hospital", "", org.Sign, org.HPKEPublic()))
	c.mustCommit(0, org, tx.NewRegistration(c.chainID, tx.KindPractitioner, "Dr. Ng", org.ID, doc.Sign, doc.HPKEPublic()))
	// A patient rotates keys; the organization revokes its practitioner.
	p1next, err := keyfile.GenerateFor(p1.ID)
	if err != nil {
		t.Fatal(err)
	}
	c.mustCommit(1, p1, tx.NewRotation(c.chainID, p1.ID, p1next.Sign, p1next.HPKEPublic()))
	c.mustCommit(2, org, &tx.RevokeActor{Actor: doc.ID, Reason: "left the practice"})

	// Rejected transactions must leave no trace on any node: the checks
	// below find no stranger on the ledger and no nonce spent by p2.
	stranger := c.newKey()
	c.mustReject(3, c.signed(3, p2, tx.NewRegistration(c.chainID, tx.KindOrganization, "Fake Clinic", "", stranger.Sign, stranger.HPKEPublic())), tx.CodeUnauthorized)
	c.mustReject(0, c.signed(0, p1, &tx.RevokeActor{Actor: p1.ID}), tx.CodeBadSignature) // p1's rotated-away key
	c.mustReject(1, c.signed(1, doc, &tx.RevokeActor{Actor: doc.ID}), tx.CodeSignerRevoked)
	c.mustReject(2, tx.Build(c.chainID, p3.ID, 1, &tx.RevokeActor{Actor: p3.ID}, p3.Sign), tx.CodeNonceReplayed)
	c.mustReject(3, tx.Build(c.chainID, p3.ID, 9, &tx.RevokeActor{Actor: p3.ID}, p3.Sign), tx.CodeNonceGap)
	c.mustReject(0, tx.Build("another-chain", p3.ID, 2, &tx.RevokeActor{Actor: p3.ID}, p3.Sign), tx.CodeWrongChain)
	c.mustReject(1, c.signed(1, stranger, &tx.RevokeActor{Actor: p2.ID}), tx.CodeUnknownSigner)
	c.mustReject(2, c.signed(2, p3, &tx.RevokeActor{Actor: p2.ID}), tx.CodeUnauthorized)
	// A transaction after the rejections, so that the heights compared
	// include blocks built while they were being refused.
	c.mustCommit(3, p3, &tx.RevokeActor{Actor: p3.ID, Reason: "moved abroad"})

	last := c.commonHeight()
	key := identity.ActorKey(p1.ID)
	for h := int64(1); h <= last; h++ {
		c.stateAt(key, h)
	}
	c.requireSignedAppHash(key)

	// The roots compared must be of the state the transactions made.
	rotated := c.actorAt(p1.ID, last)
	if rotated.KeyVersion != 2 || rotated.Revoked || !bytes.Equal(rotated.SignKey, p1next.SignPublic()) {
		t.Errorf("p1 after rotation: key version %d, revoked %v", rotated.KeyVersion, rotated.Revoked)
	}
	if d := c.actorAt(doc.ID, last); !d.Revoked || d.Sponsor != org.ID || d.Org != org.ID {
		t.Errorf("practitioner: revoked %v, sponsor %s, org %s; want revoked, admitted by %s", d.Revoked, d.Sponsor, d.Org, org.ID)
	}
	if o := c.actorAt(org.ID, last); o.Kind != tx.KindOrganization || o.Sponsor != c.admin.ID {
		t.Errorf("organization: kind %s, sponsor %s; want organization admitted by %s", o.Kind, o.Sponsor, c.admin.ID)
	}
	if p := c.stateAt(identity.ActorKey(stranger.ID), last); p.Value != nil {
		t.Errorf("the organization a patient tried to admit is on the ledger")
	}
	for _, n := range c.nodes {
		if got, err := n.api.Nonce(t.Context(), p2.ID); err != nil || got.Last != 1 {
			t.Errorf("%s: p2's last nonce is %+v (%v); its rejected transaction must not spend one", n.name, got, err)
		}
	}
	t.Logf("4 nodes agree on the state root at each of heights 1–%d", last)
}

func (c *cluster) newKey() *keyfile.Key {
	c.t.Helper()
	k, err := keyfile.Generate()
	if err != nil {
		c.t.Fatal(err)
	}
	return k
}

// signed builds m signed by key with its actor's next nonce, as node i
// sees it once it has every block the test has seen commit.
func (c *cluster) signed(i int, key *keyfile.Key, m tx.Msg) []byte {
	c.t.Helper()
	c.waitHeight(i, c.lastCommit, catchUpTimeout)
	n, err := c.nodes[i].api.Nonce(c.t.Context(), key.ID)
	if err != nil {
		c.t.Fatal(err)
	}
	return tx.Build(c.chainID, key.ID, n.Next, m, key.Sign)
}

// mustCommit sends m signed by key through node i's gateway and requires
// it to commit. Node i first catches up with the test's last commit: a
// gateway a block behind would hand out a nonce already used.
func (c *cluster) mustCommit(i int, key *keyfile.Key, m tx.Msg) *client.TxResult {
	c.t.Helper()
	c.waitHeight(i, c.lastCommit, catchUpTimeout)
	res, err := c.nodes[i].api.Send(c.t.Context(), key, m)
	if err != nil {
		c.t.Fatalf("%s through %s: %v", m.Type(), c.nodes[i].name, err)
	}
	if res.Code != 0 || res.Height <= 0 {
		c.t.Fatalf("%s through %s: code %s at height %d", m.Type(), c.nodes[i].name, res.CodeName, res.Height)
	}
	c.lastCommit = max(c.lastCommit, res.Height)
	return res
}

// mustReject submits raw through node i's gateway and requires the node to
// refuse it with code want.
func (c *cluster) mustReject(i int, raw []byte, want tx.Code) {
	c.t.Helper()
	c.waitHeight(i, c.lastCommit, catchUpTimeout)
	res, err := c.nodes[i].api.Submit(c.t.Context(), raw, client.WaitCommit)
	var rejected *client.Error
	switch {
	case err == nil:
		c.t.Fatalf("through %s: accepted at height %d, want %s", c.nodes[i].name, res.Height, want)
	case !errors.As(err, &rejected) || rejected.Result == nil:
		c.t.Fatalf("through %s: %v, want a rejection with %s", c.nodes[i].name, err, want)
	case tx.Code(rejected.Code) != want:
		c.t.Fatalf("through %s: rejected with %s (%s), want %s", c.nodes[i].name, tx.Code(rejected.Code), rejected.Message, want)
	}
}

// actorAt returns an actor at height h, the same on every node.
func (c *cluster) actorAt(id string, h int64) *identity.Actor {
	c.t.Helper()
	p := c.stateAt(identity.ActorKey(id), h)
	if p.Value == nil {
		c.t.Fatalf("actor %s is not registered at height %d", id, h)
	}
	a, err := identity.DecodeActor(p.Value)
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

// requireSignedAppHash checks, on every node, that the state root it
// reports for its committed height h is the one it proves at h, and that
// the app hash in the signed header of block h is the state root it proves
// for h-1: the roots compared above are the ones consensus signed.
func (c *cluster) requireSignedAppHash(key []byte) {
	c.t.Helper()
	for _, n := range c.nodes {
		s, err := n.api.Status(c.t.Context())
		if err != nil {
			c.t.Fatal(err)
		}
		h := s.Height
		now, err := n.api.StateAt(c.t.Context(), key, h)
		if err != nil {
			c.t.Fatal(err)
		}
		if hex.EncodeToString(now.Root) != s.AppHash {
			c.t.Fatalf("%s: status reports root %s after height %d, but proves %X", n.name, s.AppHash, h, now.Root)
		}
		hdr, err := n.rpc.Header(c.t.Context(), &h)
		if err != nil {
			c.t.Fatal(err)
		}
		p, err := n.api.StateAt(c.t.Context(), key, h-1)
		if err != nil {
			c.t.Fatal(err)
		}
		if !bytes.Equal(p.Root, hdr.Header.AppHash) {
			c.t.Fatalf("%s: block %d carries app hash %X, but the state root after block %d is %X", n.name, h, hdr.Header.AppHash, h-1, p.Root)
		}
	}
}
