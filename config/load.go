package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the config file at path, expands ${VAR} references from the
// process environment and returns the Config validated by this package and
// by checks. See LoadWithEnv.
//
// Every command of slipway loads its config with the same checks (the
// command's loadConfig passes registry.CheckConfig), so that `serve`
// refuses what `validate` refuses.
func Load(path string, checks ...Check) (*Config, error) {
	return LoadWithEnv(path, os.LookupEnv, checks...)
}

// LoadWithEnv reads the config file at path and returns it validated, with
// lookup answering ${VAR} references (a nil lookup finds no variable). In
// order it:
//
//   - parses the YAML, keeping line numbers;
//   - expands ${VAR} and ${VAR:-default} in scalar values (never in keys):
//     the default is used when VAR is unset or empty, an unset VAR without a
//     default expands to "", and $$ is a literal $;
//   - decodes, refusing unknown and duplicate keys;
//   - applies defaults (ApplyDefaults);
//   - makes data_dir and every *_file path absolute, relative ones taken
//     from the config file's directory;
//   - reads the *_file secrets (one trailing newline trimmed) and
//     api_tokens_file;
//   - validates (Validate), Docker Hub build rules included;
//   - when that found nothing, runs checks (see Check), giving their
//     problems the line of their key path.
//
// Every problem found is reported at once in a *ValidationError naming the
// file, line and key path of each. Messages never contain a secret: values
// that came from the environment are shown as the ${VAR} that produced them.
// A file that cannot be read at all is reported as a plain wrapped error.
func LoadWithEnv(path string, lookup func(string) (string, bool), checks ...Check) (*Config, error) {
	return load(path, lookup, false, checks)
}

// LoadOffline is Load for checking a config away from where it will run
// (`slipway validate --offline`: a stack's config before `docker stack
// deploy`, whose /run/secrets/ files exist only in the container): every
// check of Load except reading the *_file secrets and api_tokens_file and
// checking that the TLS, SSH key and build secret files are readable. The
// secrets those files hold are left empty, so the Config returned is for
// checking only, never for running.
func LoadOffline(path string, checks ...Check) (*Config, error) {
	return load(path, os.LookupEnv, true, checks)
}

