package node

import (
	"fmt"
	"path/filepath"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"

	"github.com/carechain/carechain/internal/check"
)

// StorePaths locates the stores of the node in home, for carechain check.
func StorePaths(home string) (check.Paths, error) {
	if _, err := LoadConfig(home); err != nil {
		return check.Paths{}, err
	}
	ccfg, err := loadCometConfig(home)
	if err != nil {
		return check.Paths{}, err
	}
	return storePaths(home, ccfg)
}

func storePaths(home string, ccfg *cmtcfg.Config) (check.Paths, error) {
	// The check reads LevelDB files; carechain homes are created with
	// goleveldb, and another engine's files would only fail to open.
	if ccfg.DBBackend != string(dbm.GoLevelDBBackend) {
		return check.Paths{}, fmt.Errorf("config/config.toml sets db_backend = %q; carechain checks goleveldb stores only", ccfg.DBBackend)
	}
	return check.Paths{Home: home, CometData: ccfg.DBDir(), AppData: filepath.Join(home, AppDataDir),
		Genesis: ccfg.GenesisFile(), Blobs: filepath.Join(home, BlobDir)}, nil
}

// checkStores refuses a corrupted store before CometBFT opens it: CometBFT
// would replay blocks from it into the application, and the gateway would
// serve the state as it found it. It runs check.Startup, which reads a few
// records of each store; carechain check reads them all.
func (n *Node) checkStores(home string, ccfg *cmtcfg.Config) error {
	start := time.Now()
	paths, err := storePaths(home, ccfg)
	if err != nil {
		return err
	}
	if err := check.Startup(paths, n.store); err != nil {
		return err
	}
	n.log.Info("stores checked", "took", time.Since(start).Round(time.Microsecond))
	return nil
}
