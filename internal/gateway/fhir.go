package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/carechain/carechain/internal/fhir"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/smart"
	"github.com/carechain/carechain/internal/tx"
)

// FHIRConfig turns on the FHIR API and its SMART authorization server.
type FHIRConfig struct {
	// BaseURL is the gateway's URL as clients reach it (no trailing
	// slash). Assertions must name BaseURL/auth/token as their audience.
	BaseURL string
	// TokenKey is the node's access-token key (smart.LoadOrCreateTokenKey).
	TokenKey []byte
	// Version is reported in the CapabilityStatement.
	Version string
	// OrgKey is the key of the organization this gateway acts for
	// (gateway.org_key in carechain.toml). With it, /fhir stores and reads
	// records: the gateway signs as the organization, naming the SMART
	// client in the audit. Without it, /fhir has no resources.
	OrgKey *keyfile.Key
	// APIURL is where the gateway's own native API is reached; the
	// organization agent uses it only as the base of in-process requests.
	APIURL string
}

// EnableFHIR mounts, in the handler Handler returns from then on,
// /.well-known/smart-configuration, /auth/token and /fhir. Clients are
// read from the committed state, so a node without carechain state (the
// benchmark baseline) cannot serve them.
func (g *Gateway) EnableFHIR(cfg FHIRConfig) error {
	if g.state == nil {
		return errNoState
	}
	sc := smart.Config{BaseURL: cfg.BaseURL, TokenKey: cfg.TokenKey, Clients: ledgerClients{g}, Log: g.log.With("component", "smart")}
	if cfg.OrgKey != nil {
		sc.Org = cfg.OrgKey.ID // tokens for its own organization's clients only
	}
	s, err := smart.NewServer(sc)
	if err != nil {
		return fmt.Errorf("SMART authorization server: %w", err)
	}
	g.smart = s
	g.fhir = fhir.New(fhir.Config{BaseURL: s.FHIRBaseURL(), TokenURL: s.TokenURL(), Auth: s, Version: cfg.Version, Started: time.Now()})
	if cfg.OrgKey != nil {
		base := cfg.APIURL
		if base == "" {
			base = cfg.BaseURL
		}
		g.actFor(cfg.OrgKey, base)
	}
	g.registerConsents()
	return nil
}

// FHIR returns the FHIR server, to register resource handlers on; nil
// unless EnableFHIR succeeded.
func (g *Gateway) FHIR() *fhir.Server { return g.fhir }

// mountFHIR adds the SMART and FHIR routes to mux, if enabled.
func (g *Gateway) mountFHIR(mux *http.ServeMux) {
	if g.smart == nil {
		return
	}
	mux.HandleFunc("GET "+smart.ConfigurationPath, g.smart.ServeConfiguration)
	// Any method, so that a GET is told "405, use POST" by the token
	// endpoint rather than "no such endpoint".
	mux.HandleFunc(smart.TokenPath, g.smart.ServeToken)
	fhirHandler := g.logRefusals(http.StripPrefix(smart.FHIRPath, g.fhir))
	mux.Handle(smart.FHIRPath, fhirHandler)
	mux.Handle(smart.FHIRPath+"/", fhirHandler)
}

// ledgerClients reads SMART clients from the latest committed state.
type ledgerClients struct{ g *Gateway }

func (l ledgerClients) Client(id string) (*smart.Client, error) {
	snap, _, err := l.g.latest()
	if err != nil {
		return nil, err
	}
	a, err := identity.Get(snap, id)
	if tx.CodeOf(err) == tx.CodeNotFound {
		return nil, fmt.Errorf("actor %s: %w", id, smart.ErrUnknownClient)
	}
	if err != nil {
		return nil, err
	}
	c := &smart.Client{ID: a.ID, Kind: a.Kind, Org: a.Org, SignKey: a.SignKey, KeyVersion: a.KeyVersion, Revoked: a.Revoked}
	switch a.Kind {
	case tx.KindOrganization:
		c.Org = a.ID
	case tx.KindPractitioner, tx.KindApplication:
		// A member acts for its organization: once the organization is
		// revoked, so in effect are its members' tokens.
		org, err := identity.Get(snap, a.Org)
		if err != nil && tx.CodeOf(err) != tx.CodeNotFound {
			return nil, err
		}
		if org == nil || org.Revoked {
			c.Revoked = true
		}
	}
	return c, nil
}

// logRefusals logs every FHIR request answered with an error, with its
// stable code. A refusal before the ledger is asked (no token, a bad
// token, scope, organization, purpose) leaves no audit event — it names no
// authenticated access to decide — so the node's log is where it is kept;
// refusals the ledger decides are audit events as well.
func (g *Gateway) logRefusals(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status < 400 {
			return
		}
		var oo fhir.OperationOutcome
		code, msg := "", ""
		if json.Unmarshal(rec.head, &oo) == nil && len(oo.Issue) > 0 {
			msg = oo.Issue[0].Diagnostics
			if d := oo.Issue[0].Details; d != nil && len(d.Coding) > 0 {
				code = d.Coding[0].Code
			}
		}
		g.log.Warn("fhir request refused", "method", r.Method, "path", r.URL.Path, "status", rec.status, "code", code, "reason", msg,
			"remote", r.RemoteAddr)
		if refusedBeforeLedger[code] {
			g.recordRefusal(r, code)
		}
	})
}

// refusedBeforeLedger are the refusals the gateway makes before the
// ledger is asked of a client it can name — its token is this node's —
// which are put on the record (audit.refusal), so the audit log holds
// every attempt by someone it can name. No token, a forged one or an
// unknown client name nobody for certain and stay in the log above.
var refusedBeforeLedger = map[string]bool{
	string(smart.ReasonScopeInsufficient): true,
	"organization_mismatch":               true,
	"purpose_missing":                     true,
	// This node's own token, for a known client: the holder is certain
	// even though the token is no longer good.
	string(smart.ReasonTokenExpired):     true,
	string(smart.ReasonClientRevoked):    true,
	string(smart.ReasonClientKeyChanged): true,
}

// recordRefusal signs, as the gateway's organization, an audit.refusal of
// the request's authenticated client, without holding up the answer.
func (g *Gateway) recordRefusal(r *http.Request, code string) {
	if g.org == nil || g.smart == nil {
		return
	}
	holder, ok := g.smart.TokenHolder(r)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		defer cancel()
		err := g.org.send(ctx, false, func() error {
			_, err := g.org.c.Send(ctx, g.org.key, &tx.RecordRefusal{Actor: holder, Code: code})
			return err
		})
		if err != nil {
			g.log.Error("record a refused FHIR request on the ledger", "client", holder, "code", code, "err", err)
		}
	}()
}

// statusRecorder keeps a response's status and, for an error, the start
// of its body.
type statusRecorder struct {
	http.ResponseWriter
	status int
	head   []byte
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if s.status >= 400 && len(s.head) < 4096 {
		s.head = append(s.head, b[:min(len(b), 4096-len(s.head))]...)
	}
	return s.ResponseWriter.Write(b)
}
