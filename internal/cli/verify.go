package cli

import (
	"bytes"
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
// node is asked anything, so none needs to be trusted. It reads event
// bundles ('audit proof') and consistency bundles ('audit consistency
// --out').
func runVerify(e *env, args []string) error {
	fs := newFlags(e, "verify", "verify BUNDLE.json --genesis GENESIS.json [--from SIZE:ROOTHEX | --checkpoint FILE] [--json]")
	genesisPath := fs.String("genesis", "", "the chain's genesis document (HOME/config/genesis.json of any of its nodes)")
	fromFlag := fs.String("from", "", "for a consistency bundle: the log you verified before, SIZE:ROOTHEX, which the bundle must start from")
	checkpointPath := fs.String("checkpoint", "", "an event bundle starts this checkpoint file if there is none (and must agree with it); "+
		"a consistency bundle must start from it and advances it")
	asJSON := fs.Bool("json", false, "print the verified event and what proves it as JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	genesis, err := loadGenesis(*genesisPath)
	if err != nil {
		return err
	}
	data, err := readLimited(pos[0], proof.MaxBundleBytes)
	if err != nil {
		return err
	}
	if *fromFlag != "" && *checkpointPath != "" {
		return usageError("pass --from or --checkpoint, not both")
	}
	if proof.IsConsistency(data) {
		return verifyConsistencyFile(e, pos[0], data, genesis, *fromFlag, *checkpointPath, *asJSON)
	}
	if *fromFlag != "" {
		return withHint(usageError("--from is for consistency bundles; %s is not one", pos[0]), "an event bundle proves one event, not a log's growth")
	}
	b, err := proof.Decode(data)
	if err != nil {
		return withHint(fmt.Errorf("%s: %w", pos[0], err), "a bundle must be kept exactly as 'carechain audit proof' wrote it")
	}
	v, err := b.Verify(genesis)
	if err != nil {
		return chainHint(fmt.Errorf("%s: %w", pos[0], err), b.ChainID, genesis)
	}
	var note string
	if *checkpointPath != "" {
		if note, err = startCheckpoint(*checkpointPath, v.SignedHead); err != nil {
			return err
		}
	}
	if *asJSON {
		return printJSON(e.stdout, verifyResult{Verified: true, ChainID: v.ChainID, Event: v.Event, StateHeight: v.StateHeight,
			SignedHeight: v.SignedHeight, BlockTime: v.BlockTime.UTC(), AppHash: hex.EncodeToString(v.AppHash), LogSize: v.LogSize,
			LogRoot: hex.EncodeToString(v.LogRoot), SignedPower: v.SignedPower, TotalPower: v.TotalPower, TrustSteps: v.TrustSteps})
	}
	printVerified(e.stdout, v)
	if note != "" {
		fmt.Fprintln(e.stderr, note)
	}
	return nil
}

// startCheckpoint writes the signed log an event bundle proved as the
// checkpoint at path if there is none. An existing checkpoint is left as
// it is: whether a log of another size extends it takes a consistency
// proof ('audit consistency'). Of the same size it must hold the same
// root, or the validators signed two different logs.
func startCheckpoint(path string, v proof.SignedHead) (note string, err error) {
	saved, err := readCheckpoint(path)
	if err != nil {
		return "", err
	}
	if saved == nil {
		if err := writeCheckpoint(path, newCheckpointFile(v)); err != nil {
			return "", err
		}
		return fmt.Sprintf("checkpoint %s now holds %d:%x", path, v.LogSize, v.LogRoot), nil
	}
	switch {
	case saved.ChainID != v.ChainID:
		return "", fmt.Errorf("checkpoint %s is for chain %q, the bundle for chain %q", path, saved.ChainID, v.ChainID)
	case saved.Size == v.LogSize && !bytes.Equal(saved.Root, v.LogRoot):
		return "", fmt.Errorf("the bundle's signed audit log of %s has root %x, but checkpoint %s holds root %x for the same size: "+
			"the validators signed two different logs", eventCount(v.LogSize), v.LogRoot, path, []byte(saved.Root))
	case saved.Size == v.LogSize:
		return "", nil
	}
	return fmt.Sprintf("checkpoint %s holds %d events, the bundle's log %d: 'carechain audit consistency --checkpoint %s' checks that one extends the other",
		path, saved.Size, v.LogSize, path), nil
}

// chainHint adds a hint to a failed verification when the bundle is for
// another chain than the genesis.
func chainHint(err error, chainID string, genesis *types.GenesisDoc) error {
	if chainID != genesis.ChainID {
		return withHint(err, "pass the genesis of the chain the bundle comes from")
	}
	return err
}

// verifyConsistencyFile verifies a consistency bundle, from the trusted
// checkpoint when one is given.
func verifyConsistencyFile(e *env, name string, data []byte, genesis *types.GenesisDoc, fromFlag, checkpointPath string, asJSON bool) error {
	c, err := proof.DecodeConsistency(data)
	if err != nil {
		return withHint(fmt.Errorf("%s: %w", name, err), "a bundle must be kept exactly as 'carechain audit consistency --out' wrote it")
	}
	var v *proof.VerifiedConsistency
	switch {
	case fromFlag != "":
		from, perr := proof.ParseCheckpoint(fromFlag)
		if perr != nil {
			return usageError("--from: %v", perr)
		}
		v, err = proof.VerifyConsistency(data, genesis, from)
	case checkpointPath != "":
		saved, rerr := readCheckpoint(checkpointPath)
		if rerr != nil {
			return rerr
		}
		if saved == nil {
			return fmt.Errorf("no checkpoint %s: a consistency bundle is checked from a checkpoint you already hold", checkpointPath)
		}
		if saved.ChainID != genesis.ChainID {
			return fmt.Errorf("checkpoint %s is for chain %q, the genesis is chain %q", checkpointPath, saved.ChainID, genesis.ChainID)
		}
		v, err = proof.VerifyConsistency(data, genesis, proof.Checkpoint{Size: saved.Size, Root: saved.Root})
	default:
		v, err = c.Verify(genesis)
	}
	if err != nil {
		return chainHint(fmt.Errorf("%s: %w", name, err), c.ChainID, genesis)
	}
	res := newConsistencyResult(v)
	if checkpointPath != "" {
		if err := writeCheckpoint(checkpointPath, newCheckpointFile(v.SignedHead)); err != nil {
			return err
		}
		res.Checkpoint = checkpointPath
	}
	if asJSON {
		return printJSON(e.stdout, res)
	}
	printConsistency(e.stdout, v, res.Checkpoint)
	if fromFlag == "" && checkpointPath == "" {
		fmt.Fprintf(e.stderr, "note: this shows the log grew from %s; compare that with the size and root you hold, or pass --from\n", v.From)
	}
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
	fields = append(fields, signedFields(v.SignedHead)...)
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
