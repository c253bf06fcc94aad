package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/redact"
)

// ErrDeleteUnsupported reports a registry that refuses to delete manifests
// (distribution answers 405 unless storage.delete.enabled is true; Docker
// Hub and GHCR delete only through their own APIs).
var ErrDeleteUnsupported = errors.New("the registry does not allow deleting manifests")

// ScheduleVersioned returns a matcher of the versioned tags of schedule s
// under the project's rules, for Prune: the immutable tags that the
// schedule's own tags come from (its schedule rules, else its defaults:
// ^\d{4}-W\d{2}$ for weekly, ^\d{4}-\d{2}$ for monthly, ^NAME-\d{8}$ for
// others). Tags of raw rules and of other schedules are never matched by
// design, but two schedules whose versioned tags have the same form (rules
// "{{.Year}}.{{.Week}}" and "{{.Year}}.{{.Month}}") cannot be told apart:
// CheckRules reports a schedule with retention in that case.
//
// A versioned template may use .Year .Month .Week .WeekYear .Day
// .Now.Format, .ShortCommit, .FullCommit, .Schedule and .Branch; one that
// names no date, or that a matcher cannot be made of (conditionals on the
// date, other methods of .Now), is an error: retention keeps the newest
// tags by their date.
func ScheduleVersioned(s config.Schedule, rules []config.TagRule) (func(tag string) bool, error) {
	ev := Event{Kind: KindSchedule, Schedule: s.Name}
	var pieces []piece
	replaced := false
	for i, r := range rules {
		if r.Type != RuleSchedule {
			continue
		}
		ok, err := enabled(r, ev)
		if err != nil {
			return nil, &RuleError{Key: ruleKey(i), Err: err}
		}
		if !ok {
			continue
		}
		replaced = true
		if r.Pattern == "" {
			pieces = append(pieces, schedulePieces(r, s.Name)...)
		} else {
			pieces = append(pieces, newPiece(r, r.Pattern))
		}
	}
	if !replaced {
		pieces = schedulePieces(config.TagRule{}, s.Name)
	}
	var alts []string
	for _, p := range pieces {
		if p.moving {
			continue
		}
		re, err := pieceRegexp(p, s)
		if err != nil {
			return nil, fmt.Errorf("versioned tags of schedule %s: %w", s.Name, err)
		}
		alts = append(alts, re)
	}
	if len(alts) == 0 {
		return nil, fmt.Errorf("schedule %s has no versioned tags (its tag rules render only moving tags): nothing to keep or delete", s.Name)
	}
	rx, err := regexp.Compile("^(?:" + strings.Join(alts, "|") + ")$")
	if err != nil {
		return nil, fmt.Errorf("versioned tags of schedule %s: %w", s.Name, err)
	}
	return rx.MatchString, nil
}

// Markers of a name in a template rendered by pieceRegexp: private-use
// runes that no tag contains.
const (
	markOpen  = "\uE000"
	markClose = "\uE001"
)

// markVars has the names of Vars, each rendering a marker.
type markVars struct {
	Branch, Tag, Version, Major, Minor, Patch, Prerelease string
	ShortCommit, FullCommit, Schedule                     string
	Year, Month, Week, Day, WeekYear                      string
	Now                                                   markTime
}

// markTime stands for Vars.Now: Format renders a marker of the layout.
type markTime struct{ layouts *[]string }

// Format records the layout and renders its marker.
func (t markTime) Format(layout string) string {
	*t.layouts = append(*t.layouts, layout)
	return markOpen + "N" + strconv.Itoa(len(*t.layouts)-1) + markClose
}

// markRegexps are the regular expressions of the markers; dates marks the
// ones that are dates.
var (
	markRegexps = map[string]string{
		"Y": `\d{4}`, "M": `\d{2}`, "W": `\d{2}`, "D": `\d{2}`, "V": `\d{4}`,
		"S": `[0-9a-z_.-]{1,40}`, "F": `[0-9a-z_.-]+`,
	}
	markDates = map[string]bool{"Y": true, "M": true, "W": true, "D": true, "V": true}
)

