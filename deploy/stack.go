package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/docker/cli/cli/compose/loader"
	"github.com/docker/cli/cli/compose/template"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// StackOptions configure DeployStack.
type StackOptions struct {
	// Rollout configures the watch and rollback of every service (see
	// RolloutOptions). Its RegistryAuth is sent only with the services that
	// run the project's image: other images may live on other registries.
	Rollout RolloutOptions
	// Prune removes the stack's services the compose files no longer name,
	// as `docker stack deploy --prune` does (networks, secrets and configs
	// are never removed). Default false: nothing is removed.
	Prune bool
	// Env holds the variables the compose files are interpolated with
	// (${VAR}, and the values of `environment:` entries given without
	// one). slipway's own environment is never read, so a compose file
	// from a repository cannot copy slipway's secrets into a service.
	// Default: none; an unset variable becomes "" and is named in the log.
	Env map[string]string
}

// DeployStack deploys stack from composeFiles, merged in order as `docker
// stack deploy -c a.yml -c b.yml` does, with img (pinned by digest)
// substituted for the image of every service whose image repository is
// img.Repo. Missing networks (overlay unless the file says otherwise),
// secrets, configs and services are created; services whose spec differs
// are updated and watched as Rollout does (rollback of a failed update when
// opts.Rollout.Rollback is set); services already as the files say are left
// alone (StatusUnchanged). Nothing is removed unless opts.Prune is set.
// Images of other repositories are used as written (pin them by digest in
// the file for identical bytes on every node); a service of such an image
// whose file image did not change keeps the image it runs, as with the
// docker CLI.
//
// Relative compose file paths are taken from workDir (the checkout) and may
// not leave it, symlinks included; absolute paths name files on the slipway
// host. When any compose file comes from workDir, every file the compose
// files make slipway read (env_file, secret and config files) must lie in
// workDir too, and env files may not name a variable without a value
// (docker's loader would take it from slipway's environment).
//
// Every change is sent to the swarm before any is watched, so services roll
// out together; they are then watched in name order, each with its own
// opts.Rollout.Timeout from the start of its watch.
//
// The error is for a stack that could not be deployed at all (files that do
// not load, no service of img.Repo, a network or secret that cannot be
// created); each service's outcome is its Result, in service name order.
func (t *Target) DeployStack(ctx context.Context, stack string, composeFiles []string, workDir string, img Image, opts StackOptions) ([]Result, error) {
	start := time.Now()
	opts.Rollout = opts.Rollout.withDefaults()
	log := opts.Rollout.Log
	if stack == "" {
		return nil, errors.New("stack mode needs a stack name: set the deploy binding's stack")
	}
	if err := img.validate(); err != nil {
		return nil, err
	}
	cfg, err := loadCompose(composeFiles, workDir, opts.Env, log)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack, err)
	}
	project := projectServices(cfg, img.Repo)
	if len(project) == 0 {
		return nil, fmt.Errorf("stack %s: no service of the compose files runs an image of %s: set that service's image to %s (any tag)", stack, repoName(img.Repo), img.Repo)
	}

	ns := convert.NewNamespace(stack)
	if opts.Prune {
		if err := t.prune(ctx, ns, cfg, log); err != nil {
			return nil, fmt.Errorf("stack %s: %w", stack, err)
		}
	}
	if err := t.createNetworks(ctx, ns, cfg, log); err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack, err)
	}
	if err := t.createObjects(ctx, ns, cfg, log); err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack, err)
	}
	specs, err := convert.Services(ctx, ns, cfg, t.cli)
	if err != nil {
		return nil, fmt.Errorf("stack %s: convert services: %w", stack, err)
	}
	existing, err := t.stackServices(ctx, ns.Name())
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack, err)
	}
	netIDs, err := t.networkIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack, err)
	}

	names := make([]string, 0, len(specs))
	for name := range specs {
		names = append(names, name)
	}
	sort.Strings(names)
	results := make([]Result, len(names))
	changes := make([]*change, len(names))
	ref := img.Ref()
	for i, internal := range names {
		spec := specs[internal]
		ropts := opts.Rollout
		if project[internal] {
			// The com.docker.stack.image label keeps the file's image, so a
			// later `docker stack deploy` of the same files keeps this one.
			pinned := *spec.TaskTemplate.ContainerSpec
			pinned.Image = ref
			spec.TaskTemplate.ContainerSpec = &pinned
		} else {
			ropts.RegistryAuth = ""
		}
		results[i], changes[i] = t.applyService(ctx, spec, project[internal], existing[spec.Name], netIDs, ropts)
		results[i].Duration = time.Since(start)
	}
	// The swarm rolls every change out at once; they are watched in turn.
	for i, ch := range changes {
		if ch != nil {
			fmt.Fprintf(log, "%s: watching\n", ch.name)
			results[i] = t.settle(ctx, ch, opts.Rollout)
			results[i].Duration = time.Since(start)
		}
	}
	for i, internal := range names {
		results[i].OfImage = project[internal]
		if old := existing[specs[internal].Name]; old != nil && old.Spec.TaskTemplate.ContainerSpec != nil {
			results[i].Previous = old.Spec.TaskTemplate.ContainerSpec.Image
		}
	}
	return results, nil
}