func load(path string, lookup func(string) (string, bool), offline bool, checks []Check) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	l := &loader{
		lookup: lookup,
		lines:  map[string]int{},
		env:    map[string]string{},
		bad:    map[string]bool{},

		offline: offline,
	}
	c := &Config{Path: path}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &ValidationError{File: path, Problems: []Problem{yamlProblem(err)}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	switch {
	case root.Kind == 0 || root.Kind == yaml.DocumentNode:
		// An empty file (or one holding only comments) is an empty mapping.
		l.lines[""] = 1
	case root.ShortTag() == "!!null":
		l.lines[""] = root.Line
	case root.Kind != yaml.MappingNode:
		return nil, &ValidationError{File: path, Problems: []Problem{{Line: root.Line, Msg: "the file must be a YAML mapping of settings, not a " + kindName(root.Kind)}}}
	default:
		l.lines[""] = root.Line
		l.decode(root, reflect.ValueOf(c).Elem(), "")
	}

	c.ApplyDefaults()
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	c.resolvePaths(dir)
	l.readFiles(c)

	v := &checker{lineOf: l.lineOf}
	v.config(c)
	for _, p := range v.problems {
		if !l.isBad(p.Path) {
			l.problems = append(l.problems, p)
		}
	}
	if len(l.problems) == 0 {
		v.problems = nil
		v.run(c, checks)
		l.problems = v.problems
	}
	if len(l.problems) > 0 {
		return nil, &ValidationError{File: path, Problems: l.scrub(l.problems)}
	}
	return c, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlProblem turns a yaml.v3 syntax error into a Problem with its line.
func yamlProblem(err error) Problem {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return Problem{Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// loader decodes a yaml.Node tree into a Config, collecting problems instead
// of stopping at the first, and remembering the line of every key path.
type loader struct {
	lookup   func(string) (string, bool)
	problems []Problem
	// lines maps a key path ("projects[0].image") to the line of its key,
	// or of the item for sequence entries.
	lines map[string]int
	// env maps the name of every variable expanded to its non-empty value,
	// so that messages can show ${NAME} instead of the value.
	env map[string]string
	// bad holds the paths that failed to decode; validation problems at or
	// under them would only repeat the decoding problem.
	bad map[string]bool
	// offline skips reading and checking the files the config names
	// (LoadOffline).
	offline bool
}

// add reports that the value at path could not be decoded.
func (l *loader) add(line int, path, msg string) {
	l.note(line, path, msg)
	l.bad[path] = true
}

// note reports a problem that leaves the value at path usable.
func (l *loader) note(line int, path, msg string) {
	l.problems = append(l.problems, Problem{Line: line, Path: path, Msg: msg})
}

// lineOf returns the line of path, or of its nearest ancestor present in
// the file: a missing key is reported at its enclosing mapping.
func (l *loader) lineOf(path string) int {
	for {
		if line, ok := l.lines[path]; ok {
			return line
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// isBad reports whether path or one of its ancestors failed to decode.
func (l *loader) isBad(path string) bool {
	for {
		if l.bad[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// minScrubLen is the shortest environment value hidden from messages:
// shorter values ("2", "on") are not secrets, and replacing them would
// garble unrelated words.
const minScrubLen = 4

// scrub replaces, in every message, each environment value that was
// expanded into the file (as is or escaped as by %q) by the ${NAME} that
// produced it, longest first; then it orders the problems by line.
func (l *loader) scrub(problems []Problem) []Problem {
	names := make([]string, 0, len(l.env))
	for name, value := range l.env {
		if len(value) >= minScrubLen {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if len(l.env[names[i]]) != len(l.env[names[j]]) {
			return len(l.env[names[i]]) > len(l.env[names[j]])
		}
		return names[i] < names[j]
	})
	for i := range problems {
		for _, name := range names {
			value := l.env[name]
			// Messages quote values with %q, which escapes some characters.
			quoted := strconv.Quote(value)
			for _, text := range []string{value, quoted[1 : len(quoted)-1]} {
				problems[i].Msg = strings.ReplaceAll(problems[i].Msg, text, "${"+name+"}")
			}
		}
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
	return problems
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// decode stores node n into v, reporting problems at path.
func (l *loader) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value keeps the zero value, so the default applies
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		l.decodeUnmarshaler(n, v.Addr().Interface().(yaml.Unmarshaler), path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		l.decode(n, v.Elem(), path)
	case reflect.Struct:
		l.decodeStruct(n, v, path)
	case reflect.Map:
		l.decodeMap(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			l.add(n.Line, path, "must be a list")
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content)))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			l.lines[p] = item.Line
			l.decode(item, v.Index(i), p)
		}
	case reflect.String:
		if s, ok := l.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Int, reflect.Int64:
		s, ok := l.scalar(n, path, "an integer")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || v.OverflowInt(i) {
			l.add(n.Line, path, fmt.Sprintf("must be an integer, not %q", s))
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		s, ok := l.scalar(n, path, "true or false")
		if !ok {
			return
		}
		switch s {
		case "true", "True", "TRUE":
			v.SetBool(true)
		case "false", "False", "FALSE":
			v.SetBool(false)
		default:
			l.add(n.Line, path, fmt.Sprintf("must be true or false, not %q", s))
		}
	default:
		// Only reached if a field of an unsupported kind is added to the
		// schema; the schema test decodes every field.
		l.add(n.Line, path, fmt.Sprintf("cannot decode into %s", v.Type()))
	}
}

// scalar returns the expanded text of a scalar node.
func (l *loader) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		l.add(n.Line, path, "must be "+want+", not a "+kindName(n.Kind))
		return "", false
	}
	s, err := l.expand(n.Value)
	if err != nil {
		l.add(n.Line, path, err.Error())
		return "", false
	}
	return s, true
}

func (l *loader) decodeUnmarshaler(n *yaml.Node, u yaml.Unmarshaler, path string) {
	c := *n
	if n.Kind == yaml.ScalarNode {
		s, err := l.expand(n.Value)
		if err != nil {
			l.add(n.Line, path, err.Error())
			return
		}
		if s != n.Value {
			c.Value = s
			if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
				c.Tag = "" // resolve the expanded text afresh
			}
		}
	}
	if err := u.UnmarshalYAML(&c); err != nil {
		var le *lineError
		if errors.As(err, &le) {
			l.add(le.Line, path, le.Msg)
			return
		}
		l.add(n.Line, path, err.Error())
	}
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "scalar"
	}
}

// pair is one key and value of a mapping.
type pair struct{ key, value *yaml.Node }

// pairs returns the entries of mapping n with YAML merge keys (<<: *anchor)
// resolved: explicit keys win over merged ones. Duplicate explicit keys are
// reported.
func (l *loader) pairs(n *yaml.Node, path string) []pair {
	var out, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, l.mergeSources(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			l.note(k.Line, path, "keys must be strings")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.note(k.Line, joinPath(path, k.Value), fmt.Sprintf("duplicate key (first set at line %d)", first))
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{k, val})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key.Line
			out = append(out, p)
		}
	}
	return out
}

// mergeSources returns the entries a merge key's value brings in.
func (l *loader) mergeSources(val *yaml.Node, path string) []pair {
	for val.Kind == yaml.AliasNode {
		val = val.Alias
	}
	var sources []*yaml.Node
	switch val.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{val}
	case yaml.SequenceNode:
		sources = val.Content
	default:
		l.note(val.Line, path, "a merge key (<<) needs a mapping or a list of mappings")
		return nil
	}
	var out []pair
	for _, s := range sources {
		for s.Kind == yaml.AliasNode {
			s = s.Alias
		}
		if s.Kind != yaml.MappingNode {
			l.note(s.Line, path, "a merge key (<<) needs a mapping or a list of mappings")
			continue
		}
		out = append(out, l.pairs(s, path)...)
	}
	return out
}

func (l *loader) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		l.add(n.Line, path, "must be a mapping, not a "+kindName(n.Kind))
		return
	}
	fields := yamlFields(v.Type())
	for _, p := range l.pairs(n, path) {
		key := p.key.Value
		fp := joinPath(path, key)
		i, ok := fields[key]
		if !ok {
			l.add(p.key.Line, fp, "unknown key")
			continue
		}
		l.lines[fp] = p.key.Line
		l.decode(p.value, v.Field(i), fp)
	}
}

