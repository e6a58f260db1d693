package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"
	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/spf13/viper"
)

// Files and folders in a node home, beside CometBFT's config/ and data/.
const (
	ConfigFile       = "carechain.toml"                 // carechain's own settings
	AdminKeyFile     = "admin.key.json"                 // written by init; the consortium admin's key
	ValidatorKeyFile = "config/validator_hpke.key.json" // this validator's HPKE key for key shares
	AppDataDir       = "data/app"                       // the authenticated state store
	BlobDir          = "data/blobs"                     // custody blobs: record ciphertext and sealed shares
	TokenKeyFile     = "config/access_token.key"        // this gateway's key for SMART access tokens; created on first start
)

// Config is carechain's own configuration, in DIR/carechain.toml. CometBFT's
// settings stay in DIR/config/config.toml.
type Config struct {
	ChainID string    `toml:"chain_id"`
	Moniker string    `toml:"moniker"`
	API     APIConfig `toml:"api"`
	Log     LogConfig `toml:"log"`
	// Gateway says whom the gateway acts for on /fhir.
	Gateway GatewayConfig `toml:"gateway,omitempty"`
	// Peers are the other validators' gateways, from which this node
	// fetches the custody blobs it lacks and through which it collects key
	// shares for its readers.
	Peers []PeerConfig `toml:"peers"`
}

// PeerConfig names another validator's gateway.
type PeerConfig struct {
	Address string `toml:"address"` // validator address, upper-case hex
	API     string `toml:"api"`     // gateway base URL, e.g. http://10.0.0.2:26680
}

// APIConfig configures the node's HTTP gateway.
type APIConfig struct {
	// Listen is the gateway's address. It defaults to loopback: expose it
	// through a reverse proxy with TLS, never directly.
	Listen string `toml:"listen"`
	// PublicURL is the gateway's URL as clients reach it (through that
	// proxy), e.g. https://carechain.hospital.example. SMART clients sign
	// their assertions for PublicURL/auth/token; empty means
	// http://<listen>.
	PublicURL string `toml:"public_url,omitempty"`
}

// GatewayConfig configures the FHIR gateway's organization.
type GatewayConfig struct {
	// OrgKey is the key file (relative to the node's home, or absolute) of
	// the organization this gateway acts for: it signs that organization's
	// record transactions for its SMART clients and decrypts what is
	// released to it. Empty: /fhir serves no resources. Keep the file
	// mode 0600; it can read everything the organization may read.
	OrgKey string `toml:"org_key,omitempty"`
}

// LogConfig configures structured logging.
type LogConfig struct {
	Level     string `toml:"level"`     // debug, info, warn, error
	Format    string `toml:"format"`    // text or json
	Consensus string `toml:"consensus"` // CometBFT's own level: error (default), info or debug
}

// DefaultConfig is the configuration init writes.
func DefaultConfig(chainID, moniker, apiListen string) Config {
	return Config{ChainID: chainID, Moniker: moniker, API: APIConfig{Listen: apiListen},
		Log: LogConfig{Level: "info", Format: "text", Consensus: "error"}}
}

// LoadConfig reads DIR/carechain.toml.
func LoadConfig(home string) (Config, error) {
	var c Config
	path := filepath.Join(home, ConfigFile)
	if _, err := toml.DecodeFile(path, &c); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return c, fmt.Errorf("%s has no %s: is it a carechain home? (run 'carechain init --home %s')", home, ConfigFile, home)
		}
		return c, fmt.Errorf("read %s: %w", path, err)
	}
	if c.ChainID == "" || c.API.Listen == "" {
		return c, fmt.Errorf("%s: chain_id and api.listen are required", path)
	}
	return c, nil
}

// SaveConfig writes DIR/carechain.toml, for tools and tests that change a
// node's settings between init and start.
func SaveConfig(home string, c Config) error { return writeConfig(home, c) }

func writeConfig(home string, c Config) error {
	f, err := os.OpenFile(filepath.Join(home, ConfigFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintln(f, "# carechain node settings. CometBFT's own settings are in config/config.toml.")
	return toml.NewEncoder(f).Encode(c)
}

// cometConfig returns CometBFT's configuration for a node home with
// carechain's defaults: blocks as short as a local network allows. The
// production values, for nodes in different organizations across a WAN, are
// in docs/operations.md.
func cometConfig(home, moniker string, p2pListen, rpcListen string) *cmtcfg.Config {
	c := cmtcfg.DefaultConfig()
	c.SetRoot(home)
	c.Moniker = moniker
	c.LogLevel = "error"
	c.P2P.ListenAddress = "tcp://" + p2pListen
	c.P2P.AllowDuplicateIP = true // every local validator is on 127.0.0.1
	c.P2P.AddrBookStrict = false
	c.P2P.PexReactor = false // a consortium lists its peers; no discovery
	c.P2P.FlushThrottleTimeout = 10 * time.Millisecond
	c.P2P.SendRate = 20 << 20 // bytes/s per peer; CometBFT's 5 MB/s default throttles a busy LAN
	c.P2P.RecvRate = 20 << 20
	c.RPC.ListenAddress = "tcp://" + rpcListen
	c.Consensus.TimeoutPropose = 1 * time.Second
	c.Consensus.TimeoutProposeDelta = 200 * time.Millisecond
	c.Consensus.TimeoutPrevote = 500 * time.Millisecond
	c.Consensus.TimeoutPrecommit = 500 * time.Millisecond
	c.Consensus.TimeoutCommit = 100 * time.Millisecond
	// Block parts and votes are gossiped by loops that sleep this long when
	// they have nothing new; at the 100 ms default a 1 MiB block spends
	// several sleeps crossing the network.
	c.Consensus.PeerGossipSleepDuration = 10 * time.Millisecond
	c.Consensus.CreateEmptyBlocks = true
	c.Consensus.CreateEmptyBlocksInterval = 1 * time.Second
	c.Mempool.Size = 50_000
	c.Mempool.MaxTxsBytes = 256 << 20
	c.Mempool.CacheSize = 100_000
	c.Instrumentation.Prometheus = true
	c.Instrumentation.PrometheusListenAddr = "" // served by the gateway's /metrics
	return c
}

// loadCometConfig reads DIR/config/config.toml as CometBFT's own commands do.
func loadCometConfig(home string) (*cmtcfg.Config, error) {
	c := cmtcfg.DefaultConfig()
	v := viper.New()
	v.SetConfigFile(filepath.Join(home, "config", "config.toml"))
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("read CometBFT config: %w", err)
	}
	if err := v.Unmarshal(c); err != nil {
		return nil, fmt.Errorf("parse CometBFT config: %w", err)
	}
	c.SetRoot(home)
	if err := c.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("CometBFT config: %w", err)
	}
	return c, nil
}
