package cluster

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/keyshare"
	"github.com/carechain/carechain/internal/records"
)

// proxyMode is how a shareProxy treats the share answers of the validator
// behind it.
type proxyMode int

const (
	proxyPass       proxyMode = iota // unchanged
	proxyFlipped                     // one bit of the sealed share flipped: it no longer opens
	proxyWrongShare                  // another share, properly sealed to the reader: it opens, but fails its commitment
)

func (m proxyMode) String() string {
	return [...]string{"an honest share", "a share with a flipped bit", "a well-sealed wrong share"}[m]
}

// shareProxy stands in front of one validator's gateway and makes it a
// Byzantine custodian: it passes everything through, except that it can
// change the share the validator releases. For a wrong share it uses the
// validator's own HPKE key, as a validator that lies would.
type shareProxy struct {
	srv       *httptest.Server
	chainID   string
	custody   *keyfile.Key // the validator's HPKE key
	recipient string       // its custodian id

	mu     sync.Mutex
	mode   proxyMode
	reader *keyfile.Key

	tampered atomic.Int64 // answers changed
}

var sharePath = regexp.MustCompile(`^/v1/records/([^/]+)/versions/(\d+)/share$`)

// startShareProxy starts a proxy for node i's gateway, until the end of
// test t.
func startShareProxy(t *testing.T, c *cluster, i int) *shareProxy {
	t.Helper()
	n := c.nodes[i]
	target, err := url.Parse(n.api.URL())
	if err != nil {
		t.Fatal(err)
	}
	key, err := keyfile.Load(filepath.Join(n.home, "config", "validator_hpke.key.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := &shareProxy{chainID: c.chainID, custody: key, recipient: records.CustodianID(n.validatorAddress(t))}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = p.modify
	p.srv = httptest.NewServer(rp)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *shareProxy) URL() string { return p.srv.URL }

func (p *shareProxy) set(mode proxyMode, reader *keyfile.Key) {
	p.mu.Lock()
	p.mode, p.reader = mode, reader
	p.mu.Unlock()
}

func (p *shareProxy) modify(resp *http.Response) error {
	p.mu.Lock()
	mode, reader := p.mode, p.reader
	p.mu.Unlock()
	m := sharePath.FindStringSubmatch(resp.Request.URL.Path)
	if mode == proxyPass || m == nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var rs client.ReleasedShare
	if err := json.Unmarshal(body, &rs); err != nil {
		return err
	}
	sealed, err := keyshare.DecodeSealedShare(rs.Share)
	if err != nil {
		return err
	}
	switch mode {
	case proxyFlipped:
		sealed.Ciphertext[len(sealed.Ciphertext)/2] ^= 0x01
	case proxyWrongShare:
		id, _ := url.PathUnescape(m[1])
		version, _ := strconv.ParseUint(m[2], 10, 64)
		seq, err := strconv.ParseUint(resp.Request.URL.Query().Get("event"), 10, 64)
		if err != nil {
			return err
		}
		wrong := keyshare.Share{Index: sealed.Index}
		rand.Read(wrong.Value[:])
		wrong.Value[31] &= 0x0f // below the group order: a canonical scalar
		rand.Read(wrong.Salt[:])
		custody := keyshare.ShareInfo{ChainID: p.chainID, RecordID: id, Version: version, Index: sealed.Index, Recipient: p.recipient}
		in, err := keyshare.SealShare(p.custody.HPKE.PublicKey(), wrong, custody)
		if err != nil {
			return err
		}
		release := custody
		release.Recipient, release.AuditSeq = reader.ID, seq
		if sealed, err = keyshare.Reseal(p.custody.HPKE, in, custody, reader.HPKE.PublicKey(), release); err != nil {
			return err
		}
	}
	rs.Share = sealed.Encode()
	out, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	p.tampered.Add(1)
	return nil
}

// setPeerAPI changes, in a stopped node's carechain.toml, the gateway URL
// it has for one peer.
func setPeerAPI(t *testing.T, home, from, to string) {
	t.Helper()
	path := filepath.Join(home, "carechain.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := `api = "` + from + `"`
	if n := strings.Count(string(b), old); n != 1 {
		t.Fatalf("%s names peer gateway %s %d times\n%s", path, from, n, b)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, `api = "`+to+`"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}
