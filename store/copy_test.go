package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testLogs(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	if got, err := s.ReadLog(ctx, 7, 0, 0); err != nil || len(got) != 0 {
		t.Errorf("ReadLog of no log = %q, %v; want empty", got, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), logChunk/16+100) // more than one chunk
	parts := [][]byte{[]byte("step 1\n"), big, []byte("done\n")}
	for _, p := range parts {
		if err := s.AppendLog(ctx, 7, p); err != nil {
			t.Fatalf("AppendLog: %v", err)
		}
	}
	want := bytes.Join(parts, nil)
	for _, off := range []int64{0, 3, 7, logChunk + 5, int64(len(want)) - 5, int64(len(want))} {
		got, err := s.ReadLog(ctx, 7, off, 0)
		if err != nil || !bytes.Equal(got, want[off:]) {
			t.Errorf("ReadLog(offset %d) = %d bytes, %v; want %d", off, len(got), err, len(want)-int(off))
		}
	}
}

func TestMigrateSQLiteToPostgres(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	src := openAt(t, "", dir, Options{})
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	fixClock(src, at)
	statuses := []Status{StatusSucceeded, StatusFailed, StatusCanceled, StatusSuperseded, StatusRunning, StatusQueued}
	bigLog := strings.Repeat("a long log line of a build\n", 20000) // > one chunk
	for i := range 50 {
		b := enqueue(t, src, push("web", fmt.Sprint("b", i%4), fmt.Sprintf("%040d", i)))
		b.Status = statuses[i%len(statuses)]
		b.Tags = []string{fmt.Sprint("v", i)}
		b.Stages = []Stage{{Name: "build", Status: b.Status, StartedAt: &at, DurationMS: int64(i)}}
		b.StartedAt = &at
		if Finished(b.Status) {
			b.FinishedAt = ptr(at.Add(time.Duration(i) * time.Second))
		}
		b.Digest = "sha256:" + strings.Repeat(fmt.Sprint(i%10), 64)
		if err := src.UpdateBuild(ctx, b); err != nil {
			t.Fatal(err)
		}
		log := fmt.Sprintf("log of build %d\n", b.ID)
		if i == 7 {
			log = bigLog
		}
		if i%5 != 4 { // some builds have no log
			if err := os.WriteFile(src.LogPath(b.ID), []byte(log), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 12 {
		if _, err := src.RecordDelivery(ctx, Delivery{ID: fmt.Sprint("d-", i), Event: "push", Outcome: "queued", BuildIDs: []int64{int64(i + 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, sch := range []string{"nightly", "weekly"} {
		if err := src.MarkFired(ctx, "web", sch, at.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	wantBuilds, err := src.ListBuilds(ctx, Filter{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := src.RecordDeployment(ctx, Deployment{Project: "web", Target: "prod", Service: "web_app", Digest: fmt.Sprint("sha256:", i), Build: int64(i + 1), Status: "converged"}); err != nil {
			t.Fatal(err)
		}
	}
	wantDeployments, err := src.Deployments(ctx, "prod", "web_app", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil { // slipway is stopped while it migrates
		t.Fatal(err)
	}

	database := newPostgres(t)
	withPassword := strings.Replace(database, "slipway@", "slipway:Hunter2-pw@", 1)
	counts, err := Migrate(ctx, "sqlite:"+dir, withPassword)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if want := (CopyCounts{Builds: 50, Deliveries: 12, ScheduleMarks: 2, Deployments: 3, Logs: 40, LogBytes: counts.LogBytes}); counts != want || counts.LogBytes < int64(len(bigLog)) {
		t.Errorf("counts = %+v, want %+v with at least %d log bytes", counts, want, len(bigLog))
	}

	dst := openAt(t, database, filepath.Join(t.TempDir(), "replica"), Options{})
	gotBuilds, err := dst.ListBuilds(ctx, Filter{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gotBuilds, wantBuilds); diff != "" {
		t.Errorf("builds on PostgreSQL (-got +want):\n%s", diff)
	}
	for _, id := range []int64{1, 8, 5, 50} {
		want, err := os.ReadFile(filepath.Join(dir, "logs", fmt.Sprint(id, ".log")))
		if errors.Is(err, os.ErrNotExist) {
			want = []byte{}
		} else if err != nil {
			t.Fatal(err)
		}
		got, err := dst.ReadLog(ctx, id, 0, 0)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("log of build %d: %d bytes, %v; want %d", id, len(got), err, len(want))
		}
	}
	if got, err := dst.Deployments(ctx, "prod", "web_app", 0); err != nil || !cmp.Equal(got, wantDeployments) {
		t.Errorf("deployments on PostgreSQL = %+v, %v; want %+v", got, err, wantDeployments)
	}
	if d, err := dst.RecordDeployment(ctx, Deployment{Project: "web", Target: "prod", Service: "web_app", Status: "converged"}); err != nil || d.ID != 4 {
		t.Errorf("first deployment after the migration: ID %d, %v; want 4", d.ID, err)
	}
	d, err := dst.GetDelivery(ctx, "d-3")
	if err != nil || d.Outcome != "queued" || !cmp.Equal(d.BuildIDs, []int64{4}) {
		t.Errorf("GetDelivery(d-3) = %+v, %v", d, err)
	}
	if seen, err := dst.RecordDelivery(ctx, Delivery{ID: "d-3", Event: "push"}); err != nil || !seen {
		t.Errorf("a migrated delivery redelivered: seen = %v, %v; want true", seen, err)
	}
	if due, ok, err := dst.LastFired(ctx, "web", "weekly"); err != nil || !ok || !due.Equal(at.Add(-time.Hour)) {
		t.Errorf("LastFired = %v, %v, %v", due, ok, err)
	}
	next := enqueue(t, dst, push("web", "new", ""))
	if next.ID != 51 {
		t.Errorf("first build after the migration got ID %d, want 51", next.ID)
	}

	t.Run("non-empty target", func(t *testing.T) {
		_, err := Migrate(ctx, "sqlite:"+filepath.Join(dir, "slipway.db"), withPassword)
		if !errors.Is(err, ErrNotEmpty) {
			t.Errorf("second Migrate = %v, want ErrNotEmpty", err)
		}
		if err != nil && strings.Contains(err.Error(), "Hunter2-pw") {
			t.Errorf("error shows the password: %v", err)
		}
		if n, err := dst.CountDeliveries(ctx); err != nil || n != 12 {
			t.Errorf("deliveries after a refused copy = %d, %v; want 12", n, err)
		}
	})
	t.Run("bad source", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nothing")
		for _, from := range []string{"sqlite:" + missing, missing, "sqlite:", "postgres://x@y/z"} {
			if _, err := Migrate(ctx, from, newPostgres(t)); err == nil {
				t.Errorf("Migrate from %q succeeded, want an error", from)
			}
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Migrate created the missing source %s (%v)", missing, err)
		}
	})
}

func testCreateLog(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	old, err := s.CreateLog(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(old, "the first attempt's line")
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	// A new attempt starts the log anew; a follower reading as it is
	// written gets every byte once, in order.
	w, err := s.CreateLog(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	done := make(chan error, 1)
	go func() {
		for i := range 2000 {
			line := fmt.Sprintf("line %d\n", i)
			want.WriteString(line)
			if _, err := io.WriteString(w, line); err != nil {
				done <- err
				return
			}
		}
		done <- w.Close()
	}()
	var got []byte
	writing := true
	for writing {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("write the log: %v", err)
			}
			writing = false
		default:
		}
		p, err := s.ReadLog(ctx, 3, int64(len(got)), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) > 1000 {
			t.Fatalf("ReadLog(max 1000) returned %d bytes", len(p))
		}
		got = append(got, p...)
	}
	for {
		p, err := s.ReadLog(ctx, 3, int64(len(got)), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 {
			break
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("followed log: %d bytes, want %d (the second attempt's lines once, in order)", len(got), want.Len())
	}
	if _, err := w.Write([]byte("late")); err == nil {
		t.Error("Write after Close succeeded")
	}
}
