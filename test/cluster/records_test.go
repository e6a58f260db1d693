package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	bin "encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/blobstore"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/keyshare"
	"github.com/carechain/carechain/internal/proof"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/tx"
)

// TestRecords runs the encrypted-records guarantees of issue #4 on one
// network of four validator processes (k = 2 of 4), step by step, so the
// whole run costs one network start:
//
//   - one node's whole home directory decrypts nothing, two do;
//   - no plaintext on any node's disk, and after erasure no blob either;
//   - a corrupted blob or share from one validator does not stop a read,
//     and the faulty validator is reported;
//   - with any one validator killed, writes and reads go on, and the
//     restarted node back-fills the blobs it missed;
//   - a revoked grantee's next read is denied and gets no share;
//   - while the chain cannot commit, no share is released;
//   - every share any node released maps to a committed, permitted
//     record.read audit event naming that record version and reader.
//
// Each step logs how long it took.
func TestRecords(t *testing.T) {
	began := time.Now()
	c := newTestnet(t, 4)
	t.Logf("network of 4 up: %s", since(began))
	e := newRecordsEnv(c)

	e.step("one node's home decrypts nothing", e.oneHomeDecryptsNothing)
	e.step("no plaintext on disk, nothing after erasure", e.noPlaintextOnDisk)
	e.step("byzantine custodian", e.byzantineCustodian)
	e.step("kill one validator", e.killOneValidator)
	e.step("revocation", e.revocation)
	e.step("audit before access", e.auditBeforeAccess)
	e.step("every release maps to a permitted audit event", e.releasesAreAudited)
	// Last: it leaves the nodes stopped for the harness's cleanup.
	t.Run("nothing on disk with every node stopped", func(t *testing.T) {
		c.t = t
		defer func() { c.t = e.t }()
		e.finalDiskScan(t)
	})
	t.Logf("TestRecords total: %s", since(began))
}

// recordsEnv is the network and the actors the steps share.
type recordsEnv struct {
	c *cluster
	t *testing.T // the whole test's

	patient, hospital, writer, clinic, doctor *keyfile.Key

	marker []byte // random, in every record's plaintext
	// erased are the records erased so far: their blobs and ciphertext must
	// be on no node.
	erased []erasedRecord
	proxy  *shareProxy
}

type erasedRecord struct {
	id         string
	blob       string // hash, hex
	ciphertext []byte
}

func newRecordsEnv(c *cluster) *recordsEnv {
	t := c.t
	began := time.Now()
	e := &recordsEnv{c: c, t: t}
	mark := make([]byte, 16)
	if _, err := rand.Read(mark); err != nil {
		t.Fatal(err)
	}
	e.marker = []byte("ccmark" + hex.EncodeToString(mark))

	// A patient, a hospital with a practitioner who writes, and a clinic
	// with a doctor who reads only with the patient's consent.
	e.patient, e.hospital, e.writer, e.clinic, e.doctor = c.newKey(), c.newKey(), c.newKey(), c.newKey(), c.newKey()
	c.mustCommit(0, e.patient, tx.NewRegistration(c.chainID, tx.KindPatient, "", "", e.patient.Sign, e.patient.HPKEPublic()))
	c.mustCommit(1, c.admin, tx.NewRegistration(c.chainID, tx.KindOrganization, "General Hospital", "", e.hospital.Sign, e.hospital.HPKEPublic()))
	c.mustCommit(2, c.admin, tx.NewRegistration(c.chainID, tx.KindOrganization, "Clinic", "", e.clinic.Sign, e.clinic.HPKEPublic()))
	c.mustCommit(3, e.hospital, tx.NewRegistration(c.chainID, tx.KindPractitioner, "Dr. Writer", e.hospital.ID, e.writer.Sign, e.writer.HPKEPublic()))
	c.mustCommit(0, e.clinic, tx.NewRegistration(c.chainID, tx.KindPractitioner, "Dr. Reader", e.clinic.ID, e.doctor.Sign, e.doctor.HPKEPublic()))
	c.historyReader, c.historyPatient = e.patient, e.patient.ID
	t.Logf("setup: 5 actors registered through 4 gateways in %s", since(began))
	return e
}