// pieceRegexp turns a schedule's tag template into a regular expression of
// the tags it renders at any date.
func pieceRegexp(p piece, s config.Schedule) (string, error) {
	var layouts []string
	m := func(code string) string { return markOpen + code + markClose }
	vars := markVars{
		Branch: SanitizeBranch(s.Branch), Schedule: s.Name,
		ShortCommit: m("S"), FullCommit: m("F"),
		Year: m("Y"), Month: m("M"), Week: m("W"), Day: m("D"), WeekYear: m("V"),
		Now: markTime{layouts: &layouts},
	}
	c := &compute{tmpls: map[string]*template.Template{}}
	var out strings.Builder
	for _, text := range []string{p.prefix, p.pattern, p.suffix} {
		r, err := c.exec(text, vars)
		if err != nil {
			return "", err
		}
		out.WriteString(r)
	}
	rest := out.String()
	if !utf8.ValidString(rest) {
		return "", fmt.Errorf("template %q cuts a name; use the names whole", p.text())
	}
	var re strings.Builder
	dated := false
	for rest != "" {
		i := strings.Index(rest, markOpen)
		if i < 0 {
			i = len(rest)
		}
		lit := rest[:i]
		if strings.Contains(lit, markClose) {
			return "", fmt.Errorf("template %q cuts a name; use the names whole", p.text())
		}
		re.WriteString(regexp.QuoteMeta(lit))
		rest = rest[i:]
		if rest == "" {
			break
		}
		j := strings.Index(rest, markClose)
		if j < 0 {
			return "", fmt.Errorf("template %q cuts a name; use the names whole", p.text())
		}
		code := rest[len(markOpen):j]
		rest = rest[j+len(markClose):]
		if strings.HasPrefix(code, "N") {
			k, err := strconv.Atoi(code[1:])
			if err != nil || k >= len(layouts) {
				return "", fmt.Errorf("template %q cuts a name; use the names whole", p.text())
			}
			re.WriteString(layoutRegexp(layouts[k]))
			dated = true
			continue
		}
		r, ok := markRegexps[code]
		if !ok {
			return "", fmt.Errorf("template %q cuts a name; use the names whole", p.text())
		}
		re.WriteString(r)
		dated = dated || markDates[code]
	}
	if !dated {
		return "", fmt.Errorf("versioned tag template %q names no date (.Year, .Month, .Week, .Day, .Now.Format): retention keeps the newest tags by their date", p.text())
	}
	return re.String(), nil
}

// layoutRegexp matches what time.Format renders with layout: digits as
// digits, letters as letters.
func layoutRegexp(layout string) string {
	sample := time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC).Format(layout)
	var re strings.Builder
	for i := 0; i < len(sample); {
		j := i
		switch c := sample[i]; {
		case c >= '0' && c <= '9':
			for j < len(sample) && sample[j] >= '0' && sample[j] <= '9' {
				j++
			}
			re.WriteString(`\d+`)
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			for j < len(sample) && (sample[j] >= 'a' && sample[j] <= 'z' || sample[j] >= 'A' && sample[j] <= 'Z') {
				j++
			}
			re.WriteString(`[A-Za-z]+`)
		default:
			j++
			re.WriteString(regexp.QuoteMeta(sample[i:j]))
		}
		i = j
	}
	return re.String()
}

// VersionLess orders versioned tags oldest first: runs of digits compare as
// numbers, everything else byte by byte ("2026.9" < "2026.10";
// "nightly-20261231" < "nightly-20270101"). For the default tags (YYYY-Www,
// YYYY-MM, NAME-YYYYMMDD) this is the order of their dates; a custom
// pattern must put the larger units first ({{.Year}} before {{.Week}}) for
// Prune to keep the newest.
func VersionLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		switch {
		case da > 0 && db > 0:
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
		case a[0] != b[0]:
			return a[0] < b[0]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return len(a) < len(b)
}

// digitRun is the length of the run of ASCII digits that s starts with.
func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// Prune deletes the versioned tags of one schedule beyond the newest keep
// from repo ("docker.io/acme/web", no tag) and returns the tags deleted,
// oldest first. versioned tells the schedule's versioned tags from all
// others (ScheduleVersioned, or the tags the schedule's releases pushed);
// they are ordered by VersionLess, not by the registry's listing or push
// time. keep <= 0 means retention is off: nothing is deleted.
//
// The registry API deletes manifests, not tags: DELETE of a manifest by
// digest removes every tag pointing at it (distribution v2 refuses to
// delete a tag alone). So a tag to delete whose manifest another tag still
// points at (a kept versioned tag, a moving tag such as weekly or latest,
// any tag of another rule or build) is not deleted: Prune logs why and
// leaves it, and a later run deletes it once nothing kept shares its
// manifest. Tags to delete that share a manifest only among themselves are
// deleted together. A tag re-pointed at a manifest between Prune's reading
// of the tags and its delete goes with that manifest: run Prune after the
// release, not beside another release of the same repository.
//
// Credentials come from keys (nil: anonymous); loopback registries are
// reached over plain HTTP. A registry that does not allow deletes gives
// ErrDeleteUnsupported, a refused login ErrUnauthorized; what was deleted
// before an error is returned with it. Decisions go to log, one line each;
// nothing written or returned contains a credential.
func Prune(ctx context.Context, repo string, keys *Keychain, versioned func(tag string) bool, keep int, log io.Writer) (deleted []string, err error) {
	if keep <= 0 {
		return nil, nil
	}
	if log == nil {
		log = io.Discard
	}
	r, err := repository(repo, LoopbackHost)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	creds, hint, err := keys.lookup(r.RegistryStr())
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	s := scrubber(creds.secrets())
	deleted, err = prune(ctx, r, keys, versioned, keep, &lineWriter{w: log, s: s})
	if err != nil {
		if errors.Is(err, ErrUnauthorized) {
			err = fmt.Errorf("registry %s refused the credentials (%s): %w", r.RegistryStr(), hint, err)
		}
		return deleted, redact.Error(err, s...)
	}
	return deleted, nil
}

