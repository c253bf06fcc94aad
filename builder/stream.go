package builder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/slipwayci/slipway/internal/redact"
)

// maxLine is the longest partial line held back waiting for its newline;
// longer output (a progress bar without newlines) is written in pieces.
const maxLine = 64 << 10

// secretValues returns the values to redact (see redact.Values) of the
// given maps of secrets.
func secretValues(sets ...map[string]string) []string {
	all := map[string]string{}
	i := 0
	for _, set := range sets {
		for _, v := range set {
			// Keyed by position: two sets may share a name.
			all[strconv.Itoa(i)] = v
			i++
		}
	}
	return redact.Values(all)
}

// logWriter writes whole, redacted lines to the build log. The first write
// error sticks: every later line returns it.
type logWriter struct {
	w         io.Writer
	rep       *strings.Replacer // nil without secrets
	maxSecret int
	err       error
	// steps and cached count the Dockerfile steps of a BuildKit build
	// that ended, and those of them taken from the cache.
	steps, cached int
}

func newLogWriter(w io.Writer, secrets []string) *logWriter {
	lw := &logWriter{w: w, rep: redact.Replacer(secrets)}
	for _, s := range secrets {
		lw.maxSecret = max(lw.maxSecret, len(s))
	}
	return lw
}

// redact replaces every secret value in s.
func (l *logWriter) redact(s string) string {
	if l.rep == nil {
		return s
	}
	return l.rep.Replace(s)
}

// line writes s, which holds no newline, as one line in a single Write.
func (l *logWriter) line(s string) error {
	if l.err != nil {
		return l.err
	}
	if _, err := io.WriteString(l.w, l.redact(s)+"\n"); err != nil {
		l.err = fmt.Errorf("write build log: %w", err)
	}
	return l.err
}

// lineSplitter turns a stream of text chunks into lines for a logWriter,
// holding back a partial line until its newline arrives. prefix starts each
// line.
type lineSplitter struct {
	lw     *logWriter
	prefix string
	buf    []byte
}

func (s *lineSplitter) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSuffix(string(s.buf[:i]), "\r")
		s.buf = s.buf[i+1:]
		if err := s.lw.line(s.prefix + line); err != nil {
			return 0, err
		}
	}
	if len(s.buf) > maxLine {
		if err := s.cut(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// cut writes most of an over-long partial line. Secrets are redacted
// before the cut and the tail that could begin a secret stays behind, so no
// secret is split across two lines unredacted.
func (s *lineSplitter) cut() error {
	r := s.lw.redact(string(s.buf))
	at := len(r) - max(s.lw.maxSecret-1, 0)
	for at > 0 && at < len(r) && !utf8.RuneStart(r[at]) {
		at--
	}
	if at <= 0 {
		return nil
	}
	s.buf = append(s.buf[:0], r[at:]...)
	return s.lw.line(s.prefix + r[:at])
}

// flush writes a pending partial line.
func (s *lineSplitter) flush() error {
	if len(s.buf) == 0 {
		return s.lw.err
	}
	line := strings.TrimSuffix(string(s.buf), "\r")
	s.buf = s.buf[:0]
	return s.lw.line(s.prefix + line)
}

// Aux message IDs of a BuildKit build's JSON stream.
const (
	auxTrace   = "moby.buildkit.trace"
	auxImageID = "moby.image.id"
)

// decodeBuild reads the engine's JSON message stream of a build (classic or
// BuildKit), writes the readable log to lw and returns the image ID.
func decodeBuild(r io.Reader, lw *logWriter) (string, error) {
	dec := json.NewDecoder(r)
	stream := &lineSplitter{lw: lw}
	trace := newTraceDecoder(lw)
	lastStatus := make(map[string]string)
	flush := func() error {
		if err := stream.flush(); err != nil {
			return err
		}
		return trace.flush()
	}
	var id string
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", fmt.Errorf("read engine output: %w", err)
		}
		if m.Error != nil || m.ErrorMessage != "" {
			msg := m.ErrorMessage
			if m.Error != nil && m.Error.Message != "" {
				msg = m.Error.Message
			}
			if err := flush(); err != nil {
				return "", err
			}
			return "", &BuildError{Message: lw.redact(msg)}
		}
		var err error
		switch {
		case m.Aux != nil && m.ID == auxTrace:
			err = trace.decode(*m.Aux)
		case m.Aux != nil && (m.ID == "" || m.ID == auxImageID):
			var res struct{ ID string }
			if json.Unmarshal(*m.Aux, &res) == nil && strings.HasPrefix(res.ID, "sha256:") {
				id = res.ID
			}
		case m.Stream != "":
			_, err = io.WriteString(stream, m.Stream)
		case m.Status != "":
			// Pull progress repeats a status per layer many times a second;
			// a status is worth a line only when it changes.
			if lastStatus[m.ID] != m.Status {
				lastStatus[m.ID] = m.Status
				line := m.Status
				if m.ID != "" {
					line = m.ID + ": " + m.Status
				}
				if err = stream.flush(); err == nil {
					err = lw.line(line)
				}
			}
		}
		if err != nil {
			return "", err
		}
	}
	if err := flush(); err != nil {
		return "", err
	}
	if id == "" {
		return "", &BuildError{Message: "the engine's output ended without an image ID"}
	}
	return id, nil
}