// step runs one part of the test as a subtest on the shared network, then
// makes sure every node runs again, so that one failed step does not take
// the later ones down with it.
func (e *recordsEnv) step(name string, fn func(t *testing.T)) {
	began := time.Now()
	e.t.Run(name, func(t *testing.T) {
		e.c.t = t
		defer func() { e.c.t = e.t }()
		fn(t)
	})
	for i, n := range e.c.nodes {
		if n.exited() != nil {
			n.mu.Lock()
			n.cmd, n.exit = nil, nil
			n.mu.Unlock()
			e.c.startAndWait(i)
		}
	}
	e.t.Logf("step %q: %s", name, since(began))
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

// timer logs how long each part of a step took.
type timer struct {
	t    *testing.T
	last time.Time
}

func newTimer(t *testing.T) *timer { return &timer{t: t, last: time.Now()} }

func (tm *timer) lap(format string, args ...any) {
	tm.t.Helper()
	now := time.Now()
	tm.t.Logf("  [%s] %s", now.Sub(tm.last).Round(time.Millisecond), fmt.Sprintf(format, args...))
	tm.last = now
}

// resource returns a FHIR Observation whose text holds the marker.
func (e *recordsEnv) resource(tag string) []byte {
	return []byte(`{"resourceType":"Observation","status":"final","code":{"text":"` + string(e.marker) + "-" + tag + `"}}`)
}

// writeRecord writes a record version through node i's gateway and
// requires it to commit.
func (c *cluster) writeRecord(i int, author *keyfile.Key, w client.RecordWrite) *client.WrittenRecord {
	c.t.Helper()
	c.waitHeight(i, c.lastCommit, catchUpTimeout)
	ctx, cancel := context.WithTimeout(c.t.Context(), requestTimeout)
	defer cancel()
	out, err := c.nodes[i].api.WriteRecord(ctx, author, w)
	if err != nil {
		c.t.Fatalf("write a record through %s: %v", c.nodes[i].name, err)
	}
	if out.Result == nil || out.Result.Code != 0 || out.Result.Height <= 0 {
		c.t.Fatalf("write a record through %s: %+v", c.nodes[i].name, out.Result)
	}
	c.lastCommit = max(c.lastCommit, out.Result.Height)
	return out
}

// readRecord reads a record version through node i's gateway. On success
// it checks, on that node's proven state, that the audit event the read
// names is a committed permitted read of that version by reader.
func (c *cluster) readRecord(i int, reader *keyfile.Key, id string, version uint64, purpose string) (*client.RecordRead, error) {
	c.t.Helper()
	c.waitHeight(i, c.lastCommit, catchUpTimeout)
	ctx, cancel := context.WithTimeout(c.t.Context(), requestTimeout)
	defer cancel()
	r, err := c.nodes[i].api.ReadRecord(ctx, reader, id, version, purpose, false)
	var ce *client.Error
	switch {
	case err == nil:
		ev := c.auditEvent(i, r.AuditSeq)
		ref := tx.RecordRef{ID: id, Version: r.Version}.String()
		if ev.Action != audit.ActionRecordRead || ev.Decision != audit.Permit || ev.Actor != reader.ID || !slices.Contains(ev.RecordIDs, ref) {
			c.t.Fatalf("read of %s through %s names audit event %d: %s %s by %s of %v", ref, c.nodes[i].name, r.AuditSeq, ev.Decision, ev.Action, ev.Actor, ev.RecordIDs)
		}
		c.lastCommit = max(c.lastCommit, int64(ev.Height))
	case errors.As(err, &ce) && ce.Result != nil:
		c.lastCommit = max(c.lastCommit, ce.Result.Height)
	}
	return r, err
}

// mustRead reads a record through node i and requires the plaintext want.
func (c *cluster) mustRead(i int, reader *keyfile.Key, id string, version uint64, purpose string, want []byte) *client.RecordRead {
	c.t.Helper()
	r, err := c.readRecord(i, reader, id, version, purpose)
	if err != nil {
		c.t.Fatalf("read %s v%d through %s: %v", id, version, c.nodes[i].name, err)
	}
	if !bytes.Equal(r.Resource, want) {
		c.t.Fatalf("read %s v%d through %s: got %q, want %q", id, version, c.nodes[i].name, r.Resource, want)
	}
	return r
}

// auditEvent reads committed audit event seq from node i, as the
// patient's history reader must: a proof bundle fetched with a signed
// query, which the ledger records as one more event. The bundle's
// inclusion proof is checked.
func (c *cluster) auditEvent(i int, seq uint64) audit.Event {
	c.t.Helper()
	c.waitHeight(i, c.lastCommit, catchUpTimeout) // the reader's last query is here
	data, err := c.nodes[i].api.AuditProof(c.t.Context(), c.historyReader, c.historyPatient, seq)
	if err != nil {
		c.t.Fatalf("%s: audit event %d: %v", c.nodes[i].name, seq, err)
	}
	b, err := proof.Decode(data)
	if err != nil {
		c.t.Fatalf("%s: audit event %d: %v", c.nodes[i].name, seq, err)
	}
	ev, err := b.Audit.Verify()
	if err != nil {
		c.t.Fatalf("%s: audit event %d: %v", c.nodes[i].name, seq, err)
	}
	c.lastCommit = max(c.lastCommit, b.State.Height)
	return ev
}

// auditSize is the number of events in node i's committed audit log, read
// from its proven head: the sequence number the next event will get.
func (c *cluster) auditSize(i int) (uint64, int64) {
	c.t.Helper()
	p, err := c.nodes[i].api.StateAt(c.t.Context(), []byte("audit/head"), 0)
	if err != nil {
		c.t.Fatalf("%s: audit head: %v", c.nodes[i].name, err)
	}
	if len(p.Value) < 8 {
		return 0, p.Height
	}
	return bin.BigEndian.Uint64(p.Value[:8]), p.Height
}

// version reads a record version from node i's proven state.
func (c *cluster) version(i int, id string, version uint64) *records.Version {
	c.t.Helper()
	p, err := c.nodes[i].api.StateAt(c.t.Context(), records.VersionKey(id, version), 0)
	if err != nil || p.Value == nil {
		c.t.Fatalf("%s: version %d of %s: %v (value %x)", c.nodes[i].name, version, id, err, p.Value)
	}
	v, err := records.DecodeVersion(p.Value)
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

// blobHashes are the custody blob hashes of every version of a record, as
// node i's gateway reports them.
func (c *cluster) blobHashes(i int, id string) []string {
	c.t.Helper()
	c.waitHeight(i, c.lastCommit, catchUpTimeout)
	info, err := c.nodes[i].api.Record(c.t.Context(), c.historyReader, id)
	if err != nil {
		c.t.Fatalf("%s: record %s: %v", c.nodes[i].name, id, err)
	}
	c.lastCommit = max(c.lastCommit, info.Height)
	var out []string
	for _, v := range info.Versions {
		out = append(out, v.BlobHash)
	}
	if len(out) == 0 {
		c.t.Fatalf("%s lists no versions of record %s", c.nodes[i].name, id)
	}
	return out
}

// blobFile is where node n keeps the blob with hash h (hex).
func (n *node) blobFile(h string) string {
	return filepath.Join(n.home, "data", "blobs", h[:2], h[2:])
}

// hasIntactBlob reports whether node n's blob store holds blob h with the
// right content.
func (n *node) hasIntactBlob(h string) bool {
	data, err := os.ReadFile(n.blobFile(h))
	return err == nil && blobstore.Sum(data).String() == h
}

// validatorAddress is node n's consensus address.
func (n *node) validatorAddress(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.home, "config", "priv_validator_key.json"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	a, err := hex.DecodeString(k.Address)
	if err != nil || len(a) != 20 {
		t.Fatalf("%s: validator address %q", n.name, k.Address)
	}
	return a
}

// custodianIndex is node n's share index in a version.
func custodianIndex(t *testing.T, n *node, v *records.Version) int {
	t.Helper()
	addr := n.validatorAddress(t)
	for i, c := range v.Custodians {
		if bytes.Equal(c, addr) {
			return i
		}
	}
	t.Fatalf("%s (%X) is no custodian of %s v%d", n.name, addr, v.RecordID, v.Version)
	return -1
}

// waitBlobs waits until node n holds every blob in hs intact (present is
// true) or none of them (false).
func (c *cluster) waitBlobs(n *node, hs []string, present bool, timeout time.Duration) {
	c.t.Helper()
	err := poll(c.t.Context(), timeout, func(context.Context) (bool, error) {
		for _, h := range hs {
			if present && !n.hasIntactBlob(h) {
				return false, fmt.Errorf("blob %s not yet there", h)
			}
			if _, err := os.Lstat(n.blobFile(h)); !present && err == nil {
				return false, fmt.Errorf("blob %s still there", h)
			}
		}
		return true, nil
	})
	if err != nil {
		c.t.Fatalf("%s: %v", n.name, err)
	}
}

// shareAnswer asks node i's gateway for its own share of a version for
// audit event seq, and returns the HTTP status and result code name.
func (c *cluster) shareAnswer(i int, id string, version, seq uint64) (int, string) {
	c.t.Helper()
	var res client.ReleasedShare
	err := c.nodes[i].api.Get(c.t.Context(), fmt.Sprintf("/v1/records/%s/versions/%d/share?event=%d", id, version, seq), &res)
	var ce *client.Error
	switch {
	case err == nil:
		return http.StatusOK, ""
	case errors.As(err, &ce):
		return ce.HTTPStatus, ce.Name
	}
	c.t.Fatalf("share request to %s: %v", c.nodes[i].name, err)
	return 0, ""
}

// release is one "key share released" line of a node's log.
type release struct {
	node    string
	record  string
	version uint64
	index   int
	reader  string
	seq     uint64
}

var releaseLine = regexp.MustCompile(`msg="key share released".* record=(\S+) version=(\d+) index=(\d+) reader=(\S+) audit_seq=(\d+)`)

// releases returns every share release logged by any node so far.
func (c *cluster) releases() []release {
	c.t.Helper()
	var out []release
	for _, n := range c.nodes {
		b, err := os.ReadFile(n.log)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "key share released") {
				continue
			}
			m := releaseLine.FindStringSubmatch(line)
			if m == nil {
				c.t.Fatalf("%s logged a release this test cannot parse: %s", n.name, line)
			}
			v, _ := strconv.ParseUint(m[2], 10, 64)
			idx, _ := strconv.Atoi(m[3])
			seq, _ := strconv.ParseUint(m[5], 10, 64)
			out = append(out, release{node: n.name, record: m[1], version: v, index: idx, reader: m[4], seq: seq})
		}
	}
	return out
}

