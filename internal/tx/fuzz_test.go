package tx_test

import (
	"bytes"
	"testing"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/tx"
)

// seedTxs returns real encodings of every message type, signed, plus a few
// broken ones, as a starting corpus.
func seedTxs(t testing.TB) [][]byte {
	k := deterministicKey(t, "signer")
	var seeds [][]byte
	for _, m := range sampleMsgs(t) {
		seeds = append(seeds, tx.Build(testChain, k.id(), 1, m, k.sign))
	}
	seeds = append(seeds, nil, []byte{tx.Version}, goodEnvelope().bytes())
	return seeds
}

// FuzzDecode checks that Decode never panics and accepts only canonical
// bytes: whatever it accepts, Encode reproduces exactly.
func FuzzDecode(f *testing.F) {
	for _, s := range seedTxs(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tr, err := tx.Decode(raw)
		if err != nil {
			if c := tx.CodeOf(err); c != tx.CodeMalformed && c != tx.CodeTooLarge {
				t.Fatalf("Decode failed with code %s: %v", c, err)
			}
			if tr != nil {
				t.Fatal("Decode returned a transaction with an error")
			}
			return
		}
		if enc := tr.Encode(); !bytes.Equal(enc, raw) {
			t.Fatalf("decode-then-encode changed the bytes:\n in %x\nout %x", raw, enc)
		}
		// SignBytes is the encoding minus the signature, behind the domain.
		sb := tr.SignBytes()
		if !bytes.Equal(sb[len(sb)-(len(raw)-tx.SignatureLength):], raw[:len(raw)-tx.SignatureLength]) {
			t.Fatal("sign bytes do not end with the unsigned envelope")
		}
	})
}

// FuzzDecodeMsg checks every message decoder: no panic, only known codes,
// and decode-then-encode is the identity. ValidateBasic must not panic on
// anything that decodes either, since CheckTx runs it on untrusted input.
func FuzzDecodeMsg(f *testing.F) {
	for _, m := range sampleMsgs(f) {
		f.Add(uint32(m.Type()), m.Encode())
	}
	f.Add(uint32(0), []byte{})
	f.Add(uint32(99), []byte{1, 2, 3})
	// Consent messages that decode but break a rule, so the fuzzer starts
	// from ValidateBasic's refusals too: a condition that does not compile,
	// and a delegation to oneself.
	patient := deterministicKey(f, "patient").id()
	badCEL := sampleConsent(patient, "")
	badCEL.Provision.Condition = "request.purpose =="
	f.Add(uint32(tx.TypeGrantConsent), (&tx.GrantConsent{Patient: patient, Consent: consent.Encode(badCEL)}).Encode())
	f.Add(uint32(tx.TypeSetDelegate), (&tx.SetDelegate{Delegation: consent.EncodeDelegation(sampleDelegation(patient, patient))}).Encode())
	// Refusal tallies that decode but break a rule: out of order, and
	// counting nothing.
	f.Add(uint32(tx.TypeRecordUnattributedRefusals), (&tx.RecordUnattributedRefusals{Entries: []tx.RefusalTally{
		{Code: "token_missing", Count: 1}, {Code: "token_invalid", Claimed: patient, Count: 1}}}).Encode())
	f.Add(uint32(tx.TypeRecordUnattributedRefusals), (&tx.RecordUnattributedRefusals{Entries: []tx.RefusalTally{{Code: "token_missing"}}}).Encode())
	f.Fuzz(func(t *testing.T, typ uint32, body []byte) {
		m, err := tx.DecodeMsg(tx.Type(typ), body)
		if err != nil {
			if c := tx.CodeOf(err); c != tx.CodeMalformed && c != tx.CodeUnknownType {
				t.Fatalf("DecodeMsg failed with code %s: %v", c, err)
			}
			return
		}
		if m.Type() != tx.Type(typ) {
			t.Fatalf("decoded a %s from type %d", m.Type(), typ)
		}
		if enc := m.Encode(); !bytes.Equal(enc, body) {
			t.Fatalf("decode-then-encode changed the bytes:\n in %x\nout %x", body, enc)
		}
		if err := tx.ValidateBasic(testChain, naturalEnvelope(m), m); err != nil {
			switch tx.CodeOf(err) {
			case tx.CodeInvalid, tx.CodeBadSignature:
			default:
				t.Fatalf("ValidateBasic failed with code %s: %v", tx.CodeOf(err), err)
			}
		}
	})
}
