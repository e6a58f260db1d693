package cli

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/tx"
)

func runJoin(e *env, args []string) error {
	fs := newFlags(e, "join", "join --home DIR --from URL --base-port P [--json]")
	home := fs.String("home", "", "the new node's home directory")
	from := fs.String("from", "", "gateway URL of a node of the network to join")
	basePort := fs.Int("base-port", 0, "listen on P (p2p), P+1 (CometBFT RPC), P+2 (API)")
	asJSON := fs.Bool("json", false, "print the node's addresses as JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *home == "" || *from == "" || *basePort == 0 {
		return withHint(usageError("--home, --from and --base-port are required"), "for example: carechain join --home ./net/node4 --from http://127.0.0.1:27002 --base-port 27040")
	}
	info, err := client.New(*from).Network(e.ctx)
	if err != nil {
		return err
	}
	m, err := node.Join(*home, info, *basePort)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, memberView(m))
	}
	fmt.Fprintf(e.stdout, "created %s in %s for chain %s; it follows the chain once started\n", m.Name, *home, info.ChainID)
	fmt.Fprintf(e.stdout, "start it with: carechain start --home %s\n", *home)
	fmt.Fprintf(e.stdout, "then the consortium admin makes it a validator: carechain validator add --key admin.key.json --home %s --name NAME\n", *home)
	return nil
}

const validatorUsage = "Usage: carechain validator add|remove [flags]"

func runValidator(e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return runValidatorSet(e, args[1:], true)
		case "remove":
			return runValidatorSet(e, args[1:], false)
		case "-h", "--help":
			fmt.Fprintln(e.stdout, validatorUsage)
			return nil
		}
	}
	return withHint(usageError("validator needs a subcommand: add or remove"), "run 'carechain validator add --help'")
}

// runValidatorSet adds (or removes) the validator whose keys are in
// --validator-home, signed by the consortium admin.
func runValidatorSet(e *env, args []string, add bool) error {
	verb := map[bool]string{true: "add", false: "remove"}[add]
	synopsis := "validator " + verb + " --key ADMIN.json --validator-home DIR [--name NAME] [--power 10] [--api URL] [--node URL | --home DIR] [--json]"
	if !add {
		synopsis = "validator remove --key ADMIN.json (--validator-home DIR | --pubkey HEX) [--node URL | --home DIR] [--json]"
	}
	fs := newFlags(e, "validator "+verb, synopsis)
	connect := nodeFlags(e, "validator "+verb, fs)
	keyPath := fs.String("key", "", "the consortium admin's key file")
	vhome := fs.String("validator-home", "", "home of the node whose keys join (or leave) the validator set")
	pubHex := fs.String("pubkey", "", "with remove: the validator's consensus public key, hex, instead of --validator-home")
	name := fs.String("name", "", "with add: the validator's name (default: its home's moniker)")
	power := fs.Uint64("power", 10, "with add: voting power")
	api := fs.String("api", "", "with add: the validator's gateway URL as its peers reach it (default: http:// and its home's api.listen)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	m := &tx.SetValidator{Name: *name, Power: *power}
	switch {
	case *vhome != "":
		pub, hpkeKey, err := node.ValidatorKeys(*vhome)
		if err != nil {
			return err
		}
		m.PubKey = pub
		if add {
			cfg, err := node.LoadConfig(*vhome)
			if err != nil {
				return err
			}
			m.HPKEKey, m.API = hpkeKey, *api
			if m.Name == "" {
				m.Name = cfg.Moniker
			}
			if m.API == "" {
				m.API = "http://" + cfg.API.Listen
			}
		}
	case !add && *pubHex != "":
		if m.PubKey, err = hex.DecodeString(*pubHex); err != nil || len(m.PubKey) != 32 {
			return usageError("--pubkey must be 64 hex digits")
		}
	default:
		return usageError("name the validator with --validator-home DIR%s", map[bool]string{true: "", false: " or --pubkey HEX"}[add])
	}
	if !add {
		m.Power, m.Name, m.API = 0, "", ""
	} else if *vhome == "" {
		return usageError("validator add needs --validator-home DIR")
	}
	cl, err := connect()
	if err != nil {
		return err
	}
	res, err := cl.Send(e.ctx, k, m)
	if err != nil {
		return err
	}
	addr := strings.ToUpper(hex.EncodeToString(identity.ValidatorAddress(m.PubKey)))
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"address": addr, "power": m.Power, "height": res.Height, "tx": res.Hash})
	}
	if add {
		fmt.Fprintf(e.stdout, "validator %s (%s) set to power %d at height %d; it votes from height %d, and records are sealed to it from height %d\n",
			addr, m.Name, m.Power, res.Height, res.Height+2, res.Height+1)
	} else {
		fmt.Fprintf(e.stdout, "validator %s removed at height %d; it stops voting at height %d\n", addr, res.Height, res.Height+2)
	}
	return nil
}
