package builder

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Base is an image a Dockerfile builds FROM (or copies from).
type Base struct {
	// Ref is the image reference with the build args substituted, in the
	// docker CLI's short form ("debian:bookworm", "acme/tool:1",
	// "127.0.0.1:5000/base:1"); a reference without tag or digest gets
	// ":latest".
	Ref string
	// Platform is the FROM's --platform once substituted ("" when not
	// given).
	Platform string
}

// BasesOptions are the inputs of Bases besides the Dockerfile.
type BasesOptions struct {
	// Target is the stage built; "" for the last.
	Target string
	// BuildArgs are the build's --build-arg values: they replace the
	// defaults of the ARGs declared before the first FROM.
	BuildArgs map[string]string
	// Platform is the platform built ("linux/arm64"; "" for linux and the
	// architecture of the engine, DefaultPlatform): it gives TARGETPLATFORM,
	// TARGETOS, TARGETARCH and TARGETVARIANT, and BUILDPLATFORM and its
	// parts (slipway builds natively, so the two are equal).
	Platform string
	// DefaultPlatform is the engine's own platform; default linux and
	// the architecture slipway runs on.
	DefaultPlatform string
}

// Bases returns the images the build of dockerfile pulls: the FROM image of
// every stage that reaches the target (through FROM <stage> and COPY
// --from=<stage>) and the images named by COPY --from, in Dockerfile order
// and each once. Names of stages and scratch are not images and are left
// out. The references are read as BuildKit reads them: ARGs declared
// before the first FROM, with their defaults replaced by opts.BuildArgs,
// and the automatic platform args are substituted. A reference that still
// holds an unset variable, or that is not a valid image reference, is an
// error naming its line.
func Bases(dockerfile io.Reader, opts BasesOptions) ([]Base, error) {
	res, err := parser.Parse(dockerfile)
	if err != nil {
		return nil, fmt.Errorf("parse dockerfile: %w", err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("parse dockerfile: %w", err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("parse dockerfile: no FROM instruction")
	}
	env := metaEnv(metaArgs, opts)
	lex := shell.NewLex(res.EscapeToken)
	expand := func(word string, line int) (string, error) {
		r, err := lex.ProcessWordWithMatches(word, env)
		if err != nil {
			return "", fmt.Errorf("dockerfile line %d: %q: %w", line, word, err)
		}
		if len(r.Unmatched) > 0 {
			var names []string
			for n := range r.Unmatched {
				names = append(names, n)
			}
			slices.Sort(names)
			return "", fmt.Errorf("dockerfile line %d: %q uses %s, which no ARG before the first FROM nor build arg sets", line, word, strings.Join(names, ", "))
		}
		return r.Result, nil
	}

	byName := map[string]int{}
	for i, st := range stages {
		if st.Name != "" {
			byName[strings.ToLower(st.Name)] = i
		}
	}
	target := len(stages) - 1
	if opts.Target != "" {
		i, ok := byName[strings.ToLower(opts.Target)]
		if !ok {
			return nil, fmt.Errorf("dockerfile has no stage %q (target)", opts.Target)
		}
		target = i
	}

	// stageOf resolves a FROM or COPY --from name to an earlier stage:
	// a stage name, or a stage's index.
	stageOf := func(name string, before int) (int, bool) {
		if i, ok := byName[strings.ToLower(name)]; ok && i < before {
			return i, true
		}
		var n int
		if _, err := fmt.Sscanf(name, "%d", &n); err == nil && fmt.Sprint(n) == name && n < before {
			return n, true
		}
		return 0, false
	}
	type found struct {
		base  Base
		stage int
		order int
	}
	var out []found
	seen := map[Base]bool{}
	add := func(word, platform string, line, stage, order int) error {
		ref, err := expand(word, line)
		if err != nil {
			return err
		}
		if strings.EqualFold(ref, "scratch") {
			return nil
		}
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return fmt.Errorf("dockerfile line %d: image %q: %w", line, ref, err)
		}
		b := Base{Ref: reference.FamiliarString(reference.TagNameOnly(named)), Platform: platform}
		if !seen[b] {
			seen[b] = true
			out = append(out, found{b, stage, order})
		}
		return nil
	}

	reached := map[int]bool{}
	var visit func(i int) error
	visit = func(i int) error {
		if reached[i] {
			return nil
		}
		reached[i] = true
		st := stages[i]
		line := firstLine(st.Location)
		if dep, ok := stageOf(st.BaseName, i); ok {
			if err := visit(dep); err != nil {
				return err
			}
		} else {
			platform := ""
			if st.Platform != "" {
				p, err := expand(st.Platform, line)
				if err != nil {
					return err
				}
				platform = p
			}
			if err := add(st.BaseName, platform, line, i, 0); err != nil {
				return err
			}
		}
		for j, cmd := range st.Commands {
			c, ok := cmd.(*instructions.CopyCommand)
			if !ok || c.From == "" {
				continue
			}
			l := firstLine(c.Location())
			from, err := expand(c.From, l)
			if err != nil {
				return err
			}
			if dep, ok := stageOf(from, i); ok {
				if err := visit(dep); err != nil {
					return err
				}
				continue
			}
			if err := add(from, "", l, i, j+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(target); err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b found) int {
		if a.stage != b.stage {
			return a.stage - b.stage
		}
		return a.order - b.order
	})
	bases := make([]Base, len(out))
	for i, f := range out {
		bases[i] = f.base
	}
	return bases, nil
}

// metaEnv is what a FROM line sees: the ARGs before the first FROM (build
// args replace their defaults; a build arg not declared there is not
// seen, as in BuildKit) and the automatic platform args.
func metaEnv(metaArgs []instructions.ArgCommand, opts BasesOptions) shell.EnvGetter {
	def := opts.DefaultPlatform
	if def == "" {
		def = platforms.Format(platforms.DefaultSpec())
	}
	target := opts.Platform
	if target == "" {
		target = def
	}
	env := append(platformArgs("TARGET", target), platformArgs("BUILD", target)...)
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			v, ok := opts.BuildArgs[kv.Key]
			if !ok && kv.Value != nil {
				// A default may use the ARGs before it.
				if r, err := shell.NewLex('\\').ProcessWordWithMatches(*kv.Value, shell.EnvsFromSlice(env)); err == nil {
					v, ok = r.Result, true
				}
			}
			if ok {
				env = slices.DeleteFunc(env, func(s string) bool { return strings.HasPrefix(s, kv.Key+"=") })
				env = append(env, kv.Key+"="+v)
			}
		}
	}
	return shell.EnvsFromSlice(env)
}

// platformArgs are PREFIXPLATFORM, PREFIXOS, PREFIXARCH and PREFIXVARIANT
// of platform.
func platformArgs(prefix, platform string) []string {
	p, err := platforms.Parse(platform)
	if err != nil {
		return nil
	}
	p = platforms.Normalize(p)
	return []string{
		prefix + "PLATFORM=" + platforms.Format(p),
		prefix + "OS=" + p.OS,
		prefix + "ARCH=" + p.Architecture,
		prefix + "VARIANT=" + p.Variant,
	}
}

func firstLine(rs []parser.Range) int {
	if len(rs) == 0 {
		return 0
	}
	return rs[0].Start.Line
}

// LocalDigests returns the repository digests ("repo@sha256:…") the
// engine records for its local image ref, and whether it has the image at
// all.
func (b *Builder) LocalDigests(ctx context.Context, ref string) ([]string, bool, error) {
	img, err := b.cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("inspect local image %s: %w", ref, err)
	}
	return img.RepoDigests, true, nil
}
