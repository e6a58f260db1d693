package cli

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

func runIdentity(e *env, args []string) error {
	subs := map[string]func(*env, []string) error{
		"register": runIdentityRegister, "show": runIdentityShow, "rotate": runIdentityRotate, "revoke": runIdentityRevoke,
		"roles": runIdentityRoles,
	}
	if len(args) > 0 {
		if f, ok := subs[args[0]]; ok {
			return f(e, args[1:])
		}
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprintln(e.stdout, "Usage: carechain identity register|show|rotate|revoke [flags]")
			return nil
		}
	}
	return withHint(usageError("identity needs a subcommand: register, show, rotate, revoke or roles"), "run 'carechain identity register --help'")
}

// signerAndNode loads the --key file and resolves the gateway, the two
// things every signing command needs first.
func signerAndNode(keyPath string, connect func() (*client.Client, error)) (*keyfile.Key, *client.Client, error) {
	k, err := loadKey("key", keyPath)
	if err != nil {
		return nil, nil, err
	}
	cl, err := connect()
	if err != nil {
		return nil, nil, err
	}
	return k, cl, nil
}

func loadKey(flagName, path string) (*keyfile.Key, error) {
	if err := required(flagName, path); err != nil {
		return nil, err
	}
	k, err := keyfile.Load(path)
	if err != nil {
		return nil, withHint(err, "create a key with 'carechain keys new --out FILE'")
	}
	return k, nil
}

func runIdentityRegister(e *env, args []string) error {
	fs := newFlags(e, "identity register", "identity register --key FILE --kind patient|delegate|organization|auditor|practitioner|application [--name NAME] [--org ID] [--by FILE] [--json]")
	connect := nodeFlags(e, "identity register", fs)
	keyPath := fs.String("key", "", "key file of the identity to register")
	kindName := fs.String("kind", "", "patient, delegate, organization, auditor, practitioner or application")
	name := fs.String("name", "", "display name (not for patients: no direct identifiers go on the ledger)")
	org := fs.String("org", "", "organization id, for a practitioner or application (default: the id of the --by key)")
	by := fs.String("by", "", "key of whoever admits it: the admin key for an organization or auditor, the organization's key for its practitioners and applications; none for patients and delegates")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	kind, ok := tx.ParseKind(*kindName)
	if !ok || kind == tx.KindAdmin {
		return withHint(usageError("--kind %q is not a kind that can be registered", *kindName), "use patient, delegate, organization, auditor, practitioner or application")
	}
	selfRegistered := tx.SelfRegistered(kind)
	if selfRegistered && *by != "" {
		return usageError("a %s registers itself; drop --by", kind)
	}
	if !selfRegistered && *by == "" {
		who := "the consortium admin's key (admin.key.json)"
		if kind == tx.KindPractitioner || kind == tx.KindApplication {
			who = "its organization's key"
		}
		return withHint(usageError("a %s is admitted by its sponsor: pass --by", kind), "--by "+who)
	}
	signer := k
	if !selfRegistered {
		if signer, err = loadKey("by", *by); err != nil {
			return err
		}
		if (kind == tx.KindPractitioner || kind == tx.KindApplication) && *org == "" {
			*org = signer.ID // an organization admits its own members
		}
	}
	c, err := connect()
	if err != nil {
		return err
	}
	chainID, err := c.ChainID(e.ctx)
	if err != nil {
		return err
	}
	res, err := c.Send(e.ctx, signer, tx.NewRegistration(chainID, kind, *name, *org, k.Sign, k.HPKEPublic()))
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"id": k.ID, "kind": kind.String(), "height": res.Height, "tx": res.Hash})
	}
	fmt.Fprintln(e.stdout, k.ID)
	fmt.Fprintf(e.stderr, "registered %s %s at height %d\n", kind, k.ID, res.Height)
	return nil
}

