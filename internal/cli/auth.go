package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/smart"
)

func runAuth(e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return runAuthToken(e, args[1:])
		case "-h", "--help":
			fmt.Fprintln(e.stdout, "Usage: carechain auth token --key FILE --scope SCOPES [--purpose CODE] [--json]")
			return nil
		}
	}
	return withHint(usageError("auth needs a subcommand: token"), "run 'carechain auth token --help'")
}

func runAuthToken(e *env, args []string) error {
	fs := newFlags(e, "auth token", "auth token --key FILE --scope SCOPES [--purpose CODE] [--json]")
	connect := nodeFlags(e, "auth token", fs)
	keyPath := fs.String("key", "", "key file of the client: an organization, or a practitioner or application it admitted")
	scope := fs.String("scope", "", "SMART system scopes, space-separated, e.g. 'system/*.rs' or 'system/Observation.rs system/Patient.r'")
	purpose := fs.String("purpose", "", "purpose of use the token carries: TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PATRQT or BTG")
	asJSON := fs.Bool("json", false, "print the whole token response as JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := required("scope", *scope); err != nil {
		return err
	}
	// Checked here too, so a typo is a usage error rather than a refusal.
	if _, err := smart.ParseScopes(*scope); err != nil {
		var se *smart.Error
		if errors.As(err, &se) {
			return withHint(usageError("--scope: %s", se.Description), "e.g. --scope 'system/*.rs'")
		}
		return err
	}
	if *purpose != "" && !consent.IsKnownPurpose(consent.Purpose(*purpose)) {
		return withHint(usageError("--purpose %q is not a purpose of use", *purpose), "use TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PATRQT or BTG")
	}
	k, err := loadKey("key", *keyPath)
	if err != nil {
		return err
	}
	c, err := connect()
	if err != nil {
		return err
	}
	tok, err := c.Token(e.ctx, k, *scope, consent.Purpose(*purpose))
	if err != nil {
		return withHint(err, "only a registered, unrevoked organization, practitioner or application gets a token; check it with 'carechain identity show --key "+*keyPath+"'")
	}
	if *asJSON {
		return printJSON(e.stdout, tok)
	}
	fmt.Fprintln(e.stdout, tok.AccessToken)
	until := time.Now().Add(time.Duration(tok.ExpiresIn) * time.Second).Format(time.RFC3339)
	fmt.Fprintf(e.stderr, "bearer token for %s, scope %q, valid until about %s; send it as 'Authorization: Bearer <token>'\n", k.ID, tok.Scope, until)
	return nil
}
