package keyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carechain/carechain/internal/tx"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "k.json")
	if err := k.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || got.ID != tx.ActorID(k.SignPublic()) || !got.Sign.Equal(k.Sign) || string(got.HPKEPublic()) != string(k.HPKEPublic()) {
		t.Fatal("loaded key differs from saved key")
	}
	if err := k.Save(path); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second save = %v, want refusal", err)
	}
}

func TestUnmarshalRejectsMismatchedHalves(t *testing.T) {
	a, _ := Generate()
	b, _ := Generate()
	ja, _ := a.Marshal()
	jb, _ := b.Marshal()
	// Splice b's public signing key into a's file.
	bad := strings.Replace(string(ja), fieldValue(string(ja), "sign_public_key"), fieldValue(string(jb), "sign_public_key"), 1)
	if _, err := Unmarshal([]byte(bad)); err == nil {
		t.Fatal("accepted a key file whose public key does not match its private key")
	}
	if _, err := Unmarshal([]byte("{}")); err == nil {
		t.Fatal("accepted an empty key file")
	}
	if _, err := Unmarshal([]byte("not json")); err == nil {
		t.Fatal("accepted garbage")
	}
}

func fieldValue(js, field string) string {
	i := strings.Index(js, `"`+field+`": "`) + len(field) + 5
	j := strings.Index(js[i:], `"`)
	return js[i : i+j]
}
