package smart

import (
	"fmt"
	"testing"
	"time"
)

func TestReplayCache(t *testing.T) {
	c := NewReplayCache(3)
	exp := t0.Add(time.Minute)
	if err := c.Use("a", "1", exp, t0); err != nil {
		t.Fatal(err)
	}
	if err := c.Use("a", "1", exp, t0.Add(time.Second)); reasonOf(err) != ReasonAssertionReplayed {
		t.Fatalf("replay: %v", err)
	}
	// The same jti from another client is another assertion.
	if err := c.Use("b", "1", exp, t0); err != nil {
		t.Fatal(err)
	}
	if err := c.Use("a", "2", t0.Add(5*time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	// Full of live entries: refuse rather than forget one.
	if err := c.Use("a", "3", exp, t0); reasonOf(err) != ReasonBusy {
		t.Fatalf("full cache: %v", err)
	}
	// Still refused as a replay up to exp + skew, forgotten after it.
	if err := c.Use("a", "1", exp, exp.Add(ClockSkew-time.Second)); reasonOf(err) != ReasonAssertionReplayed {
		t.Fatalf("replay within skew: %v", err)
	}
	if err := c.Use("a", "3", exp, exp.Add(ClockSkew)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if c.Len() != 2 {
		t.Fatalf("len = %d, want 2 (a/2 and a/3)", c.Len())
	}
}

func TestReplayCacheStaysBounded(t *testing.T) {
	c := NewReplayCache(100)
	now := t0
	for i := range 10_000 {
		now = now.Add(time.Second)
		if err := c.Use("client", fmt.Sprint(i), now.Add(30*time.Second), now); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if c.Len() > 100 {
			t.Fatalf("%d: len %d", i, c.Len())
		}
	}
}
