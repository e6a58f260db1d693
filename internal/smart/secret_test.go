package smart

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config", "token.key")
	k1, err := LoadOrCreateTokenKey(path)
	if err != nil || len(k1) != TokenKeyBytes {
		t.Fatalf("create: %x %v", k1, err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", info.Mode(), err)
	}
	k2, err := LoadOrCreateTokenKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("reload: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateTokenKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("readable key: %v", err)
	}
	if err := os.WriteFile(path, []byte("abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o600)
	if _, err := LoadOrCreateTokenKey(path); err == nil {
		t.Fatal("short key accepted")
	}
}
