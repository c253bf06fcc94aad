package registry

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/gitref"
)

// Event kinds: what started a build, for Tags.
const (
	// KindBranch is a push to a branch (or a manual build of one).
	KindBranch = "branch"
	// KindTag is a push of a git tag (or a manual build of one).
	KindTag = "tag"
	// KindSchedule is a release of a schedule, on time, caught up or run by
	// hand.
	KindSchedule = "schedule"
)

// Rule types of config.TagRule.Type.
const (
	RuleBranch   = "branch"
	RuleSHA      = "sha"
	RuleSemver   = "semver"
	RuleSchedule = "schedule"
	RuleRaw      = "raw"
	RuleRef      = "ref"
)

// ErrInvalidTag reports a rule or default that renders something a
// registry would refuse as a tag.
var ErrInvalidTag = errors.New("not a valid docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})")

// Vars are the names tag templates use, as DESIGN.md lists them:
// {{.Branch}} {{.Tag}} {{.Version}} {{.Major}} {{.Minor}} {{.Patch}}
// {{.Prerelease}} {{.ShortCommit}} {{.FullCommit}} {{.Schedule}} {{.Year}}
// {{.Month}} {{.Week}} {{.Day}} {{.Now.Format "20060102"}}, plus
// {{.WeekYear}}. A name that does not fit the event is "" (no .Version on a
// branch push, no .Schedule on a tag push).
type Vars struct {
	// Branch is the pushed or released branch, sanitized as SanitizeBranch
	// does ("feature/x" gives "feature-x").
	Branch string
	// Tag is the pushed git tag, sanitized as SanitizeBranch does.
	Tag string
	// Version is the semantic version of a git tag without 'v' and without
	// build metadata ("1.2.3", "1.2.3-rc.1"); "" when the tag is not one.
	Version string
	// Major, Minor and Patch are the version's numbers ("1", "2", "3").
	Major, Minor, Patch string
	// Prerelease is the version's prerelease ("rc.1"), "" for a release.
	Prerelease string
	// ShortCommit is the commit's first 7 characters, lower-cased (a sha
	// rule's length when it sets one).
	ShortCommit string
	// FullCommit is the whole commit, lower-cased.
	FullCommit string
	// Schedule is the name of the released schedule.
	Schedule string
	// Year is the 4-digit year of Now. In a template that uses .Week it is
	// the ISO week-numbering year instead (as .WeekYear), so that
	// "{{.Year}}-W{{.Week}}" names the ISO week across year ends
	// (2027-01-01 is 2026-W53, not 2027-W53).
	Year string
	// Month is the 2-digit month of Now ("01".."12").
	Month string
	// Week is the 2-digit ISO 8601 week of Now ("01".."53").
	Week string
	// Day is the 2-digit day of the month of Now.
	Day string
	// WeekYear is the 4-digit ISO 8601 week-numbering year of Now.
	WeekYear string
	// Now is the date of the tags: a schedule's due time in the schedule's
	// time zone, the build's time for pushes.
	Now time.Time
}

// Event is what Tags computes tags for.
type Event struct {
	// Kind is KindBranch, KindTag or KindSchedule. A manual build passes the
	// kind of the ref it builds; a schedule run by hand passes
	// KindSchedule.
	Kind string
	// Ref is the full ref built: "refs/heads/main", "refs/tags/v1.2.3"
	// (a short name is taken as it is). For a schedule, the released
	// branch's ref (for {{.Branch}}; may be empty).
	Ref string
	// Commit is the built commit; "" leaves out the tags that need it.
	Commit string
	// DefaultBranch is the project's default branch, which gets latest.
	DefaultBranch string
	// Schedule is the schedule's name for KindSchedule.
	Schedule string
	// Due is the schedule's due time for KindSchedule, already in the
	// schedule's time zone: the dates of the tags are taken in Due's own
	// location (a weekly tag is the ISO year and week of Due, a monthly tag
	// its year and month, NAME-YYYYMMDD its date). Required for
	// KindSchedule.
	Due time.Time
	// Now dates the tags of branch and tag pushes, for rules whose
	// templates use {{.Year}}, {{.Now}} and the like. Default (zero): the
	// current time in UTC. Schedules use Due.
	Now time.Time
	// RepoTags are all tag names of the git repository, for "latest only
	// when highest": a moving semver tag (latest, X, X.Y) is pushed only
	// when no higher stable version among RepoTags would get the same tag.
	// nil means unknown: the pushed version counts as the highest.
	RepoTags []string
}

