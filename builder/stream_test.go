package builder

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	controlapi "github.com/moby/buildkit/api/services/control"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const testImageID = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

// traceMessage is the engine's JSON message carrying sr, as the engine
// sends it: an aux string holding the base64 of the protobuf.
func traceMessage(t *testing.T, sr *controlapi.StatusResponse) string {
	t.Helper()
	raw, err := sr.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	aux, err := json.Marshal(raw) // []byte marshals as a base64 string
	if err != nil {
		t.Fatal(err)
	}
	return `{"id":"moby.buildkit.trace","aux":` + string(aux) + "}\n"
}

func TestDecodeBuildKit(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	at := func(ms int) *timestamppb.Timestamp {
		return timestamppb.New(t0.Add(time.Duration(ms) * time.Millisecond))
	}
	const (
		load  = "sha256:load"
		from  = "sha256:from"
		cp    = "sha256:copy"
		run   = "sha256:run"
		never = "sha256:never"
	)
	updates := []*controlapi.StatusResponse{
		{Vertexes: []*controlapi.Vertex{
			{Digest: load, Name: "[internal] load build definition from Dockerfile", Started: at(0)},
			{Digest: never, Name: "[3/3] never started"},
		}},
		{Statuses: []*controlapi.VertexStatus{
			{ID: "transferring dockerfile:", Vertex: load, Current: 50, Started: at(1)},
		}},
		{Statuses: []*controlapi.VertexStatus{
			{ID: "transferring dockerfile:", Vertex: load, Current: 1234, Started: at(1), Completed: at(30)},
		}},
		{
			Vertexes: []*controlapi.Vertex{
				{Digest: load, Name: "[internal] load build definition from Dockerfile", Started: at(0), Completed: at(140)},
				{Digest: from, Name: "[1/3] FROM docker.io/library/golang:1.26", Started: at(50), Completed: at(50), Cached: true},
			},
			Statuses: []*controlapi.VertexStatus{ // repeated: no second line
				{ID: "transferring dockerfile:", Vertex: load, Current: 1234, Started: at(1), Completed: at(30)},
			},
		},
		{Vertexes: []*controlapi.Vertex{{Digest: cp, Name: "[2/3] COPY app /app", Started: at(60)}}},
		// A repeated update of a running step writes nothing.
		{Vertexes: []*controlapi.Vertex{{Digest: cp, Name: "[2/3] COPY app /app", Started: at(60)}}},
		{
			Vertexes: []*controlapi.Vertex{{Digest: run, Name: `[3/3] RUN ["/app", "selftest"]`, Started: at(200)}},
			Logs: []*controlapi.VertexLog{
				{Vertex: run, Stream: 1, Msg: []byte("hello\nwor")},
			},
		},
		{
			// Output and completion of two steps in one update: the output
			// comes before DONE.
			Vertexes: []*controlapi.Vertex{{Digest: cp, Name: "[2/3] COPY app /app", Started: at(60), Completed: at(1260)}},
			Logs: []*controlapi.VertexLog{
				{Vertex: run, Stream: 1, Msg: []byte("ld\ntoken=hunter2-secret\n")},
				{Vertex: run, Stream: 2, Msg: []byte("partial line")},
			},
			Warnings: []*controlapi.VertexWarning{{Vertex: run, Short: []byte("something to know\n")}},
		},
		{Vertexes: []*controlapi.Vertex{{
			Digest: run, Name: `[3/3] RUN ["/app", "selftest"]`, Started: at(200), Completed: at(2500),
			Error: `process "/app selftest hunter2-secret" did not complete successfully: exit code: 1`,
		}}},
	}
	var stream strings.Builder
	for _, sr := range updates {
		stream.WriteString(traceMessage(t, sr))
	}
	stream.WriteString(`{"errorDetail":{"message":"process \"/app selftest hunter2-secret\" did not complete successfully: exit code: 1"},"error":"process \"/app selftest hunter2-secret\" did not complete successfully: exit code: 1"}` + "\n")

	var log strings.Builder
	lw := newLogWriter(&log, secretValues(map[string]string{"TOKEN": "hunter2-secret"}))
	id, err := decodeBuild(strings.NewReader(stream.String()), lw)
	if id != "" {
		t.Errorf("image ID = %q, want none", id)
	}
	var be *BuildError
	if !errors.As(err, &be) || !errors.Is(err, ErrBuildFailed) {
		t.Fatalf("error = %v, want a *BuildError", err)
	}
	if got, want := err.Error(), `process "/app selftest ***" did not complete successfully: exit code: 1`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	golden(t, "buildkit.golden", log.String())
	// Three instructions ended (FROM cached, COPY, RUN failed); the
	// internal load step and the never started one are no steps.
	if lw.steps != 3 || lw.cached != 1 {
		t.Errorf("steps, cached = %d, %d; want 3, 1", lw.steps, lw.cached)
	}
}