func (l *loader) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		l.add(n.Line, path, "must be a mapping, not a "+kindName(n.Kind))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range l.pairs(n, path) {
		kp := mapPath(path, p.key.Value)
		l.lines[kp] = p.key.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		l.decode(p.value, elem, kp)
		v.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), elem)
	}
}

// yamlFields maps the yaml key of each field of struct type t to its index.
func yamlFields(t reflect.Type) map[string]int {
	fields := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
	}
	return fields
}

var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${VAR} and ${VAR:-default} in s using l.lookup; $$ is a
// literal $ and a $ followed by anything else is kept as is. Errors never
// contain an expanded value.
func (l *loader) expand(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if strings.HasPrefix(s[i:], "$$") {
			b.WriteByte('$')
			i += 2
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte('$')
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", errors.New("unterminated ${ (write $$ for a literal $)")
		}
		expr := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !envNameRe.MatchString(name) {
			return "", fmt.Errorf("invalid variable reference ${%s}: use ${NAME} or ${NAME:-default} (write $$ for a literal $)", expr)
		}
		val, ok := l.lookup(name)
		if ok && val != "" {
			l.env[name] = val
		}
		if val == "" && hasDef {
			val = def
		}
		b.WriteString(val)
		i += 2 + end + 1
	}
	return b.String(), nil
}

var plainKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapPath names the entry key of the map at path: "deploy_targets.prod",
// or `build_args["a.b"]` when the key is not a plain word.
func mapPath(path, key string) string {
	if plainKeyRe.MatchString(key) {
		return joinPath(path, key)
	}
	return fmt.Sprintf("%s[%q]", path, key)
}

// parentPath strips the last element of a key path.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndex(path, "["); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i]
	}
	return ""
}

// resolvePaths joins relative data_dir and file paths to dir, the absolute
// directory of the config file.
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.DataDir)
	abs(&c.APITokensFile)
	abs(&c.SessionSecretFile)
	abs(&c.ProbeExecutable)
	abs(&c.GitHub.WebhookSecretFile)
	abs(&c.GitHub.TokenFile)
	abs(&c.RegistryHooks.TokenFile)
	abs(&c.RegistryHooks.SecretFile)
	for i := range c.Registries {
		abs(&c.Registries[i].PasswordFile)
	}
	absTLS := func(t *TLS) {
		abs(&t.CAFile)
		abs(&t.CertFile)
		abs(&t.KeyFile)
	}
	absTLS(&c.DockerTLS)
	for i := range c.Builders {
		absTLS(&c.Builders[i].TLS)
	}
	for name, t := range c.DeployTargets {
		absTLS(&t.TLS)
		c.DeployTargets[name] = t
	}
	for i := range c.Notify {
		abs(&c.Notify[i].SecretFile)
	}
	for i := range c.Projects {
		abs(&c.Projects[i].GitSSHKeyFile)
		abs(&c.Projects[i].GitTokenFile)
		for j := range c.Projects[i].Secrets {
			abs(&c.Projects[i].Secrets[j].File)
		}
	}
}

// readFiles reads the *_file secrets and the API tokens, and checks that the
// other files named are readable.
func (l *loader) readFiles(c *Config) {
	if l.offline {
		return
	}
	l.readSecret(&c.GitHub.WebhookSecret, c.GitHub.WebhookSecretFile, "github.webhook_secret")
	l.readSecret(&c.GitHub.Token, c.GitHub.TokenFile, "github.token")
	l.readSecret(&c.SessionSecret, c.SessionSecretFile, "session_secret")
	l.readSecret(&c.RegistryHooks.Token, c.RegistryHooks.TokenFile, "registry_hooks.token")
	l.readSecret(&c.RegistryHooks.Secret, c.RegistryHooks.SecretFile, "registry_hooks.secret")
	for i := range c.Registries {
		r := &c.Registries[i]
		l.readSecret(&r.Password, r.PasswordFile, fmt.Sprintf("registries[%d].password", i))
	}
	for i := range c.Notify {
		n := &c.Notify[i]
		l.readSecret(&n.Secret, n.SecretFile, fmt.Sprintf("notify[%d].secret", i))
	}
	for i := range c.Projects {
		p := &c.Projects[i]
		base := fmt.Sprintf("projects[%d].", i)
		l.readSecret(&p.GitToken, p.GitTokenFile, base+"git_token")
		l.checkReadable(p.GitSSHKeyFile, base+"git_ssh_key_file")
		for j, s := range p.Secrets {
			l.checkReadable(s.File, fmt.Sprintf("%ssecrets[%d].file", base, j))
		}
	}
	checkTLS := func(t TLS, base string) {
		l.checkReadable(t.CAFile, base+"ca_file")
		l.checkReadable(t.CertFile, base+"cert_file")
		l.checkReadable(t.KeyFile, base+"key_file")
	}
	checkTLS(c.DockerTLS, "docker_tls.")
	for i := range c.Builders {
		checkTLS(c.Builders[i].TLS, fmt.Sprintf("builders[%d].tls.", i))
	}
	for _, name := range sortedKeys(c.DeployTargets) {
		checkTLS(c.DeployTargets[name].TLS, mapPath("deploy_targets", name)+".tls.")
	}
	if c.APITokensFile != "" {
		data, err := os.ReadFile(c.APITokensFile)
		if err != nil {
			l.fileProblem("api_tokens_file", c.APITokensFile, err, "create it with one API token per line, or remove the key")
			return
		}
		var problems []string
		c.APITokens, problems = parseTokens(string(data))
		for _, msg := range problems {
			l.note(l.lineOf("api_tokens_file"), "api_tokens_file", c.APITokensFile+": "+msg)
		}
		if len(c.APITokens) == 0 && len(problems) == 0 {
			l.note(l.lineOf("api_tokens_file"), "api_tokens_file", fmt.Sprintf("%s holds no token: put one API token per line, or remove the key", c.APITokensFile))
		}
	}
}

