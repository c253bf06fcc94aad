package probe_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayci/slipway/deploy/probe"
)

// TestMainCommand: the probe retries until the server answers the status, fails
// with the last answer when it never does, and refuses what is not an
// http:// URL.
func TestMainCommand(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" && calls.Add(1) < 3 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/broken" {
			http.Error(w, "broken on purpose", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	var out, errOut bytes.Buffer
	if code := probe.Main(t.Context(), []string{srv.URL + "/late", "-status", "204", "-timeout", "20s"}, &out, &errOut); code != 0 {
		t.Fatalf("probe of /late exited %d:\n%s%s", code, out.String(), errOut.String())
	}
	if got := strings.Count(out.String(), "503 Service Unavailable"); got != 2 {
		t.Errorf("probe output shows %d failed attempts, want 2:\n%s", got, out.String())
	}

	out.Reset()
	if code := probe.Main(t.Context(), []string{"-timeout", "2s", srv.URL + "/broken"}, &out, &errOut); code != 1 {
		t.Fatalf("probe of /broken exited %d, want 1:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "probe failed: GET "+srv.URL+"/broken did not answer 200 within 2s: 500 Internal Server Error, want 200: broken on purpose") {
		t.Errorf("probe output lacks the reason:\n%s", out.String())
	}

	for _, bad := range []string{"https://web:8443/", "web:8080", "http://user:pw@web/"} {
		err := probe.Run(t.Context(), probe.Check{URL: bad, Timeout: time.Second}, &out)
		if err == nil {
			t.Errorf("Run(%q) = nil, want a refusal", bad)
		}
	}
}
