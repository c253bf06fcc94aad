package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/testenv"
)

var sortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })

func weeklyVersioned(t *testing.T) func(string) bool {
	t.Helper()
	v, err := ScheduleVersioned(config.Schedule{Name: "weekly", Branch: "main"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPrune(t *testing.T) {
	t.Run("keeps the newest 2 of 5 by version, not by push order", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		repo := reg.Host + "/" + testenv.Name(t, "app")
		digests := map[string]string{}
		// Pushed out of order: the registry's order and the push order
		// must not decide.
		for _, tag := range []string{"2027-W01", "2026-W51", "2026-W53", "2026-W50", "2026-W52"} {
			tags := []string{tag}
			if tag == "2027-W01" {
				tags = append(tags, "weekly")
			}
			digests[tag] = pushRandom(t, repo, authn.Anonymous, tags...)
		}
		other := pushRandom(t, repo, authn.Anonymous, "main-1a2b3c4", "main", "latest")
		monthly := pushRandom(t, repo, authn.Anonymous, "monthly", "nightly-20261231")
		// Monthly's versioned tag of November: the weekly retention must
		// not take it for a week (the defaults once were both YYYY.NN).
		november := pushRandom(t, repo, authn.Anonymous, "2026-11")

		var log bytes.Buffer
		deleted, err := Prune(t.Context(), repo, nil, weeklyVersioned(t), 2, &log)
		if err != nil {
			t.Fatalf("Prune: %v\nlog:\n%s", err, log.String())
		}
		t.Logf("log:\n%s", log.String())
		if diff := cmp.Diff([]string{"2026-W50", "2026-W51", "2026-W52"}, deleted); diff != "" {
			t.Errorf("deleted mismatch (-want +got):\n%s", diff)
		}
		want := []string{"2026-W53", "2027-W01", "weekly", "main-1a2b3c4", "main", "latest", "monthly", "nightly-20261231", "2026-11"}
		if diff := cmp.Diff(want, registryTags(t, repo, authn.Anonymous), sortStrings); diff != "" {
			t.Errorf("registry tags mismatch (-want +got):\n%s", diff)
		}
		for tag, d := range map[string]string{
			"2026-W53": digests["2026-W53"], "2027-W01": digests["2027-W01"], "weekly": digests["2027-W01"],
			"main": other, "latest": other, "monthly": monthly, "2026-11": november,
		} {
			if got, err := headDigest(t, repo+":"+tag, authn.Anonymous); err != nil || got != d {
				t.Errorf("registry digest of %s = %q, %v; want %s", tag, got, err, d)
			}
		}
		for _, tag := range deleted {
			if _, err := Resolve(t.Context(), repo+":"+tag, nil); !errors.Is(err, ErrNotFound) {
				t.Errorf("Resolve(%s) error = %v, want ErrNotFound", tag, err)
			}
			if _, err := Resolve(t.Context(), repo+"@"+digests[tag], nil); !errors.Is(err, ErrNotFound) {
				t.Errorf("Resolve(%s@digest) error = %v, want ErrNotFound", tag, err)
			}
		}

		t.Run("a second run deletes nothing", func(t *testing.T) {
			deleted, err := Prune(t.Context(), repo, nil, weeklyVersioned(t), 2, io.Discard)
			if err != nil || len(deleted) != 0 {
				t.Errorf("Prune = %v, %v; want nothing deleted", deleted, err)
			}
		})
	})

	t.Run("manifests shared with a kept tag stay", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		repo := reg.Host + "/" + testenv.Name(t, "app")
		// 2026-W49 and 2026-W52 share an image and are both beyond the
		// newest 2: deleted together. 2026-W50 shares main's image, 2026-W51
		// the image of the kept 2027-W01: neither can go without a kept tag.
		a := pushRandom(t, repo, authn.Anonymous, "2026-W49", "2026-W52")
		b := pushRandom(t, repo, authn.Anonymous, "2026-W50", "main")
		c := pushRandom(t, repo, authn.Anonymous, "2026-W51", "2027-W01", "weekly")
		pushRandom(t, repo, authn.Anonymous, "2026-W53")

		var log bytes.Buffer
		deleted, err := Prune(t.Context(), repo, nil, weeklyVersioned(t), 2, &log)
		if err != nil {
			t.Fatalf("Prune: %v\nlog:\n%s", err, log.String())
		}
		t.Logf("log:\n%s", log.String())
		if diff := cmp.Diff([]string{"2026-W49", "2026-W52"}, deleted); diff != "" {
			t.Errorf("deleted mismatch (-want +got):\n%s", diff)
		}
		want := []string{"2026-W50", "main", "2026-W51", "2027-W01", "weekly", "2026-W53"}
		if diff := cmp.Diff(want, registryTags(t, repo, authn.Anonymous), sortStrings); diff != "" {
			t.Errorf("registry tags mismatch (-want +got):\n%s", diff)
		}
		if _, err := Resolve(t.Context(), repo+"@"+a, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(a) error = %v, want ErrNotFound", err)
		}
		for _, d := range []string{b, c} {
			if _, err := Resolve(t.Context(), repo+"@"+d, nil); err != nil {
				t.Errorf("Resolve(%s): %v", d, err)
			}
		}
		for _, want := range []string{
			"retention: keep 2026-W50: its manifest " + b + " is also tagged main",
			"retention: keep 2026-W51: its manifest " + c + " is also tagged",
			"retention: deleted 2026-W49, 2026-W52 (" + a + ")",
		} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, log.String())
			}
		}
	})

	t.Run("nothing beyond keep", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		repo := reg.Host + "/" + testenv.Name(t, "app")
		pushRandom(t, repo, authn.Anonymous, "2026-W50")
		pushRandom(t, repo, authn.Anonymous, "2026-W51", "weekly")
		deleted, err := Prune(t.Context(), repo, nil, weeklyVersioned(t), 2, io.Discard)
		if err != nil || len(deleted) != 0 {
			t.Errorf("Prune = %v, %v; want nothing deleted", deleted, err)
		}
		if diff := cmp.Diff([]string{"2026-W50", "2026-W51", "weekly"}, registryTags(t, repo, authn.Anonymous), sortStrings); diff != "" {
			t.Errorf("registry tags mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("keep 0 is off and reaches no registry", func(t *testing.T) {
		t.Parallel()
		deleted, err := Prune(t.Context(), testenv.ClosedAddr(t)+"/app", nil, weeklyVersioned(t), 0, io.Discard)
		if err != nil || deleted != nil {
			t.Errorf("Prune = %v, %v; want nothing", deleted, err)
		}
	})

	t.Run("unknown repository", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		deleted, err := Prune(t.Context(), reg.Host+"/"+testenv.Name(t, "none"), nil, weeklyVersioned(t), 2, io.Discard)
		if err != nil || deleted != nil {
			t.Errorf("Prune = %v, %v; want nothing", deleted, err)
		}
	})

	t.Run("registry without deletes", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		proxy := startNoDeleteProxy(t, reg.Host)
		path := testenv.Name(t, "app")
		for _, tag := range []string{"2026-W50", "2026-W51", "2026-W52"} {
			pushRandom(t, reg.Host+"/"+path, authn.Anonymous, tag)
		}
		deleted, err := Prune(t.Context(), proxy+"/"+path, nil, weeklyVersioned(t), 1, io.Discard)
		if !errors.Is(err, ErrDeleteUnsupported) {
			t.Fatalf("Prune error = %v, want ErrDeleteUnsupported", err)
		}
		t.Logf("error: %v", err)
		if len(deleted) != 0 {
			t.Errorf("deleted = %v, want none", deleted)
		}
	})

	t.Run("htpasswd registry", func(t *testing.T) {
		t.Parallel()
		const user, password, wrong = "pruner", "right-Pa55word", "wrong-Pa55word"
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{Username: user, Password: password})
		repo := reg.Host + "/" + testenv.Name(t, "app")
		basic := &authn.Basic{Username: user, Password: password}
		for _, tag := range []string{"nightly-20261230", "nightly-20261231", "nightly-20270101"} {
			pushRandom(t, repo, basic, tag)
		}
		pushRandom(t, repo, basic, "nightly")
		versioned, err := ScheduleVersioned(config.Schedule{Name: "nightly", Branch: "main"}, nil)
		if err != nil {
			t.Fatal(err)
		}

		bad := NewKeychain(map[string]Credentials{reg.Host: {Username: user, Password: wrong}}, t.TempDir())
		var log bytes.Buffer
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err = Prune(ctx, repo, bad, versioned, 1, &log)
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Prune error = %v, want ErrUnauthorized", err)
		}
		t.Logf("error: %v", err)
		assertNoSecret(t, user, wrong, log.String(), err.Error())

		good := NewKeychain(map[string]Credentials{reg.Host: {Username: user, Password: password}}, t.TempDir())
		log.Reset()
		deleted, err := Prune(t.Context(), repo, good, versioned, 1, &log)
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if diff := cmp.Diff([]string{"nightly-20261230", "nightly-20261231"}, deleted); diff != "" {
			t.Errorf("deleted mismatch (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"nightly", "nightly-20270101"}, registryTags(t, repo, basic), sortStrings); diff != "" {
			t.Errorf("registry tags mismatch (-want +got):\n%s", diff)
		}
		assertNoSecret(t, user, password, log.String())
	})
}

// startNoDeleteProxy forwards to a registry but refuses manifest deletes as
// distribution does without storage.delete.enabled.
func startNoDeleteProxy(t *testing.T, registryHost string) string {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: registryHost}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			fmt.Fprint(w, `{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
