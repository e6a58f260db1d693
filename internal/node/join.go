package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
)

// Join creates a node home for an existing network from what one of its
// nodes told (client.NetworkInfo): its genesis, its CometBFT peers and its
// validators' gateways. The new node has fresh consensus, p2p and HPKE keys;
// it follows the chain as a full node until the consortium admin makes it
// a validator ('carechain validator add'). It listens on basePort,
// basePort+1 and basePort+2.
func Join(home string, info *client.NetworkInfo, basePort int) (Member, error) {
	if Initialized(home) {
		return Member{}, fmt.Errorf("%s already holds a node; refusing to overwrite it", home)
	}
	if basePort < 1024 || basePort > 65533 {
		return Member{}, fmt.Errorf("base port %d is out of range", basePort)
	}
	genesis, err := cmttypes.GenesisDocFromJSON(info.Genesis)
	if err != nil {
		return Member{}, fmt.Errorf("the network's genesis: %w", err)
	}
	if genesis.ChainID != info.ChainID {
		return Member{}, fmt.Errorf("genesis is for chain %q, the node said %q", genesis.ChainID, info.ChainID)
	}
	m := Member{Home: home, P2P: fmt.Sprintf("127.0.0.1:%d", basePort), RPC: fmt.Sprintf("127.0.0.1:%d", basePort+1), API: fmt.Sprintf("127.0.0.1:%d", basePort+2)}
	for _, dir := range []string{"config", "data"} {
		if err := os.MkdirAll(filepath.Join(home, dir), 0o700); err != nil {
			return Member{}, err
		}
	}
	probe := cmtcfg.DefaultConfig()
	probe.SetRoot(home)
	pv := privval.GenFilePV(probe.PrivValidatorKeyFile(), probe.PrivValidatorStateFile())
	pv.Save()
	m.Name = "node-" + strings.ToLower(pv.Key.PubKey.Address().String()[:8])
	cfg := cometConfig(home, m.Name, m.P2P, m.RPC)
	if _, err := p2p.LoadOrGenNodeKey(cfg.NodeKeyFile()); err != nil {
		return Member{}, fmt.Errorf("node key: %w", err)
	}
	hpkeKey, err := keyfile.Generate()
	if err != nil {
		return Member{}, err
	}
	if err := hpkeKey.Save(filepath.Join(home, ValidatorKeyFile)); err != nil {
		return Member{}, err
	}
	cfg.P2P.PersistentPeers = strings.Join(info.P2P, ",")
	cmtcfg.WriteConfigFile(filepath.Join(home, "config", "config.toml"), cfg)
	if err := genesis.SaveAs(cfg.GenesisFile()); err != nil {
		return Member{}, fmt.Errorf("write genesis: %w", err)
	}
	c := DefaultConfig(genesis.ChainID, m.Name, m.API)
	for _, g := range info.Gateways {
		c.Peers = append(c.Peers, PeerConfig{Address: g.Address, API: g.API})
	}
	if err := writeConfig(home, c); err != nil {
		return Member{}, fmt.Errorf("write %s: %w", ConfigFile, err)
	}
	return m, nil
}

// ValidatorKeys reads the public keys a node home would join the
// validator set with: its consensus key and its HPKE key.
func ValidatorKeys(home string) (consensus, hpke []byte, err error) {
	probe := cmtcfg.DefaultConfig()
	probe.SetRoot(home)
	if !Initialized(home) {
		return nil, nil, fmt.Errorf("%s holds no node", home)
	}
	pv := privval.LoadFilePV(probe.PrivValidatorKeyFile(), probe.PrivValidatorStateFile())
	k, err := keyfile.Load(filepath.Join(home, ValidatorKeyFile))
	if err != nil {
		return nil, nil, err
	}
	return pv.Key.PubKey.Bytes(), k.HPKEPublic(), nil
}
