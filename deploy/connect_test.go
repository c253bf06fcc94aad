package deploy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/deploy/swarmtest"
)

// fakeEngine answers /_ping and /info as an engine in the given swarm
// state would: a non-manager endpoint, which one real engine cannot be
// at the same time as a manager.
func fakeEngine(t *testing.T, s swarm.Info) string {
	t.Helper()
	return "tcp://" + fakeEngineServer(t, s, httptest.NewServer).Listener.Addr().String()
}

// fakeEngineServer is fakeEngine's server, started by start
// (httptest.NewServer or NewTLSServer).
func fakeEngineServer(t *testing.T, s swarm.Info, start func(http.Handler) *httptest.Server) *httptest.Server {
	t.Helper()
	srv := start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/info"):
			json.NewEncoder(w).Encode(system.Info{Swarm: s})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestConnect(t *testing.T) {
	t.Parallel()
	cli := swarmtest.Manager(t)
	engine := cli.DaemonHost()
	notSwarm := fakeEngine(t, swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive})
	worker := fakeEngine(t, swarm.Info{LocalNodeState: swarm.LocalNodeStateActive, NodeID: "w1"})
	// tcp:// managers: plain HTTP only with insecure: true.
	manager := swarm.Info{LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true, NodeID: "m1"}
	plain := fakeEngine(t, manager)
	tlsEngine := fakeEngineServer(t, manager, httptest.NewTLSServer)
	secure := "tcp://" + tlsEngine.Listener.Addr().String()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	writePEM(t, caFile, tlsEngine.Certificate().Raw)
	otherCA := filepath.Join(dir, "other-ca.pem")
	writePEM(t, otherCA, selfSigned(t))

	tests := []struct {
		name     string
		hosts    []string
		wantHost string
		wantErrs []string // each host's failure, in the one error
		notMgr   bool
		tls      config.TLS
		plainTCP bool
	}{
		{name: "the first host", hosts: []string{engine}, wantHost: engine},
		{
			name:     "unreachable hosts are skipped",
			hosts:    []string{"unix:///nonexistent.sock", "tcp://127.0.0.1:1", "ssh://nobody@127.0.0.1:1", engine},
			wantHost: engine,
			tls:      config.TLS{Insecure: true},
		},
		{name: "a non-manager is skipped", hosts: []string{worker, engine}, wantHost: engine, tls: config.TLS{Insecure: true}},
		{
			name:     "every host fails",
			hosts:    []string{"unix:///nonexistent.sock", "tcp://127.0.0.1:1", "http://x"},
			wantErrs: []string{`deploy target "t"`, "unix:///nonexistent.sock: no answer", "tcp://127.0.0.1:1: no answer", "unsupported scheme"},
			tls:      config.TLS{Insecure: true},
		},
		{
			name:     "not in swarm mode",
			hosts:    []string{notSwarm},
			wantErrs: []string{notSwarm + ": not a swarm manager", "docker swarm init"},
			notMgr:   true,
			tls:      config.TLS{Insecure: true},
		},
		{
			name:     "a worker",
			hosts:    []string{worker},
			wantErrs: []string{worker + ": not a swarm manager", "node w1 is a swarm worker", "docker node promote"},
			notMgr:   true,
			tls:      config.TLS{Insecure: true},
		},
		{name: "no hosts", wantErrs: []string{"has no hosts"}},
		{name: "plain tcp without tls is refused", hosts: []string{plain}, plainTCP: true,
			wantErrs: []string{"plain HTTP", "deploy_targets.t.tls", "insecure: true"}},
		{name: "plain tcp with insecure: true", hosts: []string{plain}, wantHost: plain, tls: config.TLS{Insecure: true}},
		{name: "TLS verified with the engine's CA", hosts: []string{secure}, wantHost: secure, tls: config.TLS{CAFile: caFile}},
		{name: "TLS with another CA fails verification", hosts: []string{secure}, tls: config.TLS{CAFile: otherCA}, wantErrs: []string{"certificate"}},
		{name: "TLS with insecure: true skips verification", hosts: []string{secure}, wantHost: secure, tls: config.TLS{CAFile: otherCA, Insecure: true}},
		{name: "insecure: true without files is plain HTTP, which a TLS engine refuses", hosts: []string{secure}, tls: config.TLS{Insecure: true}, wantErrs: []string{"no answer"}},
		{name: "a password in a host URL", hosts: []string{"tcp://ops:hunter2@127.0.0.1:1"}, wantErrs: []string{"tcp://***@127.0.0.1:1: no answer"}, tls: config.TLS{Insecure: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := deploy.Connect(t.Context(), "t", config.DeployTarget{Hosts: tt.hosts, TLS: tt.tls})
			if tt.wantErrs == nil {
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				defer target.Close()
				if got := target.Host(); got != tt.wantHost {
					t.Errorf("Host() = %q, want %q", got, tt.wantHost)
				}
				if got := target.Name(); got != "t" {
					t.Errorf("Name() = %q, want t", got)
				}
				return
			}
			if err == nil {
				target.Close()
				t.Fatal("Connect succeeded, want an error")
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows a host's password", err)
			}
			if got := errors.Is(err, config.ErrPlainTCP); got != tt.plainTCP {
				t.Errorf("errors.Is(err, ErrPlainTCP) = %v, want %v", got, tt.plainTCP)
			}
			if got := errors.Is(err, deploy.ErrNotManager); got != tt.notMgr {
				t.Errorf("errors.Is(err, ErrNotManager) = %v, want %v", got, tt.notMgr)
			}
		})
	}
}

// writePEM writes a DER certificate as a PEM file.
func writePEM(t *testing.T, path string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// selfSigned returns a new self-signed CA certificate (DER) that signed
// nothing the tests serve.
func selfSigned(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
