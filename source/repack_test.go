package source_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/source/gitfixture"
)

// logLines returns the JSON log lines of logs whose message is msg.
func logLines(t *testing.T, logs *testenv.Buffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// hasObject reports whether git finds object h in the repository.
func hasObject(repoDir, h string) bool {
	return exec.Command("git", "--git-dir", repoDir, "cat-file", "-e", h).Run() == nil
}

// looseObject writes content into the repository as a loose blob that no
// ref reaches, dated mtime, and returns its id.
func looseObject(t *testing.T, fx *gitfixture.Repo, repoDir, content string, mtime time.Time) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	h := fx.Git(t, "--git-dir", repoDir, "hash-object", "-w", f)
	if err := os.Chtimes(filepath.Join(repoDir, "objects", h[:2], h[2:]), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return h
}

// newPacks returns the packs of after that before does not list.
func newPacks(before, after []string) []string {
	var out []string
	for _, p := range after {
		if !slices.Contains(before, p) {
			out = append(out, p)
		}
	}
	return out
}

// More packs than GCAutoPackLimit (git's 50) are folded into one, as git's
// gc --auto does: 60 small fetches on four branches, each packed (GCAuto
// 1); the checkout that finds 51 packs leaves one, with a log line of the
// figures before and after, and every commit of every branch still checks
// out as the fixture has it.
func TestCheckoutRepacksManyPacks(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	type pin struct{ ref, commit string }
	fx.Commit(t, "main", map[string]string{"a": "0"}, "zero")
	// A symlink and a gitlink, which go-git's own walk of the refs cannot
	// pass.
	fx.CommitSymlink(t, "main", "link", "a", "symlink")
	fx.Git(t, "update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("cd", 20)+",sub")
	fx.Git(t, "commit", "-q", "-m", "gitlink")
	pins := []pin{{"main", fx.Git(t, "rev-parse", "HEAD")}}
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "p")
	c := newCache(t, source.Options{Dir: dir, GCAuto: 1})
	var logs testenv.Buffer
	ctx := zerolog.New(&logs).WithContext(t.Context())
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})

	branches := []string{"main", "b1", "b2", "b3"}
	var counts []int
	for i := 1; i <= 60; i++ {
		br := branches[i%len(branches)]
		fx.Git(t, "checkout", "-q", "main")
		head := fx.Commit(t, br, map[string]string{fmt.Sprintf("%s/f%02d", br, i): fmt.Sprint("content ", i)}, fmt.Sprint("commit ", i))
		pins = append(pins, pin{br, head})
		co, err := c.Checkout(ctx, source.Request{Project: "p", URL: fx.URL(), Ref: br})
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		co.Close()
		if co.Commit != head {
			t.Fatalf("fetch %d checked out %s, want %s", i, co.Commit, head)
		}
		_, packs := cacheObjects(t, repoDir)
		counts = append(counts, len(packs))
	}
	// The clone's pack and one per fetch up to 51; the 51st fetch finds 51
	// and folds them, with its own loose objects, into one.
	if counts[49] != 51 || counts[50] != 1 || counts[59] != 10 {
		t.Errorf("packs after each fetch: %v; want 51 after the 50th, 1 after the 51st, 10 after the 60th", counts)
	}
	lines := logLines(t, &logs, "git cache: repacked")
	if len(lines) != 1 {
		t.Fatalf("log: %d lines about repacking, want 1:\n%s", len(lines), logs.String())
	}
	m := lines[0]
	if m["project"] != "p" || m["packs_before"] != 51.0 || m["packs_after"] != 1.0 || m["loose_before"] != 4.0 ||
		m["loose_after"] != 0.0 || m["pruned"] != 0.0 || m["pack_bytes_after"] == 0.0 || m["duration"] == nil {
		t.Errorf("log line %v: want project p, packs 51 -> 1, loose 4 (the fetch's commit, trees and blob) -> 0, nothing pruned, the new size, a duration", m)
	}
	if m["objects"] != float64(8+51*4) {
		t.Errorf("log line %v: objects %v, want the clone's 8 and the 4 of each of 51 fetches", m, m["objects"])
	}
	fsck(t, repoDir)

	for _, p := range pins {
		co := checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: p.ref, Commit: p.commit})
		if diff := cmp.Diff(fixtureTree(t, fx, p.commit), readTree(t, co.Dir)); diff != "" {
			t.Errorf("checkout of %s %s after repacking differs from the fixture (-want +got):\n%s", p.ref, p.commit, diff)
		}
		co.Close()
	}
}

