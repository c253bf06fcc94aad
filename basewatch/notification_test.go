package basewatch

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/config"
)

func TestParseNotification(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Push
	}{
		{
			name: "distribution envelope: tagged manifest pushes only",
			body: `{"events":[
				{"id":"1","timestamp":"2026-12-06T10:00:00Z","action":"push","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":528,"digest":"sha256:aa","length":528,"repository":"base","url":"http://127.0.0.1:5000/v2/base/manifests/sha256:aa","tag":"1"},"request":{"id":"r","addr":"127.0.0.1:4000","host":"127.0.0.1:5000","method":"PUT","useragent":"docker/20.10"},"actor":{},"source":{"addr":"x:5000","instanceID":"i"}},
				{"action":"push","target":{"mediaType":"application/octet-stream","repository":"base","url":"http://127.0.0.1:5000/v2/base/blobs/sha256:bb"},"request":{"host":"127.0.0.1:5000"}},
				{"action":"pull","target":{"repository":"base","tag":"1"},"request":{"host":"127.0.0.1:5000"}},
				{"action":"push","target":{"repository":"acme/tool","tag":"2","url":"https://reg.example.com/v2/acme/tool/manifests/sha256:cc"}}
			]}`,
			want: []Push{{Host: "127.0.0.1:5000", Repository: "base", Tag: "1"}, {Host: "reg.example.com", Repository: "acme/tool", Tag: "2"}},
		},
		{
			name: "empty envelope",
			body: `{"events":[]}`,
			want: []Push{},
		},
		{
			name: "docker hub webhook",
			body: `{"callback_url":"https://registry.hub.docker.com/u/acme/web/hook/x/","push_data":{"pushed_at":1417566161,"pusher":"acme","tag":"latest"},"repository":{"name":"web","namespace":"acme","repo_name":"acme/web","repo_url":"https://registry.hub.docker.com/u/acme/web/","status":"Active"}}`,
			want: []Push{{Host: "docker.io", Repository: "acme/web", Tag: "latest"}},
		},
		{
			name: "docker hub official image",
			body: `{"push_data":{"tag":"bookworm"},"repository":{"repo_name":"debian"}}`,
			want: []Push{{Host: "docker.io", Repository: "library/debian", Tag: "bookworm"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNotification([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseNotification: %v", err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `{"zen":"GitHub ping"}`, `{"events":{"x":1}}`, `{"push_data":{"tag":""},"repository":{"repo_name":"a/b"}}`} {
		if got, err := ParseNotification([]byte(bad)); !errors.Is(err, ErrNotification) {
			t.Errorf("ParseNotification(%q) = %v, %v; want ErrNotification", bad, got, err)
		}
	}
}

func TestPathAndTag(t *testing.T) {
	for ref, want := range map[string][2]string{
		"debian:bookworm":        {"debian", "bookworm"},
		"acme/web":               {"acme/web", "latest"},
		"127.0.0.1:5000/base:1":  {"base", "1"},
		"ghcr.io/acme/tool:v2.1": {"acme/tool", "v2.1"},
	} {
		path, tag, ok := pathAndTag(ref)
		if !ok || path != want[0] || tag != want[1] {
			t.Errorf("pathAndTag(%q) = %q, %q, %v; want %q, %q", ref, path, tag, ok, want[0], want[1])
		}
	}
}

func TestReason(t *testing.T) {
	got := Reason("debian:bookworm", "sha256:ab12cd34ef56ab12cd34ef56", "sha256:cd34ef56ab12cd34ef56ab12")
	if want := "base_image debian:bookworm sha256:ab12cd34ef56… → sha256:cd34ef56ab12…"; got != want {
		t.Errorf("Reason = %q, want %q", got, want)
	}
}

func TestCycle(t *testing.T) {
	projects := []config.Project{{Name: "a", Image: "127.0.0.1:5000/a"}, {Name: "b", Image: "127.0.0.1:5000/b"}, {Name: "c", Image: "docker.io/acme/c"}}
	if got := Cycle(projects, map[string][]string{"a": {"debian:12"}, "b": {"127.0.0.1:5000/a:main"}, "c": {"127.0.0.1:5000/b:latest"}}); got != nil {
		t.Errorf("Cycle of a chain = %v, want none", got)
	}
	got := Cycle(projects, map[string][]string{"a": {"acme/c:1"}, "b": {"127.0.0.1:5000/a:main"}, "c": {"127.0.0.1:5000/b:latest"}})
	if diff := cmp.Diff(got, []string{"a", "b", "c", "a"}); diff != "" {
		t.Errorf("Cycle (-got +want):\n%s", diff)
	}
}
