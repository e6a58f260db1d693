// Package codec is the one canonical binary encoding that carechain hashes
// and signs.
//
// Every value has exactly one encoding: integers are minimal unsigned
// varints, byte strings and strings are length-prefixed, strings must be
// valid UTF-8, and a decoder must consume its whole input. A Reader rejects
// anything a Writer would not have produced, so decode-then-encode returns
// the input bytes and two nodes can never disagree about what was signed.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed encoding")

// Writer appends canonical encodings to a buffer.
type Writer struct{ buf []byte }

// NewWriter returns a Writer whose buffer starts with capacity n.
func NewWriter(n int) *Writer { return &Writer{buf: make([]byte, 0, n)} }

// Bytes returns the encoding written so far.
func (w *Writer) Bytes() []byte { return w.buf }

// Byte writes one raw byte.
func (w *Writer) Byte(b byte) { w.buf = append(w.buf, b) }

// Uvarint writes v as a minimal unsigned varint.
func (w *Writer) Uvarint(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }

// Varint writes v zig-zag encoded, so small negative numbers stay short.
func (w *Writer) Varint(v int64) { w.buf = binary.AppendVarint(w.buf, v) }

// Bool writes 0 or 1.
func (w *Writer) Bool(v bool) {
	if v {
		w.buf = append(w.buf, 1)
	} else {
		w.buf = append(w.buf, 0)
	}
}

// Fixed writes b with no length prefix; the reader must know its size.
func (w *Writer) Fixed(b []byte) { w.buf = append(w.buf, b...) }

// BytesField writes a length-prefixed byte string.
func (w *Writer) BytesField(b []byte) {
	w.Uvarint(uint64(len(b)))
	w.buf = append(w.buf, b...)
}

// String writes a length-prefixed string.
func (w *Writer) String(s string) {
	w.Uvarint(uint64(len(s)))
	w.buf = append(w.buf, s...)
}

// Strings writes a count followed by each string.
func (w *Writer) Strings(ss []string) {
	w.Uvarint(uint64(len(ss)))
	for _, s := range ss {
		w.String(s)
	}
}

// Reader decodes canonical encodings. The first error sticks: later reads
// return zero values and Err reports the first failure, so decoders can read
// a whole struct and check once.
type Reader struct {
	buf []byte
	err error
}

// NewReader reads from b without copying it.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Err returns the first decoding error.
func (r *Reader) Err() error { return r.err }

// Fail records a decoding error found by the caller (for example an invalid
// enum value), unless an earlier one is already recorded.
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

// Remaining is the number of bytes not yet read, for an optional trailing
// field that is encoded only when set.
func (r *Reader) Remaining() int { return len(r.buf) }

// Done checks that the whole input was consumed and returns the first error.
func (r *Reader) Done() error {
	if r.err == nil && len(r.buf) != 0 {
		r.Fail("%d trailing bytes", len(r.buf))
	}
	return r.err
}

// Byte reads one raw byte.
func (r *Reader) Byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.buf) < 1 {
		r.Fail("unexpected end of input")
		return 0
	}
	b := r.buf[0]
	r.buf = r.buf[1:]
	return b
}

// Uvarint reads a minimal unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.Fail("bad varint")
		return 0
	}
	if n != uvarintLen(v) {
		r.Fail("non-minimal varint")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// Varint reads a zig-zag varint written by Writer.Varint.
func (r *Reader) Varint() int64 {
	u := r.Uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// Bool reads a byte that must be 0 or 1.
func (r *Reader) Bool() bool {
	switch r.Byte() {
	case 0:
		return false
	case 1:
		return true
	default:
		r.Fail("bool is not 0 or 1")
		return false
	}
}

// Fixed reads exactly n bytes. The result aliases the input.
func (r *Reader) Fixed(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.buf) < n {
		r.Fail("unexpected end of input")
		return nil
	}
	b := r.buf[:n:n]
	r.buf = r.buf[n:]
	return b
}

// BytesField reads a length-prefixed byte string of at most max bytes. The
// result aliases the input.
func (r *Reader) BytesField(max int) []byte {
	n := r.Uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) {
		r.Fail("field of %d bytes exceeds limit %d", n, max)
		return nil
	}
	return r.Fixed(int(n))
}

// String reads a length-prefixed UTF-8 string of at most max bytes.
func (r *Reader) String(max int) string {
	b := r.BytesField(max)
	if r.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		r.Fail("string is not valid UTF-8")
		return ""
	}
	return string(b)
}

// Strings reads at most maxCount strings of at most maxLen bytes each.
func (r *Reader) Strings(maxCount, maxLen int) []string {
	n := r.Uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(maxCount) {
		r.Fail("list of %d items exceeds limit %d", n, maxCount)
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		out = append(out, r.String(maxLen))
	}
	return out
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