// applyService creates or updates one service of a stack (project: one of
// the project's image, already substituted). It returns the change to
// watch, or the final Result when there is none.
func (t *Target) applyService(ctx context.Context, spec swarm.ServiceSpec, project bool, existing *swarm.Service, netIDs map[string]string, opts RolloutOptions) (Result, *change) {
	name := spec.Name
	if existing == nil {
		fmt.Fprintf(opts.Log, "%s: creating\n", name)
		resp, err := t.cli.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{EncodedRegistryAuth: opts.RegistryAuth})
		if err != nil {
			return failed(name, fmt.Sprintf("create service: %v", err)), nil
		}
		for _, w := range resp.Warnings {
			fmt.Fprintf(opts.Log, "%s: warning: %s\n", name, strings.TrimSpace(w))
		}
		ch := &change{id: resp.ID, name: name, before: map[string]bool{}, created: true}
		if err := t.recordSpec(ctx, ch); err != nil {
			return failed(name, err.Error()), nil
		}
		return Result{}, ch
	}
	fileImage := spec.Labels[convert.LabelImage]
	svc, ch, err := t.update(ctx, existing.ID, opts, func(svc swarm.Service) (swarm.ServiceSpec, bool) {
		next := spec
		cs := *next.TaskTemplate.ContainerSpec
		if !project && svc.Spec.Labels[convert.LabelImage] == fileImage && svc.Spec.TaskTemplate.ContainerSpec != nil {
			// Not the project's image, and the file's image did not change:
			// keep what the service runs (as `docker stack deploy` does).
			cs.Image = svc.Spec.TaskTemplate.ContainerSpec.Image
		}
		next.TaskTemplate.ContainerSpec = &cs
		// Stack files have no --force: keep the counter, or tasks restart.
		next.TaskTemplate.ForceUpdate = svc.Spec.TaskTemplate.ForceUpdate
		return next, canonical(normalize(next, netIDs)) != canonical(normalize(svc.Spec, netIDs))
	})
	if err != nil {
		return failed(name, err.Error()), nil
	}
	if ch == nil {
		return t.atImage(ctx, svc, opts), nil
	}
	fmt.Fprintf(opts.Log, "%s: updating\n", name)
	return Result{}, ch
}

// networkIDs maps the names of the swarm's networks to their IDs.
func (t *Target) networkIDs(ctx context.Context) (map[string]string, error) {
	list, err := t.cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("scope", "swarm"))})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	ids := make(map[string]string, len(list))
	for _, nw := range list {
		ids[nw.Name] = nw.ID
	}
	return ids, nil
}