func TestDecodeBuild(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		wantID  string
		wantErr string
		wantLog string
	}{
		{
			name: "classic",
			stream: `{"stream":"Step 1/2 : FROM scratch\n"}
{"stream":" ---\u003e \n"}
{"stream":"Step 2/2 : RUN [\"/app\"]\n"}
{"stream":"half a "}
{"stream":"line with hunter2 in it\nand a last one"}
{"aux":{"ID":"` + testImageID + `"}}
{"stream":"Successfully built 0123456789ab\n"}
`,
			wantID: testImageID,
			wantLog: `Step 1/2 : FROM scratch
 ---> 
Step 2/2 : RUN ["/app"]
half a line with *** in it
and a last oneSuccessfully built 0123456789ab
`,
		},
		{
			name: "pull status changes only",
			stream: `{"status":"Pulling from library/alpine","id":"3.20"}
{"status":"Downloading","progressDetail":{"current":1,"total":9},"id":"abc"}
{"status":"Downloading","progressDetail":{"current":5,"total":9},"id":"abc"}
{"status":"Pull complete","progressDetail":{},"id":"abc"}
{"status":"Digest: sha256:feed"}
{"aux":{"ID":"` + testImageID + `"}}
`,
			wantID: testImageID,
			wantLog: `3.20: Pulling from library/alpine
abc: Downloading
abc: Pull complete
Digest: sha256:feed
`,
		},
		{
			name: "buildkit image id",
			stream: `{"id":"moby.image.id","aux":{"ID":"` + testImageID + `"}}
{"stream":"Successfully tagged x:y\n"}
`,
			wantID:  testImageID,
			wantLog: "Successfully tagged x:y\n",
		},
		{
			name: "engine error",
			stream: `{"stream":"Step 1/2 : FROM scratch\n"}
{"stream":"Step 2/2 : COPY missing /\n"}
{"errorDetail":{"message":"COPY failed: file not found: stat missing: hunter2"},"error":"COPY failed: file not found: stat missing: hunter2"}
`,
			wantErr: "COPY failed: file not found: stat missing: ***",
			wantLog: "Step 1/2 : FROM scratch\nStep 2/2 : COPY missing /\n",
		},
		{
			name:    "no image id",
			stream:  `{"stream":"Step 1/1 : FROM scratch\n"}` + "\n",
			wantErr: "the engine's output ended without an image ID",
			wantLog: "Step 1/1 : FROM scratch\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			lw := newLogWriter(&log, secretValues(map[string]string{"PASSWORD": "hunter2"}))
			id, err := decodeBuild(strings.NewReader(tt.stream), lw)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrBuildFailed) {
					t.Errorf("error = %v, want %q matching ErrBuildFailed", err, tt.wantErr)
				}
			} else if err != nil {
				t.Errorf("error = %v", err)
			}
			if id != tt.wantID {
				t.Errorf("image ID = %q, want %q", id, tt.wantID)
			}
			if diff := cmp.Diff(tt.wantLog, log.String()); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
		})
	}
}

// errWriter fails every write.
type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestDecodeBuildLogWriteError(t *testing.T) {
	stream := `{"stream":"Step 1/1 : FROM scratch\n"}` + "\n" + `{"aux":{"ID":"` + testImageID + `"}}` + "\n"
	_, err := decodeBuild(strings.NewReader(stream), newLogWriter(errWriter{}, nil))
	if err == nil || !strings.Contains(err.Error(), "disk full") || errors.Is(err, ErrBuildFailed) {
		t.Errorf("error = %v, want the write error, not ErrBuildFailed", err)
	}
}

func TestRedaction(t *testing.T) {
	secrets := secretValues(map[string]string{
		"SHORT":     "abc",
		"LONG":      "abcdef",
		"MULTILINE": "line-one\nline-two\n",
		"EMPTY":     "",
		"BLANK":     "  ",
	})
	if diff := cmp.Diff([]string{"line-one\nline-two\n", "line-one", "line-two", "abcdef", "abc"}, secrets); diff != "" {
		t.Errorf("secretValues (-want +got):\n%s", diff)
	}
	tests := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"longest first", []string{"x abcdef abc y\n"}, "x *** *** y\n"},
		{"across chunks", []string{"x ab", "cd", "ef y\n"}, "x *** y\n"},
		{"multi-line value", []string{"line-one\n", "line-two\n"}, "***\n***\n"},
		{"crlf", []string{"abc\r\n"}, "***\n"},
		{"no secret", []string{"plain  text\n"}, "plain  text\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			s := &lineSplitter{lw: newLogWriter(&log, secrets)}
			for _, c := range tt.chunks {
				if _, err := s.Write([]byte(c)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.flush(); err != nil {
				t.Fatal(err)
			}
			if got := log.String(); got != tt.want {
				t.Errorf("log = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLongLineKeepsSecretWhole(t *testing.T) {
	const secret = "s3cr3t-value"
	var log strings.Builder
	s := &lineSplitter{lw: newLogWriter(&log, secretValues(map[string]string{"T": secret})), prefix: "#1 "}
	// The secret straddles the point where the over-long line is cut.
	first := strings.Repeat("x", maxLine-4) + secret[:6]
	for _, c := range []string{first, secret[6:] + " end\n"} {
		if _, err := s.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	got := log.String()
	if strings.Contains(strings.ReplaceAll(got, "\n#1 ", ""), secret) {
		t.Errorf("the secret survived the cut of a long line")
	}
	if !strings.HasSuffix(got, "*** end\n") {
		t.Errorf("log ends %q, want the redacted secret and the end", got[max(len(got)-40, 0):])
	}
	if n := strings.Count(got, "\n"); n != 2 {
		t.Errorf("log has %d lines, want 2", n)
	}
}
