package blobstore

import (
	"strings"
	"testing"
)

func TestParseHash(t *testing.T) {
	h := Sum([]byte("x"))
	got, err := ParseHash(h.String())
	if err != nil || got != h {
		t.Fatalf("ParseHash(String()) = %s, %v", got, err)
	}
	for _, bad := range []string{"", h.String()[:63], h.String() + "0", strings.ToUpper(h.String()),
		"g" + h.String()[1:], " " + h.String()[1:]} {
		if _, err := ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q) accepted", bad)
		}
	}
}