// normalize fills in what the engine fills in a service spec it stores
// (defaults, network IDs for names), so that a spec from the compose files
// compares equal to the stored spec it produced. A default missed here
// costs an update that replaces no task, not a wrong deploy.
func normalize(spec swarm.ServiceSpec, netIDs map[string]string) swarm.ServiceSpec {
	if spec.EndpointSpec == nil {
		spec.EndpointSpec = &swarm.EndpointSpec{}
	} else {
		e := *spec.EndpointSpec
		spec.EndpointSpec = &e
	}
	if spec.EndpointSpec.Mode == "" {
		spec.EndpointSpec.Mode = swarm.ResolutionModeVIP
	}
	ts := &spec.TaskTemplate
	if ts.ContainerSpec != nil {
		cs := *ts.ContainerSpec
		if cs.Isolation == "" {
			cs.Isolation = "default"
		}
		ts.ContainerSpec = &cs
		if ts.Runtime == "" {
			ts.Runtime = swarm.RuntimeContainer
		}
	}
	nets := make([]swarm.NetworkAttachmentConfig, len(ts.Networks))
	for i, n := range ts.Networks {
		if id, ok := netIDs[n.Target]; ok {
			n.Target = id
		}
		nets[i] = n
	}
	ts.Networks = nets
	spec.UpdateConfig = updateDefaults(spec.UpdateConfig)
	spec.RollbackConfig = updateDefaults(spec.RollbackConfig)
	return spec
}

func updateDefaults(c *swarm.UpdateConfig) *swarm.UpdateConfig {
	if c == nil {
		return nil
	}
	u := *c
	if u.FailureAction == "" {
		u.FailureAction = swarm.UpdateFailureActionPause
	}
	if u.Order == "" {
		u.Order = swarm.UpdateOrderStopFirst
	}
	return &u
}

// stackServices returns the stack's services by name.
func (t *Target) stackServices(ctx context.Context, stack string) (map[string]*swarm.Service, error) {
	list, err := t.cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", stackLabel+"="+stack))})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	byName := make(map[string]*swarm.Service, len(list))
	for i := range list {
		byName[list[i].Spec.Name] = &list[i]
	}
	return byName, nil
}

// prune removes the stack's services the compose files do not name.
func (t *Target) prune(ctx context.Context, ns convert.Namespace, cfg *composetypes.Config, log io.Writer) error {
	keep := make(map[string]bool, len(cfg.Services))
	for _, s := range cfg.Services {
		keep[ns.Scope(s.Name)] = true
	}
	existing, err := t.stackServices(ctx, ns.Name())
	if err != nil {
		return err
	}
	for name, svc := range existing {
		if keep[name] {
			continue
		}
		fmt.Fprintf(log, "%s: removing (prune: no longer in the compose files)\n", name)
		if err := t.cli.ServiceRemove(ctx, svc.ID); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("prune service %s: %w", name, err)
		}
	}
	return nil
}

// createNetworks creates the stack's missing networks and checks that the
// external ones exist with swarm scope.
func (t *Target) createNetworks(ctx context.Context, ns convert.Namespace, cfg *composetypes.Config, log io.Writer) error {
	used := map[string]struct{}{}
	for _, s := range cfg.Services {
		if len(s.Networks) == 0 {
			used["default"] = struct{}{}
		}
		for name := range s.Networks {
			used[name] = struct{}{}
		}
	}
	wanted, external := convert.Networks(ns, cfg.Networks, used)
	for _, name := range external {
		if name == "host" || name == "bridge" || name == "none" || name == "ingress" {
			continue
		}
		nw, err := t.cli.NetworkInspect(ctx, name, network.InspectOptions{})
		switch {
		case cerrdefs.IsNotFound(err):
			return fmt.Errorf("network %q is declared external but does not exist: create it with `docker network create --driver overlay --scope swarm %s`", name, name)
		case err != nil:
			return fmt.Errorf("inspect network %s: %w", name, err)
		case nw.Scope != "swarm":
			return fmt.Errorf("network %q is declared external but its scope is %q, not swarm", name, nw.Scope)
		}
	}
	list, err := t.cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", stackLabel+"="+ns.Name()))})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	have := make(map[string]bool, len(list))
	for _, nw := range list {
		have[nw.Name] = true
	}
	names := make([]string, 0, len(wanted))
	for name := range wanted {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if have[name] {
			continue
		}
		opts := wanted[name]
		if opts.Driver == "" {
			opts.Driver = "overlay"
		}
		fmt.Fprintf(log, "network %s: creating\n", name)
		if _, err := t.cli.NetworkCreate(ctx, name, opts); err != nil {
			return fmt.Errorf("create network %s: %w", name, err)
		}
	}
	return nil
}