func prune(ctx context.Context, repo name.Repository, keys *Keychain, versioned func(string) bool, keep int, log *lineWriter) ([]string, error) {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keys), remote.WithRetryStatusCodes()}
	all, err := remote.List(repo, opts...)
	if err != nil {
		err = classify("list the tags of "+repo.String(), err)
		if errors.Is(err, ErrNotFound) {
			return nil, nil // no repository, nothing to prune
		}
		return nil, fmt.Errorf("retention: %w", err)
	}
	var candidates []string
	for _, t := range all {
		if versioned(t) {
			candidates = append(candidates, t)
		}
	}
	if len(candidates) <= keep {
		return nil, nil
	}
	slices.SortFunc(candidates, func(a, b string) int {
		switch {
		case VersionLess(a, b):
			return -1
		case VersionLess(b, a):
			return 1
		}
		return strings.Compare(a, b)
	})
	doomed := candidates[:len(candidates)-keep]
	digests, err := headAll(ctx, repo, all, opts)
	if err != nil {
		return nil, err
	}
	// kept maps each digest that a tag staying in the registry points at to
	// one such tag, for the log.
	doomedSet := make(map[string]bool, len(doomed))
	for _, t := range doomed {
		doomedSet[t] = true
	}
	kept := map[string]string{}
	for _, t := range slices.Sorted(slices.Values(all)) {
		if d, ok := digests[t]; ok && !doomedSet[t] {
			if _, seen := kept[d]; !seen {
				kept[d] = t
			}
		}
	}
	// byDigest groups the doomed tags by manifest, in the order of their
	// oldest tag.
	var order []string
	byDigest := map[string][]string{}
	for _, t := range doomed {
		d, ok := digests[t]
		if !ok {
			continue // gone since the listing
		}
		if _, seen := byDigest[d]; !seen {
			order = append(order, d)
		}
		byDigest[d] = append(byDigest[d], t)
	}
	var deleted []string
	for _, d := range order {
		tags := byDigest[d]
		if other, ok := kept[d]; ok {
			log.printf("retention: keep %s: its manifest %s is also tagged %s, which stays, and the registry deletes manifests, not tags", strings.Join(tags, ", "), d, other)
			continue
		}
		ref := repo.Digest(d)
		if err := remote.Delete(ref, opts...); err != nil {
			return deleted, deleteError(ref.String(), tags, err)
		}
		log.printf("retention: deleted %s (%s)", strings.Join(tags, ", "), d)
		deleted = append(deleted, tags...)
	}
	return deleted, nil
}

// deleteError explains a failed manifest delete.
func deleteError(ref string, tags []string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusMethodNotAllowed || hasCode(te, transport.UnsupportedErrorCode)) {
		return fmt.Errorf("retention: delete %s (%s): %w (distribution: set storage.delete.enabled): %w", ref, strings.Join(tags, ", "), ErrDeleteUnsupported, err)
	}
	return fmt.Errorf("retention: %s: %w", strings.Join(tags, ", "), classify("delete "+ref, err))
}

func hasCode(te *transport.Error, code transport.ErrorCode) bool {
	for _, d := range te.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// headAll reads the digest of every tag, a few at a time. Tags that are
// gone since the listing are left out.
func headAll(ctx context.Context, repo name.Repository, tags []string, opts []remote.Option) (map[string]string, error) {
	var mu sync.Mutex
	digests := make(map[string]string, len(tags))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	opts = append(slices.Clip(opts), remote.WithContext(ctx))
	for _, t := range tags {
		g.Go(func() error {
			ref := repo.Tag(t)
			desc, err := remote.Head(ref, opts...)
			if err != nil {
				err = classify("read "+ref.String(), err)
				if errors.Is(err, ErrNotFound) {
					return nil
				}
				return fmt.Errorf("retention: %w", err)
			}
			mu.Lock()
			digests[t] = desc.Digest.String()
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return digests, nil
}

// repository parses an image repository without tag or digest for
// go-containerregistry, over plain HTTP when insecure says so.
func repository(repo string, insecure func(host string) bool) (name.Repository, error) {
	r, err := name.NewRepository(repo)
	if err != nil {
		return name.Repository{}, fmt.Errorf("image repository %q: %w", repo, err)
	}
	if insecure(r.RegistryStr()) {
		if r, err = name.NewRepository(repo, name.Insecure); err != nil {
			return name.Repository{}, fmt.Errorf("image repository %q: %w", repo, err)
		}
	}
	return r, nil
}
