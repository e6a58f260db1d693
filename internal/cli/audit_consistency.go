package cli

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/proof"
)

func init() { auditSubcommands["consistency"] = runAuditConsistency }

// checkpointFile is what 'audit consistency --checkpoint' keeps between
// runs: the last audit log this client verified as signed by the
// validators, and where that was proven.
type checkpointFile struct {
	ChainID     string         `json:"chain_id"`
	Size        uint64         `json:"size"`
	Root        audit.HexBytes `json:"root"`
	StateHeight int64          `json:"state_height"`
	AppHash     audit.HexBytes `json:"app_hash"`
	BlockTime   time.Time      `json:"block_time"`
}

// newCheckpointFile is the checkpoint of a verified signed log.
func newCheckpointFile(v proof.SignedHead) checkpointFile {
	return checkpointFile{ChainID: v.ChainID, Size: v.LogSize, Root: v.LogRoot, StateHeight: v.StateHeight, AppHash: v.AppHash,
		BlockTime: v.BlockTime.UTC()}
}

// consistencyResult is what 'audit consistency --json' and 'verify --json'
// print for a consistency bundle.
type consistencyResult struct {
	Verified     bool      `json:"verified"`
	ChainID      string    `json:"chain_id"`
	From         string    `json:"from"` // SIZE:ROOTHEX
	To           string    `json:"to"`
	ToSize       uint64    `json:"to_size"`
	ToRoot       string    `json:"to_root"`
	StateHeight  int64     `json:"state_height"`
	SignedHeight int64     `json:"signed_height"`
	BlockTime    time.Time `json:"block_time"`
	AppHash      string    `json:"app_hash"`
	SignedPower  int64     `json:"signed_power"`
	TotalPower   int64     `json:"total_power"`
	TrustSteps   int       `json:"trust_steps"`
	Checkpoint   string    `json:"checkpoint,omitempty"` // the file written
}

func newConsistencyResult(v *proof.VerifiedConsistency) consistencyResult {
	return consistencyResult{Verified: true, ChainID: v.ChainID, From: v.From.String(), To: v.To().String(), ToSize: v.LogSize,
		ToRoot: hex.EncodeToString(v.LogRoot), StateHeight: v.StateHeight, SignedHeight: v.SignedHeight, BlockTime: v.BlockTime.UTC(),
		AppHash: hex.EncodeToString(v.AppHash), SignedPower: v.SignedPower, TotalPower: v.TotalPower, TrustSteps: v.TrustSteps}
}

// runAuditConsistency asks the node for a proof that the audit log only
// grew since a log the user verified before, and checks it offline
// against the genesis: the node is not trusted.
func runAuditConsistency(e *env, args []string) error {
	fs := newFlags(e, "audit consistency", "audit consistency --genesis GENESIS.json (--checkpoint FILE | --from SIZE:ROOTHEX [--to SIZE]) "+
		"[--out BUNDLE.json] [--node URL | --home DIR] [--json]")
	connect := nodeFlags(e, "audit consistency", fs)
	genesisPath := fs.String("genesis", "", "the chain's genesis document, the only thing verification trusts")
	checkpointPath := fs.String("checkpoint", "", "file holding the last verified log; created on first use, advanced after each verified proof")
	fromFlag := fs.String("from", "", "the log you verified before, SIZE:ROOTHEX (for example the log size and root 'carechain verify' printed)")
	toFlag := fs.Uint64("to", 0, "prove up to this earlier log size (default: the latest signed log); only with --from")
	out := fs.String("out", "", "also write the consistency bundle here, for 'carechain verify' later")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if (*checkpointPath == "") == (*fromFlag == "") {
		return withHint(usageError("audit consistency needs exactly one of --checkpoint FILE and --from SIZE:ROOTHEX"),
			"--checkpoint keeps the last verified log for you; a missing file starts from the empty log")
	}
	if *toFlag != 0 && *fromFlag == "" {
		return usageError("--to goes with --from: a checkpoint always advances to the latest signed log")
	}
	genesis, err := loadGenesis(*genesisPath)
	if err != nil {
		return err
	}
	from := proof.EmptyLog()
	var saved *checkpointFile
	if *fromFlag != "" {
		if from, err = proof.ParseCheckpoint(*fromFlag); err != nil {
			return withHint(usageError("--from: %v", err), "for example --from 17:3f1c…(64 hex digits)")
		}
	} else if saved, err = readCheckpoint(*checkpointPath); err != nil {
		return err
	} else if saved != nil {
		if saved.ChainID != genesis.ChainID {
			return fmt.Errorf("checkpoint %s is for chain %q, the genesis is chain %q", *checkpointPath, saved.ChainID, genesis.ChainID)
		}
		from = proof.Checkpoint{Size: saved.Size, Root: saved.Root}
	}
	c, err := connect()
	if err != nil {
		return err
	}
	data, err := c.AuditConsistency(e.ctx, from.Size, *toFlag)
	if err != nil {
		return err
	}
	if *out != "" {
		// Written before it is judged: a bundle that fails is the evidence.
		if err := os.WriteFile(*out, data, 0o644); err != nil {
			return err
		}
	}
	v, err := proof.VerifyConsistency(data, genesis, from)
	if err != nil {
		return withHint(fmt.Errorf("the node's audit log does not extend %s: %w", from, err),
			"keep the checkpoint and the bundle (--out): if the proof is well formed, the log the validators sign now rewrites the one you saw")
	}
	res := newConsistencyResult(v)
	if *checkpointPath != "" {
		if err := writeCheckpoint(*checkpointPath, newCheckpointFile(v.SignedHead)); err != nil {
			return err
		}
		res.Checkpoint = *checkpointPath
	}
	if *asJSON {
		return printJSON(e.stdout, res)
	}
	printConsistency(e.stdout, v, res.Checkpoint)
	return nil
}

