package builders

import (
	"errors"
	"fmt"
	"testing"
)

func cand(name string, labels map[string]string) Candidate {
	return Candidate{Name: name, Labels: labels, Healthy: true, Concurrency: 2}
}

// stickyOf is the builder Place picks for project among all-available cs.
func stickyOf(t *testing.T, cs []Candidate, project string) string {
	t.Helper()
	d, err := Place(cs, project, nil)
	if err != nil || d.Builder == "" {
		t.Fatalf("Place(%s) = %+v, %v", project, d, err)
	}
	return d.Builder
}

// TestPlaceSticky: a project always gets the same builder; projects spread
// over builders; adding a builder moves only the projects it wins.
func TestPlaceSticky(t *testing.T) {
	two := []Candidate{cand("a", nil), cand("b", nil)}
	three := append(two[:2:2], cand("c", nil))
	per := map[string]int{}
	moved := 0
	for i := range 300 {
		p := fmt.Sprintf("project-%d", i)
		first := stickyOf(t, two, p)
		if again := stickyOf(t, []Candidate{two[1], two[0]}, p); again != first {
			t.Fatalf("%s: %s, then %s with the builders listed the other way round", p, first, again)
		}
		per[first]++
		if after := stickyOf(t, three, p); after != first {
			if after != "c" {
				t.Errorf("%s moved from %s to %s when c was added", p, first, after)
			}
			moved++
		}
	}
	if per["a"] < 100 || per["b"] < 100 {
		t.Errorf("300 projects over two builders: %v, want each at least 100", per)
	}
	if moved < 50 || moved > 150 {
		t.Errorf("adding a third builder moved %d of 300 projects, want about 100", moved)
	}
}

func TestPlace(t *testing.T) {
	amd := map[string]string{"arch": "amd64", "os": "linux"}
	arm := map[string]string{"arch": "arm64", "os": "linux", "disk": "ssd"}
	base := []Candidate{cand("x", amd), cand("y", amd)}
	sticky := stickyOf(t, base, "web")
	other := "x"
	if sticky == "x" {
		other = "y"
	}
	with := func(f func(c *Candidate)) []Candidate {
		cs := []Candidate{cand("x", amd), cand("y", amd)}
		for i := range cs {
			if cs[i].Name == sticky {
				f(&cs[i])
			}
		}
		return cs
	}
	tests := []struct {
		name       string
		cands      []Candidate
		want       map[string]string
		builder    string
		reason     string
		wait       bool
		err        error
		errMessage string
	}{
		{"sticky", base, nil, sticky, "sticky builder of web", false, nil, ""},
		{"sticky unhealthy", with(func(c *Candidate) { c.Healthy, c.Err = false, "connection refused" }), nil, other,
			"least loaded (0/2 builds): sticky builder " + sticky + " is unhealthy: connection refused", false, nil, ""},
		{"sticky full", with(func(c *Candidate) { c.Running = 2 }), nil, other,
			"least loaded (0/2 builds): sticky builder " + sticky + " is full (2/2 builds)", false, nil, ""},
		{"sticky draining", with(func(c *Candidate) { c.Draining = true }), nil, other,
			"least loaded (0/2 builds): sticky builder " + sticky + " is draining", false, nil, ""},
		{"sticky failed the earlier attempt", with(func(c *Candidate) { c.Excluded = true }), nil, other,
			"least loaded (0/2 builds): sticky builder " + sticky + " is failed this build's earlier attempt", false, nil, ""},
		{"all full: wait", []Candidate{{Name: "x", Labels: amd, Healthy: true, Running: 1, Concurrency: 1}, {Name: "y", Labels: amd, Healthy: true, Running: 2, Concurrency: 2}},
			nil, "", "every matching builder is full", true, nil, ""},
		{"labels pick the only match", []Candidate{cand("x", amd), cand("z", arm)}, map[string]string{"arch": "arm64"}, "z", "sticky builder of web", false, nil, ""},
		{"no builder has the labels", []Candidate{cand("x", amd), cand("z", arm)}, map[string]string{"arch": "riscv64"}, "", "", false, ErrNoBuilder,
			"no builder has the labels {arch: riscv64}: builders: x {arch: amd64, os: linux}; z {arch: arm64, disk: ssd, os: linux}"},
		{"the matching builder is down", []Candidate{cand("x", amd), {Name: "z", Labels: arm, Err: "no answer"}}, map[string]string{"arch": "arm64"}, "", "", false, ErrNoHealthyBuilder,
			"no healthy builder has the labels {arch: arm64}: builders: z {arch: arm64, disk: ssd, os: linux} unhealthy: no answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Place(tt.cands, "web", tt.want)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || err.Error() != tt.errMessage {
					t.Fatalf("Place = %+v, %v; want %v:\n%s", d, err, tt.err, tt.errMessage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Builder != tt.builder || d.Reason != tt.reason || d.Wait != tt.wait {
				t.Errorf("Place = %+v, want builder %q, reason %q, wait %v", d, tt.builder, tt.reason, tt.wait)
			}
			// The sticky builder is named whatever the decision: the
			// only match, else web's sticky one among x and y.
			wantSticky := sticky
			if tt.want != nil {
				wantSticky = tt.builder
			}
			if d.Sticky != wantSticky {
				t.Errorf("Place = %+v, want sticky builder %s", d, wantSticky)
			}
		})
	}
}

// TestPlaceLeastLoaded: when the sticky builder is down, the least loaded
// of the others takes the build, whatever their order.
func TestPlaceLeastLoaded(t *testing.T) {
	all := []Candidate{cand("x", nil), cand("y", nil), cand("z", nil)}
	project := ""
	for i := 0; project == ""; i++ {
		if p := fmt.Sprintf("p%d", i); stickyOf(t, all, p) == "x" {
			project = p
		}
	}
	cs := []Candidate{
		{Name: "y", Healthy: true, Running: 3, Concurrency: 4},
		{Name: "x", Healthy: false, Err: "gone", Concurrency: 4},
		{Name: "z", Healthy: true, Running: 1, Concurrency: 4},
	}
	d, err := Place(cs, project, nil)
	if err != nil || d.Builder != "z" || d.Reason != "least loaded (1/4 builds): sticky builder x is unhealthy: gone" {
		t.Errorf("Place = %+v, %v; want z, the least loaded healthy builder", d, err)
	}
}
