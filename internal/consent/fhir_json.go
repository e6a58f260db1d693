package consent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// jsonObject is one JSON object read strictly: duplicate keys are refused,
// and done() refuses any key the converter neither used nor chose to
// ignore, so nothing in a FHIR resource is dropped silently.
type jsonObject struct {
	path   string
	fields map[string]json.RawMessage
	keys   []string // in document order, for deterministic errors
	used   map[string]bool
}

func parseObject(raw json.RawMessage, path string) (*jsonObject, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, errorf(CodeFHIRSyntax, path, "%v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errorf(CodeFHIRInvalid, path, "expected an object")
	}
	o := &jsonObject{path: path, fields: map[string]json.RawMessage{}, used: map[string]bool{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errorf(CodeFHIRSyntax, path, "%v", err)
		}
		key, _ := tok.(string)
		if _, dup := o.fields[key]; dup {
			return nil, errorf(CodeFHIRInvalid, joinPath(path, key), "element appears twice")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errorf(CodeFHIRSyntax, joinPath(path, key), "%v", err)
		}
		o.fields[key] = v
		o.keys = append(o.keys, key)
	}
	if _, err := dec.Token(); err != nil {
		return nil, errorf(CodeFHIRSyntax, path, "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errorf(CodeFHIRSyntax, path, "data after the object")
	}
	return o, nil
}

func (o *jsonObject) sub(key string) string { return joinPath(o.path, key) }

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (o *jsonObject) has(key string) bool { _, ok := o.fields[key]; return ok }

// raw returns the value of key and marks it used.
func (o *jsonObject) raw(key string) (json.RawMessage, bool) {
	v, ok := o.fields[key]
	if ok {
		o.used[key] = true
	}
	return v, ok
}

// str reads a FHIR primitive string; FHIR forbids empty strings.
func (o *jsonObject) str(key string) (string, bool, error) {
	v, ok := o.raw(key)
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", true, errorf(CodeFHIRInvalid, o.sub(key), "expected a string")
	}
	if s == "" || strings.TrimSpace(s) != s {
		return "", true, errorf(CodeFHIRInvalid, o.sub(key), "empty string or surrounding whitespace")
	}
	return s, true, nil
}

// obj reads a nested object, or nil if absent.
func (o *jsonObject) obj(key string) (*jsonObject, error) {
	v, ok := o.raw(key)
	if !ok {
		return nil, nil
	}
	return parseObject(v, o.sub(key))
}

// arr reads an array of objects; FHIR forbids empty arrays.
func (o *jsonObject) arr(key string) ([]*jsonObject, error) {
	v, ok := o.raw(key)
	if !ok {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, errorf(CodeFHIRInvalid, o.sub(key), "expected an array")
	}
	if len(items) == 0 {
		return nil, errorf(CodeFHIRInvalid, o.sub(key), "empty array")
	}
	out := make([]*jsonObject, len(items))
	for i, it := range items {
		sub, err := parseObject(it, o.sub(key)+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		out[i] = sub
	}
	return out, nil
}

// ignore marks informational elements carechain accepts and does not keep.
func (o *jsonObject) ignore(keys ...string) {
	for _, k := range keys {
		o.used[k] = true
	}
}

// refuse returns an unsupported error if key is present.
func (o *jsonObject) refuse(key, why string) error {
	if o.has(key) {
		return errorf(CodeFHIRUnsupported, o.sub(key), "%s", why)
	}
	return nil
}

// done refuses the first key, in document order, that was neither used nor
// ignored.
func (o *jsonObject) done() error {
	for _, k := range o.keys {
		if o.used[k] {
			continue
		}
		if strings.HasPrefix(k, "_") {
			return errorf(CodeFHIRUnsupported, o.sub(k), "primitive extensions are not supported")
		}
		return errorf(CodeFHIRInvalid, o.sub(k), "unknown element %q", k)
	}
	return nil
}
