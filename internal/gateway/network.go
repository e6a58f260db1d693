package gateway

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"strings"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/tx"
)

// network tells a node that wants to join this network its genesis and
// where its peers are. None of it is secret: the genesis is public to the
// consortium and the addresses are on every member's configuration.
func (g *Gateway) network(w http.ResponseWriter, r *http.Request) {
	cfg := g.node.Config()
	raw, err := os.ReadFile(cfg.GenesisFile())
	if err != nil {
		writeError(w, http.StatusInternalServerError, tx.CodeInternal, "read genesis: "+err.Error())
		return
	}
	out := client.NetworkInfo{ChainID: g.node.GenesisDoc().ChainID, Genesis: json.RawMessage(raw)}
	self := string(g.node.NodeInfo().ID()) + "@" + strings.TrimPrefix(cfg.P2P.ListenAddress, "tcp://")
	out.P2P = append(out.P2P, self)
	for _, p := range strings.Split(cfg.P2P.PersistentPeers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out.P2P = append(out.P2P, p)
		}
	}
	if g.custody != nil {
		out.Gateways = append(out.Gateways, client.Gateway{Address: strings.ToUpper(hex.EncodeToString(g.custody.Address())), API: "http://" + r.Host})
		for _, p := range g.custody.Peers() {
			out.Gateways = append(out.Gateways, client.Gateway{Address: strings.ToUpper(p.Address), API: p.API})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// custodians lists the validators record keys are split across now, in the
// ledger's order: the set a writer must seal to. It can run two blocks
// ahead of the consensus set (CometBFT applies validator updates late);
// writers use this one. Each entry is proven by the client separately.
func (g *Gateway) custodians(w http.ResponseWriter, r *http.Request) {
	snap, _, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	vals, err := identity.Validators(snap)
	if err != nil {
		writeStateError(w, err)
		return
	}
	out := make([]client.Validator, len(vals))
	for i, v := range vals {
		out[i] = client.Validator{Name: v.Name, Address: strings.ToUpper(hex.EncodeToString(v.Address)), HPKEKey: v.HPKEKey}
	}
	writeJSON(w, http.StatusOK, map[string]any{"validators": out})
}
