package config

import (
	"net/url"
	"path"
	"strings"
	"time"
)

// The defaults ApplyDefaults sets; each is also stated in its field's
// comment, which is what users read.
const (
	defaultListen          = ":8080"
	defaultPublicURL       = "http://localhost:8080"
	defaultDataDir         = "./data"
	defaultBuilder         = "auto"
	defaultConcurrency     = 2
	defaultBuildTimeout    = Duration(30 * time.Minute)
	defaultReconcile       = Interval(10 * time.Minute)
	defaultLogLimit        = ByteSize(10 << 20)
	defaultGitHubAPIURL    = "https://api.github.com/"
	defaultMaxPayload      = ByteSize(25 << 20)
	defaultFetchTimeout    = Duration(10 * time.Minute)
	defaultGitMaxFiles     = 200000
	defaultGitMaxBytes     = ByteSize(10 << 30)
	defaultGitMaxDepth     = 64
	defaultBranchName      = "main"
	defaultContext         = "."
	defaultDockerfile      = "Dockerfile"
	defaultTestTimeout     = Duration(5 * time.Minute)
	defaultScheduleCatchUp = true
	defaultAutotestTimeout = Duration(10 * time.Minute)
	defaultHookTimeout     = Duration(10 * time.Minute)
	defaultBaseInterval    = Duration(6 * time.Hour)
)

// ApplyDefaults sets every unset (zero) value to its default. It is the
// only place defaults are set; Load calls it before validation, and code
// that builds a Config by hand should call it too. It is idempotent.
func (c *Config) ApplyDefaults() {
	setString(&c.Listen, defaultListen)
	setString(&c.PublicURL, defaultPublicURL)
	setString(&c.DataDir, defaultDataDir)
	setString(&c.Builder, defaultBuilder)
	if c.DashboardAuth == "" {
		c.DashboardAuth = "public"
		if c.APITokensFile != "" {
			c.DashboardAuth = "token"
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = defaultConcurrency
	}
	for i := range c.Builders {
		if c.Builders[i].Concurrency == 0 {
			c.Builders[i].Concurrency = c.Concurrency
		}
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = defaultReconcile
	}
	if c.BuildTimeout == 0 {
		c.BuildTimeout = defaultBuildTimeout
	}
	if c.LogLimit == 0 {
		c.LogLimit = defaultLogLimit
	}
	setString(&c.GitHub.APIURL, defaultGitHubAPIURL)
	if c.GitHub.MaxPayload == 0 {
		c.GitHub.MaxPayload = defaultMaxPayload
	}
	if c.Git.FetchTimeout == 0 {
		c.Git.FetchTimeout = defaultFetchTimeout
	}
	if c.Git.MaxFiles == 0 {
		c.Git.MaxFiles = defaultGitMaxFiles
	}
	if c.Git.MaxBytes == 0 {
		c.Git.MaxBytes = defaultGitMaxBytes
	}
	if c.Git.MaxDepth == 0 {
		c.Git.MaxDepth = defaultGitMaxDepth
	}
	for i := range c.Projects {
		p := &c.Projects[i]
		setString(&p.DefaultBranch, defaultBranchName)
		if len(p.Branches) == 0 {
			p.Branches = []string{p.DefaultBranch}
		}
		setString(&p.Context, defaultContext)
		setString(&p.Dockerfile, defaultDockerfile)
		if p.Test != nil && p.Test.Timeout == 0 {
			p.Test.Timeout = defaultTestTimeout
		}
		if p.Autotest && p.AutotestTimeout == 0 {
			p.AutotestTimeout = defaultAutotestTimeout
			if p.Test != nil {
				p.AutotestTimeout = p.Test.Timeout
			}
		}
		if p.BaseImages.Interval == 0 {
			p.BaseImages.Interval = defaultBaseInterval
		}
		if p.Hooks && p.HookTimeout == 0 {
			p.HookTimeout = defaultHookTimeout
		}
		for j := range p.Schedules {
			s := &p.Schedules[j]
			setString(&s.Branch, p.DefaultBranch)
			if s.CatchUp == nil {
				catchUp := defaultScheduleCatchUp
				s.CatchUp = &catchUp
			}
		}
	}
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// BuildsBranch reports whether a push to branch builds: whether it matches
// one of Branches (path.Match syntax, so "release/*" matches "release/1.2"
// but not "release/1/2"), or equals DefaultBranch when Branches is empty.
func (p *Project) BuildsBranch(branch string) bool {
	if len(p.Branches) == 0 {
		return branch == p.DefaultBranch
	}
	for _, pattern := range p.Branches {
		if ok, err := path.Match(pattern, branch); err == nil && ok {
			return true
		}
	}
	return false
}

// GitTokenFor returns the token that authenticates HTTPS clones of p: its
// own git_token, else github.token when the repository is on
// https://github.com/, else "".
func (c *Config) GitTokenFor(p *Project) Secret {
	if p.GitToken != "" {
		return p.GitToken
	}
	u, err := url.Parse(p.Repo)
	if err == nil && u.Scheme == "https" && strings.EqualFold(u.Hostname(), "github.com") {
		return c.GitHub.Token
	}
	return ""
}