func runIdentityShow(e *env, args []string) error {
	fs := newFlags(e, "identity show", "identity show ID [--json]")
	connect := nodeFlags(e, "identity show", fs)
	keyPath := fs.String("key", "", "show the identity of this key file instead of ID")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	var id string
	switch {
	case len(pos) == 1:
		id = pos[0]
	case *keyPath != "":
		k, err := loadKey("key", *keyPath)
		if err != nil {
			return err
		}
		id = k.ID
	default:
		return usageError("identity show needs an ID or --key FILE")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	res, err := c.Actor(e.ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, res)
	}
	a := res.Actor
	status := "active"
	if a.Revoked {
		status = "revoked at height " + strconv.FormatInt(a.RevokedAt, 10)
	}
	fields := [][2]string{{"id", a.ID}, {"kind", a.Kind}}
	if a.Name != "" {
		fields = append(fields, [2]string{"name", a.Name})
	}
	if a.Org != "" {
		fields = append(fields, [2]string{"organization", a.Org})
	}
	if a.Sponsor != "" {
		fields = append(fields, [2]string{"admitted by", a.Sponsor})
	}
	fields = append(fields, [][2]string{{"status", status}, {"registered at", strconv.FormatInt(a.RegisteredAt, 10)},
		{"key version", strconv.FormatUint(uint64(a.KeyVersion), 10)}, {"signing key", base64.StdEncoding.EncodeToString(a.SignKey)},
		{"proof", fmt.Sprintf("verified against state root %X at height %d", res.Proof.Root, res.Proof.Height)}}...)
	printFields(e.stdout, fields)
	return nil
}

func runIdentityRotate(e *env, args []string) error {
	fs := newFlags(e, "identity rotate", "identity rotate --key FILE --out NEWFILE [--by FILE] [--json]")
	connect := nodeFlags(e, "identity rotate", fs)
	keyPath := fs.String("key", "", "current key file of the identity")
	out := fs.String("out", "", "where to write the new key file (written before the rotation is submitted)")
	by := fs.String("by", "", "sign as the identity's sponsor instead (recovery of a lost key); --key then only names the identity")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := required("out", *out); err != nil {
		return err
	}
	old, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	signer := old
	if *by != "" {
		if signer, err = loadKey("by", *by); err != nil {
			return err
		}
	}
	c, err := connect()
	if err != nil {
		return err
	}
	chainID, err := c.ChainID(e.ctx)
	if err != nil {
		return err
	}
	next, err := keyfile.GenerateFor(old.ID)
	if err != nil {
		return err
	}
	// Save first: a rotation that commits while its key is lost would lock
	// the identity out.
	if err := next.Save(*out); err != nil {
		return err
	}
	res, err := c.Send(e.ctx, signer, tx.NewRotation(chainID, old.ID, next.Sign, next.HPKEPublic()))
	if err != nil {
		return withHint(err, *out+" was written but is not active; delete it before retrying")
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"id": old.ID, "key_file": *out, "height": res.Height, "tx": res.Hash})
	}
	fmt.Fprintf(e.stdout, "rotated keys of %s at height %d; the new key is %s and the old key signs nothing more\n", old.ID, res.Height, *out)
	return nil
}

func runIdentityRevoke(e *env, args []string) error {
	fs := newFlags(e, "identity revoke", "identity revoke --key FILE [ID] [--reason TEXT] [--json]")
	connect := nodeFlags(e, "identity revoke", fs)
	keyPath := fs.String("key", "", "key file of the signer: the identity itself, its sponsor, or the admin")
	reason := fs.String("reason", "", "why (recorded on the ledger; no health information)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	target := k.ID
	if len(pos) == 1 {
		target = pos[0]
	}
	c, err := connect()
	if err != nil {
		return err
	}
	res, err := c.Send(e.ctx, k, &tx.RevokeActor{Actor: target, Reason: *reason})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"id": target, "revoked": true, "height": res.Height, "tx": res.Hash})
	}
	fmt.Fprintf(e.stdout, "revoked %s at height %d; nothing it signs is accepted from now on\n", target, res.Height)
	return nil
}

func runIdentityRoles(e *env, args []string) error {
	fs := newFlags(e, "identity roles", "identity roles --key ORG.json --roles emergency[,…] [--json] ID")
	connect := nodeFlags(e, "identity roles", fs)
	keyPath := fs.String("key", "", "key file of the practitioner's or application's organization")
	roles := fs.String("roles", "", "role codes, comma-separated (emergency may break the glass); empty clears them")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	k, c, err := signerAndNode(*keyPath, connect)
	if err != nil {
		return err
	}
	list := tx.SortLabels(splitFlag(strings.ToLower(*roles)))
	res, err := c.Send(e.ctx, k, &tx.SetRoles{Actor: pos[0], Roles: list})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"id": pos[0], "roles": list, "height": res.Height, "tx": res.Hash})
	}
	fmt.Fprintf(e.stdout, "%s now has roles [%s] (height %d)\n", pos[0], strings.Join(list, ", "), res.Height)
	return nil
}
