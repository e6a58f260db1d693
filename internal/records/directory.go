package records

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// The directory: public reference data about who and where care is given
// (tx.DirectoryTypes), kept in the clear because it is about no patient.
// An entry belongs to the organization that created it, which alone adds
// versions.
//
// State layout:
//
//	dr/<entry id>/<version, 8 bytes big-endian>   DirectoryVersion
const (
	prefixDirectory  = "dr/"
	directoryFormat  = 1
	maxDirectoryVers = 1 << 32
)

// DirectoryVersion is one version of a directory entry.
type DirectoryVersion struct {
	ID           string
	Version      uint64
	ResourceType string
	Org          string // the organization the entry belongs to
	Author       string
	Height       int64
	Time         int64 // block time, Unix nanoseconds
	Resource     []byte
}

// DirectoryKey is the state key of one version of a directory entry.
func DirectoryKey(id string, version uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixDirectory+id+"/"), version)
}

func (d *DirectoryVersion) encode() []byte {
	w := codec.NewWriter(96 + len(d.Resource))
	w.Byte(directoryFormat)
	w.String(d.ID)
	w.Uvarint(d.Version)
	w.String(d.ResourceType)
	w.String(d.Org)
	w.String(d.Author)
	w.Varint(d.Height)
	w.Varint(d.Time)
	w.BytesField(d.Resource)
	return w.Bytes()
}

// DecodeDirectoryVersion decodes a directory version as stored.
func DecodeDirectoryVersion(b []byte) (*DirectoryVersion, error) {
	r := codec.NewReader(b)
	if f := r.Byte(); r.Err() == nil && f != directoryFormat {
		r.Fail("directory format %d", f)
	}
	d := &DirectoryVersion{ID: r.String(tx.MaxIDLen), Version: r.Uvarint(), ResourceType: r.String(tx.MaxIDLen), Org: r.String(tx.MaxIDLen),
		Author: r.String(tx.MaxIDLen), Height: r.Varint(), Time: r.Varint(), Resource: r.BytesField(tx.MaxDirectoryResource)}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode directory version: %w", err)
	}
	return d, nil
}

// DirectoryVersions returns every version of a directory entry, oldest
// first; CodeNotFound if there is none.
func DirectoryVersions(st kv.Reader, id string) ([]*DirectoryVersion, error) {
	var out []*DirectoryVersion
	for v := uint64(1); ; v++ {
		b, err := st.Get(DirectoryKey(id, v))
		if err != nil {
			return nil, fmt.Errorf("load directory entry %s v%d: %w", id, v, err)
		}
		if b == nil {
			break
		}
		d, err := DecodeDirectoryVersion(b)
		if err != nil {
			return nil, fmt.Errorf("directory entry %s v%d: %w", id, v, err)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, tx.Errorf(tx.CodeNotFound, "directory entry %s does not exist", id)
	}
	return out, nil
}

// LatestDirectory calls fn with the latest version of every directory
// entry, in id order, until fn returns false. It reads every version of
// every entry, so it is for a directory of thousands, not millions.
func LatestDirectory(st kv.Reader, fn func(*DirectoryVersion) bool) error {
	p := []byte(prefixDirectory)
	var last *DirectoryVersion
	var bad error
	stopped := false
	err := st.Iterate(p, kv.PrefixEnd(p), false, func(_, v []byte) bool {
		d, err := DecodeDirectoryVersion(v)
		if err != nil {
			bad = err
			return false
		}
		if last != nil && d.ID != last.ID {
			if !fn(last) {
				stopped = true
				return false
			}
		}
		last = d
		return true
	})
	switch {
	case err != nil:
		return fmt.Errorf("list directory: %w", err)
	case bad != nil:
		return bad
	case last != nil && !stopped:
		fn(last)
	}
	return nil
}

// PutDirectory writes a version of a directory entry. The signer (or the
// member it signs for, cx.Signer) must be an organization or one of its
// practitioners or applications; later versions must come from the
// entry's organization, in order.
func PutDirectory(st kv.Store, cx Context, m *tx.PutDirectory) (*DirectoryVersion, error) {
	by := cx.Signer
	org := by.Org
	switch by.Kind {
	case tx.KindOrganization:
		org = by.ID
	case tx.KindPractitioner, tx.KindApplication:
	default:
		return nil, tx.Errorf(tx.CodeUnauthorized, "a %s cannot publish directory entries", by.Kind)
	}
	if !slices.Contains(tx.DirectoryTypes, m.ResourceType) || m.Version >= maxDirectoryVers {
		return nil, tx.Errorf(tx.CodeInvalid, "not a directory version: %s v%d", m.ResourceType, m.Version)
	}
	if m.Version > 1 {
		prev, err := st.Get(DirectoryKey(m.ID, m.Version-1))
		if err != nil {
			return nil, fmt.Errorf("load directory entry %s: %w", m.ID, err)
		}
		if prev == nil {
			return nil, tx.Errorf(tx.CodeNotFound, "directory entry %s has no version %d to follow", m.ID, m.Version-1)
		}
		p, err := DecodeDirectoryVersion(prev)
		if err != nil {
			return nil, err
		}
		if p.Org != org {
			return nil, tx.Errorf(tx.CodeUnauthorized, "directory entry %s belongs to organization %s", m.ID, p.Org)
		}
		if p.ResourceType != m.ResourceType {
			return nil, tx.Errorf(tx.CodeInvalid, "directory entry %s is a %s, not a %s", m.ID, p.ResourceType, m.ResourceType)
		}
	}
	if taken, err := st.Get(DirectoryKey(m.ID, m.Version)); err != nil {
		return nil, fmt.Errorf("load directory entry %s: %w", m.ID, err)
	} else if taken != nil {
		return nil, tx.Errorf(tx.CodeInvalid, "directory entry %s already has version %d", m.ID, m.Version)
	}
	d := &DirectoryVersion{ID: m.ID, Version: m.Version, ResourceType: m.ResourceType, Org: org, Author: by.ID,
		Height: cx.Height, Time: cx.Time.UnixNano(), Resource: slices.Clone(m.Resource)}
	if err := st.Set(DirectoryKey(m.ID, m.Version), d.encode()); err != nil {
		return nil, fmt.Errorf("store directory entry %s v%d: %w", m.ID, m.Version, err)
	}
	return d, nil
}
