package mfahttp

// Strict JSON keys.
//
// encoding/json is lenient about object keys in two ways that
// DisallowUnknownFields does not change:
//
//   - a key may repeat, and the last value wins: {"code":"1","code":"2"}
//     decodes to Code "2";
//   - a key matches a field whose json tag differs from it only in case:
//     {"CODE":"1"} and even {"cOdE":"1"} decode to Code "1".
//
// Both let one body mean different things to different readers: a proxy,
// a log filter or a client library that takes the first key, or matches
// keys exactly, sees another request than the handler decodes. An
// authentication API should have one reading of each request, the
// documented one, so checkKeys refuses both before the body is decoded.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// maxDepth bounds how deep checkKeys follows nested arrays and objects.
// The request types nest two levels; the bound keeps a body of brackets
// from costing a recursion as deep as the body is long.
const maxDepth = 32

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkKeys walks the JSON value at the start of data, which is to be
// decoded into a value of type t, and refuses, with a 400 bad_request:
//
//   - in any object, a key equal to an earlier key of the same object, or
//     differing from it only in case (strings.EqualFold), which
//     encoding/json would take for the same field;
//   - in an object decoded into a struct, a key that differs only in case
//     from a documented key, the json tag of a field of that struct.
//
// Nested objects are checked against the struct their value decodes into,
// through pointers, slices, arrays and maps. Keys that match no field at
// all are left to DisallowUnknownFields, and everything after the first
// value to the decoder. Malformed JSON is errBadJSON.
func checkKeys(data []byte, t reflect.Type) error {
	return checkValue(json.NewDecoder(bytes.NewReader(data)), t, "", 0)
}

// checkValue checks the next value of dec, decoded into type t (nil when
// unknown); path is its place in the body, for the error's field.
func checkValue(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return errBadJSON
	}
	switch tok {
	case json.Delim('{'):
		if depth >= maxDepth {
			return errBadJSON
		}
		return checkObject(dec, shape(t), path, depth+1)
	case json.Delim('['):
		if depth >= maxDepth {
			return errBadJSON
		}
		var elem reflect.Type
		if t = shape(t); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := checkValue(dec, elem, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // the closing ]
			return errBadJSON
		}
	}
	return nil
}

// checkObject checks the keys and values of an object whose { dec has
// just read, decoded into t (nil when unknown).
func checkObject(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	var fields []jsonField
	var elem reflect.Type // the values' type, when t is a map
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = jsonFields(t, nil)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	seen := map[string]string{} // foldKey of each key so far → the key
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errBadJSON
		}
		key, ok := tok.(string)
		if !ok {
			return errBadJSON
		}
		f, documented := lookupField(fields, key)
		if earlier, dup := seen[foldKey(key)]; dup {
			return duplicateKey(path, f, documented, key, earlier)
		}
		seen[foldKey(key)] = key
		child, childPath := elem, path // a map's keys are data: not in the path
		if documented {
			if f.name != key {
				return keyError(joinPath(path, f.name), "unknown key %q; keys are case-sensitive (use %q)", key, f.name)
			}
			child, childPath = f.typ, joinPath(path, f.name)
		}
		if err := checkValue(dec, child, childPath, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing }
		return errBadJSON
	}
	return nil
}

// duplicateKey is the error for key, which repeats earlier. It names the
// key only when it is a documented one: any other key may be anything the
// client sent, a code even, and is not echoed.
func duplicateKey(path string, f jsonField, documented bool, key, earlier string) error {
	switch {
	case !documented:
		return keyError("", "duplicate key in a JSON object")
	case key == earlier:
		return keyError(joinPath(path, f.name), "duplicate key %q", key)
	default:
		return keyError(joinPath(path, f.name), "duplicate key %q: the same as %q but for case", key, earlier)
	}
}

// keyError is a refused key: 400 bad_request as errBadJSON, with a
// message that says what is wrong and, in field, where.
func keyError(field, format string, args ...any) error {
	return &httpError{errBadJSON.status, errBadJSON.code, fmt.Sprintf(format, args...), field}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// shape returns t without its pointers, or nil when t is nil, an
// interface or decodes itself (json.Unmarshaler): then the keys its
// objects may have are not known.
func shape(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	return t
}

// jsonField is a documented key of a struct and the type of its value.
type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields returns the documented keys of struct type t as
// encoding/json finds them: the name in a field's json tag, else the Go
// name of an exported field; none for a field tagged "-"; the keys of an
// untagged embedded struct as keys of t. visiting holds the embedded
// structs being expanded, against a struct that embeds itself.
func jsonFields(t reflect.Type, visiting []reflect.Type) []jsonField {
	visiting = append(visiting, t)
	var out []jsonField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if !slices.Contains(visiting, ft) {
					out = append(out, jsonFields(ft, visiting)...)
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, jsonField{name, sf.Type})
	}
	return out
}

// lookupField returns the documented key that key is, or differs from
// only in case (strings.EqualFold); an exact match wins.
func lookupField(fields []jsonField, key string) (jsonField, bool) {
	for _, f := range fields {
		if f.name == key {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return f, true
		}
	}
	return jsonField{}, false
}

// foldKey returns a form of s that two strings share exactly when
// strings.EqualFold holds for them: each rune replaced by the smallest rune
// it folds to (unicode.SimpleFold goes round all of them). With it the
// duplicate check is one map look-up per key, not a comparison with every
// earlier key of the object.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}