// createObjects creates the stack's missing secrets and configs and
// updates the labels of existing ones; their data cannot change in a swarm.
func (t *Target) createObjects(ctx context.Context, ns convert.Namespace, cfg *composetypes.Config, log io.Writer) error {
	secrets, err := convert.Secrets(ns, cfg.Secrets)
	if err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	for _, spec := range secrets {
		cur, _, err := t.cli.SecretInspectWithRaw(ctx, spec.Name)
		switch {
		case err == nil:
			if err := t.cli.SecretUpdate(ctx, cur.ID, cur.Version, spec); err != nil {
				return fmt.Errorf("update secret %s: %w (a swarm secret's content cannot change: give the changed secret a new name, e.g. with a version suffix)", spec.Name, err)
			}
		case cerrdefs.IsNotFound(err):
			fmt.Fprintf(log, "secret %s: creating\n", spec.Name)
			if _, err := t.cli.SecretCreate(ctx, spec); err != nil {
				return fmt.Errorf("create secret %s: %w", spec.Name, err)
			}
		default:
			return fmt.Errorf("inspect secret %s: %w", spec.Name, err)
		}
	}
	configs, err := convert.Configs(ns, cfg.Configs)
	if err != nil {
		return fmt.Errorf("configs: %w", err)
	}
	for _, spec := range configs {
		cur, _, err := t.cli.ConfigInspectWithRaw(ctx, spec.Name)
		switch {
		case err == nil:
			if err := t.cli.ConfigUpdate(ctx, cur.ID, cur.Version, spec); err != nil {
				return fmt.Errorf("update config %s: %w (a swarm config's content cannot change: give the changed config a new name, e.g. with a version suffix)", spec.Name, err)
			}
		case cerrdefs.IsNotFound(err):
			fmt.Fprintf(log, "config %s: creating\n", spec.Name)
			if _, err := t.cli.ConfigCreate(ctx, spec); err != nil {
				return fmt.Errorf("create config %s: %w", spec.Name, err)
			}
		default:
			return fmt.Errorf("inspect config %s: %w", spec.Name, err)
		}
	}
	return nil
}

// projectServices returns the compose services (by their name in the
// files) whose image repository is repo.
func projectServices(cfg *composetypes.Config, repo string) map[string]bool {
	want := repoName(repo)
	out := map[string]bool{}
	for _, s := range cfg.Services {
		if want != "" && repoName(s.Image) == want {
			out[s.Name] = true
		}
	}
	return out
}

