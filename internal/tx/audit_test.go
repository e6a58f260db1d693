package tx_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/tx"
)

// TestRefusalTalliesValidateBasic checks the stateless rules of an
// audit.refusals: 1 to 64 entries, each a printable code, an empty or
// printable claimed client and a count of at least one, in strictly
// ascending (code, claimed) order.
func TestRefusalTalliesValidateBasic(t *testing.T) {
	tally := func(entries ...tx.RefusalTally) *tx.RecordUnattributedRefusals {
		return &tx.RecordUnattributedRefusals{Entries: entries}
	}
	full := tally()
	for i := range tx.MaxRefusalEntries {
		full.Entries = append(full.Entries, tx.RefusalTally{Code: "token_invalid", Claimed: fmt.Sprintf("cc%02d", i), Count: 1})
	}
	over := tally(append(full.Entries, tx.RefusalTally{Code: "token_missing", Count: 1})...)
	cases := []struct {
		name string
		msg  *tx.RecordUnattributedRefusals
		want tx.Code
	}{
		{"one claiming nobody", tally(tx.RefusalTally{Code: "token_missing", Count: 1}), tx.CodeOK},
		{"ordered by code, then claim", tally(tx.RefusalTally{Code: "a", Claimed: "z", Count: 1}, tx.RefusalTally{Code: "b", Count: 2},
			tx.RefusalTally{Code: "b", Claimed: "a", Count: 3}), tx.CodeOK},
		{"64 entries", full, tx.CodeOK},
		{"a code of 64 bytes", tally(tx.RefusalTally{Code: strings.Repeat("c", tx.MaxRefusalCodeLen), Count: 1}), tx.CodeOK},
		{"printable punctuation", tally(tx.RefusalTally{Code: "Weird-Code.1", Claimed: "x@y!", Count: 1}), tx.CodeOK},
		{"no entries", tally(), tx.CodeInvalid},
		{"65 entries", over, tx.CodeInvalid},
		{"no code", tally(tx.RefusalTally{Claimed: "cca", Count: 1}), tx.CodeInvalid},
		{"a code with a space", tally(tx.RefusalTally{Code: "token missing", Count: 1}), tx.CodeInvalid},
		{"a code with a control byte", tally(tx.RefusalTally{Code: "token\n", Count: 1}), tx.CodeInvalid},
		{"a non-ASCII code", tally(tx.RefusalTally{Code: "tökén", Count: 1}), tx.CodeInvalid},
		{"a code too long", tally(tx.RefusalTally{Code: strings.Repeat("c", tx.MaxRefusalCodeLen+1), Count: 1}), tx.CodeInvalid},
		{"a claim with a space", tally(tx.RefusalTally{Code: "token_invalid", Claimed: "cc a", Count: 1}), tx.CodeInvalid},
		{"a claim too long", tally(tx.RefusalTally{Code: "token_invalid", Claimed: strings.Repeat("c", tx.MaxIDLen+1), Count: 1}), tx.CodeInvalid},
		{"a count of zero", tally(tx.RefusalTally{Code: "token_missing"}), tx.CodeInvalid},
		{"a duplicate", tally(tx.RefusalTally{Code: "a", Count: 1}, tx.RefusalTally{Code: "a", Count: 1}), tx.CodeInvalid},
		{"codes descending", tally(tx.RefusalTally{Code: "b", Count: 1}, tx.RefusalTally{Code: "a", Count: 1}), tx.CodeInvalid},
		{"claims descending", tally(tx.RefusalTally{Code: "a", Claimed: "y", Count: 1}, tx.RefusalTally{Code: "a", Claimed: "x", Count: 1}), tx.CodeInvalid},
		{"a claim before none", tally(tx.RefusalTally{Code: "a", Claimed: "x", Count: 1}, tx.RefusalTally{Code: "a", Count: 1}), tx.CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := tx.ValidateBasic(testChain, envelopeFor(c.msg, "ccorganization"), c.msg)
			if got := tx.CodeOf(err); got != c.want {
				t.Fatalf("ValidateBasic code %s, want %s (%v)", got, c.want, err)
			}
		})
	}
}

// TestRefusalTalliesDecodeRejects checks the decoder's limits: the number
// of entries and each field's length are bounded before anything is
// allocated for them.
func TestRefusalTalliesDecodeRejects(t *testing.T) {
	good := sampleMsgs(t)["record-unattributed-refusals"].Encode()
	many := codec.NewWriter(0)
	many.Uvarint(tx.MaxRefusalEntries + 1)
	longCode := codec.NewWriter(0)
	longCode.Uvarint(1)
	longCode.String(strings.Repeat("c", tx.MaxRefusalCodeLen+1))
	longCode.String("")
	longCode.Uvarint(1)
	longClaim := codec.NewWriter(0)
	longClaim.Uvarint(1)
	longClaim.String("token_invalid")
	longClaim.String(strings.Repeat("c", tx.MaxIDLen+1))
	longClaim.Uvarint(1)
	for name, body := range map[string][]byte{
		"empty":           nil,
		"trailing":        append(bytes.Clone(good), 0),
		"truncated":       good[:len(good)-1],
		"too many":        many.Bytes(),
		"code too long":   longCode.Bytes(),
		"claim too long":  longClaim.Bytes(),
		"invalid UTF-8":   {1, 2, 0xc3, 0x28, 0, 1},
		"non-minimal len": append([]byte{0x81, 0x00}, good[1:]...),
	} {
		if m, err := tx.DecodeMsg(tx.TypeRecordUnattributedRefusals, body); m != nil || tx.CodeOf(err) != tx.CodeMalformed {
			t.Errorf("%s: DecodeMsg = %v, %v; want malformed", name, m, err)
		}
	}
}

// TestClaimedClient checks which claims a gateway keeps: id-shaped
// printable ASCII, bounded; anything else claims nobody.
func TestClaimedClient(t *testing.T) {
	for in, want := range map[string]string{
		"ccqyd6fl3k6zwxk3feudbwjgd7":       "ccqyd6fl3k6zwxk3feudbwjgd7",
		"anything-printable@x":             "anything-printable@x",
		"":                                 "",
		"with space":                       "",
		"tab\there":                        "",
		"ünïcode":                          "",
		strings.Repeat("x", tx.MaxIDLen):   strings.Repeat("x", tx.MaxIDLen),
		strings.Repeat("x", tx.MaxIDLen+1): "",
	} {
		if got := tx.ClaimedClient(in); got != want {
			t.Errorf("ClaimedClient(%q) = %q, want %q", in, got, want)
		}
	}
}
