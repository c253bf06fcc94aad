// Package format prints lists for the slipway CLI as the docker CLI does:
// an aligned table by default, JSON, or a Go template per item
// (--format '{{.ID}} {{.Status}}', '{{json .}}', 'table {{.ID}}\t{{.Status}}').
package format

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode"
)

// Column is one column of a default table: its header and the template
// of its cell.
type Column struct {
	Header   string
	Template string
}

// Options choose how Write prints.
type Options struct {
	// JSON prints the items as one indented JSON array (--json).
	JSON bool
	// Template is --format: "" for Table, "json" for one JSON object per
	// line, "table TEMPLATE" for a table whose cells are TEMPLATE's
	// tab-separated parts (headers from their field names), else TEMPLATE
	// once per item, followed by a newline.
	Template string
	// Table is the default table.
	Table []Column
}

// funcs are the template functions besides text/template's own: json,
// upper, lower, join, truncate N, short (7-character digest or commit,
// branch without refs/heads/), ago (time since, "5 minutes ago"), ms
// (milliseconds as a duration), duration START END (END nil: until now).
func funcs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"upper":    strings.ToUpper,
		"lower":    strings.ToLower,
		"join":     strings.Join,
		"truncate": truncate,
		"short":    Short,
		"ago":      Ago,
		"ms":       func(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() },
		"duration": duration,
	}
}

// Write prints items (a slice) to w as o says.
func Write[T any](w io.Writer, items []T, o Options) error {
	if items == nil {
		items = []T{}
	}
	switch {
	case o.JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(items)
	case o.Template == "json":
		enc := json.NewEncoder(w)
		for _, it := range items {
			if err := enc.Encode(it); err != nil {
				return err
			}
		}
		return nil
	case o.Template == "" || o.Template == "table":
		return table(w, items, o.Table)
	case strings.HasPrefix(o.Template, "table "):
		return table(w, items, columns(unescape(strings.TrimPrefix(o.Template, "table "))))
	default:
		t, err := template.New("format").Funcs(funcs()).Parse(unescape(o.Template))
		if err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		for _, it := range items {
			if err := t.Execute(w, it); err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		return nil
	}
}

// WriteOne prints one item as Write prints a list of it, except that
// JSON is the object itself rather than an array of one.
func WriteOne[T any](w io.Writer, item T, o Options) error {
	if o.JSON {
		o.JSON, o.Template = false, "json"
	}
	return Write(w, []T{item}, o)
}

// table prints the items as cols, aligned by a tabwriter.
func table[T any](w io.Writer, items []T, cols []Column) error {
	var headers, cells []string
	for _, c := range cols {
		headers = append(headers, c.Header)
		cells = append(cells, c.Template)
	}
	t, err := template.New("table").Funcs(funcs()).Parse(strings.Join(cells, "\t"))
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, it := range items {
		if err := t.Execute(tw, it); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// lastField finds the last .Field of a template action.
var lastField = regexp.MustCompile(`\.([A-Za-z_][A-Za-z0-9_]*)[^.]*$`)

// columns splits a "table" template into its tab-separated cells, each
// headed by its last field name in capitals ({{.CreatedAt}} → CREATED AT).
func columns(tmpl string) []Column {
	var cols []Column
	for _, cell := range strings.Split(tmpl, "\t") {
		h := strings.ToUpper(strings.Trim(cell, "{} "))
		if m := lastField.FindStringSubmatch(cell); m != nil {
			h = words(m[1])
		}
		cols = append(cols, Column{Header: h, Template: cell})
	}
	return cols
}

// words is CreatedAt as CREATED AT, ID as ID.
func words(name string) string {
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// unescape turns the two-character \t and \n a shell passes into a tab
// and a newline, as docker does.
func unescape(s string) string {
	return strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(s)
}

// duration is end-start rounded to the second ("" before the start).
func duration(start, end *time.Time) string {
	if start == nil || start.IsZero() {
		return ""
	}
	e := time.Now()
	if end != nil && !end.IsZero() {
		e = *end
	}
	return e.Sub(*start).Round(time.Second).String()
}

func truncate(n int, s string) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// Short is a commit or digest in 7 characters (sha256: dropped) and a
// branch ref without refs/heads/; anything else unchanged.
func Short(s string) string {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) == 40 || len(s) == 64 {
		return s[:7]
	}
	return strings.TrimPrefix(s, "refs/heads/")
}

// Ago is the time since t in words, as docker ps shows it ("5 minutes
// ago"); "" for the zero time or a nil pointer.
func Ago(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return ""
		}
		t = *x
	}
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds ago", int(d.Seconds()))
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute")
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour")
	default:
		return plural(int(d.Hours()/24), "day")
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s ago", unit)
	}
	return fmt.Sprintf("%d %ss ago", n, unit)
}
