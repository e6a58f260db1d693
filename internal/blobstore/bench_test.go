package blobstore

import (
	"encoding/binary"
	"testing"
)

// A typical encrypted FHIR resource is a few kilobytes. Put's cost is
// dominated by the two fsyncs, so it depends on the disk under TempDir.
func BenchmarkDiskPut(b *testing.B) {
	d, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 4<<10)
	b.SetBytes(int64(len(data)))
	var i uint64
	for b.Loop() {
		i++
		binary.LittleEndian.PutUint64(data, i) // a new blob each time
		if _, err := d.Put(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDiskGet(b *testing.B) {
	d, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 4<<10)
	h, err := d.Put(data)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := d.Get(h); err != nil {
			b.Fatal(err)
		}
	}
}