// String describes the event for messages: "a push to branch main", "a
// push of tag v1.2.3", "release weekly due 2026-11-16T03:00:00+01:00".
func (ev Event) String() string {
	switch ev.Kind {
	case KindBranch:
		return "a push to branch " + trimBranch(ev.Ref)
	case KindTag:
		return "a push of tag " + trimTag(ev.Ref)
	case KindSchedule:
		return fmt.Sprintf("release %s due %s", ev.Schedule, ev.Due.Format(time.RFC3339))
	}
	return fmt.Sprintf("event %q of %s", ev.Kind, ev.Ref)
}

// trimBranch is the branch of a full branch ref; any other ref as it is.
func trimBranch(ref string) string {
	if b, ok := gitref.BranchName(ref); ok {
		return b
	}
	return ref
}

// trimTag is the git tag of a full tag ref; any other ref as it is.
func trimTag(ref string) string {
	if t, ok := gitref.TagName(ref); ok {
		return t
	}
	return ref
}

// name is the event's name that rule names and enable_on patterns match:
// the branch, the git tag (both unsanitized) or the schedule.
func (ev Event) name() string {
	switch ev.Kind {
	case KindBranch:
		return trimBranch(ev.Ref)
	case KindTag:
		return trimTag(ev.Ref)
	case KindSchedule:
		return ev.Schedule
	}
	return ""
}

// Vars returns the template names of the event. It fails for an unknown
// kind, a branch or tag event without a ref, and a schedule event without a
// name or a due time.
func (ev Event) Vars() (Vars, error) {
	var v Vars
	now := ev.Now
	switch ev.Kind {
	case KindBranch:
		if ev.name() == "" {
			return v, fmt.Errorf("tags of %s: no branch", ev)
		}
		v.Branch = SanitizeBranch(ev.name())
	case KindTag:
		tag := ev.name()
		if tag == "" {
			return v, fmt.Errorf("tags of %s: no tag", ev)
		}
		v.Tag = SanitizeBranch(tag)
		if ver, ok := ParseVersion(tag); ok {
			v.setVersion(ver)
		}
	case KindSchedule:
		if ev.Schedule == "" {
			return v, fmt.Errorf("tags of %s: no schedule name", ev)
		}
		if ev.Due.IsZero() {
			return v, fmt.Errorf("tags of %s: no due time", ev)
		}
		v.Schedule = ev.Schedule
		v.Branch = SanitizeBranch(trimBranch(ev.Ref))
		now = ev.Due
	default:
		return v, fmt.Errorf("tags: unknown event kind %q (want %s, %s or %s)", ev.Kind, KindBranch, KindTag, KindSchedule)
	}
	if now.IsZero() {
		now = time.Now().UTC()
	}
	v.ShortCommit = shortCommit(ev.Commit)
	v.FullCommit = strings.ToLower(ev.Commit)
	v.setDate(now)
	return v, nil
}

func (v *Vars) setVersion(ver Version) {
	v.Version = ver.String()
	v.Major = fmt.Sprint(ver.Major)
	v.Minor = fmt.Sprint(ver.Minor)
	v.Patch = fmt.Sprint(ver.Patch)
	v.Prerelease = ver.Prerelease
}

func (v *Vars) setDate(t time.Time) {
	wy, wk := t.ISOWeek()
	v.Now = t
	v.Year = fmt.Sprintf("%04d", t.Year())
	v.Month = fmt.Sprintf("%02d", int(t.Month()))
	v.Day = fmt.Sprintf("%02d", t.Day())
	v.Week = fmt.Sprintf("%02d", wk)
	v.WeekYear = fmt.Sprintf("%04d", wy)
}

// RuleError is a tag rule (or a default) that cannot give valid tags.
type RuleError struct {
	// Key is the config key, relative to the project, of what is wrong:
	// "tags[2]" for a rule, "schedules[1].name" for a schedule whose
	// default tags are invalid, "schedules[1].retention" for a retention
	// that cannot work, "" for the defaults of an event in Tags.
	Key string
	// Sample describes the event rendered ("a push of tag v1.2.3"); "" for
	// errors that are not about one rendering.
	Sample string
	// Tag is the invalid rendering; "" when there is none (the template
	// failed, or the error is not about a rendering).
	Tag string
	// Err says what is wrong; ErrInvalidTag for an invalid rendering.
	Err error
}

