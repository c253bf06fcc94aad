package config

// Builder is one Docker engine of the builder pool. Builds are placed on
// the healthy builders whose labels match the project's builder_labels
// (and platform), sticking to one builder per project so its layer cache
// stays warm.
type Builder struct {
	// Name identifies the builder in logs, the build result and the API.
	// Required; [a-z0-9][a-z0-9_.-]*, unique.
	Name string `yaml:"name"`
	// Host is the engine endpoint: unix://, tcp:// (with TLS), ssh://,
	// as deploy targets. Required.
	Host string `yaml:"host"`
	// TLS configures a tcp:// Host: its certificate files, or insecure:
	// true for plain HTTP. Required for tcp://.
	TLS TLS `yaml:"tls"`
	// Labels are matched against projects' builder_labels. arch and os
	// default from the engine's /info (amd64, arm64, … and linux), the
	// rest default to none; a label written here wins over the engine's.
	Labels map[string]string `yaml:"labels"`
	// Concurrency is the number of builds the builder runs at once.
	// Default: the top-level concurrency.
	Concurrency int `yaml:"concurrency"`
}

// LocalBuilder is the name of the one builder used when builders: is
// not set: the engine of docker_host.
const LocalBuilder = "local"

// BuilderPool returns the builders builds are placed on: builders: when
// set, else one builder "local" that is docker_host (with docker_tls; ""
// is DOCKER_HOST, then the local socket) running concurrency builds, which
// is exactly slipway's single engine.
func (c *Config) BuilderPool() []Builder {
	if len(c.Builders) > 0 {
		return c.Builders
	}
	return []Builder{{Name: LocalBuilder, Host: c.DockerHost, TLS: c.DockerTLS, Concurrency: c.Concurrency}}
}

// BuildSlots is the number of builds run at once over all builders: the
// sum of their concurrency (concurrency itself without builders:).
func (c *Config) BuildSlots() int {
	n := 0
	for _, b := range c.BuilderPool() {
		n += max(b.Concurrency, 1)
	}
	return n
}