// needles returns b and its hex and base64 spellings (base64 at each of
// the three alignments b can start at inside a longer encoding).
func needles(b []byte) [][]byte {
	out := [][]byte{b, []byte(hex.EncodeToString(b)), []byte(strings.ToUpper(hex.EncodeToString(b)))}
	for pad := range 3 {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			s := enc.EncodeToString(append(make([]byte, pad), b...))
			// Drop the characters the padding bytes and the tail share.
			lo, hi := (pad*8+5)/6+1, len(s)-4
			if hi > lo {
				out = append(out, []byte(s[lo:hi]))
			}
		}
	}
	return out
}

// scan reads every regular file under the roots and returns the ones
// holding any needle, and how many bytes it read.
func scan(t *testing.T, roots []string, needles [][]byte) (hits []string, files int, read int64) {
	t.Helper()
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return nil // removed while walking (compaction)
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			files++
			read += int64(len(b))
			for _, n := range needles {
				if bytes.Contains(b, n) {
					hits = append(hits, fmt.Sprintf("%s holds %q", path, n))
					break
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return hits, files, read
}

// diskRoots are every node's home directory and log, and the admin key:
// everything the network keeps on disk.
func (c *cluster) diskRoots() []string {
	roots := []string{filepath.Join(c.dir, "admin.key.json")}
	for _, n := range c.nodes {
		roots = append(roots, n.home, n.log)
	}
	return roots
}

// requireNoPlaintext scans every node's disk for the marker and, for each
// erased record, its blob file and any 48-byte piece of its ciphertext.
func (e *recordsEnv) requireNoPlaintext(t *testing.T, when string) {
	t.Helper()
	began := time.Now()
	ns := needles(e.marker)
	for _, r := range e.erased {
		for off := 0; off+48 <= len(r.ciphertext); off += 48 {
			ns = append(ns, needles(r.ciphertext[off:off+48])...)
		}
		for _, n := range e.c.nodes {
			if _, err := os.Lstat(n.blobFile(r.blob)); err == nil {
				t.Errorf("%s: %s still holds blob %s of erased record %s", when, n.name, r.blob, r.id)
			}
		}
	}
	hits, files, read := scan(t, e.c.diskRoots(), ns)
	for _, h := range hits {
		t.Errorf("%s: %s", when, h)
	}
	t.Logf("  %s: searched %d files (%.1f MB) on 4 nodes for the marker in %d spellings and %d erased records' ciphertext: %d hits (%s)",
		when, files, float64(read)/1e6, len(needles(e.marker)), len(e.erased), len(hits), since(began))
}

// oneHomeDecryptsNothing writes a record and plays an attacker who has
// one node's entire home directory: its HPKE key opens its own share and
// no other, and one share recovers nothing. Two nodes' homes together do
// decrypt, which shows that the attack above was a fair try; a permitted
// reader reads through the ledger.
func (e *recordsEnv) oneHomeDecryptsNothing(t *testing.T) {
	c := e.c
	tm := newTimer(t)
	plain := e.resource("home")
	w := c.writeRecord(1, e.writer, client.RecordWrite{Patient: e.patient.ID, ResourceType: "Observation", Resource: plain})
	tm.lap("wrote %s through %s at height %d", w.ID, c.nodes[1].name, w.Result.Height)

	const victim = 2
	n := c.nodes[victim]
	c.waitHeight(victim, w.Result.Height, catchUpTimeout)
	v := c.version(victim, w.ID, w.Version)
	if v.Anchor.Commitments.K != 2 || v.Anchor.Commitments.N() != 4 {
		t.Fatalf("threshold %d of %d; this test is about k=2 of 4", v.Anchor.Commitments.K, v.Anchor.Commitments.N())
	}
	h := hex.EncodeToString(v.BlobHash[:])
	c.waitBlobs(n, []string{h}, true, catchUpTimeout)
	tm.lap("%s holds the blob %s", n.name, h[:12])

	// Everything the attacker has: the home directory. Its only HPKE
	// private key is the validator's.
	var hpkeKeys []string
	filepath.WalkDir(n.home, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.HasSuffix(path, ".json") {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("hpke_private_key")) {
				hpkeKeys = append(hpkeKeys, strings.TrimPrefix(path, n.home+"/"))
			}
		}
		return nil
	})
	if !slices.Equal(hpkeKeys, []string{"config/validator_hpke.key.json"}) {
		t.Fatalf("%s's home holds HPKE private keys in %v; the attack below assumes only the validator's", n.name, hpkeKeys)
	}
	vkey, err := keyfile.Load(filepath.Join(n.home, "config", "validator_hpke.key.json"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(n.blobFile(h))
	if err != nil {
		t.Fatal(err)
	}
	blob, err := records.DecodeBlob(data)
	if err != nil {
		t.Fatal(err)
	}
	ad := v.Anchor.Record
	info := func(i int, holder *node) keyshare.ShareInfo {
		return keyshare.ShareInfo{ChainID: c.chainID, RecordID: ad.RecordID, Version: ad.Version, Index: uint8(i), Recipient: records.CustodianID(holder.validatorAddress(t))}
	}
	own := custodianIndex(t, n, v)
	share, err := keyshare.OpenShare(vkey.HPKE, blob.Shares[own], info(own, n))
	if err != nil {
		t.Fatalf("%s cannot open its own share %d: %v", n.name, own, err)
	}
	// Its key opens no other validator's share, whoever it claims to be.
	for i := range blob.Shares {
		if i == own {
			continue
		}
		for _, as := range c.nodes {
			if _, err := keyshare.OpenShare(vkey.HPKE, blob.Shares[i], info(i, as)); !errors.Is(err, keyshare.ErrUnseal) {
				t.Fatalf("%s's key on share %d as %s: %v, want ErrUnseal", n.name, i, as.name, err)
			}
		}
	}
	// One share, even offered twice, recovers nothing.
	for _, offered := range [][]keyshare.Share{{share}, {share, share}} {
		if _, bad, err := keyshare.Combine(ad, v.Anchor.Commitments, offered); !errors.Is(err, keyshare.ErrNotEnoughShares) || len(bad) != 0 {
			t.Fatalf("combine %d copies of %s's share: %v (bad %v), want ErrNotEnoughShares", len(offered), n.name, err, bad)
		}
	}
	// Nor does it get a second share from a peer without a permitted read:
	// the audit event that created the record is no licence.
	created, err := strconv.ParseUint(eventAttr(w.Result, "audit", "seq"), 10, 64)
	if err != nil {
		t.Fatalf("the write names no audit event: %+v", w.Result.Events)
	}
	for i := range c.nodes {
		c.waitHeight(i, w.Result.Height, catchUpTimeout)
		if status, code := c.shareAnswer(i, w.ID, w.Version, created); status != http.StatusForbidden || code != tx.CodeAccessDenied.String() {
			t.Fatalf("%s answered a share request for audit event %d, the record's creation, with HTTP %d %s", c.nodes[i].name, created, status, code)
		}
	}
	tm.lap("%s's home: its own share %d opens; the other 3 do not; one share: %v", n.name, own, keyshare.ErrNotEnoughShares)

	// A second home is enough: the threshold is what held above.
	other := c.nodes[(victim+1)%4]
	okey, err := keyfile.Load(filepath.Join(other.home, "config", "validator_hpke.key.json"))
	if err != nil {
		t.Fatal(err)
	}
	oi := custodianIndex(t, other, v)
	share2, err := keyshare.OpenShare(okey.HPKE, blob.Shares[oi], info(oi, other))
	if err != nil {
		t.Fatal(err)
	}
	dk, _, err := keyshare.Combine(ad, v.Anchor.Commitments, []keyshare.Share{share, share2})
	if err != nil {
		t.Fatalf("combine two homes' shares: %v", err)
	}
	got, err := keyshare.Decrypt(dk, blob.Ciphertext, ad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("two homes' shares decrypt to %q, %v", got, err)
	}
	tm.lap("two homes (%s, %s) together decrypt it: k=2 is what stops one", n.name, other.name)

	r := c.mustRead(3, e.patient, w.ID, 0, "PATRQT", plain)
	if len(r.BadShares) > 0 {
		t.Errorf("read with every validator up reported bad shares %v", r.BadShares)
	}
	tm.lap("the patient reads it through %s (audit event %d)", c.nodes[3].name, r.AuditSeq)
}

// noPlaintextOnDisk writes four records with the marker, one through each
// gateway, reads each back through another node, and searches every
// node's disk for the marker. Then it erases them and waits until no node
// holds their blobs.
func (e *recordsEnv) noPlaintextOnDisk(t *testing.T) {
	c := e.c
	tm := newTimer(t)
	type written struct {
		id    string
		plain []byte
	}
	var ws []written
	for i := range c.nodes {
		plain := e.resource("disk-" + strconv.Itoa(i))
		w := c.writeRecord(i, e.writer, client.RecordWrite{Patient: e.patient.ID, ResourceType: "Observation", Labels: []string{"N"}, Resource: plain})
		ws = append(ws, written{w.ID, plain})
	}
	tm.lap("wrote 4 records, one through each gateway")
	for i, w := range ws {
		via := (i + 1) % 4
		r := c.mustRead(via, e.patient, w.id, 0, "PATRQT", w.plain)
		if len(r.BadShares) > 0 {
			t.Errorf("read of %s through %s with every validator up reported bad shares %v", w.id, c.nodes[via].name, r.BadShares)
		}
	}
	tm.lap("read each back through another node")

	var hashes []string
	for _, w := range ws {
		hashes = append(hashes, c.blobHashes(0, w.id)...)
	}
	for _, n := range c.nodes {
		c.waitBlobs(n, hashes, true, catchUpTimeout)
	}
	tm.lap("every node holds the 4 blobs")
	e.requireNoPlaintext(t, "after writing and reading")
	tm.lap("disk search done")

	// Erase them; every node deletes the blobs.
	for i, w := range ws {
		blob, err := os.ReadFile(c.nodes[0].blobFile(hashes[i]))
		if err != nil {
			t.Fatal(err)
		}
		b, err := records.DecodeBlob(blob)
		if err != nil {
			t.Fatal(err)
		}
		c.mustCommit(i, e.patient, &tx.EraseRecord{RecordID: w.id, Reason: "patient request"})
		e.erased = append(e.erased, erasedRecord{id: w.id, blob: hashes[i], ciphertext: b.Ciphertext})
	}
	tm.lap("erased the 4 records")
	for _, n := range c.nodes {
		c.waitBlobs(n, hashes, false, catchUpTimeout)
	}
	tm.lap("no node holds their blobs any more")
	// An erased record reads as erased, through any node.
	if _, err := c.readRecord(2, e.patient, ws[0].id, 0, "PATRQT"); codeOf(err) != tx.CodeErased {
		t.Fatalf("read of an erased record: %v, want %s", err, tx.CodeErased)
	}
	e.requireNoPlaintext(t, "after erasure")
	tm.lap("disk search after erasure done")
}

func codeOf(err error) tx.Code {
	var ce *client.Error
	if errors.As(err, &ce) {
		return tx.Code(ce.Code)
	}
	return tx.CodeOK
}

// byzantineCustodian corrupts one node's copy of a blob: a read through
// that node still succeeds, because the node detects the corruption and
// fetches a good copy from a peer. Then a validator answers share requests
// with a bad share, through a proxy in front of its gateway: garbage, and
// then a share well sealed to the reader but not the committed one. The
// read succeeds with the other shares and names that validator.
func (e *recordsEnv) byzantineCustodian(t *testing.T) {
	c := e.c
	tm := newTimer(t)
	plain := e.resource("byzantine")
	w := c.writeRecord(0, e.writer, client.RecordWrite{Patient: e.patient.ID, ResourceType: "Observation", Resource: plain})
	h := c.blobHashes(0, w.ID)[0]
	const corrupt = 1
	n := c.nodes[corrupt]
	c.waitBlobs(n, []string{h}, true, catchUpTimeout)
	data, err := os.ReadFile(n.blobFile(h))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(n.blobFile(h), data, 0o600); err != nil {
		t.Fatal(err)
	}
	tm.lap("wrote %s; flipped a bit in %s's copy of its blob", w.ID, n.name)
	r := c.mustRead(corrupt, e.patient, w.ID, 0, "PATRQT", plain)
	if len(r.BadShares) > 0 {
		t.Errorf("read through %s reported bad shares %v; its share comes from the repaired blob", n.name, r.BadShares)
	}
	if !n.hasIntactBlob(h) {
		t.Fatalf("%s served the read but still holds a corrupt blob", n.name)
	}
	if b, _ := os.ReadFile(n.log); !bytes.Contains(b, []byte("stored blob is corrupt; fetching it from peers")) {
		t.Errorf("%s did not log the corrupt blob it repaired", n.name)
	}
	tm.lap("read through %s succeeds; it detected the corrupt copy and replaced it from a peer", n.name)

	// A validator that answers with a bad share. node0's gateway collects
	// the shares; it reaches node3 through the proxy.
	const gw, byz = 0, 3
	e.proxy = startShareProxy(e.t, c, byz)
	c.stop(gw)
	setPeerAPI(t, c.nodes[gw].home, c.nodes[byz].api.URL(), e.proxy.URL())
	c.startAndWait(gw)
	tm.lap("%s restarted with %s's gateway behind a proxy", c.nodes[gw].name, c.nodes[byz].name)
	byzAddr := strings.ToUpper(hex.EncodeToString(c.nodes[byz].validatorAddress(t)))
	for _, mode := range []proxyMode{proxyFlipped, proxyWrongShare} {
		e.proxy.set(mode, e.patient)
		r := c.mustRead(gw, e.patient, w.ID, 0, "PATRQT", plain)
		e.proxy.set(proxyPass, nil)
		var named []client.ShareFault
		for _, f := range r.BadShares {
			if f.Validator == byzAddr {
				named = append(named, f)
			}
		}
		if e.proxy.tampered.Load() == 0 || len(named) != 1 || len(r.BadShares) != 1 {
			t.Fatalf("%s: the proxy changed %d answers; the read reported %v, want %s (%s) named once", mode, e.proxy.tampered.Load(), r.BadShares, c.nodes[byz].name, byzAddr)
		}
		if mode == proxyWrongShare && named[0].Reason != "fails its commitment on the ledger" {
			t.Fatalf("a well-sealed wrong share was reported as %q", named[0].Reason)
		}
		tm.lap("%s from %s: read correct, reported %q", mode, c.nodes[byz].name, named[0].Reason)
		e.proxy.tampered.Store(0)
	}
}

// killOneValidator SIGKILLs a validator, writes and reads through the
// others while it is down, and after the restart waits for its blob store
// to hold the blobs written meanwhile.
func (e *recordsEnv) killOneValidator(t *testing.T) {
	c := e.c
	tm := newTimer(t)
	const victim = 2
	v := c.nodes[victim]
	vAddr := strings.ToUpper(hex.EncodeToString(v.validatorAddress(t)))
	c.kill(victim)
	tm.lap("killed %s", v.name)
	others := []int{0, 1, 3}
	var hashes []string
	var lastID string
	for k, i := range others {
		plain := e.resource("down-" + strconv.Itoa(k))
		w := c.writeRecord(i, e.writer, client.RecordWrite{Patient: e.patient.ID, ResourceType: "Observation", Resource: plain})
		via := others[(k+1)%len(others)]
		r := c.mustRead(via, e.patient, w.ID, 0, "PATRQT", plain)
		if !slices.ContainsFunc(r.BadShares, func(f client.ShareFault) bool { return f.Validator == vAddr }) {
			t.Fatalf("read through %s with %s down reported bad shares %v, not the down validator", c.nodes[via].name, v.name, r.BadShares)
		}
		hashes = append(hashes, c.blobHashes(i, w.ID)...)
		lastID = w.ID
	}
	tm.lap("%s down: 3 records written and read back through the others; each read named %s as a bad share", v.name, v.name)
	for _, h := range hashes {
		if _, err := os.Lstat(v.blobFile(h)); err == nil {
			t.Fatalf("%s holds blob %s written while it was down", v.name, h)
		}
	}
	began := time.Now()
	c.startAndWait(victim)
	tm.lap("restarted %s", v.name)
	c.waitHeight(victim, c.lastCommit, catchUpTimeout)
	tm.lap("%s caught up to height %d", v.name, c.lastCommit)
	c.waitBlobs(v, hashes, true, catchUpTimeout)
	tm.lap("%s back-filled the 3 blobs, %s after the restart", v.name, since(began))
	r := c.mustRead(victim, e.patient, lastID, 0, "PATRQT", e.resource("down-2"))
	tm.lap("read through the restarted %s (bad shares %v)", v.name, r.BadShares)
}

// revocation: the clinic's doctor reads with the patient's consent; once
// the patient's revocation commits, the doctor's next read is denied, and
// no node releases a share for the denied access.
func (e *recordsEnv) revocation(t *testing.T) {
	c := e.c
	tm := newTimer(t)
	plain := e.resource("consent")
	w := c.writeRecord(1, e.writer, client.RecordWrite{Patient: e.patient.ID, ResourceType: "Observation", Resource: plain})
	if _, err := c.readRecord(2, e.doctor, w.ID, 0, "TREAT"); codeOf(err) != tx.CodeAccessDenied {
		t.Fatalf("the doctor's read without consent: %v, want %s", err, tx.CodeAccessDenied)
	}
	grant := consent.Consent{Status: consent.StatusActive, Patient: e.patient.ID, Provision: consent.Provision{Type: consent.Permit,
		Actors: []consent.Actor{consent.Organization(e.clinic.ID)}, Actions: []consent.Action{consent.ActionAccess},
		Purposes: []consent.Purpose{consent.PurposeTreatment}, Classes: []string{"Observation"}}}
	res := c.mustCommit(3, e.patient, &tx.GrantConsent{Patient: e.patient.ID, Consent: consent.Encode(grant)})
	consentID := eventAttr(res, "consent.grant", "consent_id")
	if consentID == "" {
		t.Fatalf("the grant's result names no consent id: %+v", res.Events)
	}
	before := c.mustRead(0, e.doctor, w.ID, 0, "TREAT", plain)
	tm.lap("denied without consent; with the clinic's consent the doctor reads %s (audit event %d)", w.ID, before.AuditSeq)

	rev := c.mustCommit(1, e.patient, &tx.RevokeConsent{Patient: e.patient.ID, ConsentID: consentID})
	tm.lap("the patient's revocation committed at height %d", rev.Height)
	_, err := c.readRecord(2, e.doctor, w.ID, 0, "TREAT")
	var ce *client.Error
	if !errors.As(err, &ce) || tx.Code(ce.Code) != tx.CodeAccessDenied || ce.Result == nil {
		t.Fatalf("the doctor's read after the revocation: %v, want %s", err, tx.CodeAccessDenied)
	}
	seq, err := strconv.ParseUint(eventAttr(ce.Result, "audit", "seq"), 10, 64)
	if err != nil {
		t.Fatalf("the denial names no audit event: %+v", ce.Result.Events)
	}
	if ev := c.auditEvent(2, seq); ev.Action != audit.ActionRecordRead || ev.Decision != audit.Deny || ev.Actor != e.doctor.ID {
		t.Fatalf("audit event %d of the denied read: %s %s by %s", seq, ev.Decision, ev.Action, ev.Actor)
	}
	for i := range c.nodes {
		c.waitHeight(i, ce.Result.Height, catchUpTimeout)
		if status, code := c.shareAnswer(i, w.ID, w.Version, seq); status != http.StatusForbidden || code != tx.CodeAccessDenied.String() {
			t.Fatalf("%s answered the share request for the denied event %d with HTTP %d %s", c.nodes[i].name, seq, status, code)
		}
	}
	for _, r := range c.releases() {
		if r.seq == seq {
			t.Fatalf("%s released share %d for the denied read (audit event %d)", r.node, r.index, seq)
		}
	}
	tm.lap("the next read is denied (%s, audit event %d deny); every node refuses its share for it, none logged a release", tx.CodeAccessDenied, seq)

	// The permit from before the revocation buys nothing either: the
	// patient's consents changed since it was decided.
	for i := range c.nodes {
		if status, code := c.shareAnswer(i, w.ID, w.Version, before.AuditSeq); status != http.StatusForbidden || code != tx.CodeAccessDenied.String() {
			t.Fatalf("%s answered a share request for the permit from before the revocation (event %d) with HTTP %d %s",
				c.nodes[i].name, before.AuditSeq, status, code)
		}
	}
	tm.lap("the permit from before the revocation (event %d) is refused by every node", before.AuditSeq)
}

func eventAttr(res *client.TxResult, typ, key string) string {
	for _, e := range res.Events {
		if e.Type == typ {
			return e.Attributes[key]
		}
	}
	return ""
}

// auditBeforeAccess stops two of the four validators, so nothing commits,
// and asks for a read: it cannot complete, and neither running node
// releases a share for the audit event the read would have had.
func (e *recordsEnv) auditBeforeAccess(t *testing.T) {
	c := e.c
	tm := newTimer(t)
	plain := e.resource("halt")
	w := c.writeRecord(3, e.writer, client.RecordWrite{Patient: e.patient.ID, ResourceType: "Observation", Resource: plain})
	for i := range c.nodes {
		c.waitHeight(i, w.Result.Height, catchUpTimeout)
	}
	stopped, running := []int{1, 2}, []int{0, 3}
	for _, i := range stopped {
		c.stop(i)
	}
	next, h0 := c.auditSize(0)
	releasedBefore := len(c.releases())
	tm.lap("stopped %s and %s at height %d; the next audit event would be %d", c.nodes[1].name, c.nodes[2].name, h0, next)

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	_, err := c.nodes[0].api.ReadRecord(ctx, e.patient, w.ID, 0, "PATRQT", false)
	cancel()
	if err == nil {
		t.Fatal("a read completed while two of four validators were down")
	}
	tm.lap("the read did not complete: %v", err)

	// A block the stopped validators had already voted for may still have
	// committed just after the stop; nothing after it may.
	for _, i := range running {
		size, h := c.auditSize(i)
		if h > h0+1 || size != next {
			t.Fatalf("%s committed with half the validators down: height %d → %d, audit log %d → %d", c.nodes[i].name, h0, h, next, size)
		}
		for seq := next; seq < next+3; seq++ {
			if status, code := c.shareAnswer(i, w.ID, w.Version, seq); status != http.StatusNotFound || code != tx.CodeNotFound.String() {
				t.Fatalf("%s answered a share request for uncommitted audit event %d with HTTP %d %s", c.nodes[i].name, seq, status, code)
			}
		}
		var all client.ReleasedShares
		if err := c.nodes[i].api.Get(t.Context(), fmt.Sprintf("/v1/records/%s/versions/%d/shares?event=%d", w.ID, w.Version, next), &all); err != nil {
			t.Fatalf("%s: collect shares: %v", c.nodes[i].name, err)
		}
		for _, s := range all.Shares {
			if len(s.Share) > 0 || s.Error == "" {
				t.Fatalf("%s collected a share from %s for uncommitted event %d", c.nodes[i].name, s.Validator, next)
			}
		}
	}
	if got := c.releases(); len(got) != releasedBefore {
		t.Fatalf("shares were released while the chain could not commit: %v", got[releasedBefore:])
	}
	if size, h := c.auditSize(3); size != next || h > h0+1 {
		t.Fatalf("%s moved on while half the validators were down: height %d, audit log %d", c.nodes[3].name, h, size)
	}
	tm.lap("no commit; for audit events %d–%d both running nodes answer 404 not_found, their gateways collect no share, no release logged", next, next+2)

	for _, i := range stopped {
		c.start(i)
	}
	for _, i := range stopped {
		c.waitUp(i)
	}
	tm.lap("restarted %s and %s", c.nodes[1].name, c.nodes[2].name)
	// The access the timed-out read submitted waits in the mempool and
	// commits now: only from then on may its shares be released.
	err = poll(t.Context(), catchUpTimeout, func(ctx context.Context) (bool, error) {
		size, _ := c.auditSize(0) // committed state: the nonce endpoint counts the mempool too
		return size > next, fmt.Errorf("node0's committed audit log has %d events", size)
	})
	if err != nil {
		t.Fatalf("the access submitted while the chain was stalled never committed: %v", err)
	}
	ev := c.auditEvent(0, next)
	ref := tx.RecordRef{ID: w.ID, Version: w.Version}.String()
	if ev.Action != audit.ActionRecordRead || ev.Decision != audit.Permit || ev.Actor != e.patient.ID || !slices.Contains(ev.RecordIDs, ref) || int64(ev.Height) <= h0 {
		t.Fatalf("audit event %d is a %s %s by %s of %v at height %d", next, ev.Decision, ev.Action, ev.Actor, ev.RecordIDs, ev.Height)
	}
	c.lastCommit = max(c.lastCommit, int64(ev.Height))
	for i := range c.nodes {
		c.waitHeight(i, int64(ev.Height), catchUpTimeout)
		if status, code := c.shareAnswer(i, w.ID, w.Version, next); status != http.StatusOK {
			t.Fatalf("%s refuses its share for the now committed permitted event %d: HTTP %d %s", c.nodes[i].name, next, status, code)
		}
	}
	tm.lap("the stalled access committed as audit event %d at height %d (stalled at %d); only now does every node release its share for it", next, ev.Height, h0)
	r := c.mustRead(0, e.patient, w.ID, 0, "PATRQT", plain)
	tm.lap("a new read succeeds (audit event %d)", r.AuditSeq)
}

// releasesAreAudited maps every share any node logged releasing, over the
// whole test, to a committed audit event that permitted that reader to
// read that record version.
func (e *recordsEnv) releasesAreAudited(t *testing.T) {
	c := e.c
	tm := newTimer(t)
	rels := c.releases()
	if len(rels) < 10 {
		t.Fatalf("only %d share releases logged; the test should have caused dozens", len(rels))
	}
	events := map[uint64]audit.Event{}
	for _, r := range rels {
		ev, ok := events[r.seq]
		if !ok {
			ev = c.auditEvent(0, r.seq)
			events[r.seq] = ev
		}
		ref := tx.RecordRef{ID: r.record, Version: r.version}.String()
		if ev.Action != audit.ActionRecordRead || ev.Decision != audit.Permit || ev.Actor != r.reader || !slices.Contains(ev.RecordIDs, ref) {
			t.Errorf("%s released share %d of %s to %s for audit event %d, which is a %s %s by %s of %v",
				r.node, r.index, ref, r.reader, r.seq, ev.Decision, ev.Action, ev.Actor, ev.RecordIDs)
		}
	}
	tm.lap("%d share releases logged by 4 nodes, for %d audit events: each a committed, permitted record.read by the reader of that version", len(rels), len(events))
}

// finalDiskScan stops every node, so that everything is flushed, and
// searches their disks once more.
func (e *recordsEnv) finalDiskScan(t *testing.T) {
	tm := newTimer(t)
	for i := range e.c.nodes {
		e.c.stop(i)
	}
	tm.lap("stopped all 4 nodes")
	e.requireNoPlaintext(t, "with every node stopped")
	// Not this test's subject, but worth a look: a node that stopped with
	// an error.
	for _, n := range e.c.nodes {
		b, _ := os.ReadFile(n.log)
		for _, line := range errorLine.FindAllString(string(b), -1) {
			t.Logf("  NOTE: %s logged %q on one of its stops", n.name, line)
		}
	}
}
