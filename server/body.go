package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
)

// maxAPIBody bounds the JSON body of an API write.
const maxAPIBody = 64 << 10

// errBodyTooLarge is decodeObject's error for a body over maxAPIBody.
var errBodyTooLarge = fmt.Errorf("body is larger than %d bytes", maxAPIBody)

// readBody decodes r's body into v with decodeObject; when it does not
// fit, it answers 400 (413 when too large) naming the problem and the
// expected shape, and returns false.
func readBody(w http.ResponseWriter, r *http.Request, v any, shape string) bool {
	err := decodeObject(w, r, v)
	if err == nil {
		return true
	}
	code := http.StatusBadRequest
	if errors.Is(err, errBodyTooLarge) {
		code = http.StatusRequestEntityTooLarge
	}
	writeError(w, code, err.Error()+"; send "+shape)
	return false
}

// decodeObject reads r's body, a JSON object, into v (a pointer to a struct
// with json tags). An empty body leaves v as it is. A key v does not have
// is an error naming it and the known keys, so a typo such as "reff" is
// refused rather than silently building the default branch; so are
// malformed JSON, anything but an object and data after the object. Keys
// match exactly, as the API documents them.
func decodeObject(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errBodyTooLarge
		}
		return fmt.Errorf("read the body: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("body must be a JSON object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("body must be one JSON object, with nothing after it")
	}
	known := jsonKeys(v)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case slices.Contains(known, k):
		case len(known) == 0:
			return fmt.Errorf("unknown key %q in the body (this route takes none)", k)
		default:
			return fmt.Errorf("unknown key %q in the body (known keys: %s)", k, strings.Join(known, ", "))
		}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("body does not fit {%s}: %w", strings.Join(known, ", "), err)
	}
	return nil
}

// jsonKeys lists the json names of the fields of the struct v points to,
// in field order.
func jsonKeys(v any) []string {
	t := reflect.TypeOf(v).Elem()
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		keys = append(keys, name)
	}
	return keys
}
