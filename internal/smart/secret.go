package smart

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenKeyBytes is the size of a node's token key.
const TokenKeyBytes = 32

// LoadOrCreateTokenKey reads the node's access-token key from path, or
// creates one (random, hex, mode 0600) if there is none. The key never
// leaves the node: only this node verifies its tokens. It refuses a key
// file that others may read, as ssh does, since anyone who reads it can
// mint tokens for any client. Deleting the file and restarting the node
// invalidates every token it issued.
func LoadOrCreateTokenKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createTokenKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read token key: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("token key %s is readable by others (mode %04o); run chmod 600 %s", path, info.Mode().Perm(), path)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < MinTokenKeyBytes {
		return nil, fmt.Errorf("token key %s is not %d or more hex-encoded bytes; delete it to create a new one (outstanding tokens stop working)", path, MinTokenKeyBytes)
	}
	return key, nil
}

func createTokenKey(path string) ([]byte, error) {
	key := make([]byte, TokenKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("draw token key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create token key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create token key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write token key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync token key: %w", err)
	}
	return key, f.Close()
}
