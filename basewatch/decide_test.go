package basewatch

import (
	"testing"
	"time"

	"github.com/slipwayci/slipway/store"
)

// TestDecide: what a default branch's builds since its bases changed call
// for, the newest build deciding, superseded builds not counting.
func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	b := func(id int64, status store.Status, after time.Duration) store.Build {
		return store.Build{ID: id, Status: status, CreatedAt: t0.Add(after)}
	}
	var ok, failed, queued, running, canceled, superseded store.Status = store.StatusSucceeded, store.StatusFailed, store.StatusQueued,
		store.StatusRunning, store.StatusCanceled, store.StatusSuperseded
	tests := []struct {
		name   string
		recent []store.Build // newest first
		built  int64         // the newest succeeded build when the changes were found
		want   try
	}{
		{"never built since", []store.Build{b(1, ok, -time.Minute)}, 1, try{kind: tryFirst}},
		{"only builds before the change", []store.Build{b(2, failed, -time.Second), b(1, ok, -time.Minute)}, 1,
			try{kind: tryFirst}},
		{"the rebuild superseded by a push that is queued", []store.Build{b(3, queued, 2*time.Second), b(2, superseded, time.Second)}, 1,
			try{kind: tryNone}},
		{"only a superseded build since", []store.Build{b(2, superseded, time.Second), b(1, ok, -time.Minute)}, 1,
			try{kind: tryFirst}},
		{"the rebuild is running", []store.Build{b(2, running, time.Second)}, 1, try{kind: tryNone}},
		{"the rebuild failed", []store.Build{b(2, failed, 0), b(1, ok, -time.Minute)}, 1,
			try{kind: tryRetry, n: 1, last: b(2, failed, 0)}},
		{"the retry failed too", []store.Build{b(4, failed, 3*time.Second), b(3, superseded, 2*time.Second), b(2, failed, time.Second)}, 1,
			try{kind: tryRetry, n: 2, last: b(4, failed, 3*time.Second)}},
		{"a retry is queued after failures", []store.Build{b(4, queued, 3*time.Second), b(2, failed, time.Second)}, 1,
			try{kind: tryNone}},
		{"a push since succeeded on the old digest", []store.Build{b(3, ok, time.Second), b(2, failed, 0)}, 3,
			try{kind: tryRetry, n: 2, last: b(3, ok, time.Second)}},
		{"the rebuild succeeded after the changes were found", []store.Build{b(2, ok, time.Second), b(1, ok, -time.Minute)}, 1,
			try{kind: tryNone}},
		{"a rebuild succeeded after the changes were found, then a push failed", []store.Build{b(3, failed, 2*time.Second), b(2, ok, time.Second)}, 1,
			try{kind: tryNone}},
		{"the rebuild was canceled", []store.Build{b(3, canceled, time.Second), b(2, failed, 0)}, 1,
			try{kind: tryNone}},
		{"a canceled build before a failed one counts nothing", []store.Build{b(3, failed, 2*time.Second), b(2, canceled, time.Second)}, 1,
			try{kind: tryRetry, n: 1, last: b(3, failed, 2*time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decide(tt.recent, t0, tt.built)
			if got.kind != tt.want.kind || got.n != tt.want.n || got.last.ID != tt.want.last.ID {
				t.Errorf("decide = kind %d, retry %d, last #%d; want kind %d, retry %d, last #%d",
					got.kind, got.n, got.last.ID, tt.want.kind, tt.want.n, tt.want.last.ID)
			}
		})
	}
}

// TestRetryReason: a retry's reason names its number and the build before.
func TestRetryReason(t *testing.T) {
	from, to := "sha256:ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12", "sha256:cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34"
	base := Reason("debian:bookworm", from, to)
	for _, tt := range []struct {
		t    try
		want string
	}{
		{try{kind: tryRetry, n: 2, last: store.Build{ID: 41, Status: store.StatusFailed}},
			"base_image debian:bookworm sha256:ab12cd34ef56… → sha256:cd34ef56ab12… (retry 2, last failed in #41)"},
		{try{kind: tryRetry, n: 1, last: store.Build{ID: 7, Status: store.StatusSucceeded}},
			"base_image debian:bookworm sha256:ab12cd34ef56… → sha256:cd34ef56ab12… (retry 1, #7 was built on the old digest)"},
	} {
		if got := base + retrySuffix(tt.t); got != tt.want {
			t.Errorf("reason = %q, want %q", got, tt.want)
		}
	}
}
