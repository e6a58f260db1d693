package cli

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/proof"
)

// verifyResult is what 'carechain verify --json' prints.
type verifyResult struct {
	Verified     bool        `json:"verified"`
	ChainID      string      `json:"chain_id"`
	Event        audit.Event `json:"event"`
	StateHeight  int64       `json:"state_height"`
	SignedHeight int64       `json:"signed_height"`
	BlockTime    time.Time   `json:"block_time"`
	AppHash      string      `json:"app_hash"`
	LogSize      uint64      `json:"log_size"`
	LogRoot      string      `json:"log_root"`
	SignedPower  int64       `json:"signed_power"`
	TotalPower   int64       `json:"total_power"`
	TrustSteps   int         `json:"trust_steps"`
}

// runVerify checks a proof bundle offline against a genesis document: no
// node is asked anything, so none needs to be trusted.
func runVerify(e *env, args []string) error {
	fs := newFlags(e, "verify", "verify BUNDLE.json --genesis GENESIS.json [--json]")
	genesisPath := fs.String("genesis", "", "the chain's genesis document (HOME/config/genesis.json of any of its nodes)")
	asJSON := fs.Bool("json", false, "print the verified event and what proves it as JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if err := required("genesis", *genesisPath); err != nil {
		return withHint(err, "the genesis is the only thing verification trusts: use the one your organization holds, not one the bundle's sender gave you")
	}
	genesisJSON, err := readLimited(*genesisPath, 64<<20)
	if err != nil {
		return err
	}
	genesis, err := types.GenesisDocFromJSON(genesisJSON)
	if err != nil {
		return fmt.Errorf("%s is not a genesis document: %w", *genesisPath, err)
	}
	data, err := readLimited(pos[0], proof.MaxBundleBytes)
	if err != nil {
		return err
	}
	b, err := proof.Decode(data)
	if err != nil {
		return withHint(fmt.Errorf("%s: %w", pos[0], err), "a bundle must be kept exactly as 'carechain audit proof' wrote it")
	}
	v, err := b.Verify(genesis)
	if err != nil {
		err = fmt.Errorf("%s: %w", pos[0], err)
		if b.ChainID != genesis.ChainID {
			return withHint(err, "pass the genesis of the chain the bundle comes from")
		}
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, verifyResult{Verified: true, ChainID: v.ChainID, Event: v.Event, StateHeight: v.StateHeight,
			SignedHeight: v.SignedHeight, BlockTime: v.BlockTime.UTC(), AppHash: hex.EncodeToString(v.AppHash), LogSize: v.LogSize,
			LogRoot: hex.EncodeToString(v.LogRoot), SignedPower: v.SignedPower, TotalPower: v.TotalPower, TrustSteps: v.TrustSteps})
	}
	printVerified(e.stdout, v)
	return nil
}

func printVerified(w io.Writer, v *proof.Verified) {
	ev := v.Event
	fmt.Fprintf(w, "verified: audit event %d of chain %s\n", ev.Seq, v.ChainID)
	decision := ev.Decision.String()
	if r := ev.Reason.String(); r != "" {
		decision += " (" + r + ")"
	}
	fields := [][2]string{{"action", string(ev.Action)}, {"decision", decision}, {"actor", ev.Actor}}
	add := func(name, value string) {
		if value != "" {
			fields = append(fields, [2]string{name, value})
		}
	}
	add("organization", ev.ActorOrg)
	add("patient", ev.Patient)
	add("target", ev.Target)
	add("records", strings.Join(ev.RecordIDs, ","))
	add("purpose", ev.Purpose)
	if ev.BreakGlass {
		add("break-the-glass", "yes")
	}
	add("recorded", fmt.Sprintf("block %d at %s", ev.Height, ev.Time.UTC().Format(time.RFC3339Nano)))
	add("transaction", hex.EncodeToString(ev.TxHash))
	signers := "the genesis validators"
	if v.TrustSteps > 0 {
		signers = "validators reached from genesis in " + strconv.Itoa(v.TrustSteps) + " light-client steps"
	}
	events := "events"
	if v.LogSize == 1 {
		events = "event"
	}
	add("proven by", fmt.Sprintf("audit log of %d %s, root %x, in the state after block %d (app hash %x)",
		v.LogSize, events, v.LogRoot, v.StateHeight, v.AppHash))
	add("signed", fmt.Sprintf("block %d at %s by %d of %d voting power of %s", v.SignedHeight,
		v.BlockTime.UTC().Format(time.RFC3339), v.SignedPower, v.TotalPower, signers))
	printFields(w, fields)
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, errors.New(path + " is larger than " + strconv.FormatInt(limit, 10) + " bytes")
	}
	return data, nil
}
