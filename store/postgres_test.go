package store

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// newPostgres returns the URL of a new empty database on the test cluster.
func newPostgres(t *testing.T) string {
	t.Helper()
	return pgCluster.Get(t).NewDatabase(t)
}

func TestPostgresReplicasMigrateOnce(t *testing.T) {
	database := newPostgres(t)
	const replicas = 4
	var (
		wg     sync.WaitGroup
		stores [replicas]*Store
		errs   [replicas]error
	)
	for i := range replicas {
		wg.Go(func() {
			stores[i], errs[i] = OpenDatabase(t.Context(), database, filepath.Join(t.TempDir(), "data"), Options{Replica: fmt.Sprint("r", i)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: OpenDatabase: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	ms, err := migrations(BackendPostgres)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range ms {
		want = append(want, m.name)
	}
	var got []string
	for _, v := range appliedVersions(t, stores[0]) {
		name, _, _ := strings.Cut(v, "@")
		got = append(got, name)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("schema_migrations (-got +want):\n%s", diff)
	}
}

func TestPostgresOpenErrorsHidePassword(t *testing.T) {
	const pw = "Hunter2-s3cret-pw"
	// A port nobody listens on: connecting fails.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for name, database := range map[string]string{
		"refused":       "postgres://slipway:" + pw + "@" + closed + "/slipway?sslmode=disable&connect_timeout=5",
		"bad port":      "postgres://slipway:" + pw + "@127.0.0.1:notaport/slipway",
		"bad option":    "postgresql://slipway:" + pw + "@127.0.0.1/slipway?sslmode=sometimes",
		"other scheme":  "mysql://slipway:" + pw + "@127.0.0.1/slipway",
		"wrong user db": strings.Replace(pgCluster.Get(t).URL("nodb_here"), "slipway@", "slipway:"+pw+"@", 1),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := OpenDatabase(t.Context(), database, t.TempDir(), Options{})
			if err == nil {
				s.Close()
				t.Fatal("OpenDatabase succeeded, want an error")
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(fmt.Sprintf("%+v", err), pw) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}
