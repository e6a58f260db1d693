package audit

import (
	"encoding/binary"
	"fmt"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/carechain/carechain/internal/kv"
)

// head is the log's summary, kept at keyHead.
type head struct {
	size       uint64 // number of events
	lastHeight uint64 // block height of the last event
	lastTime   int64  // block time of the last event, Unix nanoseconds
	root       []byte // RFC 6962 root hash of the first size events
}

const headLen = 8 + 8 + 8 + 32

func (h head) encode() []byte {
	b := make([]byte, 0, headLen)
	b = binary.BigEndian.AppendUint64(b, h.size)
	b = binary.BigEndian.AppendUint64(b, h.lastHeight)
	b = binary.BigEndian.AppendUint64(b, uint64(h.lastTime))
	return append(b, h.root...)
}

// loadHead reads the head; a missing head is the empty log.
func loadHead(r kv.Reader) (head, error) {
	b, err := r.Get(keyHead)
	if err != nil {
		return head{}, fmt.Errorf("load audit head: %w", err)
	}
	if b == nil {
		return head{root: rfc6962.DefaultHasher.EmptyRoot()}, nil
	}
	if len(b) != headLen {
		return head{}, fmt.Errorf("load audit head: %w: %d bytes, want %d", ErrCorrupt, len(b), headLen)
	}
	h := head{
		size:       binary.BigEndian.Uint64(b[0:8]),
		lastHeight: binary.BigEndian.Uint64(b[8:16]),
		lastTime:   int64(binary.BigEndian.Uint64(b[16:24])),
		root:       append([]byte(nil), b[24:]...),
	}
	if h.size == 0 || h.lastTime <= 0 {
		return head{}, fmt.Errorf("load audit head: %w: size %d, last time %d", ErrCorrupt, h.size, h.lastTime)
	}
	return h, nil
}
