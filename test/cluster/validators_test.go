package cluster

import (
	"bytes"
	"context"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	carenode "github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/tx"
)

// TestValidatorSetChange grows a 4-validator network by a fifth node that
// joins, then removes one of the originals and stops it. Records written
// before either change stay readable; records written after are sealed to
// the new set, whose new member serves its shares.
func TestValidatorSetChange(t *testing.T) {
	c := newTestnet(t, 4)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	gw := c.nodes[0].api
	gen := func() *keyfile.Key {
		k, err := keyfile.Generate()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	send := func(by *keyfile.Key, m tx.Msg) *client.TxResult {
		t.Helper()
		res, err := gw.Send(ctx, by, m)
		if err != nil {
			t.Fatalf("%s: %v", m.Type(), err)
		}
		return res
	}
	patient, hospital, doctor := gen(), gen(), gen()
	send(patient, tx.NewRegistration(c.chainID, tx.KindPatient, "", "", patient.Sign, patient.HPKEPublic()))
	send(c.admin, tx.NewRegistration(c.chainID, tx.KindOrganization, "General", "", hospital.Sign, hospital.HPKEPublic()))
	send(hospital, tx.NewRegistration(c.chainID, tx.KindPractitioner, "Dr", hospital.ID, doctor.Sign, doctor.HPKEPublic()))

	write := func(i int, body string) (string, []byte) {
		t.Helper()
		res := []byte(`{"resourceType":"Observation","status":"final","note":[{"text":"` + body + `"}]}`)
		w, err := c.nodes[i].api.WriteRecord(ctx, doctor, client.RecordWrite{Patient: patient.ID, ResourceType: "Observation", Resource: res})
		if err != nil {
			t.Fatalf("write through %s: %v", c.nodes[i].name, err)
		}
		// Every running node has the record before it is read anywhere.
		for j, n := range c.nodes {
			if n.up.Load() {
				c.waitHeight(j, w.Result.Height, 30*time.Second)
			}
		}
		return w.ID, res
	}
	read := func(i int, id string, want []byte) *client.RecordRead {
		t.Helper()
		r, err := c.nodes[i].api.ReadRecord(ctx, patient, id, 0, "PATRQT", false)
		if err != nil {
			t.Fatalf("read %s through %s: %v", id, c.nodes[i].name, err)
		}
		if !bytes.Equal(r.Resource, want) {
			t.Fatalf("read %s through %s: wrong content", id, c.nodes[i].name)
		}
		return r
	}
	custodians := func(id string) int {
		t.Helper()
		info, err := gw.Record(ctx, patient, id)
		if err != nil {
			t.Fatal(err)
		}
		return info.Versions[len(info.Versions)-1].Shares
	}
	waitConsensusSet := func(n int) {
		t.Helper()
		err := poll(ctx, 60*time.Second, func(ctx context.Context) (bool, error) {
			s, err := gw.Status(ctx)
			return err == nil && len(s.Validators) == n, nil
		})
		if err != nil {
			t.Fatalf("the consensus set did not reach %d validators: %v", n, err)
		}
	}

	before, beforeBody := write(0, "before any change")
	if n := custodians(before); n != 4 {
		t.Fatalf("first record split %d ways", n)
	}

	// A fifth node joins from node0's description of the network, syncs as
	// a full node, and the admin makes it a validator.
	start := time.Now()
	home := filepath.Join(c.dir, "node4")
	var m member
	decodeJSON(t, runOK(t, "join", "--home", home, "--from", gw.URL(), "--base-port", strconv.Itoa(freeBasePort(t, 1)), "--json"), &m)
	rpc, err := rpchttp.New(m.RPC, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	api := client.New(m.API)
	api.AllShares = true
	c.nodes = append(c.nodes, &node{name: "node4", home: home, log: filepath.Join(c.dir, "node4.log"), api: api, rpc: rpc})
	c.startAndWait(4)
	runOK(t, "validator", "add", "--key", filepath.Join(c.dir, "admin.key.json"), "--validator-home", home, "--node", gw.URL())
	waitConsensusSet(5)
	t.Logf("node4 joined and became a validator in %s", time.Since(start).Round(time.Millisecond))

	after, afterBody := write(1, "after the fifth joined")
	if n := custodians(after); n != 5 {
		t.Fatalf("a record written after the change is split %d ways, want 5", n)
	}
	read(4, after, afterBody)   // the new node collects shares from all five
	read(4, before, beforeBody) // and reads what was written before it joined
	read(0, before, beforeBody)

	// node1 leaves: removed from the set, then stopped for good.
	start = time.Now()
	runOK(t, "validator", "remove", "--key", filepath.Join(c.dir, "admin.key.json"), "--validator-home", c.nodes[1].home, "--node", gw.URL())
	waitConsensusSet(4)
	c.kill(1)
	t.Logf("node1 removed and stopped in %s", time.Since(start).Round(time.Millisecond))

	// Both earlier records stay readable with a custodian gone, which the
	// reader is told about; the ledger goes on committing without it.
	// node0's configuration predates node4; it finds node4's gateway on
	// the ledger, so node1 is the only custodian missing.
	node1 := strings.ToUpper(hex.EncodeToString(validatorAddr(t, c.nodes[1].home)))
	for _, r := range []struct {
		id   string
		body []byte
	}{{before, beforeBody}, {after, afterBody}} {
		got := read(0, r.id, r.body)
		if len(got.BadShares) != 1 || got.BadShares[0].Validator != node1 {
			t.Fatalf("read of %s with node1 gone reports %v, not node1 (%s)", r.id, got.BadShares, node1)
		}
	}
	last, lastBody := write(4, "after node1 left")
	if n := custodians(last); n != 4 {
		t.Fatalf("a record written after the removal is split %d ways, want 4", n)
	}
	if got := read(2, last, lastBody); len(got.BadShares) != 0 {
		t.Fatalf("read of a record sealed to the live set reports %v", got.BadShares)
	}
}

// validatorAddr is the validator address of the node in home.
func validatorAddr(t *testing.T, home string) []byte {
	t.Helper()
	pub, _, err := carenode.ValidatorKeys(home)
	if err != nil {
		t.Fatal(err)
	}
	return identity.ValidatorAddress(pub)
}