func printConsistency(w io.Writer, v *proof.VerifiedConsistency, checkpoint string) {
	fmt.Fprintf(w, "verified: the audit log of chain %s only grew, from %s to %s\n", v.ChainID, eventCount(v.From.Size), eventCount(v.LogSize))
	fields := [][2]string{{"from", v.From.String()}, {"to", v.To().String()}}
	fields = append(fields, signedFields(v.SignedHead)...)
	if checkpoint != "" {
		fields = append(fields, [2]string{"checkpoint", checkpoint + " now holds " + v.To().String()})
	}
	printFields(w, fields)
}

func eventCount(n uint64) string {
	if n == 1 {
		return "1 event"
	}
	return strconv.FormatUint(n, 10) + " events"
}

// signedFields describes what proves a signed audit head.
func signedFields(v proof.SignedHead) [][2]string {
	signers := "the genesis validators"
	if v.TrustSteps > 0 {
		signers = "validators reached from genesis in " + strconv.Itoa(v.TrustSteps) + " light-client steps"
	}
	return [][2]string{
		{"proven by", fmt.Sprintf("audit log of %s, root %x, in the state after block %d (app hash %x)",
			eventCount(v.LogSize), v.LogRoot, v.StateHeight, v.AppHash)},
		{"signed", fmt.Sprintf("block %d at %s by %d of %d voting power of %s", v.SignedHeight,
			v.BlockTime.UTC().Format(time.RFC3339), v.SignedPower, v.TotalPower, signers)},
	}
}

// loadGenesis reads the genesis document verification trusts.
func loadGenesis(path string) (*types.GenesisDoc, error) {
	if err := required("genesis", path); err != nil {
		return nil, withHint(err, "the genesis is the only thing verification trusts: use the one your organization holds, not one the bundle's sender gave you")
	}
	genesisJSON, err := readLimited(path, 64<<20)
	if err != nil {
		return nil, err
	}
	genesis, err := types.GenesisDocFromJSON(genesisJSON)
	if err != nil {
		return nil, fmt.Errorf("%s is not a genesis document: %w", path, err)
	}
	return genesis, nil
}

// readCheckpoint reads a checkpoint file, or returns nil if there is none
// yet.
func readCheckpoint(path string) (*checkpointFile, error) {
	data, err := readLimited(path, 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cp checkpointFile
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if len(cp.Root) != 32 || cp.ChainID == "" {
		return nil, fmt.Errorf("checkpoint %s: not a checkpoint ('carechain audit consistency --checkpoint' writes one)", path)
	}
	return &cp, nil
}

// writeCheckpoint replaces the checkpoint file atomically, so that a crash
// leaves the old checkpoint or the new one, never half of either.
func writeCheckpoint(path string, cp checkpointFile) error {
	data, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".checkpoint-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
