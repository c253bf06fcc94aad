package builder

import (
	"time"

	"github.com/slipwayci/slipway/internal/redact"
)

// LabelInfo is what the OCI image annotations describe about a build.
type LabelInfo struct {
	// Source is the repository's URL; credentials in it are dropped.
	Source string
	// Revision is the commit the image was built from.
	Revision string
	// Created is when the image was built; it is written in UTC.
	Created time.Time
	// Version is the image's version, such as "1.2.3" or the branch tag.
	Version string
	// Title is the image's human-readable name, such as the project's name.
	Title string
	// URL is where to find more about the image.
	URL string
}

// OCILabels returns the pre-defined OCI annotation keys
// (org.opencontainers.image.source, .revision, .created in RFC 3339, .version,
// .title, .url) for the non-zero fields of in.
func OCILabels(in LabelInfo) map[string]string {
	out := make(map[string]string)
	set := func(key, v string) {
		if v != "" {
			out["org.opencontainers.image."+key] = v
		}
	}
	set("source", redact.StripURL(in.Source))
	set("revision", in.Revision)
	if !in.Created.IsZero() {
		set("created", in.Created.UTC().Format(time.RFC3339))
	}
	set("version", in.Version)
	set("title", in.Title)
	set("url", redact.StripURL(in.URL))
	return out
}
