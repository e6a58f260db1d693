package codec

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReader drives a Reader through an arbitrary sequence of reads over
// arbitrary input. Whenever the whole input decodes, writing the values read
// with the matching Writer calls must give back the input exactly: that is
// the canonical-encoding promise every decoder in carechain builds on.
//
// Each byte of prog picks a read; parameterized reads take their limit from
// the next byte of prog.
func FuzzReader(f *testing.F) {
	w := NewWriter(0)
	w.Byte(7)
	w.Uvarint(300)
	w.Varint(-5)
	w.Bool(true)
	w.BytesField([]byte{1, 2})
	w.String("héllo")
	w.Strings([]string{"a", "bc"})
	w.Fixed([]byte{9, 9})
	f.Add([]byte{0, 1, 2, 3, 4, 10, 5, 10, 6, 4, 4, 7, 2}, w.Bytes())
	f.Add([]byte{1}, []byte{0x80, 0x00})
	f.Add([]byte{1, 1}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00})
	f.Add([]byte{2}, []byte{0x01})
	f.Add([]byte{5, 8}, []byte{2, 0xc3, 0x28})
	f.Add([]byte{6, 3, 3}, []byte{2, 1, 'a', 0})

	f.Fuzz(func(t *testing.T, prog, data []byte) {
		if len(prog) > 64 {
			prog = prog[:64]
		}
		r := NewReader(data)
		var replay []func(*Writer)
		param := func(i *int) int {
			*i++
			if *i < len(prog) {
				return int(prog[*i])
			}
			return 0
		}
		for i := 0; i < len(prog); i++ {
			failedBefore := r.Err() != nil
			switch prog[i] % 8 {
			case 0:
				v := r.Byte()
				replay = append(replay, func(w *Writer) { w.Byte(v) })
				if failedBefore && v != 0 {
					t.Fatal("Byte returned data after an error")
				}
			case 1:
				v := r.Uvarint()
				replay = append(replay, func(w *Writer) { w.Uvarint(v) })
				if failedBefore && v != 0 {
					t.Fatal("Uvarint returned data after an error")
				}
			case 2:
				v := r.Varint()
				replay = append(replay, func(w *Writer) { w.Varint(v) })
			case 3:
				v := r.Bool()
				replay = append(replay, func(w *Writer) { w.Bool(v) })
			case 4:
				n := param(&i) - 8 // includes negative sizes, which must fail cleanly
				v := r.Fixed(n)
				if r.Err() == nil && len(v) != n {
					t.Fatalf("Fixed(%d) returned %d bytes", n, len(v))
				}
				if len(v) != cap(v) {
					t.Fatal("Fixed returned a slice whose capacity reaches into the rest of the input")
				}
				replay = append(replay, func(w *Writer) { w.Fixed(v) })
			case 5:
				max := param(&i)
				v := r.BytesField(max)
				if len(v) > max {
					t.Fatalf("BytesField(%d) returned %d bytes", max, len(v))
				}
				replay = append(replay, func(w *Writer) { w.BytesField(v) })
			case 6:
				max := param(&i)
				v := r.String(max)
				if len(v) > max {
					t.Fatalf("String(%d) returned %d bytes", max, len(v))
				}
				replay = append(replay, func(w *Writer) { w.String(v) })
			case 7:
				count, max := param(&i)%8, param(&i)
				v := r.Strings(count, max)
				if len(v) > count {
					t.Fatalf("Strings(%d, %d) returned %d items", count, max, len(v))
				}
				replay = append(replay, func(w *Writer) { w.Strings(v) })
			}
			if failedBefore && r.Err() == nil {
				t.Fatal("an error was forgotten")
			}
		}
		err := r.Done()
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decoding error %v does not wrap ErrMalformed", err)
			}
			return
		}
		w := NewWriter(0)
		for _, f := range replay {
			f(w)
		}
		if !bytes.Equal(w.Bytes(), data) {
			t.Fatalf("decode-then-encode changed the bytes:\n in %x\nout %x", data, w.Bytes())
		}
	})
}
