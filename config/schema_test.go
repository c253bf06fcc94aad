package config

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// schemaLeaves lists the paths of every leaf field of type t ("projects[].
// tags[].type"); value, when valid, restricts them to non-zero ones.
func schemaLeaves(t reflect.Type, v reflect.Value, prefix string, out map[string]bool) {
	switch t.Kind() {
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct {
			if v.IsValid() && !v.IsNil() {
				schemaLeaves(t.Elem(), v.Elem(), prefix, out)
			} else {
				schemaLeaves(t.Elem(), reflect.Value{}, prefix, out)
			}
			return
		}
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key == "-" || key == "" {
				key = "(" + f.Name + ")"
			}
			var fv reflect.Value
			if v.IsValid() {
				fv = v.Field(i)
			}
			schemaLeaves(f.Type, fv, joinPath(prefix, key), out)
		}
		return
	case reflect.Slice, reflect.Map:
		if t.Elem().Kind() == reflect.Struct {
			sep := "[]"
			if t.Kind() == reflect.Map {
				sep = "[*]"
			}
			if !v.IsValid() {
				schemaLeaves(t.Elem(), reflect.Value{}, prefix+sep, out)
				return
			}
			if t.Kind() == reflect.Slice {
				for i := range v.Len() {
					schemaLeaves(t.Elem(), v.Index(i), prefix+sep, out)
				}
			} else {
				for _, k := range v.MapKeys() {
					schemaLeaves(t.Elem(), v.MapIndex(k), prefix+sep, out)
				}
			}
			return
		}
	}
	if !v.IsValid() {
		if _, seen := out[prefix]; !seen { // another list entry may set it
			out[prefix] = false
		}
	} else if !v.IsZero() {
		out[prefix] = true
	}
}

// TestFullSetsEveryField proves the decoder handles every field of the
// schema: testdata/full.yaml sets each one (in at least one list entry) to
// a non-zero value. Add a new field to full.yaml when this fails.
func TestFullSetsEveryField(t *testing.T) {
	c, err := LoadWithEnv("testdata/full.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	schemaLeaves(reflect.TypeFor[Config](), reflect.Value{}, "", all)
	set := map[string]bool{}
	schemaLeaves(reflect.TypeFor[Config](), reflect.ValueOf(*c), "", set)
	var unset []string
	for p := range all {
		if !set[p] {
			unset = append(unset, p)
		}
	}
	sort.Strings(unset)
	if diff := cmp.Diff(unset, []string(nil)); diff != "" {
		t.Errorf("fields left zero by testdata/full.yaml (-got +want):\n%s", diff)
	}
}

// TestExampleDocumentsEveryKey proves config.example.yaml names every key of
// the schema, set or in a comment.
func TestExampleDocumentsEveryKey(t *testing.T) {
	text, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	schemaLeaves(reflect.TypeFor[Config](), reflect.Value{}, "", all)
	keys := map[string]bool{}
	for p := range all {
		for _, k := range strings.Split(p, ".") {
			k = strings.TrimSuffix(strings.TrimSuffix(k, "[]"), "[*]")
			if !strings.HasPrefix(k, "(") {
				keys[k] = true
			}
		}
	}
	for k := range keys {
		if !regexp.MustCompile(`(?m)(^|[\s{,#-])` + regexp.QuoteMeta(k) + `:`).Match(text) {
			t.Errorf("config.example.yaml does not document the key %q", k)
		}
	}
}
