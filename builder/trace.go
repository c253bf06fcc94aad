package builder

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	units "github.com/docker/go-units"
	controlapi "github.com/moby/buildkit/api/services/control"
)

// instructionRe matches the vertices of Dockerfile instructions ("[2/3]
// COPY app /app", "[build 1/4] RUN …"), not BuildKit's internal steps.
var instructionRe = regexp.MustCompile(`^\[[^\]]*\d+/\d+\] `)

// traceDecoder turns BuildKit's progress (the "moby.buildkit.trace" aux
// messages of a BuildKit build, each a base64 protobuf StatusResponse) into
// lines in the manner of BuildKit's plain progress output:
//
//	#3 [2/3] COPY app /app
//	#3 DONE 0.1s
//	#4 [3/3] RUN ["/app", "selftest"]
//	#4 hello from the RUN step
//	#4 ERROR: process "/app selftest" did not complete successfully: exit code: 1
//
// Steps are numbered in the order they start. A step's header is written
// once, its transfers once when complete, its output line by line, and its
// outcome (DONE, CACHED or ERROR) once; repeated status updates write
// nothing.
type traceDecoder struct {
	lw       *logWriter
	next     int
	vertices map[string]*vertexState
}

type vertexState struct {
	index    int // 0 until the header is written
	name     string
	finished bool
	statuses map[string]bool // transfers already reported complete
	logs     *lineSplitter
}

func newTraceDecoder(lw *logWriter) *traceDecoder {
	return &traceDecoder{lw: lw, vertices: make(map[string]*vertexState)}
}

// decode applies one aux payload: a JSON string holding the base64 of a
// StatusResponse.
func (t *traceDecoder) decode(aux json.RawMessage) error {
	var raw []byte
	if err := json.Unmarshal(aux, &raw); err != nil {
		return fmt.Errorf("decode buildkit progress: %w", err)
	}
	var sr controlapi.StatusResponse
	if err := sr.UnmarshalVT(raw); err != nil {
		return fmt.Errorf("decode buildkit progress: %w", err)
	}
	return t.apply(&sr)
}

// apply writes what is new in sr. A step's outcome (DONE, CACHED, ERROR)
// follows the output and transfers that come with it in the same update.
func (t *traceDecoder) apply(sr *controlapi.StatusResponse) error {
	pending := make(map[string]bool)
	for _, s := range sr.Statuses {
		if s.Completed != nil && !t.vertex(s.Vertex).statuses[s.ID] {
			pending[s.Vertex] = true
		}
	}
	for _, l := range sr.Logs {
		pending[l.Vertex] = true
	}
	for _, w := range sr.Warnings {
		pending[w.Vertex] = true
	}
	for _, v := range sr.Vertexes {
		st := t.vertex(v.Digest)
		if v.Name != "" {
			st.name = v.Name
		}
		if v.Started != nil || v.Completed != nil || v.Cached || v.Error != "" {
			if err := t.header(st); err != nil {
				return err
			}
		}
		if !pending[v.Digest] {
			if err := t.finish(st, v); err != nil {
				return err
			}
		}
	}
	for _, s := range sr.Statuses {
		st := t.vertex(s.Vertex)
		if s.Completed == nil || st.statuses[s.ID] {
			continue
		}
		st.statuses[s.ID] = true
		line := s.ID
		if s.Current > 0 {
			line += " " + units.HumanSize(float64(s.Current))
		}
		if s.Total > 0 {
			line += " / " + units.HumanSize(float64(s.Total))
		}
		if err := t.stepLine(st, line+" done"); err != nil {
			return err
		}
	}
	for _, l := range sr.Logs {
		st := t.vertex(l.Vertex)
		if err := t.header(st); err != nil {
			return err
		}
		if _, err := st.logs.Write(l.Msg); err != nil {
			return err
		}
	}
	for _, w := range sr.Warnings {
		msg := strings.TrimSpace(string(w.Short))
		if err := t.stepLine(t.vertex(w.Vertex), "WARN: "+msg); err != nil {
			return err
		}
	}
	for _, v := range sr.Vertexes {
		if pending[v.Digest] {
			if err := t.finish(t.vertex(v.Digest), v); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish writes the step's outcome once it has one, after its last output.
func (t *traceDecoder) finish(st *vertexState, v *controlapi.Vertex) error {
	if st.finished {
		return nil
	}
	var outcome string
	switch {
	case v.Error != "":
		outcome = "ERROR: " + v.Error
	case v.Cached:
		outcome = "CACHED"
	case v.Completed != nil:
		d := 0.0
		if v.Started != nil {
			d = v.Completed.AsTime().Sub(v.Started.AsTime()).Seconds()
		}
		outcome = fmt.Sprintf("DONE %.1fs", d)
	default:
		return nil
	}
	st.finished = true
	if instructionRe.MatchString(st.name) {
		t.lw.steps++
		if v.Cached {
			t.lw.cached++
		}
	}
	if err := st.logs.flush(); err != nil {
		return err
	}
	return t.stepLine(st, outcome)
}

func (t *traceDecoder) vertex(digest string) *vertexState {
	st, ok := t.vertices[digest]
	if !ok {
		st = &vertexState{statuses: make(map[string]bool)}
		st.logs = &lineSplitter{lw: t.lw}
		t.vertices[digest] = st
	}
	return st
}

// header numbers the step and writes "#N name" the first time only.
func (t *traceDecoder) header(st *vertexState) error {
	if st.index != 0 {
		return nil
	}
	t.next++
	st.index = t.next
	st.logs.prefix = fmt.Sprintf("#%d ", st.index)
	return t.lw.line(strings.TrimSpace(fmt.Sprintf("#%d %s", st.index, st.name)))
}

func (t *traceDecoder) stepLine(st *vertexState, s string) error {
	if err := t.header(st); err != nil {
		return err
	}
	return t.lw.line(st.logs.prefix + s)
}

// flush writes the partial output lines left when the stream ends, in step
// order.
func (t *traceDecoder) flush() error {
	states := make([]*vertexState, 0, len(t.vertices))
	for _, st := range t.vertices {
		states = append(states, st)
	}
	sort.Slice(states, func(i, j int) bool { return states[i].index < states[j].index })
	for _, st := range states {
		if err := st.logs.flush(); err != nil {
			return err
		}
	}
	return nil
}