// Repacking prunes what no ref reaches once it is older than GCPruneExpire
// (git's two weeks), as git's gc does: a force-pushed branch's old commit
// whose pack is older goes, one whose pack is younger stays (loose, to wait
// for its time); a loose unreachable object goes or stays by its own age.
// Everything reachable still checks out.
func TestRepackPrunesOldUnreachable(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	base := fx.Commit(t, "main", map[string]string{"a": "0"}, "zero")
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "p")
	c := newCache(t, source.Options{Dir: dir, GCAuto: 1, GCAutoPackLimit: 4})
	var logs testenv.Buffer
	ctx := zerolog.New(&logs).WithContext(t.Context())
	get := func(ref string) {
		t.Helper()
		co, err := c.Checkout(ctx, source.Request{Project: "p", URL: fx.URL(), Ref: ref})
		if err != nil {
			t.Fatalf("checkout %s: %v", ref, err)
		}
		co.Close()
	}
	get("main")
	// Two branches, each fetched into a pack of its own (GCAuto 1), then
	// force-pushed away from their first commit.
	firsts := map[string]string{}
	firstPacks := map[string][]string{}
	for _, br := range []string{"old", "young"} {
		fx.Git(t, "checkout", "-q", "main")
		firsts[br] = fx.Commit(t, br, map[string]string{br + ".txt": br + ", force-pushed away"}, br)
		_, before := cacheObjects(t, repoDir)
		get(br)
		_, after := cacheObjects(t, repoDir)
		if firstPacks[br] = newPacks(before, after); len(firstPacks[br]) != 1 {
			t.Fatalf("fetch of %s: new packs %v, want 1", br, firstPacks[br])
		}
	}
	heads := map[string]string{"main": base}
	for _, br := range []string{"old", "young"} {
		fx.Git(t, "checkout", "-q", "-B", br, base)
		heads[br] = fx.Commit(t, br, map[string]string{br + ".txt": br + ", rewritten"}, br+" again")
		get(br)
	}
	if _, packs := cacheObjects(t, repoDir); len(packs) != 5 {
		t.Fatalf("before: %d packs, want 5", len(packs))
	}
	month := time.Now().Add(-30 * 24 * time.Hour)
	if err := os.Chtimes(firstPacks["old"][0], month, month); err != nil {
		t.Fatal(err)
	}
	looseOld := looseObject(t, fx, repoDir, "loose and old", month)
	looseYoung := looseObject(t, fx, repoDir, "loose and young", time.Now().Add(-time.Hour))

	get("main") // finds 5 packs: over the limit of 4
	loose, packs := cacheObjects(t, repoDir)
	if len(packs) != 1 {
		t.Errorf("after: packs %v, want 1", packs)
	}
	for what, h := range map[string]string{"the old force-pushed commit": firsts["old"], "the old loose object": looseOld} {
		if hasObject(repoDir, h) {
			t.Errorf("%s (%s) is still there", what, h)
		}
	}
	for what, h := range map[string]string{"the young force-pushed commit": firsts["young"], "the young loose object": looseYoung} {
		if !hasObject(repoDir, h) {
			t.Errorf("%s (%s) is gone, want it kept until it is two weeks old", what, h)
		}
	}
	// The young commit, its tree and blob wait loose, and the young object.
	if loose != 4 {
		t.Errorf("after: %d loose objects, want 4", loose)
	}
	lines := logLines(t, &logs, "git cache: repacked")
	if len(lines) != 1 || lines[0]["pruned"] != 4.0 || lines[0]["unreachable_kept"] != 3.0 || lines[0]["loose_after"] != 4.0 {
		t.Errorf("log: %v; want one line: pruned 4 (3 packed, 1 loose), unreachable_kept 3, loose_after 4\n%s", lines, logs.String())
	}
	fsck(t, repoDir)
	for ref, head := range heads {
		co := checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: ref})
		if co.Commit != head {
			t.Errorf("%s checked out %s, want %s", ref, co.Commit, head)
		}
		if diff := cmp.Diff(fixtureTree(t, fx, head), readTree(t, co.Dir)); diff != "" {
			t.Errorf("checkout of %s after repacking differs from the fixture (-want +got):\n%s", ref, diff)
		}
	}
}