// readSecret reads file into *s for the secret at key ("github.token",
// whose file key is "github.token_file").
func (l *loader) readSecret(s *Secret, file, key string) {
	if file == "" {
		return
	}
	fileKey := key + "_file"
	if *s != "" {
		l.note(l.lineOf(fileKey), fileKey, fmt.Sprintf("set either %s or %s, not both", key, fileKey))
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		l.fileProblem(fileKey, file, err, fmt.Sprintf("create it with the secret, or set %s instead", key))
		return
	}
	v := strings.TrimSuffix(string(data), "\n")
	v = strings.TrimSuffix(v, "\r")
	if v == "" {
		l.note(l.lineOf(fileKey), fileKey, fmt.Sprintf("%s is empty: write the secret into it, or remove the key", file))
		return
	}
	*s = Secret(v)
}

func (l *loader) checkReadable(file, key string) {
	if file == "" {
		return
	}
	f, err := os.Open(file)
	if err != nil {
		l.fileProblem(key, file, err, "check the path and the file's permissions, or remove the key")
		return
	}
	f.Close()
}

// fileProblem reports that file, named at key, cannot be read.
func (l *loader) fileProblem(key, file string, err error, todo string) {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	l.note(l.lineOf(key), key, fmt.Sprintf("cannot read %s: %v: %s", file, err, todo))
}

// parseTokens returns the tokens of an API tokens file: one per line,
// surrounding blanks trimmed, blank lines and # comments skipped. A line
// `name:token` names its token (split at the first colon); a line without a
// colon is a token named "token-N", N its position among the tokens. The
// problems found name the line, never a token's text.
func parseTokens(data string) ([]APIToken, []string) {
	var (
		tokens   []APIToken
		problems []string
		seen     = map[string]int{}
		lineNo   int
	)
	for line := range strings.Lines(data) {
		lineNo++
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, tok, named := strings.Cut(line, ":")
		if !named {
			name, tok = fmt.Sprintf("token-%d", len(tokens)+1), line
		}
		name, tok = strings.TrimSpace(name), strings.TrimSpace(tok)
		switch {
		case named && !validTokenName(name):
			problems = append(problems, fmt.Sprintf("line %d: the token name before the colon must be 1 to 64 letters, digits, '.', '_', '-' or '@' (a token that contains a colon needs a name: name:token)", lineNo))
			continue
		case tok == "":
			problems = append(problems, fmt.Sprintf("line %d: token %s is empty: write it after the colon (name:token)", lineNo, name))
			continue
		}
		if first, dup := seen[name]; dup {
			problems = append(problems, fmt.Sprintf("line %d: token name %s is taken by line %d: give each token its own name", lineNo, name, first))
			continue
		}
		seen[name] = lineNo
		tokens = append(tokens, APIToken{Name: name, Token: Secret(tok)})
	}
	return tokens, problems
}

// validTokenName reports whether name may name an API token: it shows in
// build records and logs, so it is kept to a short plain word.
func validTokenName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@", c)) {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
