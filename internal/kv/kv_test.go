package kv

import (
	"bytes"
	"testing"
)

func TestMemoryIterateBoundsAndOrder(t *testing.T) {
	s := NewMemory()
	for _, k := range []string{"a/1", "a/2", "a/3", "b/1"} {
		if err := s.Set([]byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	_ = s.Iterate([]byte("a/"), PrefixEnd([]byte("a/")), true, func(k, v []byte) bool {
		got = append(got, string(k))
		return true
	})
	if want := "a/3 a/2 a/1"; join(got) != want {
		t.Fatalf("reverse prefix scan = %q, want %q", join(got), want)
	}
	got = nil
	_ = s.Iterate(nil, nil, false, func(k, v []byte) bool {
		got = append(got, string(k))
		return len(got) < 2
	})
	if want := "a/1 a/2"; join(got) != want {
		t.Fatalf("early stop = %q, want %q", join(got), want)
	}
}

func TestMemoryCopiesValues(t *testing.T) {
	s := NewMemory()
	v := []byte("abc")
	_ = s.Set([]byte("k"), v)
	v[0] = 'x'
	got, _ := s.Get([]byte("k"))
	if !bytes.Equal(got, []byte("abc")) {
		t.Fatalf("stored value aliased caller's slice: %q", got)
	}
	if missing, err := s.Get([]byte("nope")); missing != nil || err != nil {
		t.Fatalf("missing key = %q, %v", missing, err)
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := map[string][]byte{"ab": []byte("ac"), "a\xff": []byte("b"), "\xff\xff": nil, "": nil}
	for in, want := range cases {
		if got := PrefixEnd([]byte(in)); !bytes.Equal(got, want) {
			t.Errorf("PrefixEnd(%q) = %q, want %q", in, got, want)
		}
	}
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}
