// Package web is the patient portal every node serves at /ui: static
// HTML, CSS and JavaScript embedded in the binary, with no build step and
// no request to any other origin. The page keeps the patient's signing key
// in the browser, encrypted under a passphrase, and signs there; the node
// only ever sees signed transactions (docs/portal.md).
//
// Handler serves the files under a Content-Security-Policy that lets the
// page talk to its own origin only, so a mistake in the page cannot load a
// script, a font or an image from anywhere else, nor send anything there.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// Prefix is where the portal is served.
const Prefix = "/ui/"

// csp allows the page's own scripts, styles and API, and nothing else:
// no inline script, no frames, no form posts, no other origin.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Files returns the portal's files, rooted at the directory holding
// index.html.
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// The embedded tree is fixed at build time; a missing directory is
		// a broken build, not an input.
		panic("web: embedded files missing: " + err.Error())
	}
	return sub
}

// Handler serves the portal under Prefix. A request for /ui (no slash) is
// redirected to /ui/.
func Handler() http.Handler {
	files := http.StripPrefix(strings.TrimSuffix(Prefix, "/"), http.FileServerFS(Files()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		// The page must match the node that serves it: never a stale copy.
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
