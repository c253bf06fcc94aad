package store

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testListBuildsNewestPerRef(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	due := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	nightly := func() Build {
		return Build{Project: "web", Trigger: TriggerSchedule, Ref: "refs/heads/main", Schedule: "nightly", DueAt: &due}
	}
	var ids []int64
	for _, b := range []Build{
		push("web", "main", "c1"), // 0
		push("web", "dev", "c2"),  // 1
		nightly(),                 // 2
		push("api", "main", "c3"), // 3: another project
		push("web", "main", "c4"), // 4
		nightly(),                 // 5
		{Project: "web", Trigger: TriggerTag, Ref: "refs/tags/v1"}, // 6
	} {
		got, err := s.Insert(ctx, b)
		if err != nil {
			t.Fatalf("Insert: %v", err)
		}
		ids = append(ids, got.ID)
	}
	idsOf := func(bs []Build) []int64 {
		out := []int64{}
		for _, b := range bs {
			out = append(out, b.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want []int64
	}{
		{"newest per ref and schedule", Filter{Project: "web", NewestPerRef: true}, []int64{ids[6], ids[5], ids[4], ids[1]}},
		{"among the Limit newest only", Filter{Project: "web", Limit: 3, NewestPerRef: true}, []int64{ids[6], ids[5], ids[4]}},
		{"with a ref", Filter{Project: "web", Ref: "refs/heads/main", NewestPerRef: true}, []int64{ids[5], ids[4]}},
		{"every project", Filter{NewestPerRef: true}, []int64{ids[6], ids[5], ids[4], ids[3], ids[1]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListBuilds(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListBuilds: %v", err)
			}
			if diff := cmp.Diff(idsOf(got), tc.want); diff != "" {
				t.Errorf("ids (-got +want):\n%s", diff)
			}
		})
	}
}

// TestListBuildsReadsAnIndex: on SQLite, every filter of ListBuilds reads
// an index in ID order (no scan of the builds table, no sort of the
// matching rows), so that a page costs its rows at any history length.
func TestListBuildsReadsAnIndex(t *testing.T) {
	s := testBackends[0].open(t)
	for _, f := range []Filter{
		{},
		{Project: "web"},
		{Project: "web", Status: StatusFailed},
		{Project: "web", Ref: "refs/heads/main"},
		{Status: StatusQueued},
		{Project: "web", BeforeID: 1000},
		{Project: "web", Limit: MaxLimit, NewestPerRef: true},
	} {
		query, args := listQuery(f)
		rows, err := s.db.query(t.Context(), `EXPLAIN QUERY PLAN `+query, args...)
		if err != nil {
			t.Fatalf("explain %+v: %v", f, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatalf("scan plan: %v", err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		for _, bad := range []string{"USE TEMP B-TREE FOR ORDER BY", "SCAN builds USING INDEX builds_commit"} {
			if strings.Contains(text, bad) {
				t.Errorf("plan of %+v: %s (has %q)", f, text, bad)
			}
		}
		// A bare "SCAN builds" (no index) is only right for no filter,
		// where the table's own order is the ID order.
		if f.Project != "" || f.Status != "" {
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN builds") && !strings.Contains(step, "INDEX") {
					t.Errorf("plan of %+v scans the builds table: %s", f, text)
				}
			}
		}
	}
}
