package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a throwaway PostgreSQL cluster on a loopback port under a
// temporary directory, started with Debian's initdb and pg_ctl. One cluster
// serves a whole test binary; each test takes its own database from
// NewDatabase. It trusts every local connection as the user "slipway".
type Postgres struct {
	// Port is the loopback TCP port the server listens on.
	Port int
	dir  string
	bin  string
	cred *syscall.Credential
}

// PostgresShared starts one cluster for the test binary on first use and
// stops it when Stop is called (from TestMain, after m.Run).
type PostgresShared struct {
	once sync.Once
	pg   *Postgres
	err  error
}

// Get returns the shared cluster, starting it on the first call. A cluster
// that cannot start fails the test (never skips it): install PostgreSQL
// with scripts/test-env.sh.
func (s *PostgresShared) Get(t testing.TB) *Postgres {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.pg, s.err = StartPostgres(ctx, PostgresOptions{})
	})
	if s.err != nil {
		t.Fatalf("PostgreSQL test cluster: %v", s.err)
	}
	return s.pg
}

// Stop stops the cluster if it was started.
func (s *PostgresShared) Stop() error {
	if s.pg == nil {
		return nil
	}
	return s.pg.Stop()
}

// postgresBin finds the directory of initdb: the newest
// /usr/lib/postgresql/*/bin, else initdb on PATH.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	if len(dirs) > 0 {
		return filepath.Dir(dirs[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no initdb in /usr/lib/postgresql/*/bin or on PATH: apt-get install postgresql (scripts/test-env.sh does)")
}

// pgMajor is the major version in /usr/lib/postgresql/N/bin/initdb.
func pgMajor(p string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
	return n
}

// PostgresOptions shape a test cluster.
type PostgresOptions struct {
	// Durable keeps PostgreSQL's defaults (fsync, full_page_writes,
	// synchronous_commit on), for benchmarks that compare commit costs
	// with SQLite's synchronous=FULL. Default off: the cluster is thrown
	// away and tests run faster without fsyncs.
	Durable bool
}

// StartPostgres runs initdb and pg_ctl start on a free loopback port in a
// new temporary directory. initdb refuses to run as root, so a root test
// runs them as the "postgres" user, which owns the directory.
func StartPostgres(ctx context.Context, o PostgresOptions) (*Postgres, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "slipway-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("initdb refuses root and there is no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if out, err := p.run(ctx, "initdb", "-D", p.data(), "-A", "trust", "-U", "slipway", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	// A port picked free may be taken before the server binds it: retry.
	for attempt := 0; ; attempt++ {
		p.Port, err = freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300", p.Port, dir)
		if !o.Durable {
			opts += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
		}
		out, err := p.run(ctx, "pg_ctl", "-D", p.data(), "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o", opts, "start")
		if err == nil {
			return p, nil
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pg_ctl start: %w: %s\n%s", err, out, log)
		}
	}
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

// run runs one PostgreSQL program as the cluster's owner.
func (p *Postgres) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, prog), args...)
	cmd.Dir = p.dir
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd.CombinedOutput()
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is the connection URL of database db as the trusted user slipway.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://slipway@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}

// NewDatabase creates an empty database t_<random>, dropped when the test
// ends, and returns its URL.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "t_" + hex.EncodeToString(b[:])
	if err := p.exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := p.exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return p.URL(name)
}

// exec runs one statement on the postgres database.
func (p *Postgres) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop stops the server (fast shutdown) and removes its directory.
func (p *Postgres) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := p.run(ctx, "pg_ctl", "-D", p.data(), "-m", "fast", "-w", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return os.RemoveAll(p.dir)
}

// StartPostgresForTest starts a cluster for one test and stops it when the
// test ends; a cluster that cannot start fails the test. Test binaries
// with many PostgreSQL tests share one through PostgresShared instead.
func StartPostgresForTest(t testing.TB, o PostgresOptions) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := StartPostgres(ctx, o)
	if err != nil {
		t.Fatalf("PostgreSQL test cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return p
}
