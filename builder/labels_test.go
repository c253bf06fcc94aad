package builder

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/google/go-cmp/cmp"
)

func TestOCILabels(t *testing.T) {
	created := time.Date(2026, 11, 22, 11, 30, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		in   LabelInfo
		want map[string]string
	}{
		{
			name: "all fields",
			in: LabelInfo{
				Source:   "https://github.com/acme/web.git",
				Revision: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d",
				Created:  created,
				Version:  "1.2.3",
				Title:    "web",
				URL:      "https://github.com/acme/web",
			},
			want: map[string]string{
				"org.opencontainers.image.source":   "https://github.com/acme/web.git",
				"org.opencontainers.image.revision": "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d",
				"org.opencontainers.image.created":  "2026-11-22T10:30:00Z",
				"org.opencontainers.image.version":  "1.2.3",
				"org.opencontainers.image.title":    "web",
				"org.opencontainers.image.url":      "https://github.com/acme/web",
			},
		},
		{
			name: "empty fields left out",
			in:   LabelInfo{Revision: "abc"},
			want: map[string]string{"org.opencontainers.image.revision": "abc"},
		},
		{
			name: "token in https URL dropped",
			in:   LabelInfo{Source: "https://x-access-token:ghs_secret@github.com/acme/web.git"},
			want: map[string]string{"org.opencontainers.image.source": "https://github.com/acme/web.git"},
		},
		{
			name: "token as https user dropped",
			in:   LabelInfo{Source: "https://ghp_secret@github.com/acme/web.git"},
			want: map[string]string{"org.opencontainers.image.source": "https://github.com/acme/web.git"},
		},
		{
			name: "ssh user kept, password dropped",
			in:   LabelInfo{Source: "ssh://git:pw@github.com/acme/web.git", URL: "ssh://git@github.com/acme/web.git"},
			want: map[string]string{
				"org.opencontainers.image.source": "ssh://git@github.com/acme/web.git",
				"org.opencontainers.image.url":    "ssh://git@github.com/acme/web.git",
			},
		},
		{
			name: "scp-like kept",
			in:   LabelInfo{Source: "git@github.com:acme/web.git"},
			want: map[string]string{"org.opencontainers.image.source": "git@github.com:acme/web.git"},
		},
		{
			name: "nothing",
			want: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, OCILabels(tt.in)); diff != "" {
				t.Errorf("OCILabels (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLabelLeak(t *testing.T) {
	secrets := map[string]string{"TOKEN": "hunter2", "EMPTY": ""}
	tests := []struct {
		name      string
		labels    map[string]string
		wantLabel string
		wantArg   string
	}{
		{"none", map[string]string{"a": "b", "c": ""}, "", ""},
		{"in value", map[string]string{"a": "b", "leak": "x-hunter2-y"}, "leak", "TOKEN"},
		{"in key, redacted", map[string]string{"k.hunter2": "v"}, "k.***", "TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			label, arg := labelLeak(tt.labels, secrets)
			if label != tt.wantLabel || arg != tt.wantArg {
				t.Errorf("labelLeak = %q, %q; want %q, %q", label, arg, tt.wantLabel, tt.wantArg)
			}
		})
	}
}

func TestEngineHasBuildKit(t *testing.T) {
	tests := []struct {
		name string
		ping types.Ping
		want bool
	}{
		{"advertised", types.Ping{APIVersion: "1.51", OSType: "linux", BuilderVersion: "2"}, true},
		{"advertised on windows", types.Ping{APIVersion: "1.51", OSType: "windows", BuilderVersion: "2"}, true},
		{"20.10 linux, nothing advertised", types.Ping{APIVersion: "1.41", OSType: "linux"}, true},
		{"API 1.39 linux", types.Ping{APIVersion: "1.39", OSType: "linux"}, true},
		{"API 1.38 linux", types.Ping{APIVersion: "1.38", OSType: "linux"}, false},
		{"windows without advertising", types.Ping{APIVersion: "1.41", OSType: "windows", BuilderVersion: "1"}, false},
		{"nothing known", types.Ping{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := engineHasBuildKit(tt.ping); got != tt.want {
				t.Errorf("engineHasBuildKit(%+v) = %v, want %v", tt.ping, got, tt.want)
			}
		})
	}
}

func TestModeValidate(t *testing.T) {
	for _, m := range []Mode{"", ModeAuto, ModeBuildKit, ModeClassic} {
		if err := m.Validate(); err != nil {
			t.Errorf("Mode(%q).Validate() = %v", m, err)
		}
	}
	if err := Mode("BuildKit").Validate(); err == nil {
		t.Error(`Mode("BuildKit").Validate() = nil, want an error`)
	}
}
