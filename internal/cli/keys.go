package cli

import (
	"encoding/base64"
	"fmt"

	"github.com/carechain/carechain/internal/keyfile"
)

func runKeys(e *env, args []string) error {
	if len(args) == 0 {
		return withHint(usageError("keys needs a subcommand"), "carechain keys new --out FILE | carechain keys show --key FILE")
	}
	switch args[0] {
	case "new":
		return runKeysNew(e, args[1:])
	case "show":
		return runKeysShow(e, args[1:])
	case "-h", "--help":
		fmt.Fprintln(e.stdout, "Usage: carechain keys new --out FILE [--json] | carechain keys show --key FILE [--json]")
		return nil
	}
	return withHint(usageError("unknown keys subcommand %q", args[0]), "carechain keys new | show")
}

type keyJSON struct {
	ID            string `json:"id"`
	File          string `json:"file"`
	SignPublicKey string `json:"sign_public_key"`
	HPKEPublicKey string `json:"hpke_public_key"`
}

func keyView(k *keyfile.Key, path string) keyJSON {
	return keyJSON{ID: k.ID, File: path, SignPublicKey: base64.StdEncoding.EncodeToString(k.SignPublic()),
		HPKEPublicKey: base64.StdEncoding.EncodeToString(k.HPKEPublic())}
}

func runKeysNew(e *env, args []string) error {
	fs := newFlags(e, "keys new", "keys new --out FILE [--json]")
	out := fs.String("out", "", "where to write the key file (mode 0600; never overwritten)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := required("out", *out); err != nil {
		return err
	}
	k, err := keyfile.Generate()
	if err != nil {
		return err
	}
	if err := k.Save(*out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, keyView(k, *out))
	}
	fmt.Fprintf(e.stdout, "%s\n", k.ID)
	fmt.Fprintf(e.stderr, "wrote signing and HPKE keys to %s; register them with 'carechain identity register --key %s'\n", *out, *out)
	return nil
}

func runKeysShow(e *env, args []string) error {
	fs := newFlags(e, "keys show", "keys show --key FILE [--id | --json]")
	path := fs.String("key", "", "key file")
	onlyID := fs.Bool("id", false, "print only the actor id, for use in scripts: --to $(carechain keys show --key k.json --id)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := required("key", *path); err != nil {
		return err
	}
	k, err := keyfile.Load(*path)
	if err != nil {
		return err
	}
	v := keyView(k, *path)
	if *onlyID {
		fmt.Fprintln(e.stdout, v.ID)
		return nil
	}
	if *asJSON {
		return printJSON(e.stdout, v)
	}
	printFields(e.stdout, [][2]string{{"id", v.ID}, {"signing key", v.SignPublicKey}, {"hpke key", v.HPKEPublicKey[:32] + "…"}})
	return nil
}

func runVersion(e *env, args []string) error {
	fmt.Fprintln(e.stdout, "carechain", Version)
	return nil
}

// Version is the release version, set at build time with
// -ldflags "-X github.com/carechain/carechain/internal/cli.Version=…".
var Version = "dev"
