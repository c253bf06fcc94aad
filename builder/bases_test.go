package builder

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBases(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		opts       BasesOptions
		want       []Base
		wantErr    string
	}{
		{
			name:       "ARG default",
			dockerfile: "ARG BASE=127.0.0.1:5000/base:1\nFROM $BASE\nRUN true\n",
			want:       []Base{{Ref: "127.0.0.1:5000/base:1"}},
		},
		{
			name:       "build arg replaces the default",
			dockerfile: "ARG BASE=127.0.0.1:5000/base:1\nFROM ${BASE}\n",
			opts:       BasesOptions{BuildArgs: map[string]string{"BASE": "127.0.0.1:5000/base:2", "OTHER": "x"}},
			want:       []Base{{Ref: "127.0.0.1:5000/base:2"}},
		},
		{
			name:       "build arg not declared before FROM is not seen",
			dockerfile: "FROM alpine:$V\n",
			opts:       BasesOptions{BuildArgs: map[string]string{"V": "3"}},
			wantErr:    "line 1",
		},
		{
			name:       "docker hub names are normalised, no tag is latest",
			dockerfile: "FROM debian\nFROM acme/tool:1 AS t\n",
			opts:       BasesOptions{Target: "t"},
			want:       []Base{{Ref: "acme/tool:1"}},
		},
		{
			name:       "last stage and the stages it reaches",
			dockerfile: "FROM golang:1.26 AS build\nRUN go build\nFROM node:22 AS unused\nFROM build AS mid\nFROM scratch\nCOPY --from=mid /x /x\nCOPY --from=busybox:1 /bin/sh /sh\n",
			want:       []Base{{Ref: "golang:1.26"}, {Ref: "busybox:1"}},
		},
		{
			name:       "copy from a stage index",
			dockerfile: "FROM alpine:3 AS a\nFROM debian:12 AS b\nFROM scratch\nCOPY --from=1 / /\n",
			want:       []Base{{Ref: "debian:12"}},
		},
		{
			name:       "platform honoured",
			dockerfile: "FROM --platform=$BUILDPLATFORM golang:1.26 AS build\nFROM --platform=linux/amd64 alpine:3\nCOPY --from=build /a /a\n",
			opts:       BasesOptions{Platform: "linux/arm64"},
			want:       []Base{{Ref: "golang:1.26", Platform: "linux/arm64"}, {Ref: "alpine:3", Platform: "linux/amd64"}},
		},
		{
			name:       "per-platform base",
			dockerfile: "ARG TARGETARCH\nFROM 127.0.0.1:5000/base-$TARGETARCH:1\n",
			opts:       BasesOptions{Platform: "linux/arm64"},
			want:       []Base{{Ref: "127.0.0.1:5000/base-arm64:1"}},
		},
		{
			name:       "digest kept",
			dockerfile: "FROM alpine@sha256:" + strings.Repeat("a", 64) + "\n",
			want:       []Base{{Ref: "alpine@sha256:" + strings.Repeat("a", 64)}},
		},
		{
			name:       "each base once",
			dockerfile: "FROM alpine:3 AS a\nFROM alpine:3\nCOPY --from=a / /\n",
			want:       []Base{{Ref: "alpine:3"}},
		},
		{
			name:       "unknown target",
			dockerfile: "FROM alpine:3\n",
			opts:       BasesOptions{Target: "nope"},
			wantErr:    `no stage "nope"`,
		},
		{
			name:       "unset variable",
			dockerfile: "ARG BASE\nFROM $BASE\n",
			wantErr:    "uses BASE",
		},
		{
			name:       "scratch only",
			dockerfile: "FROM scratch\nCOPY a /a\n",
			want:       nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Bases(strings.NewReader(tt.dockerfile), tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Bases = %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Bases: %v", err)
			}
			if diff := cmp.Diff(got, tt.want, cmpEmpty()); diff != "" {
				t.Errorf("Bases (-got +want):\n%s", diff)
			}
		})
	}
}

// cmpEmpty treats nil and empty slices alike.
func cmpEmpty() cmp.Option {
	return cmp.FilterValues(func(a, b []Base) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())
}
