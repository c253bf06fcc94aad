// Package redact hides secret values in log lines and messages: the build
// log, hook and autotest output share one notion of which strings to hide
// and what to show instead.
package redact

import (
	"sort"
	"strings"
)

// Mask replaces a secret value.
const Mask = "***"

// Values returns the strings to hide for the given secrets, longest first so
// that a secret containing another is replaced whole. A multi-line value
// also gives each of its lines, since logs are redacted line by line. Blank
// values are dropped: hiding them would mangle every line.
func Values(secrets map[string]string) []string {
	seen := make(map[string]bool)
	var out []string
	add := func(s string) {
		if strings.TrimSpace(s) != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, v := range secrets {
		add(v)
		for _, l := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
			add(l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// Replacer returns a replacer of values by Mask, nil when there is nothing
// to hide.
func Replacer(values []string) *strings.Replacer {
	if len(values) == 0 {
		return nil
	}
	pairs := make([]string, 0, 2*len(values))
	for _, s := range values {
		pairs = append(pairs, s, Mask)
	}
	return strings.NewReplacer(pairs...)
}
