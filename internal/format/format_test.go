package format_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/internal/format"
)

type item struct {
	ID        int
	CreatedAt string
	Tags      []string
}

func TestWrite(t *testing.T) {
	items := []item{{ID: 1, CreatedAt: "today", Tags: []string{"a", "b"}}, {ID: 22, CreatedAt: "yesterday"}}
	table := []format.Column{{Header: "ID", Template: "{{.ID}}"}, {Header: "TAGS", Template: `{{join .Tags ","}}`}}
	tests := []struct {
		name string
		opts format.Options
		want string
	}{
		{name: "default table", opts: format.Options{Table: table}, want: "ID   TAGS\n1    a,b\n22   \n"},
		{name: "json array", opts: format.Options{JSON: true, Table: table}, want: "[\n  {\n    \"ID\": 1,\n    \"CreatedAt\": \"today\",\n    \"Tags\": [\n      \"a\",\n      \"b\"\n    ]\n  },\n  {\n    \"ID\": 22,\n    \"CreatedAt\": \"yesterday\",\n    \"Tags\": null\n  }\n]\n"},
		{name: "json lines", opts: format.Options{Template: "json"}, want: "{\"ID\":1,\"CreatedAt\":\"today\",\"Tags\":[\"a\",\"b\"]}\n{\"ID\":22,\"CreatedAt\":\"yesterday\",\"Tags\":null}\n"},
		{name: "template", opts: format.Options{Template: `{{.ID}}\t{{upper .CreatedAt}}`}, want: "1\tTODAY\n22\tYESTERDAY\n"},
		{name: "json of each", opts: format.Options{Template: `{{json .Tags}}`}, want: "[\"a\",\"b\"]\nnull\n"},
		{name: "custom table", opts: format.Options{Template: `table {{.ID}}\t{{.CreatedAt}}`}, want: "ID   CREATED AT\n1    today\n22   yesterday\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := format.Write(&buf, items, tt.opts); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	var buf bytes.Buffer
	if err := format.Write(&buf, items, format.Options{Template: "{{.Nope}}"}); err == nil {
		t.Errorf("a template naming no field printed %q without an error", buf.String())
	}
}

func TestShort(t *testing.T) {
	for in, want := range map[string]string{
		"refs/heads/main":                          "main",
		"refs/tags/v1.2.3":                         "refs/tags/v1.2.3",
		"0123456789abcdef0123456789abcdef01234567": "0123456",
		"sha256:ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34": "ab12cd3",
	} {
		if got := format.Short(in); got != want {
			t.Errorf("Short(%q) = %q, want %q", in, got, want)
		}
	}
}
