package codec

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	w := NewWriter(0)
	w.Byte(7)
	w.Uvarint(300)
	w.Varint(-5)
	w.Bool(true)
	w.BytesField([]byte{1, 2})
	w.String("héllo")
	w.Strings([]string{"a", "bc"})
	w.Fixed([]byte{9, 9})

	r := NewReader(w.Bytes())
	if r.Byte() != 7 || r.Uvarint() != 300 || r.Varint() != -5 || !r.Bool() ||
		!bytes.Equal(r.BytesField(10), []byte{1, 2}) || r.String(10) != "héllo" {
		t.Fatal("scalar fields did not round-trip")
	}
	if ss := r.Strings(4, 4); len(ss) != 2 || ss[1] != "bc" {
		t.Fatalf("strings = %q", ss)
	}
	if !bytes.Equal(r.Fixed(2), []byte{9, 9}) {
		t.Fatal("fixed did not round-trip")
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
}

func TestRejectsNonCanonical(t *testing.T) {
	cases := map[string]struct {
		in   []byte
		read func(r *Reader)
	}{
		"non-minimal varint": {[]byte{0x80, 0x00}, func(r *Reader) { r.Uvarint() }},
		"truncated varint":   {[]byte{0x80}, func(r *Reader) { r.Uvarint() }},
		"trailing bytes":     {[]byte{1, 2}, func(r *Reader) { r.Byte() }},
		"bool out of range":  {[]byte{2}, func(r *Reader) { r.Bool() }},
		"over limit":         {[]byte{3, 'a', 'b', 'c'}, func(r *Reader) { r.String(2) }},
		"short field":        {[]byte{5, 'a'}, func(r *Reader) { r.BytesField(10) }},
		"invalid utf-8":      {[]byte{1, 0xff}, func(r *Reader) { r.String(10) }},
		"too many items":     {[]byte{3, 0, 0, 0}, func(r *Reader) { r.Strings(2, 1) }},
		"huge length":        {[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, func(r *Reader) { r.BytesField(1 << 20) }},
	}
	for name, c := range cases {
		r := NewReader(c.in)
		c.read(r)
		if err := r.Done(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// TestFirstErrorSticks checks that a decoder may read a whole struct and
// check once: after the first failure reads return zero values and the
// first error is the one reported.
func TestFirstErrorSticks(t *testing.T) {
	r := NewReader([]byte{0x80, 0x00, 5, 'a', 'b'})
	if v := r.Uvarint(); v != 0 {
		t.Fatalf("non-minimal varint read as %d", v)
	}
	first := r.Err()
	if first == nil {
		t.Fatal("no error for a non-minimal varint")
	}
	r.Fail("a later problem")
	if r.Byte() != 0 || r.String(10) != "" || r.BytesField(10) != nil || r.Fixed(1) != nil || r.Strings(1, 1) != nil || r.Bool() {
		t.Fatal("a read after an error returned data")
	}
	if err := r.Done(); err != first {
		t.Fatalf("Done = %v, want the first error %v", err, first)
	}
}

func TestLimitsAreInclusive(t *testing.T) {
	w := NewWriter(0)
	w.String("abc")
	w.BytesField([]byte{1, 2, 3})
	w.Strings([]string{"x", "y"})
	r := NewReader(w.Bytes())
	if r.String(3) != "abc" || !bytes.Equal(r.BytesField(3), []byte{1, 2, 3}) || len(r.Strings(2, 1)) != 2 {
		t.Fatal("a field exactly at its limit was rejected")
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
}
