package builder_test

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/config"
)

// TestDialTCPNeedsTLS checks that a tcp:// engine is reached over TLS, and
// over plain HTTP only with insecure: true written.
func TestDialTCPNeedsTLS(t *testing.T) {
	ping := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Write([]byte("OK"))
	})
	plain := httptest.NewServer(ping)
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(ping)
	t.Cleanup(secure.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tcp := func(s *httptest.Server) string { return "tcp://" + s.Listener.Addr().String() }

	t.Run("plain tcp without docker_tls is refused", func(t *testing.T) {
		_, err := builder.Dial(tcp(plain), config.TLS{})
		if !errors.Is(err, config.ErrPlainTCP) || !strings.Contains(err.Error(), "docker_tls: {insecure: true}") {
			t.Errorf("Dial = %v, want ErrPlainTCP saying how to allow it", err)
		}
	})
	t.Run("a tcp DOCKER_HOST without DOCKER_CERT_PATH is refused", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", tcp(plain))
		t.Setenv("DOCKER_CERT_PATH", "")
		_, err := builder.Dial("", config.TLS{})
		if !errors.Is(err, config.ErrPlainTCP) || !strings.Contains(err.Error(), "DOCKER_CERT_PATH") {
			t.Errorf("Dial = %v, want ErrPlainTCP naming DOCKER_CERT_PATH", err)
		}
	})
	for _, tt := range []struct {
		name    string
		host    string
		tls     config.TLS
		wantErr bool
	}{
		{"plain tcp with insecure: true", tcp(plain), config.TLS{Insecure: true}, false},
		{"TLS verified with the engine's CA", tcp(secure), config.TLS{CAFile: caFile}, false},
		{"TLS without the engine's CA", tcp(secure), config.TLS{CAFile: "/etc/ssl/certs/ca-certificates.crt"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := builder.Dial(tt.host, tt.tls)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer cli.Close()
			_, err = cli.Ping(t.Context())
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("Ping = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}
