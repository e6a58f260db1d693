package state

import (
	"fmt"
	"sync"
	"testing"
)

// TestSnapshotReadsDuringCommit reads snapshots of the latest version
// while versions are committed: under -race, no read may race a commit.
func TestSnapshotReadsDuringCommit(t *testing.T) {
	s := OpenMemory()
	w := s.Working()
	if err := w.Set([]byte("k"), []byte("v0")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				snap, _, err := s.Snapshot(0)
				if err != nil {
					t.Error(err)
					return
				}
				if v, err := snap.Get([]byte("k")); err != nil || v == nil {
					t.Errorf("read: %q %v", v, err)
					return
				}
				_ = snap.Iterate(nil, nil, false, func(k, v []byte) bool { return true })
				if _, err := s.Prove([]byte("k"), 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 200 {
		if err := w.Set([]byte("k"), []byte(fmt.Sprint("v", i))); err != nil {
			t.Fatal(err)
		}
		if err := w.Set([]byte(fmt.Sprint("x", i)), []byte("y")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestSnapshotIterateReadsAgain: a read inside an iteration's callback
// does not deadlock against a waiting writer.
func TestSnapshotIterateReadsAgain(t *testing.T) {
	s := OpenMemory()
	w := s.Working()
	for i := range 50 {
		if err := w.Set([]byte(fmt.Sprint("k", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	snap, _, err := s.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	writing := make(chan struct{})
	done := make(chan error, 1)
	n := 0
	err = snap.Iterate(nil, nil, false, func(k, v []byte) bool {
		if n == 0 {
			go func() {
				close(writing)
				done <- w.Set([]byte("new"), []byte("v")) // waits for no read in progress
			}()
			<-writing
		}
		n++
		_, err := snap.Get(k)
		return err == nil
	})
	if err != nil || n != 50 {
		t.Fatalf("iterated %d keys: %v", n, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotIterateChunks: a range longer than a chunk is read whole,
// in order both ways, and stops when fn says so.
func TestSnapshotIterateChunks(t *testing.T) {
	s := OpenMemory()
	w := s.Working()
	const n = 3*iterateChunk + 7
	for i := range n {
		if err := w.Set([]byte(fmt.Sprintf("k%05d", i)), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Set([]byte("z"), []byte("outside")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	snap, _, err := s.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, reverse := range []bool{false, true} {
		var got []string
		if err := snap.Iterate([]byte("k"), []byte("l"), reverse, func(k, v []byte) bool {
			got = append(got, string(k))
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("reverse %v: %d keys, want %d", reverse, len(got), n)
		}
		for i, k := range got {
			want := i
			if reverse {
				want = n - 1 - i
			}
			if k != fmt.Sprintf("k%05d", want) {
				t.Fatalf("reverse %v: key %d is %s", reverse, i, k)
			}
		}
	}
	count := 0
	if err := snap.Iterate(nil, nil, false, func(k, v []byte) bool {
		count++
		return count < iterateChunk+1
	}); err != nil || count != iterateChunk+1 {
		t.Fatalf("stopped after %d: %v", count, err)
	}
}