// Packing loose objects (more than GCAuto) prunes too: an unreachable loose
// object older than GCPruneExpire goes, a younger one is packed with the
// rest.
func TestPackLoosePrunesOldUnreachable(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	fx.Commit(t, "main", map[string]string{"a": "0"}, "zero")
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "p")
	c := newCache(t, source.Options{Dir: dir, GCAuto: 4})
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	old := looseObject(t, fx, repoDir, "loose and old", time.Now().Add(-15*24*time.Hour))
	young := looseObject(t, fx, repoDir, "loose and young", time.Now().Add(-13*24*time.Hour))
	head := fx.Commit(t, "main", map[string]string{"b": "1"}, "one") // 3 objects: 5 loose
	var logs testenv.Buffer
	co, err := c.Checkout(zerolog.New(&logs).WithContext(t.Context()), source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	if err != nil || co.Commit != head {
		t.Fatalf("Checkout = %v, %v; want %s", co, err, head)
	}
	co.Close()
	if loose, packs := cacheObjects(t, repoDir); loose != 0 || len(packs) != 2 {
		t.Errorf("after: %d loose, packs %v; want none loose, 2 packs", loose, packs)
	}
	if hasObject(repoDir, old) || !hasObject(repoDir, young) {
		t.Errorf("after: the object of 15 days there %v, of 13 days %v; want false, true", hasObject(repoDir, old), hasObject(repoDir, young))
	}
	if lines := logLines(t, &logs, "git cache: packed loose objects"); len(lines) != 1 || lines[0]["pruned"] != 1.0 || lines[0]["removed"] != 4.0 {
		t.Errorf("log: %v; want one line, pruned 1, removed (packed) 4\n%s", lines, logs.String())
	}
	fsck(t, repoDir)
}

// A repack runs under the project's lock: checkouts running beside the
// fetches that repack the cache, again and again, always read a whole
// store (run with -race).
func TestRepackBesideCheckouts(t *testing.T) {
	t.Parallel()
	var logs testenv.Buffer
	ctx := zerolog.New(&logs).WithContext(t.Context())
	const branches = 12
	repoDir := checkoutsBesideFetches(t, ctx, source.Options{GCAuto: 1, GCAutoPackLimit: 2}, branches)
	if n := len(logLines(t, &logs, "git cache: repacked")); n < 2 {
		t.Errorf("%d repacks during %d fetches over a pack limit of 2, want several:\n%s", n, branches, logs.String())
	}
	fsck(t, repoDir)
}

