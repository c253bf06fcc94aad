package builder_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/testenv"
)

func TestArgsInRunHistory(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		target     string
		want       []builder.ArgInRun
	}{
		{"ARG then RUN", "FROM scratch\nARG TOKEN\nRUN true\n", "",
			[]builder.ArgInRun{{Name: "TOKEN", ArgLine: 2, RunLine: 3}}},
		{"a RUN that does not name it still records it", "FROM scratch\nARG TOKEN=x\nCOPY a /a\nRUN [\"/a\"]\n", "",
			[]builder.ArgInRun{{Name: "TOKEN", ArgLine: 2, RunLine: 4}}},
		{"RUN before the ARG", "FROM scratch\nRUN true\nARG TOKEN\nLABEL x=$TOKEN\n", "", nil},
		{"no RUN", "FROM scratch\nARG TOKEN\nCOPY a /a\n", "", nil},
		{"not declared", "FROM scratch\nARG OTHER\nRUN true\n", "", nil},
		{"a meta ARG is not in a stage's scope", "ARG TOKEN\nFROM scratch\nRUN true\n", "", nil},
		{"a meta ARG declared again", "ARG TOKEN\nFROM scratch\nARG TOKEN\nRUN true\n", "",
			[]builder.ArgInRun{{Name: "TOKEN", ArgLine: 3, RunLine: 4}}},
		{"only in a stage the image copies from",
			"FROM scratch AS build\nARG TOKEN\nRUN true\n\nFROM scratch\nCOPY --from=build /a /a\nRUN true\n", "", nil},
		{"in a stage the image is built FROM",
			"FROM scratch AS build\nARG TOKEN\nRUN \\\n  true\n\nFROM build\nRUN true\n", "",
			[]builder.ArgInRun{{Name: "TOKEN", ArgLine: 2, RunLine: 3, Stage: "build"}}},
		{"the target stage",
			"FROM scratch AS Build\nARG TOKEN\nRUN true\n\nFROM scratch\nRUN true\n", "build",
			[]builder.ArgInRun{{Name: "TOKEN", ArgLine: 2, RunLine: 3, Stage: "build"}}},
		{"several, in the order asked",
			"FROM scratch\nARG TOKEN NPM_TOKEN=x\nRUN true\n", "",
			[]builder.ArgInRun{{Name: "NPM_TOKEN", ArgLine: 2, RunLine: 3}, {Name: "TOKEN", ArgLine: 2, RunLine: 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := builder.ArgsInRunHistory(strings.NewReader(tt.dockerfile), tt.target, []string{"NPM_TOKEN", "TOKEN"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ArgsInRunHistory (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := builder.ArgsInRunHistory(strings.NewReader("FROM scratch\n"), "nope", []string{"TOKEN"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown target: error = %v, want one naming it", err)
	}
}

// TestArgsInRunHistoryMatchesTheEngine builds with both builders and reads
// the image's history: a secret build arg's value is there exactly when
// ArgsInRunHistory says so.
func TestArgsInRunHistoryMatchesTheEngine(t *testing.T) {
	cli := testenv.Docker(t)
	app := fixture(t)
	const dockerfile = `FROM scratch AS tools
ARG ONLY_IN_TOOLS
COPY app /app
RUN ["/app", "env", "ONLY_IN_TOOLS"]

FROM scratch
COPY --from=tools /app /app
ARG IN_IMAGE
RUN ["/app", "env", "HOME"]
`
	names := []string{"IN_IMAGE", "ONLY_IN_TOOLS"}
	got, err := builder.ArgsInRunHistory(strings.NewReader(dockerfile), "", names)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]builder.ArgInRun{{Name: "IN_IMAGE", ArgLine: 8, RunLine: 9}}, got); diff != "" {
		t.Fatalf("ArgsInRunHistory (-want +got):\n%s", diff)
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			name := testenv.Name(t, "slipway-argrun")
			secrets := map[string]string{"IN_IMAGE": "in-image-" + name, "ONLY_IN_TOOLS": "tools-" + name}
			log := &syncBuffer{}
			img, err := builder.New(cli, mode).Build(t.Context(), builder.BuildOptions{
				Context: contextTar(t, dockerfile, app), Dockerfile: "Dockerfile", SecretArgs: secrets, NoCache: true,
			}, log)
			if err != nil {
				t.Fatalf("Build: %v\nlog:\n%s", err, log)
			}
			removeImage(t, cli, img.ID)
			removeIntermediates(t, cli, log)
			hist, err := cli.ImageHistory(t.Context(), img.ID)
			if err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			for _, h := range hist {
				all.WriteString(h.CreatedBy + "\n")
			}
			if !strings.Contains(all.String(), secrets["IN_IMAGE"]) {
				t.Errorf("history has no IN_IMAGE value, but ArgsInRunHistory reports it:\n%s", all.String())
			}
			if strings.Contains(all.String(), secrets["ONLY_IN_TOOLS"]) {
				t.Errorf("history has ONLY_IN_TOOLS's value, which ArgsInRunHistory does not report:\n%s", all.String())
			}
		})
	}
}