// loadCompose reads and merges the compose files through docker/cli's
// loader, confining what a file from the checkout can make slipway read.
func loadCompose(files []string, workDir string, env map[string]string, log io.Writer) (*composetypes.Config, error) {
	if len(files) == 0 {
		return nil, errors.New("no compose files")
	}
	var root string // the resolved checkout, when a file comes from it
	details := composetypes.ConfigDetails{Environment: env}
	for i, f := range files {
		p := f
		if !filepath.IsAbs(f) {
			if workDir == "" {
				return nil, fmt.Errorf("compose file %s: a relative path needs the checkout directory", f)
			}
			if !filepath.IsLocal(f) {
				return nil, fmt.Errorf("compose file %s: leaves the checkout", f)
			}
			if root == "" {
				r, err := filepath.EvalSymlinks(workDir)
				if err != nil {
					return nil, fmt.Errorf("checkout directory: %w", err)
				}
				root = r
			}
			var err error
			if p, err = confine(root, filepath.Join(workDir, f)); err != nil {
				return nil, fmt.Errorf("compose file %s: %w", f, err)
			}
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("compose file %s: %w", f, err)
		}
		dict, err := loader.ParseYAML(b)
		if err != nil {
			return nil, fmt.Errorf("compose file %s: %w", f, err)
		}
		if i == 0 {
			details.WorkingDir = filepath.Dir(p)
		}
		details.ConfigFiles = append(details.ConfigFiles, composetypes.ConfigFile{Filename: f, Config: dict})
	}

	unset := map[string]bool{}
	lookup := func(key string) (string, bool) {
		v, ok := env[key]
		if !ok {
			unset[key] = true
		}
		return v, ok
	}
	if root != "" {
		for _, file := range details.ConfigFiles {
			if err := checkEnvFiles(file, details.WorkingDir, root, lookup); err != nil {
				return nil, err
			}
		}
	}
	cfg, err := loader.Load(details, func(o *loader.Options) { o.Interpolate.LookupValue = lookup })
	if err != nil {
		var fpe *loader.ForbiddenPropertiesError
		if errors.As(err, &fpe) {
			props := make([]string, 0, len(fpe.Properties))
			for name, why := range fpe.Properties {
				props = append(props, name+" ("+why+")")
			}
			sort.Strings(props)
			return nil, fmt.Errorf("compose files %s use options a swarm stack does not support: %s", strings.Join(files, ", "), strings.Join(props, "; "))
		}
		return nil, fmt.Errorf("load compose files %s: %w", strings.Join(files, ", "), err)
	}
	for _, key := range sortedKeys(unset) {
		fmt.Fprintf(log, "compose: variable %s is not set; using \"\"\n", key)
	}
	dicts := make([]map[string]any, len(details.ConfigFiles))
	for i, f := range details.ConfigFiles {
		dicts[i] = f.Config
	}
	if props := loader.GetUnsupportedProperties(dicts...); len(props) > 0 {
		fmt.Fprintf(log, "compose: ignoring options a swarm stack does not support: %s\n", strings.Join(props, ", "))
	}
	for _, s := range cfg.Services {
		if s.Image == "" {
			return nil, fmt.Errorf("service %s has no image", s.Name)
		}
		if repoName(s.Image) == "" {
			return nil, fmt.Errorf("service %s: invalid image reference %q", s.Name, s.Image)
		}
	}
	if root != "" {
		for name, s := range cfg.Secrets {
			if err := confineObject("secret", name, s.File, root); err != nil {
				return nil, err
			}
		}
		for name, c := range cfg.Configs {
			if err := confineObject("config", name, c.File, root); err != nil {
				return nil, err
			}
		}
	}
	return cfg, nil
}

// confine resolves p's symlinks and checks that it lies in root (itself
// resolved).
func confine(root, p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || !filepath.IsLocal(rel) {
		return "", errors.New("leaves the checkout (symlinks included)")
	}
	return real, nil
}

func confineObject(kind, name, file, root string) error {
	if file == "" {
		return nil
	}
	if _, err := confine(root, file); err != nil {
		return fmt.Errorf("%s %s: file %s: %w", kind, name, file, err)
	}
	return nil
}

// checkEnvFiles confines the env_file entries of one compose file to the
// checkout and refuses variables without a value in them, before docker's
// loader reads them: its error messages quote lines, and it fills a
// variable without a value from slipway's own environment.
func checkEnvFiles(file composetypes.ConfigFile, workingDir, root string, lookup template.Mapping) error {
	services, _ := file.Config["services"].(map[string]any)
	for name, def := range services {
		svc, _ := def.(map[string]any)
		var entries []string
		switch v := svc["env_file"].(type) {
		case string:
			entries = []string{v}
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					entries = append(entries, s)
				}
			}
		}
		for _, entry := range entries {
			path, err := template.Substitute(entry, lookup)
			if err != nil {
				return fmt.Errorf("compose file %s: service %s: env_file %s: %w", file.Filename, name, entry, err)
			}
			if !filepath.IsAbs(path) {
				path = filepath.Join(workingDir, path)
			}
			real, err := confine(root, path)
			if err != nil {
				return fmt.Errorf("compose file %s: service %s: env_file %s: %w", file.Filename, name, entry, err)
			}
			if err := checkEnvFile(real); err != nil {
				return fmt.Errorf("compose file %s: service %s: env_file %s: %w", file.Filename, name, entry, err)
			}
		}
	}
	return nil
}

// checkEnvFile refuses a line naming a variable without a value.
func checkEnvFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.Contains(line, "=") {
			continue
		}
		return fmt.Errorf("line %d names a variable without a value; give it one (VAR=value): it would be taken from slipway's environment", n)
	}
	return sc.Err()
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