// A repack that fails (here a ref naming an object the cache lacks, so the
// walk cannot finish) changes nothing: the packs stay as they were, the
// checkout succeeds, the failure is logged and written to gc.log, which
// holds further attempts back for a day, as git's gc --auto does.
func TestRepackFailureLosesNothing(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	fx.Commit(t, "main", map[string]string{"a": "0"}, "zero")
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "p")
	var logs testenv.Buffer
	ctx := zerolog.New(&logs).WithContext(t.Context())
	c := newCache(t, source.Options{Dir: dir, GCAuto: 1, GCAutoPackLimit: 1})
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	get := func() {
		t.Helper()
		head := fx.Commit(t, "main", map[string]string{"a": fmt.Sprint(time.Now().UnixNano())}, "next")
		co, err := c.Checkout(ctx, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
		if err != nil || co.Commit != head {
			t.Fatalf("Checkout = %v, %v; want %s", co, err, head)
		}
		co.Close()
	}
	get() // packed: 2 packs
	missing := strings.Repeat("ab", 20)
	if err := os.WriteFile(filepath.Join(repoDir, "refs", "heads", "dangling"), []byte(missing+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, before := cacheObjects(t, repoDir)
	get() // finds 2 packs: the repack fails
	_, after := cacheObjects(t, repoDir)
	if !cmp.Equal(before, after) {
		t.Errorf("packs after a failed repack: %v, want those before: %v", after, before)
	}
	lines := logLines(t, &logs, "git cache: repacking failed; nothing is lost; this cache is not maintained again for a day, or until its gc.log is removed")
	if len(lines) != 1 || !strings.Contains(fmt.Sprint(lines[0]["error"]), missing) || lines[0]["level"] != "warn" {
		t.Fatalf("log: %v; want one warning naming the missing object\n%s", lines, logs.String())
	}
	gcLog := filepath.Join(repoDir, "gc.log")
	if b, err := os.ReadFile(gcLog); err != nil || !strings.Contains(string(b), missing) {
		t.Errorf("gc.log: %q, %v; want the error", b, err)
	}
	get() // held back by gc.log: no attempt, loose objects stay
	if n := len(logLines(t, &logs, lines[0]["message"].(string))); n != 1 {
		t.Errorf("with gc.log there: %d failed attempts logged, want still 1", n)
	}
	if loose, _ := cacheObjects(t, repoDir); loose == 0 {
		t.Errorf("with gc.log there the fetch's loose objects were packed")
	}

	// A day later the next checkout tries again, and, the cause gone,
	// succeeds and removes gc.log.
	if err := os.Remove(filepath.Join(repoDir, "refs", "heads", "dangling")); err != nil {
		t.Fatal(err)
	}
	dayAgo := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(gcLog, dayAgo, dayAgo); err != nil {
		t.Fatal(err)
	}
	get()
	if loose, packs := cacheObjects(t, repoDir); loose != 0 || len(packs) != 1 {
		t.Errorf("a day later, the cause gone: %d loose, packs %v; want none loose, one pack", loose, packs)
	}
	if _, err := os.Stat(gcLog); !os.IsNotExist(err) {
		t.Errorf("gc.log after a maintenance that succeeded: %v, want it removed", err)
	}
	fsck(t, repoDir)
}

// A submodule's cache gets the same maintenance as the project's: its
// small fetches are stored loose, packed past GCAuto, and its packs folded
// into one past GCAutoPackLimit, each logged with the submodule's cache.
func TestSubmoduleCacheMaintained(t *testing.T) {
	t.Parallel()
	lib := gitfixture.New(t)
	pinned := lib.Commit(t, "main", map[string]string{"lib.txt": "version 0"}, "lib 0")
	fx := gitfixture.New(t)
	fx.Commit(t, "main", map[string]string{"main.txt": "main"}, "init")
	addSubmodule(t, fx, "vendor/lib", lib.URL(), pinned)
	dir := t.TempDir()
	var logs testenv.Buffer
	ctx := zerolog.New(&logs).WithContext(t.Context())
	c := newCache(t, source.Options{Dir: dir, GCAuto: 1, GCAutoPackLimit: 2})
	req := source.Request{Project: "p", URL: fx.URL(), Ref: "main", Submodules: true}
	checkout(t, c, req)
	modules, err := filepath.Glob(filepath.Join(dir, "p", "modules", "*"))
	if err != nil || len(modules) != 1 {
		t.Fatalf("submodule caches: %v, %v; want 1", modules, err)
	}
	var counts []int
	for i := 1; i <= 5; i++ {
		want := fmt.Sprint("version ", i)
		pinned = lib.Commit(t, "main", map[string]string{"lib.txt": want}, fmt.Sprint("lib ", i))
		fx.Git(t, "update-index", "--cacheinfo", "160000,"+pinned+",vendor/lib")
		fx.Git(t, "commit", "-q", "-m", fmt.Sprint("bump lib to ", i))
		co, err := c.Checkout(ctx, req)
		if err != nil {
			t.Fatalf("bump %d: %v", i, err)
		}
		if got := readTree(t, co.Dir)["vendor/lib/lib.txt"]; got != want {
			t.Errorf("bump %d: vendor/lib/lib.txt = %q, want %q", i, got, want)
		}
		co.Close()
		// The pinned commit has a ref of its own, dated by this checkout,
		// which keeps it however its branch moves.
		if fi, err := os.Stat(filepath.Join(modules[0], "refs", "slipway", pinned)); err != nil || time.Since(fi.ModTime()) > time.Hour {
			t.Errorf("bump %d: the pinned commit's ref: %v, %v; want one dated now", i, fi, err)
		}
		loose, packs := cacheObjects(t, modules[0])
		if loose != 0 {
			t.Errorf("bump %d: %d loose objects in the submodule's cache, want them packed", i, loose)
		}
		counts = append(counts, len(packs))
	}
	// Packed: 2, 3 packs; the third bump finds 3 and folds them; 2, 3.
	if !cmp.Equal(counts, []int{2, 3, 1, 2, 3}) {
		t.Errorf("packs of the submodule's cache after each bump: %v, want [2 3 1 2 3]", counts)
	}
	cache := "modules/" + filepath.Base(modules[0])
	count := func(msg string) (n int) {
		for _, m := range logLines(t, &logs, msg) {
			if m["submodule_cache"] == cache && m["project"] == "p" {
				n++
			}
		}
		return n
	}
	if p, r := count("git cache: packed loose objects"), count("git cache: repacked"); p != 4 || r != 1 {
		t.Errorf("log: %d packings and %d repacks of %s, want 4 and 1:\n%s", p, r, cache, logs.String())
	}
	fsck(t, modules[0])
}

// BenchmarkCheckoutPacks checks out the head of a history of 60 commits of
// 1000 files (4 MiB) from a cache whose objects are spread over 60 packs
// (the clone's and 59 fetches' of 20 changed files each: what
// GCAutoPackLimit lets a cache grow to, and more) and from the same cache
// repacked into one; and walks that history (IsAncestor of the first
// commit), which reads every commit.
// go test ./source -run X -bench CheckoutPacks -benchtime 20x
func BenchmarkCheckoutPacks(b *testing.B) {
	fx := gitfixture.New(b)
	files := map[string]string{}
	for i := range 1000 {
		files[fmt.Sprintf("d%02d/f%04d", i%40, i)] = strings.Repeat(fmt.Sprintf("line of file %d\n", i), 250)
	}
	first := fx.Commit(b, "main", files, "1000 files")
	head := first
	many := b.TempDir()
	c, err := source.NewCache(source.Options{Dir: many, GCAuto: 1, GCAutoPackLimit: -1})
	if err != nil {
		b.Fatal(err)
	}
	get := func(ctx context.Context, c *source.Cache) {
		co, err := c.Checkout(ctx, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
		if err != nil {
			b.Fatal(err)
		}
		co.Close()
		if co.Commit != head {
			b.Fatalf("checked out %s, want %s", co.Commit, head)
		}
	}
	get(b.Context(), c)
	for i := 1; i < 60; i++ {
		changed := map[string]string{}
		for j := range 20 {
			k := (i*97 + j*53) % 1000
			changed[fmt.Sprintf("d%02d/f%04d", k%40, k)] = fmt.Sprintf("file %d at commit %d\n", k, i)
		}
		head = fx.Commit(b, "main", changed, fmt.Sprint("commit ", i))
		get(b.Context(), c)
	}
	packs := func(dir string) int {
		p, err := filepath.Glob(filepath.Join(dir, "p", "objects", "pack", "*.pack"))
		if err != nil {
			b.Fatal(err)
		}
		return len(p)
	}
	one := b.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join(many, "p"), one).CombinedOutput(); err != nil {
		b.Fatalf("copy the cache: %v\n%s", err, out)
	}
	repacker, err := source.NewCache(source.Options{Dir: one, GCAuto: -1, GCAutoPackLimit: 1})
	if err != nil {
		b.Fatal(err)
	}
	var logs testenv.Buffer
	get(zerolog.New(&logs).WithContext(b.Context()), repacker)
	b.Logf("the repack: %s", logs.String())
	if n, m := packs(many), packs(one); n != 60 || m != 1 {
		b.Fatalf("%d and %d packs, want 60 and 1", n, m)
	}
	for _, bc := range []struct {
		name, dir string
	}{{"packs=60", many}, {"packs=1", one}} {
		c, err := source.NewCache(source.Options{Dir: bc.dir, GCAuto: -1, GCAutoPackLimit: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name+"/checkout", func(b *testing.B) {
			for b.Loop() {
				get(b.Context(), c)
			}
		})
		b.Run(bc.name+"/history", func(b *testing.B) {
			for b.Loop() {
				if ok, err := c.IsAncestor(b.Context(), "p", first, head); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

// A ref no fetch has brought for GCRefExpire (a deleted branch, a closed
// pull request) goes when the cache is maintained, and what only it reached
// is pruned once old enough; a later build of it fetches it again.
func TestRepackExpiresStaleRefs(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	base := fx.Commit(t, "main", map[string]string{"a": "0"}, "zero")
	gone := fx.Commit(t, "gone", map[string]string{"gone.txt": "a branch built once, long ago"}, "gone")
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "p")
	var logs testenv.Buffer
	ctx := zerolog.New(&logs).WithContext(t.Context())
	c := newCache(t, source.Options{Dir: dir, GCAuto: 1, GCAutoPackLimit: 1})
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	_, before := cacheObjects(t, repoDir)
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "gone"}) // its objects packed: 2 packs
	_, after := cacheObjects(t, repoDir)
	gonePacks := newPacks(before, after)
	if len(gonePacks) != 1 {
		t.Fatalf("fetch of gone: new packs %v, want 1", gonePacks)
	}
	longAgo := time.Now().Add(-100 * 24 * time.Hour)
	goneRef := filepath.Join(repoDir, "refs", "remotes", "origin", "gone")
	for _, f := range []string{goneRef, gonePacks[0]} {
		if err := os.Chtimes(f, longAgo, longAgo); err != nil {
			t.Fatal(err)
		}
	}
	// main's ref is older still, but the fetch below, with nothing new,
	// dates it afresh.
	evenLonger := longAgo.Add(-24 * time.Hour)
	if err := os.Chtimes(filepath.Join(repoDir, "refs", "remotes", "origin", "main"), evenLonger, evenLonger); err != nil {
		t.Fatal(err)
	}

	co, err := c.Checkout(ctx, source.Request{Project: "p", URL: fx.URL(), Ref: "main"}) // 2 packs: repacked
	if err != nil || co.Commit != base {
		t.Fatalf("Checkout(main) = %v, %v; want %s", co, err, base)
	}
	co.Close()
	if _, err := os.Stat(goneRef); !os.IsNotExist(err) {
		t.Errorf("the ref of gone, last fetched 100 days ago: %v, want it deleted", err)
	}
	if hasObject(repoDir, gone) {
		t.Errorf("commit %s, reached only by the expired ref, is still there", gone)
	}
	lines := logLines(t, &logs, "git cache: repacked")
	if len(lines) != 1 || lines[0]["refs_expired"] != 1.0 || lines[0]["pruned"] != 3.0 {
		t.Errorf("log: %v; want one line, refs_expired 1, pruned 3\n%s", lines, logs.String())
	}
	fsck(t, repoDir)

	co = checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "gone"})
	if co.Commit != gone {
		t.Errorf("gone checked out %s after its ref expired, want %s", co.Commit, gone)
	}
	if diff := cmp.Diff(fixtureTree(t, fx, gone), readTree(t, co.Dir)); diff != "" {
		t.Errorf("checkout of gone after its ref expired differs from the fixture (-want +got):\n%s", diff)
	}
}

// Objects over 1 MiB are repacked into a pack of their own, without deltas
// (none is read whole into memory): three packs of large files become two,
// which a pack limit of 2 then leaves alone, and every version checks out.
// (A pack limit below 2 would repack such a cache at every checkout.)
func TestRepackLargeObjects(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	big := func(i int) string {
		b := make([]byte, 1536<<10)
		rand.NewChaCha8([32]byte{byte(i)}).Read(b) // incompressible: each fetch is a pack of over 1 MiB
		return string(b)
	}
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "p")
	var logs testenv.Buffer
	ctx := zerolog.New(&logs).WithContext(t.Context())
	c := newCache(t, source.Options{Dir: dir, GCAuto: -1, GCAutoPackLimit: 2})
	var commits []string
	for i := range 3 {
		commits = append(commits, fx.Commit(t, "main", map[string]string{"big.bin": big(i), "small.txt": fmt.Sprint(i)}, fmt.Sprint("version ", i)))
		co, err := c.Checkout(ctx, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
		if err != nil {
			t.Fatal(err)
		}
		co.Close()
	}
	// The third fetch's pack made 3: repacked into 2, which the next
	// checkout leaves alone.
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	if _, packs := cacheObjects(t, repoDir); len(packs) != 2 {
		t.Errorf("after: packs %v, want 2 (the small objects, the large ones)", packs)
	}
	if lines := logLines(t, &logs, "git cache: repacked"); len(lines) != 1 || lines[0]["packs_before"] != 3.0 || lines[0]["packs_after"] != 2.0 {
		t.Errorf("log: %v; want one repack, of 3 packs into 2\n%s", lines, logs.String())
	}
	fsck(t, repoDir)
	for _, commit := range commits {
		co := checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main", Commit: commit})
		if diff := cmp.Diff(fixtureTree(t, fx, commit), readTree(t, co.Dir)); diff != "" {
			t.Errorf("checkout of %s after repacking differs from the fixture", commit)
		}
		co.Close()
	}
}
