// Package buildinfo describes the running slipway binary: the version set
// at link time, the VCS revision and the Go version it was built with.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Info is what `slipway version` prints; its JSON form is `version --json`.
type Info struct {
	// Version is the release (-ldflags "-X main.version=v1.2.3"), "dev"
	// for a build without one.
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from ("" when the
	// build did not record one, as with -buildvcs=false).
	Commit string `json:"commit,omitempty"`
	// Go is the Go version the binary was built with.
	Go string `json:"go"`
}

// Read returns the Info of the running binary with the given version.
func Read(version string) Info {
	info := Info{Version: version}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.Go = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				info.Commit = s.Value
			}
		}
	}
	return info
}

// String is the one-line form: "v1.2.3 (1a2b3c4) go1.26.0".
func (i Info) String() string {
	parts := []string{i.Version}
	if len(i.Commit) >= 7 {
		parts = append(parts, "("+i.Commit[:7]+")")
	}
	if i.Go != "" {
		parts = append(parts, i.Go)
	}
	return strings.Join(parts, " ")
}
