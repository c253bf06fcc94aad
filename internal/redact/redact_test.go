package redact

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValues(t *testing.T) {
	tests := []struct {
		name    string
		secrets map[string]string
		want    []string
	}{
		{"none", nil, nil},
		{"blank dropped", map[string]string{"A": " ", "B": ""}, nil},
		{"longest first", map[string]string{"A": "abc", "B": "abcdef"}, []string{"abcdef", "abc"}},
		{"lines of a multi-line value", map[string]string{"K": "line1\nline22\r\n"}, []string{"line1\nline22\r\n", "line22", "line1"}},
		{"duplicates once", map[string]string{"A": "same", "B": "same"}, []string{"same"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Values(tt.secrets)); diff != "" {
				t.Errorf("Values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplacer(t *testing.T) {
	if Replacer(nil) != nil {
		t.Errorf("Replacer(nil) is not nil")
	}
	got := Replacer(Values(map[string]string{"A": "tok", "B": "token"})).Replace("token tok x")
	if want := "*** *** x"; got != want {
		t.Errorf("Replace = %q, want %q", got, want)
	}
}
