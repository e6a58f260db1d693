package check

import (
	"fmt"
	"path/filepath"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"
)

// checker carries one Run.
type checker struct {
	paths   Paths
	opt     Options
	genesis *cmttypes.GenesisDoc
	report  *Report
	found   findings

	blockFile, consensusFile, appFile string
}

func (c *checker) add(store Store, file string, height int64, key, format string, args ...any) {
	c.found.add(Finding{Store: store, File: file, Height: height, Key: key, Problem: fmt.Sprintf(format, args...)})
}

// Run checks every store of the stopped node at p. The error is for a check
// that could not run (the node is running, the home is not one); what the
// check found wrong is in the report.
func Run(p Paths, opt Options) (*Report, error) {
	start := time.Now()
	genesis, err := cmttypes.GenesisDocFromFile(p.Genesis)
	if err != nil {
		return nil, fmt.Errorf("read the genesis, which anchors the check: %w", err)
	}
	c := &checker{paths: p, opt: opt, genesis: genesis,
		report:        &Report{Home: p.Home, ChainID: genesis.ChainID},
		blockFile:     rel(p.Home, filepath.Join(p.CometData, cometBlockDB+".db")),
		consensusFile: rel(p.Home, filepath.Join(p.CometData, cometStateDB+".db")),
		appFile:       rel(p.Home, filepath.Join(p.AppData, appStateDB+".db")),
	}

	// Open everything before reading anything, so that a running node is
	// reported before any work is done.
	blockDB, err := openComet(p.CometData, cometBlockDB)
	if err != nil {
		return nil, err
	}
	if blockDB != nil {
		defer blockDB.Close()
	}
	stateDB, err := openComet(p.CometData, cometStateDB)
	if err != nil {
		return nil, err
	}
	if stateDB != nil {
		defer stateDB.Close()
	}
	appDB, err := openApp(p.AppData)
	if err != nil {
		return nil, err
	}
	if appDB != nil {
		defer appDB.Close()
	}

	chain := c.checkBlocks(blockDB, stateDB)
	c.checkApp(appDB, chain)

	c.report.Findings = c.found.list
	if c.report.Findings == nil {
		c.report.Findings = []Finding{} // "findings": [] rather than null
	}
	c.report.Omitted = c.found.omitted
	c.report.Clean = c.found.count() == 0
	c.report.Took = time.Since(start)
	return c.report, nil
}
