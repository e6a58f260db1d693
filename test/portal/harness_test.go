package portal_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/tx"
)

const chainID = "portal-test"

// chromiumPath finds Debian's chromium. Without it the test skips on a
// developer's machine and fails in CI, where it must run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal("chromium is not installed; .ci/run installs it (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium); CI runs this test")
	return ""
}

// recorder is a reverse proxy in front of the node that keeps every
// request the page makes, URL and body, so a test can check what left the
// browser at the wire.
type recorder struct {
	URL   string
	proxy *httputil.ReverseProxy

	mu       sync.Mutex
	requests []recorded
	// tamper, when set, rewrites the node's answers to
	// POST /v1/txs/prepare, as a node that lies to the page would.
	tamper func(*client.PreparedTx)
}

type recorded struct {
	Method, URL string
	Body        []byte
}

func newRecorder(t *testing.T, upstream string) *recorder {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{proxy: httputil.NewSingleHostReverseProxy(u)}
	r.proxy.FlushInterval = -1 // the access stream's events pass at once
	r.proxy.ModifyResponse = r.modify
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		srv.Close()
	})
	r.URL = "http://" + ln.Addr().String()
	return r
}

// pathPrefix is where the proxy also serves the node, as a reverse proxy
// that puts a node under a path would.
const pathPrefix = "/hospital-node"

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.requests = append(r.requests, recorded{Method: req.Method, URL: req.URL.String(), Body: body})
	r.mu.Unlock()
	if rest, ok := strings.CutPrefix(req.URL.Path, pathPrefix+"/"); ok {
		req.URL.Path = "/" + rest
		req.URL.RawPath = ""
	}
	r.proxy.ServeHTTP(w, req)
}

func (r *recorder) modify(resp *http.Response) error {
	r.mu.Lock()
	tamper := r.tamper
	r.mu.Unlock()
	if tamper == nil || resp.Request.URL.Path != "/v1/txs/prepare" || resp.StatusCode != http.StatusOK {
		return nil
	}
	var p client.PreparedTx
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return err
	}
	resp.Body.Close()
	tamper(&p)
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}

func (r *recorder) setTamper(f func(*client.PreparedTx)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tamper = f
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.requests...)
}

// env is a node, the recording proxy in front of it and a browser tab.
type env struct {
	t        *testing.T
	home     string
	node     *node.Node
	c        *client.Client
	rec      *recorder
	ctx      context.Context
	shots    string
	download string
	urls     chan string

	mu     sync.Mutex
	faults []string // uncaught script errors and security (CSP) errors
}

func (e *env) fault(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, s)
}

// pageFaults returns the script errors the page raised and the security
// errors (a Content-Security-Policy violation) the browser logged.
func (e *env) pageFaults() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.faults...)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	chromium := chromiumPath(t)
	home := filepath.Join(t.TempDir(), "node")
	n := nodetest.Start(t, home, chainID)
	e := &env{t: t, home: home, node: n, c: client.New(n.APIURL), rec: newRecorder(t, n.APIURL), download: t.TempDir(), urls: make(chan string, 4096)}
	e.shots = os.Getenv("ARTIFACTS")
	if e.shots == "" {
		e.shots = "testdata/screenshots"
	} else {
		e.shots = filepath.Join(e.shots, "portal")
	}
	if err := os.MkdirAll(e.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	e.ctx = ctx
	// Every URL the page requests, from the browser's side: the proxy sees
	// only what comes to it, not what goes elsewhere.
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	logs := chromedp.Events(ctx, cdplog.EntryAdded)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			select {
			case e.urls <- ev.Request.URL:
			default:
			}
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			e.fault(fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, text))
		}
	}()
	go func() {
		for ev, err := range logs {
			if err != nil {
				return
			}
			if ev.Entry.Source == cdplog.EntrySourceSecurity || ev.Entry.Source == cdplog.EntrySourceJavascript {
				e.fault(string(ev.Entry.Source) + ": " + ev.Entry.Text)
			}
		}
	}()
	// The fault listeners must hear a fault, or their silence means nothing.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`setTimeout(() => { throw new Error("portal-test-probe"); })`)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if f := e.pageFaults(); len(f) > 0 && strings.Contains(strings.Join(f, " "), "portal-test-probe") {
			e.mu.Lock()
			e.faults = nil
			e.mu.Unlock()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the page's script errors are not heard")
		}
		time.Sleep(20 * time.Millisecond) // polling the listener with a deadline
	}
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior,
		browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: e.download}); err != nil {
		t.Fatal(err)
	}
	return e
}

// do runs browser steps, failing the test with what was being done.
func (e *env) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	// A step waits for its element; an element that never comes fails the
	// step in a minute, not when the whole test runs out of time.
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		e.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		e.t.Fatalf("%s: %v", what, err)
	}
}

// waitJS waits until a JavaScript expression is truthy.
func (e *env) waitJS(what, expr string) {
	e.t.Helper()
	if _, err := chromedp.Run(e.ctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		e.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		body, _ := chromedp.Run(e.ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
		e.t.Fatalf("%s: %v\npage says:\n%s", what, err, body)
	}
}

func (e *env) eval(expr string) string {
	e.t.Helper()
	s, err := chromedp.Run(e.ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		e.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// screenshot saves the whole page as NAME.png.
func (e *env) screenshot(name string) { e.t.Helper(); e.shoot(name, chromedp.FullScreenshot(100)) }

// viewShot saves what the screen shows, as a phone user sees it.
func (e *env) viewShot(name string) { e.t.Helper(); e.shoot(name, chromedp.CaptureScreenshot()) }

func (e *env) shoot(name string, shot chromedp.Action[[]byte]) {
	e.t.Helper()
	buf, err := chromedp.Run(e.ctx, shot)
	if err != nil {
		e.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(e.shots, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.t.Logf("screenshot %s", path)
}

// register admits a new actor and returns its key. A patient or delegate
// registers itself; others are registered by their sponsor.
func (e *env) register(kind tx.Kind, name, org string, by *keyfile.Key) *keyfile.Key {
	e.t.Helper()
	k, err := keyfile.Generate()
	if err != nil {
		e.t.Fatal(err)
	}
	signer := k
	if by != nil {
		signer = by
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.c.Send(ctx, signer, tx.NewRegistration(chainID, kind, name, org, k.Sign, k.HPKEPublic())); err != nil {
		e.t.Fatalf("register %s: %v", kind, err)
	}
	return k
}

// keyEncodings lists every form in which a key file's private keys could
// leave the browser: the bytes themselves, as the file writes them
// (standard base64), and base64url, with and without padding, and hex.
func keyEncodings(t *testing.T, k *keyfile.Key) map[string][]byte {
	t.Helper()
	hpkePriv, err := k.HPKE.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := append([]byte{0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20}, k.Sign.Seed()...)
	secrets := map[string][]byte{"seed": k.Sign.Seed(), "private key": k.Sign, "hpke private key": hpkePriv, "pkcs8": pkcs8}
	out := map[string][]byte{}
	for name, b := range secrets {
		out[name+" raw"] = b
		out[name+" base64"] = []byte(base64.StdEncoding.EncodeToString(b))
		out[name+" base64 raw"] = []byte(base64.RawStdEncoding.EncodeToString(b))
		out[name+" base64url"] = []byte(base64.URLEncoding.EncodeToString(b))
		out[name+" base64url raw"] = []byte(base64.RawURLEncoding.EncodeToString(b))
		out[name+" hex"] = []byte(hex.EncodeToString(b))
		out[name+" HEX"] = []byte(strings.ToUpper(hex.EncodeToString(b)))
	}
	return out
}
