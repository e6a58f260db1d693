package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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
	// RefusalInterval is how long refusals that name nobody are gathered
	// before they go on the ledger as one audit.refusals; 0 means
	// DefaultRefusalInterval.
	RefusalInterval time.Duration
}

// EnableFHIR mounts, in the handler Handler returns from then on,
// /.well-known/smart-configuration, /auth/token and /fhir. Clients are
// read from the committed state, so a node without carechain state (the
// benchmark baseline) cannot serve them.
func (g *Gateway) EnableFHIR(cfg FHIRConfig) error {
	if g.state == nil {
		return errNoState
	}
	sc := smart.Config{BaseURL: cfg.BaseURL, TokenKey: cfg.TokenKey, Clients: ledgerClients{g}, Log: g.log.With("component", "smart"),
		Refused: g.tallyTokenRefusal}
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
		g.refusals = newRefusalTally(tallied())
		g.reporter = newRefusalReporter(g.refusals, cfg.RefusalInterval, g.log, func(ctx context.Context, entries []tx.RefusalTally) error {
			return g.sendAsOrg(ctx, &tx.RecordUnattributedRefusals{Entries: entries})
		})
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
	// A batch Bundle's entries are served by the same chain, without the
	// base path (fhirBatch).
	g.fhirEntries = g.logRefusals(g.fhir)
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
// stable code, and puts each refusal made before the ledger was asked (no
// token, a bad token, scope, organization, purpose) on the record, as
// recordRefusal says; refusals the ledger decides are audit events of
// their own.
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
		g.recordRefusal(r, code)
	})
}

// refusedBeforeLedger are the refusals the gateway makes before the
// ledger is asked of a client it can name — its token is this node's —
// which are put on the record as such (audit.refusal), one event an
// attempt.
var refusedBeforeLedger = map[string]bool{
	string(smart.ReasonScopeInsufficient):    true,
	string(smart.ReasonOrganizationMismatch): true,
	"purpose_missing":                        true,
	// This node's own token, for a known client: the holder is certain
	// even though the token is no longer good.
	string(smart.ReasonTokenExpired):     true,
	string(smart.ReasonClientRevoked):    true,
	string(smart.ReasonClientKeyChanged): true,
}

// unattributedFHIRRefusals are the refusals at /fhir that name nobody for
// certain: no token, one this node cannot read or did not issue (forged,
// another node's), or one for a client the ledger does not know. They are
// counted in the tally, with the client the token claimed, and go on the
// record as audit.refusals.
var unattributedFHIRRefusals = map[string]bool{
	string(smart.ReasonTokenMissing):   true,
	string(smart.ReasonTokenMalformed): true,
	string(smart.ReasonTokenInvalid):   true,
	string(smart.ReasonClientUnknown):  true,
}

// nodeFailures are token endpoint answers that refuse nothing about the
// request: this node failed, or is too busy to remember one more
// assertion. They stay in the log.
var nodeFailures = map[smart.Reason]bool{smart.ReasonInternal: true, smart.ReasonLedgerUnavailable: true, smart.ReasonBusy: true}

// tallied lists the codes the tally takes: every refusal at the token
// endpoint (a refused request gets no token, so nothing this node issued
// names its client, even when its assertion was well signed), and at
// /fhir the unattributed ones and, should the client not be named after
// all, the attributed ones.
func tallied() []string {
	var codes []string
	for _, r := range smart.Reasons() {
		if !nodeFailures[r] {
			codes = append(codes, string(r))
		}
	}
	for c := range refusedBeforeLedger {
		if !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	return codes
}

// recordRefusal puts a refused FHIR request on the record without holding
// up the answer: when it carries this node's token for a client, the
// gateway's organization signs an audit.refusal naming it; when it names
// nobody for certain, it is counted in the tally the reporter sends as
// audit.refusals. Other errors (a bad body, not found, a ledger denial,
// which the ledger records itself) are not refusals made before the
// ledger was asked. Without an organization key the gateway can sign
// nothing, and the log above is all there is.
func (g *Gateway) recordRefusal(r *http.Request, code string) {
	if g.org == nil || g.smart == nil {
		return
	}
	if refusedBeforeLedger[code] {
		if holder, ok := g.smart.TokenHolder(r); ok {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
				defer cancel()
				if err := g.sendAsOrg(ctx, &tx.RecordRefusal{Actor: holder, Code: code}); err != nil {
					g.log.Error("record a refused FHIR request on the ledger", "client", holder, "code", code, "err", err)
				}
			}()
			return
		}
	} else if !unattributedFHIRRefusals[code] {
		return
	}
	g.refusals.add(code, smart.ClaimedClient(r))
}

// tallyTokenRefusal counts a refused token request, which names nobody
// for certain, in the tally; the token endpoint's Refused hook.
func (g *Gateway) tallyTokenRefusal(reason smart.Reason, claimed string) {
	if g.refusals != nil && !nodeFailures[reason] {
		g.refusals.add(string(reason), claimed)
	}
}

// sendAsOrg signs m as the gateway's organization and waits for its block,
// taking the organization's next nonce in turn with its other
// transactions.
func (g *Gateway) sendAsOrg(ctx context.Context, m tx.Msg) error {
	return g.org.send(ctx, false, func() error {
		_, err := g.org.c.Send(ctx, g.org.key, m)
		return err
	})
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
