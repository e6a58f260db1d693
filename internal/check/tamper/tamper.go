// Package tamper changes one byte in a stopped node's stores, the way
// someone with write access to its disk could, for the tests that show that
// carechain check and the start-up check notice. carechain never imports it.
//
// It rewrites a record through LevelDB with one byte of its value changed,
// rather than flipping a byte in a file. LevelDB checksums every block of
// its files, so a byte flipped in a file is reported as a read error before
// carechain's own checks see anything; someone who rewrites a record through
// LevelDB, as any LevelDB tool does, leaves valid checksums behind, and that
// is the change carechain's checks must find. The byte is located by a known
// value (an actor's public key, an id), so each test names what it changed.
package tamper

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	cmtdb "github.com/cometbft/cometbft-db"
	cosmosdb "github.com/cosmos/cosmos-db"
)

// Edit says what was changed.
type Edit struct {
	DBKey  []byte // the LevelDB key of the record
	Offset int    // the byte changed, in the record's value
	Old    byte
	New    byte
}

func (e Edit) String() string {
	return fmt.Sprintf("record %q byte %d: %#02x -> %#02x", e.DBKey, e.Offset, e.Old, e.New)
}

// flip changes the middle byte of the first occurrence of needle in
// value[from:to], or the middle byte of that range when needle is nil. The
// low bit is flipped, which keeps an ASCII letter or digit printable.
func flip(value []byte, from, to int, needle []byte) (int, error) {
	if from < 0 || to > len(value) || from >= to {
		return 0, errors.New("empty range")
	}
	at := from + (to-from)/2
	if needle != nil {
		i := bytes.Index(value[from:to], needle)
		if i < 0 {
			return 0, fmt.Errorf("%x not found in the value", needle)
		}
		at = from + i + len(needle)/2
	}
	value[at] ^= 1
	return at, nil
}

// BlockPart changes one byte of the first part of block height in the block
// store in cometData (CometBFT's data directory): in the first occurrence
// of needle, or in the middle of the part when needle is nil.
func BlockPart(cometData string, height int64, needle []byte) (Edit, error) {
	db, err := cmtdb.NewGoLevelDB("blockstore", cometData)
	if err != nil {
		return Edit{}, err
	}
	defer db.Close()
	key := []byte(fmt.Sprintf("P:%d:0", height))
	value, err := db.Get(key)
	if err != nil || value == nil {
		return Edit{}, fmt.Errorf("read %s: %v", key, err)
	}
	value = bytes.Clone(value)
	at, err := flip(value, 0, len(value), needle)
	if err != nil {
		return Edit{}, fmt.Errorf("%s: %w", key, err)
	}
	return Edit{DBKey: key, Offset: at, Old: value[at] ^ 1, New: value[at]}, db.SetSync(key, value)
}

// StateLeaf changes one byte in the value of key in the newest leaf the
// state tree in appData (HOME/data/app) holds for it, leaving IAVL's fast
// index as it was.
//
// An IAVL v1 leaf is stored under 's'‹version›‹nonce› as varint height (0),
// varint size (1), the key and the value, each prefixed by its uvarint
// length. The leaf is found by that prefix; the newest is the one with the
// highest version, which sorts last.
func StateLeaf(appData string, key, needle []byte) (Edit, error) {
	db, err := cosmosdb.NewGoLevelDB("state", appData, nil)
	if err != nil {
		return Edit{}, err
	}
	defer db.Close()
	prefix := append([]byte{0x00, 0x02}, binary.AppendUvarint(nil, uint64(len(key)))...)
	prefix = append(prefix, key...)
	it, err := db.Iterator([]byte("s"), []byte("t"))
	if err != nil {
		return Edit{}, err
	}
	var dbKey, value []byte
	for ; it.Valid(); it.Next() {
		if bytes.HasPrefix(it.Value(), prefix) {
			dbKey, value = bytes.Clone(it.Key()), bytes.Clone(it.Value())
		}
	}
	it.Close()
	if dbKey == nil {
		return Edit{}, fmt.Errorf("no tree leaf holds %q", key)
	}
	n, w := binary.Uvarint(value[len(prefix):])
	if w <= 0 {
		return Edit{}, fmt.Errorf("leaf %x: value length does not decode", dbKey)
	}
	from := len(prefix) + w
	at, err := flip(value, from, from+int(n), needle)
	if err != nil {
		return Edit{}, fmt.Errorf("leaf of %q: %w", key, err)
	}
	return Edit{DBKey: dbKey, Offset: at, Old: value[at] ^ 1, New: value[at]}, db.SetSync(dbKey, value)
}

// FastIndex changes one byte in key's value in IAVL's fast index in appData,
// from which the node serves reads of the latest state: stored under
// 'f'‹key› as varint version and the value prefixed by its uvarint length.
func FastIndex(appData string, key, needle []byte) (Edit, error) {
	db, err := cosmosdb.NewGoLevelDB("state", appData, nil)
	if err != nil {
		return Edit{}, err
	}
	defer db.Close()
	dbKey := append([]byte("f"), key...)
	value, err := db.Get(dbKey)
	if err != nil || value == nil {
		return Edit{}, fmt.Errorf("read fast index entry of %q: %v", key, err)
	}
	value = bytes.Clone(value)
	_, w1 := binary.Varint(value)
	if w1 <= 0 {
		return Edit{}, fmt.Errorf("fast index entry of %q: version does not decode", key)
	}
	n, w2 := binary.Uvarint(value[w1:])
	if w2 <= 0 {
		return Edit{}, fmt.Errorf("fast index entry of %q: length does not decode", key)
	}
	from := w1 + w2
	at, err := flip(value, from, from+int(n), needle)
	if err != nil {
		return Edit{}, fmt.Errorf("fast index entry of %q: %w", key, err)
	}
	return Edit{DBKey: dbKey, Offset: at, Old: value[at] ^ 1, New: value[at]}, db.SetSync(dbKey, value)
}

// StateValue changes the same byte of key's value in both the newest tree
// leaf and the fast index: a consistent change, under which the node reads
// the new value without any error.
func StateValue(appData string, key, needle []byte) (Edit, error) {
	if _, err := FastIndex(appData, key, needle); err != nil {
		return Edit{}, err
	}
	return StateLeaf(appData, key, needle)
}
