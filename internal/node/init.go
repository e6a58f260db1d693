package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/internal/app"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
)

// Default ports of a single node; a testnet uses BasePort + 10*i + offset.
const (
	DefaultP2PPort  = 26656
	DefaultRPCPort  = 26657
	DefaultAPIPort  = 26680
	DefaultBasePort = 27000
	DefaultChainID  = "carechain-local"
)

// Member is one node of a network being created.
type Member struct {
	Name string `json:"name"`
	Home string `json:"home"`
	RPC  string `json:"rpc"`
	API  string `json:"api"`
	P2P  string `json:"p2p"`
}

// Initialized reports whether home already holds a node.
func Initialized(home string) bool {
	_, err := os.Stat(filepath.Join(home, ConfigFile))
	return err == nil
}

// Init creates a single-validator node in home, with the consortium admin's
// key in home/admin.key.json. basePort 0 uses the default ports (p2p
// 26656, CometBFT RPC 26657, API 26680); otherwise the node listens on
// basePort, basePort+1 and basePort+2, as node0 of a testnet would.
func Init(home, chainID string, basePort int) (Member, error) {
	m := Member{Name: "node0", Home: home,
		P2P: fmt.Sprintf("127.0.0.1:%d", DefaultP2PPort),
		RPC: fmt.Sprintf("127.0.0.1:%d", DefaultRPCPort),
		API: fmt.Sprintf("127.0.0.1:%d", DefaultAPIPort)}
	if basePort != 0 {
		if basePort < 1024 || basePort > 65533 {
			return Member{}, fmt.Errorf("base port %d is out of range", basePort)
		}
		m.P2P, m.RPC, m.API = fmt.Sprintf("127.0.0.1:%d", basePort), fmt.Sprintf("127.0.0.1:%d", basePort+1), fmt.Sprintf("127.0.0.1:%d", basePort+2)
	}
	if err := create(chainID, []Member{m}, filepath.Join(home, AdminKeyFile)); err != nil {
		return Member{}, err
	}
	return m, nil
}

// Testnet creates n validator homes dir/node0..node{n-1} on distinct
// loopback ports, all peers of each other, sharing one genesis, with the
// admin key in dir/admin.key.json.
func Testnet(dir, chainID string, n, basePort int) ([]Member, error) {
	if n < 1 || n > 64 {
		return nil, fmt.Errorf("validators must be between 1 and 64, not %d", n)
	}
	if basePort < 1024 || basePort+10*n > 65535 {
		return nil, fmt.Errorf("base port %d leaves no room for %d nodes", basePort, n)
	}
	members := make([]Member, n)
	for i := range members {
		p := basePort + 10*i
		members[i] = Member{Name: fmt.Sprintf("node%d", i), Home: filepath.Join(dir, fmt.Sprintf("node%d", i)),
			P2P: fmt.Sprintf("127.0.0.1:%d", p), RPC: fmt.Sprintf("127.0.0.1:%d", p+1), API: fmt.Sprintf("127.0.0.1:%d", p+2)}
	}
	return members, create(chainID, members, filepath.Join(dir, AdminKeyFile))
}

func create(chainID string, members []Member, adminKeyPath string) error {
	for _, m := range members {
		if Initialized(m.Home) {
			return fmt.Errorf("%s already holds a node; refusing to overwrite it", m.Home)
		}
	}
	if _, err := os.Stat(adminKeyPath); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite the admin key", adminKeyPath)
	}
	admin, err := keyfile.Generate()
	if err != nil {
		return err
	}
	genesis := &cmttypes.GenesisDoc{ChainID: chainID, GenesisTime: time.Now().UTC().Truncate(time.Second),
		InitialHeight: 1, ConsensusParams: consensusParams()}
	appState := app.GenesisState{Identity: identity.Genesis{
		Admin: identity.GenesisKeys{SignKey: admin.SignPublic(), HPKEKey: admin.HPKEPublic()}}}
	nodeIDs := make([]string, len(members))
	addresses := make([]string, len(members))
	cfgs := make([]*cmtcfg.Config, len(members))
	for i, m := range members {
		cfg := cometConfig(m.Home, m.Name, m.P2P, m.RPC)
		cfgs[i] = cfg
		if err := os.MkdirAll(filepath.Join(m.Home, "config"), 0o700); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(m.Home, "data"), 0o700); err != nil {
			return err
		}
		nodeKey, err := p2p.LoadOrGenNodeKey(cfg.NodeKeyFile())
		if err != nil {
			return fmt.Errorf("node key: %w", err)
		}
		nodeIDs[i] = string(nodeKey.ID())
		pv := privval.GenFilePV(cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile())
		pv.Save()
		pub, err := pv.GetPubKey()
		if err != nil {
			return err
		}
		hpkeKey, err := keyfile.Generate()
		if err != nil {
			return err
		}
		if err := hpkeKey.Save(filepath.Join(m.Home, ValidatorKeyFile)); err != nil {
			return err
		}
		addresses[i] = pub.Address().String()
		genesis.Validators = append(genesis.Validators, cmttypes.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 10, Name: m.Name})
		appState.Identity.Validators = append(appState.Identity.Validators, identity.GenesisValidator{
			Name: m.Name, Address: pub.Address(), HPKEKey: hpkeKey.HPKEPublic()})
	}
	raw, err := json.MarshalIndent(appState, "", "  ")
	if err != nil {
		return err
	}
	genesis.AppState = raw
	if err := genesis.ValidateAndComplete(); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	for i, m := range members {
		var peers []string
		for j, o := range members {
			if j != i {
				peers = append(peers, nodeIDs[j]+"@"+o.P2P)
			}
		}
		cfgs[i].P2P.PersistentPeers = strings.Join(peers, ",")
		cmtcfg.WriteConfigFile(filepath.Join(m.Home, "config", "config.toml"), cfgs[i])
		if err := genesis.SaveAs(cfgs[i].GenesisFile()); err != nil {
			return fmt.Errorf("write genesis: %w", err)
		}
		cfg := DefaultConfig(chainID, m.Name, m.API)
		for j, o := range members {
			if j != i {
				cfg.Peers = append(cfg.Peers, PeerConfig{Address: addresses[j], API: "http://" + o.API})
			}
		}
		if err := writeConfig(m.Home, cfg); err != nil {
			return fmt.Errorf("write %s: %w", ConfigFile, err)
		}
	}
	if err := admin.Save(adminKeyPath); err != nil {
		return errors.Join(fmt.Errorf("write admin key"), err)
	}
	return nil
}

// MaxBlockBytes bounds a block. Blocks of many megabytes take longer to
// gossip than a round lasts and stall consensus under load; one MiB holds
// hundreds of transactions and propagates within a round.
const MaxBlockBytes = 1 << 20

func consensusParams() *cmttypes.ConsensusParams {
	p := cmttypes.DefaultConsensusParams()
	p.Block.MaxBytes = MaxBlockBytes
	return p
}
