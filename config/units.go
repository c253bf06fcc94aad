package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// lineError is an error about one YAML node. Its text carries the line, as
// yaml.v3's own errors do, so that a plain yaml.Unmarshal into these types
// still says where the problem is; Load takes Line and Msg apart into a
// Problem.
type lineError struct {
	Line int
	Msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// UnmarshalYAML reads a duration such as "30m", "5s" or "1h30m". A plain
// number is refused with a hint, since it has no unit.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &lineError{Line: n.Line, Msg: `must be a duration such as "30s", "5m" or "1h30m"`}
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		if _, convErr := strconv.ParseFloat(strings.TrimSpace(n.Value), 64); convErr == nil {
			return &lineError{Line: n.Line, Msg: fmt.Sprintf(`a duration needs a unit: write e.g. "%ss" or "%sm", not a plain number`, n.Value, n.Value)}
		}
		return &lineError{Line: n.Line, Msg: fmt.Sprintf(`invalid duration %q: use a number with a unit such as "30s", "5m" or "1h30m"`, n.Value)}
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads an interval: a duration such as "10m", or "off" (a
// zero duration is off too).
func (i *Interval) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && strings.EqualFold(strings.TrimSpace(n.Value), "off") {
		*i = IntervalOff
		return nil
	}
	var d Duration
	if err := d.UnmarshalYAML(n); err != nil {
		return err
	}
	*i = Interval(d)
	if d == 0 {
		*i = IntervalOff
	}
	return nil
}

// UnmarshalYAML reads a size such as "10GiB", "512MiB", "10GB" or a plain
// number of bytes ("1048576").
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &lineError{Line: n.Line, Msg: `must be a size such as "512MiB", "10GB" or a number of bytes`}
	}
	v, err := parseByteSize(n.Value)
	if err != nil {
		return &lineError{Line: n.Line, Msg: fmt.Sprintf(`invalid size %q: %v`, n.Value, err)}
	}
	*b = ByteSize(v)
	return nil
}

// byteUnit returns the multiplier of a unit, matched case-insensitively.
func byteUnit(unit string) (float64, bool) {
	switch strings.ToLower(unit) {
	case "", "b":
		return 1, true
	case "k", "ki", "kib":
		return 1 << 10, true
	case "m", "mi", "mib":
		return 1 << 20, true
	case "g", "gi", "gib":
		return 1 << 30, true
	case "t", "ti", "tib":
		return 1 << 40, true
	case "kb":
		return 1e3, true
	case "mb":
		return 1e6, true
	case "gb":
		return 1e9, true
	case "tb":
		return 1e12, true
	}
	return 0, false
}

func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	if num == "" {
		return 0, fmt.Errorf(`use a number of bytes or a number with a unit such as "512MiB" or "10GB"`)
	}
	mult, ok := byteUnit(unit)
	if !ok {
		return 0, fmt.Errorf("unknown unit %q: use B, KiB, MiB, GiB, TiB (1024) or kB, MB, GB, TB (1000)", unit)
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n > math.MaxInt64/int64(mult) {
			return 0, fmt.Errorf("too large")
		}
		return n * int64(mult), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", num)
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("too large")
	}
	return int64(v), nil
}

func formatByteSize(b int64) string {
	units := []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(b/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(b, 10) + "B"
}