// Error names the key, the sample event, the rendering and the problem:
// `tags[0] on a push to branch main renders "main/x": not a valid docker
// tag (...)`.
func (e *RuleError) Error() string {
	if e.Key != "" {
		return e.Key + e.detail()
	}
	return "default tags" + e.detail()
}

// detail is the message after the key: the sample, the rendering and the
// problem.
func (e *RuleError) detail() string {
	var b strings.Builder
	if e.Sample != "" {
		b.WriteString(" on " + e.Sample)
	}
	if e.Tag != "" {
		fmt.Fprintf(&b, " renders %q", e.Tag)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns Err, for errors.Is(err, ErrInvalidTag).
func (e *RuleError) Unwrap() error { return e.Err }

// Tags computes the tags of an event from the defaults of DESIGN.md and the
// project's rules (see the package documentation for how they combine), in
// push order: immutable tags first, then moving ones, each group in rule
// order; no tag twice (a tag that one rule renders immutable and another
// moving counts as immutable). The result may be empty when the rules that
// apply render nothing for the event. A template that fails or renders an
// invalid tag is a *RuleError naming the rule (errors of several rules are
// joined).
func Tags(ev Event, rules []config.TagRule) ([]Tag, error) {
	c, err := newCompute(ev)
	if err != nil {
		return nil, err
	}
	var errs []error
	replaced := false
	for i, r := range rules {
		ok, err := c.applies(r)
		if err != nil {
			errs = append(errs, &RuleError{Key: ruleKey(i), Err: err})
			continue
		}
		replaced = replaced || ok && replaces(r, ev)
	}
	var set tagSet
	if !replaced {
		if err := c.defaults(&set); err != nil {
			errs = append(errs, &RuleError{Sample: ev.String(), Tag: tagOf(err), Err: errOf(err)})
		}
	}
	for i, r := range rules {
		if ok, err := c.applies(r); err != nil || !ok {
			continue
		}
		if err := c.rule(r, &set); err != nil {
			errs = append(errs, &RuleError{Key: ruleKey(i), Sample: ev.String(), Tag: tagOf(err), Err: errOf(err)})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return pushOrder(set.tags), nil
}

func ruleKey(i int) string { return fmt.Sprintf("tags[%d]", i) }

// renderError is a rendering that gave an invalid tag.
type renderError struct {
	tag string
	err error
}

func (e *renderError) Error() string { return fmt.Sprintf("%q: %v", e.tag, e.err) }
func (e *renderError) Unwrap() error { return e.err }

func tagOf(err error) string {
	var re *renderError
	if errors.As(err, &re) {
		return re.tag
	}
	return ""
}

func errOf(err error) error {
	var re *renderError
	if errors.As(err, &re) {
		return re.err
	}
	return err
}

// replaces reports whether a rule of r's type takes the place of the
// defaults of ev when it applies to ev.
func replaces(r config.TagRule, ev Event) bool {
	switch r.Type {
	case RuleBranch, RuleSHA:
		return ev.Kind == KindBranch
	case RuleRef:
		return ev.Kind == KindBranch || ev.Kind == KindTag
	case RuleSemver:
		_, ok := ParseVersion(ev.name())
		return ev.Kind == KindTag && ok
	case RuleSchedule:
		return ev.Kind == KindSchedule
	}
	return false
}

// renders reports whether a rule of r's type gives tags for events of ev's
// kind.
func renders(r config.TagRule, ev Event) bool {
	switch r.Type {
	case RuleSHA:
		return ev.Kind == KindBranch || ev.Kind == KindTag
	case RuleRaw:
		return true
	}
	return replaces(r, ev)
}

// condition is one alternative of enable_on: "branch:main".
type condition struct{ kind, pattern string }

// parseEnableOn reads enable_on: comma-separated KIND:PATTERN alternatives
// with KIND branch, tag or schedule and a path.Match PATTERN.
func parseEnableOn(s string) ([]condition, error) {
	var conds []condition
	for _, alt := range strings.Split(s, ",") {
		alt = strings.TrimSpace(alt)
		kind, pattern, ok := strings.Cut(alt, ":")
		if !ok || pattern == "" || kind != KindBranch && kind != KindTag && kind != KindSchedule {
			return nil, fmt.Errorf("enable_on %q: want KIND:PATTERN with KIND branch, tag or schedule, such as \"branch:main\" or \"tag:v*\" (alternatives separated by commas)", s)
		}
		if _, err := path.Match(pattern, ""); err != nil {
			return nil, fmt.Errorf("enable_on %q: bad pattern %q (path.Match syntax: *, ?, [a-z])", s, pattern)
		}
		conds = append(conds, condition{kind, pattern})
	}
	return conds, nil
}

// enabled reports whether r's name and enable_on let it apply to ev, and
// checks their syntax.
func enabled(r config.TagRule, ev Event) (bool, error) {
	var conds []condition
	if r.EnableOn != "" {
		var err error
		if conds, err = parseEnableOn(r.EnableOn); err != nil {
			return false, err
		}
	}
	name := ev.name()
	if r.Name != "" {
		ok, err := path.Match(r.Name, name)
		if err != nil {
			return false, fmt.Errorf("name %q: bad pattern (path.Match syntax: *, ?, [a-z])", r.Name)
		}
		if !ok {
			return false, nil
		}
	}
	if conds == nil {
		return true, nil
	}
	for _, c := range conds {
		if c.kind != ev.Kind {
			continue
		}
		if ok, _ := path.Match(c.pattern, name); ok {
			return true, nil
		}
	}
	return false, nil
}

// tagSet collects tags without duplicates.
type tagSet struct {
	tags []Tag
	idx  map[string]int
}

func (s *tagSet) add(t Tag) {
	if i, ok := s.idx[t.Name]; ok {
		s.tags[i].Moving = s.tags[i].Moving && t.Moving
		return
	}
	if s.idx == nil {
		s.idx = map[string]int{}
	}
	s.idx[t.Name] = len(s.tags)
	s.tags = append(s.tags, t)
}

// piece is one tag template: a rule's pattern, or one of the default
// templates of its type, wrapped in the rule's prefix and suffix.
type piece struct {
	pattern, prefix, suffix string
	// moving marks a tag that later builds re-point.
	moving bool
	// line marks a moving semver tag, which names a release line (1.2, 1,
	// latest): it is pushed only for the highest stable version of the
	// repository that renders the same tag, and never for a prerelease.
	line bool
	// shaLen is the length of .ShortCommit; 0: the default 7.
	shaLen int
	// needsCommit leaves the piece out when the event has no commit.
	needsCommit bool
	// stableOnly leaves the piece out for a prerelease.
	stableOnly bool
}

// identifying names in a template make a tag that names one build or
// release; a tag made without any of them is moving.
var identifying = regexp.MustCompile(`\.(ShortCommit|FullCommit|Version|Patch|Prerelease|Tag|Month|Week|Day|Now)\b`)

// prereleaseNames are the names that tell a prerelease from its release.
var prereleaseNames = regexp.MustCompile(`\.(Version|Prerelease|Tag)\b`)

// weekName finds templates whose .Year is the ISO week-numbering year.
var weekName = regexp.MustCompile(`\.Week\b`)

// newPiece returns the piece of a rule's pattern, moving unless the
// templates use an identifying name.
func newPiece(r config.TagRule, pattern string) piece {
	return piece{pattern: pattern, prefix: r.Prefix, suffix: r.Suffix, moving: !identifying.MatchString(r.Prefix + pattern + r.Suffix)}
}

func (p piece) text() string { return p.prefix + p.pattern + p.suffix }

// Default templates.
const (
	tmplVersion    = "{{.Version}}"
	tmplMinorLine  = "{{.Major}}.{{.Minor}}"
	tmplMajorLine  = "{{.Major}}"
	tmplWeekly     = "{{.WeekYear}}-W{{.Week}}"
	tmplMonthly    = "{{.Year}}-{{.Month}}"
	tmplDated      = "{{.Schedule}}-{{.Year}}{{.Month}}{{.Day}}"
	tmplScheduleMv = "{{.Schedule}}"
)

// semverPieces are the default tags of a semver git tag: X.Y.Z, X.Y, X
// (not for X = 0) and latest.
func semverPieces(r config.TagRule, major string) []piece {
	ps := []piece{
		{pattern: tmplVersion},
		{pattern: tmplMinorLine, moving: true, line: true, stableOnly: true},
	}
	if major != "0" {
		ps = append(ps, piece{pattern: tmplMajorLine, moving: true, line: true, stableOnly: true})
	}
	ps = append(ps, piece{pattern: Latest, moving: true, line: true, stableOnly: true})
	for i := range ps {
		ps[i].prefix, ps[i].suffix = r.Prefix, r.Suffix
	}
	return ps
}

// schedulePieces are the default tags of a schedule: its versioned tag
// (weekly YYYY-Www, monthly YYYY-MM, else NAME-YYYYMMDD: ISO 8601, so that
// the two never have the same form), then its name.
func schedulePieces(r config.TagRule, schedule string) []piece {
	return []piece{
		{pattern: versionedTemplate(schedule), prefix: r.Prefix, suffix: r.Suffix},
		{pattern: tmplScheduleMv, prefix: r.Prefix, suffix: r.Suffix, moving: true},
	}
}

// versionedTemplate is the default versioned tag template of a schedule.
func versionedTemplate(schedule string) string {
	switch schedule {
	case "weekly":
		return tmplWeekly
	case "monthly":
		return tmplMonthly
	}
	return tmplDated
}

// compute renders the tags of one event.
type compute struct {
	ev      Event
	vars    Vars
	version Version
	semver  bool
	// released are the stable versions of ev.RepoTags, with their tags.
	released []release
	tmpls    map[string]*template.Template
}

type release struct {
	tag string
	v   Version
}

func newCompute(ev Event) (*compute, error) {
	vars, err := ev.Vars()
	if err != nil {
		return nil, err
	}
	c := &compute{ev: ev, vars: vars, tmpls: map[string]*template.Template{}}
	if ev.Kind == KindTag {
		c.version, c.semver = ParseVersion(ev.name())
	}
	if c.semver {
		for _, t := range ev.RepoTags {
			if v, ok := ParseVersion(t); ok && v.Stable() {
				c.released = append(c.released, release{t, v})
			}
		}
	}
	return c, nil
}

func (c *compute) applies(r config.TagRule) (bool, error) {
	switch r.Type {
	case RuleBranch, RuleSHA, RuleSemver, RuleSchedule, RuleRaw, RuleRef:
	default:
		return false, fmt.Errorf("unknown rule type %q (want branch, sha, semver, schedule, raw or ref)", r.Type)
	}
	ok, err := enabled(r, c.ev)
	if err != nil || !ok {
		return false, err
	}
	return renders(r, c.ev), nil
}

// defaults adds the default tags of the event.
func (c *compute) defaults(set *tagSet) error {
	switch c.ev.Kind {
	case KindBranch:
		for _, t := range BranchTags(c.ev.name(), c.ev.Commit, c.ev.DefaultBranch) {
			set.add(t)
		}
		return nil
	case KindTag:
		if !c.semver {
			set.add(Tag{Name: c.vars.Tag})
			return nil
		}
		return c.addPieces(set, semverPieces(config.TagRule{}, c.vars.Major))
	case KindSchedule:
		return c.addPieces(set, schedulePieces(config.TagRule{}, c.ev.Schedule))
	}
	return nil
}

// rule adds the tags of a rule that applies to the event.
func (c *compute) rule(r config.TagRule, set *tagSet) error {
	var ps []piece
	switch r.Type {
	case RuleBranch:
		ps = []piece{newPiece(r, or(r.Pattern, "{{.Branch}}"))}
	case RuleSHA:
		p := newPiece(r, or(r.Pattern, "{{.ShortCommit}}"))
		p.moving, p.needsCommit, p.shaLen = false, true, r.Length
		ps = []piece{p}
	case RuleRef:
		def := "{{.Branch}}"
		if c.ev.Kind == KindTag {
			def = "{{.Tag}}"
		}
		ps = []piece{newPiece(r, or(r.Pattern, def))}
	case RuleSemver:
		if r.Pattern == "" {
			ps = semverPieces(r, c.vars.Major)
			break
		}
		p := newPiece(r, r.Pattern)
		p.line = p.moving
		// A prerelease gets only tags that tell it from its release.
		p.stableOnly = p.moving || !prereleaseNames.MatchString(p.text())
		ps = []piece{p}
	case RuleSchedule:
		if r.Pattern == "" {
			ps = schedulePieces(r, c.ev.Schedule)
			break
		}
		ps = []piece{newPiece(r, r.Pattern)}
	case RuleRaw:
		ps = []piece{newPiece(r, r.Value)}
	}
	return c.addPieces(set, ps)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (c *compute) addPieces(set *tagSet, ps []piece) error {
	for _, p := range ps {
		if p.needsCommit && c.ev.Commit == "" || p.stableOnly && c.semver && !c.version.Stable() {
			continue
		}
		tag, err := c.render(p, c.vars)
		if err != nil {
			return err
		}
		if tag == "" || p.line && c.semver && c.superseded(p, tag) {
			continue
		}
		set.add(Tag{Name: tag, Moving: p.moving})
	}
	return nil
}

// superseded reports whether a higher stable version of the repository
// renders the line tag too: the tag stays where it is.
func (c *compute) superseded(p piece, tag string) bool {
	for _, rel := range c.released {
		if rel.v.Compare(c.version) <= 0 {
			continue
		}
		vars := c.vars
		vars.Tag = SanitizeBranch(rel.tag)
		vars.setVersion(rel.v)
		if got, err := c.render(p, vars); err == nil && got == tag {
			return true
		}
	}
	return false
}

// render renders a piece with vars: "" when its pattern renders nothing
// (the rule gives no tag for the event), a *renderError for an invalid tag.
func (c *compute) render(p piece, vars Vars) (string, error) {
	if weekName.MatchString(p.text()) {
		vars.Year = vars.WeekYear
	}
	if p.shaLen > 0 {
		vars.ShortCommit = strings.ToLower(c.ev.Commit)
		if len(vars.ShortCommit) > p.shaLen {
			vars.ShortCommit = vars.ShortCommit[:p.shaLen]
		}
	}
	body, err := c.exec(p.pattern, vars)
	if err != nil || body == "" {
		return "", err
	}
	prefix, err := c.exec(p.prefix, vars)
	if err != nil {
		return "", err
	}
	suffix, err := c.exec(p.suffix, vars)
	if err != nil {
		return "", err
	}
	tag := prefix + body + suffix
	if !ValidTag(tag) {
		return "", &renderError{tag: tag, err: ErrInvalidTag}
	}
	return tag, nil
}

// exec runs one template text with data.
func (c *compute) exec(text string, data any) (string, error) {
	if text == "" {
		return "", nil
	}
	t, ok := c.tmpls[text]
	if !ok {
		var err error
		t, err = template.New("tag").Option("missingkey=error").Parse(text)
		if err != nil {
			return "", fmt.Errorf("template %q: %w", text, err)
		}
		c.tmpls[text] = t
	}
	var b strings.Builder
	if err := t.Execute(&limitedBuilder{b: &b}, data); err != nil {
		return "", fmt.Errorf("template %q: %w", text, err)
	}
	return b.String(), nil
}

// errTooLong stops a template that renders far more than a tag can hold.
var errTooLong = errors.New("renders more than 4096 bytes")

// limitedBuilder bounds what a template may write.
type limitedBuilder struct{ b *strings.Builder }

func (l *limitedBuilder) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > 4096 {
		return 0, errTooLong
	}
	return l.b.Write(p)
}

// CheckConfig runs CheckRules on every project of c, as a config.Check:
// config.Load(path, registry.CheckConfig) refuses a config whose tag rules
// make invalid tags. Each problem's path is the project's key followed by
// the RuleError's ("projects[0].tags[2]"); a problem of the default tags
// has the project's key.
func CheckConfig(c *config.Config) []config.Problem {
	var problems []config.Problem
	for i, p := range c.Projects {
		for _, err := range CheckRules(p.Tags, p.Schedules) {
			path := fmt.Sprintf("projects[%d]", i)
			msg := err.Error()
			var re *RuleError
			if errors.As(err, &re) {
				msg = strings.TrimPrefix(strings.TrimPrefix(re.detail(), ":"), " ")
				if re.Key != "" {
					path += "." + re.Key
				} else {
					msg = "default tags" + re.detail()
				}
			}
			problems = append(problems, config.Problem{Path: path, Msg: msg})
		}
	}
	return problems
}

// sampleCommit is the commit of the sample events of CheckRules.
const sampleCommit = "4f6d2a9c8e1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f"

// CheckRules renders the project's tag rules (and the default tags of its
// schedules) for representative events, so that a rule giving an invalid
// tag is a config error of `slipway validate`, not a failed push at 3 a.m.
// The samples are pushes to the default branch "main" and to
// "feature/login-page", pushes of the tags v1.2.3, v1.2.3-rc.1, v0.4.0 and
// release-2026.1, a branch and a tag matching each enable_on and name
// pattern of the rules, and each schedule due on 2026-12-31 and 2027-01-04
// at 03:00 in its time zone. It also checks each rule's type, name and
// enable_on ("branch:PATTERN", "tag:PATTERN", "schedule:NAME"; a schedule
// that does not exist is an error), and for each schedule with retention
// that its versioned tags can be recognised (ScheduleVersioned) and cannot
// be confused with another schedule's.
//
// Each error is a *RuleError whose Key names the rule ("tags[2]") or the
// schedule ("schedules[1].name", "schedules[1].retention") relative to the
// project; a rule is reported once, for the first sample that fails. It
// expects config already validated (schedules' names and time zones).
func CheckRules(rules []config.TagRule, schedules []config.Schedule) []error {
	var errs []error
	bad := map[string]bool{}
	report := func(e *RuleError) {
		if !bad[e.Key] {
			bad[e.Key] = true
			errs = append(errs, e)
		}
	}
	known := map[string]bool{}
	for _, s := range schedules {
		known[s.Name] = true
	}
	var extraBranches, extraTags []string
	for i, r := range rules {
		if err := checkRule(r, known); err != nil {
			report(&RuleError{Key: ruleKey(i), Err: err})
			continue
		}
		var conds []condition
		if r.EnableOn != "" {
			conds, _ = parseEnableOn(r.EnableOn) // checked by checkRule
		}
		for _, c := range conds {
			switch c.kind {
			case KindBranch:
				extraBranches = append(extraBranches, sampleName(c.pattern))
			case KindTag:
				extraTags = append(extraTags, sampleName(c.pattern))
			}
		}
		if r.Name != "" {
			extraBranches = append(extraBranches, sampleName(r.Name))
			extraTags = append(extraTags, sampleName(r.Name))
		}
	}

	now := time.Date(2026, 12, 31, 3, 0, 0, 0, time.UTC)
	var samples []Event
	for _, b := range append([]string{"main", "feature/login-page"}, extraBranches...) {
		samples = append(samples, Event{Kind: KindBranch, Ref: gitref.Branch(b).String(), Commit: sampleCommit, DefaultBranch: "main", Now: now})
	}
	for _, t := range append([]string{"v1.2.3", "v1.2.3-rc.1", "v0.4.0", "release-2026.1"}, extraTags...) {
		samples = append(samples, Event{Kind: KindTag, Ref: gitref.Tag(t).String(), Commit: sampleCommit, DefaultBranch: "main", Now: now})
	}
	scheduleOf := map[int]int{} // sample index -> schedule index
	for j, s := range schedules {
		for _, due := range sampleDues(s, 2026, 12, 31) {
			scheduleOf[len(samples)] = j
			samples = append(samples, scheduleEvent(s, due))
		}
	}

	for k, ev := range samples {
		c, err := newCompute(ev)
		if err != nil || ev.name() == "" {
			continue // a sample from a pattern that names nothing
		}
		replaced := false
		for i, r := range rules {
			if bad[ruleKey(i)] {
				continue
			}
			ok, _ := c.applies(r)
			if !ok {
				continue
			}
			replaced = replaced || replaces(r, ev)
			var set tagSet
			if err := c.rule(r, &set); err != nil {
				report(&RuleError{Key: ruleKey(i), Sample: ev.String(), Tag: tagOf(err), Err: errOf(err)})
			}
		}
		if j, ok := scheduleOf[k]; ok && !replaced {
			var set tagSet
			if err := c.defaults(&set); err != nil {
				report(&RuleError{Key: fmt.Sprintf("schedules[%d].name", j), Sample: ev.String(), Tag: tagOf(err), Err: errOf(err)})
			}
		}
	}

	for j, s := range schedules {
		if s.Retention.Keep <= 0 {
			continue
		}
		key := fmt.Sprintf("schedules[%d].retention", j)
		versioned, err := ScheduleVersioned(s, rules)
		if err != nil {
			report(&RuleError{Key: key, Err: err})
			continue
		}
		for k, o := range schedules {
			if k == j {
				continue
			}
			if tag, ok := confusable(o, rules, versioned); ok {
				report(&RuleError{Key: key, Err: fmt.Errorf("schedule %s's versioned tag %q has the form of %s's versioned tags: retention of %s would delete %s's releases; give one of them a schedule tag rule with its own pattern or prefix", o.Name, tag, s.Name, s.Name, o.Name)})
				break
			}
		}
	}
	return errs
}

// checkRule checks a rule's type, name and enable_on without an event.
func checkRule(r config.TagRule, schedules map[string]bool) error {
	if _, err := (&compute{}).applies(r); err != nil {
		return err
	}
	if _, err := enabled(r, Event{Kind: KindBranch, Ref: "refs/heads/main"}); err != nil {
		return err
	}
	unknown := func(name string) error {
		names := make([]string, 0, len(schedules))
		for n := range schedules {
			names = append(names, n)
		}
		slices.Sort(names)
		list := strings.Join(names, ", ")
		if list == "" {
			list = "none"
		}
		return fmt.Errorf("the project has no schedule named %q (its schedules: %s)", name, list)
	}
	if r.Type == RuleSchedule && r.Name != "" && !strings.ContainsAny(r.Name, `*?[\`) && !schedules[r.Name] {
		return unknown(r.Name)
	}
	if r.EnableOn != "" {
		conds, _ := parseEnableOn(r.EnableOn)
		for _, c := range conds {
			if c.kind == KindSchedule && !strings.ContainsAny(c.pattern, `*?[\`) && !schedules[c.pattern] {
				return unknown(c.pattern)
			}
		}
	}
	return nil
}

// sampleName returns a name that pattern (path.Match syntax) matches, ""
// when it finds none: wildcards become "x", a class its first character.
func sampleName(pattern string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*', '?':
			b.WriteByte('x')
		case '\\':
			if i+1 < len(pattern) {
				i++
				b.WriteByte(pattern[i])
			}
		case '[':
			j := i + 1
			if j < len(pattern) && pattern[j] == '^' {
				return "" // a negated class: no simple sample
			}
			if j < len(pattern) {
				b.WriteByte(pattern[j])
			}
			for j < len(pattern) && pattern[j] != ']' {
				j++
			}
			i = j
		default:
			b.WriteByte(c)
		}
	}
	s := b.String()
	if ok, _ := path.Match(pattern, s); !ok {
		return ""
	}
	return s
}

// sampleDues returns due times of schedule s on the given date and on
// 2027-01-04 at 03:00 in the schedule's time zone (UTC when it has none or
// an unknown one).
func sampleDues(s config.Schedule, year int, month time.Month, day int) []time.Time {
	loc, err := s.Location()
	if err != nil {
		loc = time.UTC
	}
	return []time.Time{
		time.Date(year, month, day, 3, 0, 0, 0, loc),
		time.Date(2027, 1, 4, 3, 0, 0, 0, loc),
	}
}

// scheduleEvent is a release of s due at due.
func scheduleEvent(s config.Schedule, due time.Time) Event {
	branch := s.Branch
	if branch == "" {
		branch = "main"
	}
	return Event{Kind: KindSchedule, Schedule: s.Name, Ref: gitref.Branch(branch).String(), Commit: sampleCommit, DefaultBranch: branch, Due: due}
}

// confusable returns a versioned tag of schedule o, at a few sample dates,
// that versioned matches.
func confusable(o config.Schedule, rules []config.TagRule, versioned func(string) bool) (string, bool) {
	for _, date := range [][3]int{{2026, 3, 10}, {2026, 11, 2}, {2026, 12, 31}} {
		for _, due := range sampleDues(o, date[0], time.Month(date[1]), date[2]) {
			tags, err := Tags(scheduleEvent(o, due), rules)
			if err != nil {
				continue
			}
			for _, t := range tags {
				if !t.Moving && versioned(t.Name) {
					return t.Name, true
				}
			}
		}
	}
	return "", false
}
