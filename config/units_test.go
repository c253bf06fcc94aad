package config

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDurationUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    Duration
		wantErr string
	}{
		{"30m", Duration(30 * time.Minute), ""},
		{"5s", Duration(5 * time.Second), ""},
		{"1h30m", Duration(90 * time.Minute), ""},
		{"\"250ms\"", Duration(250 * time.Millisecond), ""},
		{"0s", 0, ""},
		{"30", 0, `line 1: a duration needs a unit: write e.g. "30s" or "30m", not a plain number`},
		{"1.5", 0, `line 1: a duration needs a unit`},
		{"soon", 0, `line 1: invalid duration "soon"`},
		{"[1m]", 0, `line 1: must be a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got struct {
				D Duration `yaml:"d"`
			}
			err := yaml.Unmarshal([]byte("d: "+tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Unmarshal(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.D != tt.want {
				t.Errorf("Unmarshal(%q) = %v, want %v", tt.in, got.D, tt.want)
			}
		})
	}
}

func TestByteSizeUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr string
	}{
		{"1048576", 1 << 20, ""},
		{"0", 0, ""},
		{"512MiB", 512 << 20, ""},
		{"10GiB", 10 << 30, ""},
		{"10GB", 10_000_000_000, ""},
		{"10gb", 10_000_000_000, ""},
		{"25MB", 25_000_000, ""},
		{"1kB", 1000, ""},
		{"1KiB", 1024, ""},
		{"2k", 2048, ""},
		{"512m", 512 << 20, ""},
		{"1 TiB", 1 << 40, ""},
		{"1.5GiB", 3 << 29, ""},
		{"100B", 100, ""},
		{"\"64MiB\"", 64 << 20, ""},
		{"-1MiB", 0, `line 1: invalid size "-1MiB"`},
		{"lots", 0, `line 1: invalid size "lots"`},
		{"10XB", 0, `unknown unit "XB"`},
		{"99999999999TiB", 0, "too large"},
		{"{a: 1}", 0, "line 1: must be a size"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got struct {
				B ByteSize `yaml:"b"`
			}
			err := yaml.Unmarshal([]byte("b: "+tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Unmarshal(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.B != tt.want {
				t.Errorf("Unmarshal(%q) = %d, want %d", tt.in, got.B, tt.want)
			}
		})
	}
}

func TestUnitStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{ByteSize(10 << 20).String(), "10MiB"},
		{ByteSize(10 << 30).String(), "10GiB"},
		{ByteSize(1536).String(), "1536B"},
		{ByteSize(2048).String(), "2KiB"},
		{ByteSize(1000).String(), "1000B"},
		{ByteSize(0).String(), "0B"},
		{Duration(30 * time.Minute).String(), "30m0s"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}
