package hub

import (
	"bytes"
	"io"
	"sort"
	"strings"
	"sync"
)

// redacted replaces a secret value in a log.
const redacted = "***"

// maxLine is the longest partial line held back waiting for its newline;
// longer output is written in pieces.
const maxLine = 64 << 10

// secretValues returns the values to redact, longest first so that a
// secret containing another is replaced whole; a multi-line value also
// gives each of its lines, as logs are redacted line by line.
func secretValues(secrets map[string]string) []string {
	seen := make(map[string]bool)
	var out []string
	add := func(s string) {
		if strings.TrimSpace(s) != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, v := range secrets {
		add(v)
		for _, l := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
			add(l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// syncWriter serialises writes of several goroutines to one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// prefixWriter writes whole lines, each prefixed and redacted, to w with
// one Write per line. It is used by one goroutine; several may share w
// when w is a syncWriter. The first write error sticks.
type prefixWriter struct {
	w      io.Writer
	prefix string
	rep    *strings.Replacer // nil without secrets
	buf    []byte
	err    error
}

func newPrefixWriter(w io.Writer, prefix string, secrets []string) *prefixWriter {
	pw := &prefixWriter{w: w, prefix: prefix}
	if len(secrets) > 0 {
		pairs := make([]string, 0, 2*len(secrets))
		for _, s := range secrets {
			pairs = append(pairs, s, redacted)
		}
		pw.rep = strings.NewReplacer(pairs...)
	}
	return pw
}

// Write takes any bytes; complete lines are written at once.
func (p *prefixWriter) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.buf = append(p.buf, b...)
			for len(p.buf) >= maxLine {
				p.line(p.buf[:maxLine])
				p.buf = append(p.buf[:0], p.buf[maxLine:]...)
			}
			break
		}
		p.buf = append(p.buf, b[:i]...)
		p.line(p.buf)
		p.buf = p.buf[:0]
		b = b[i+1:]
	}
	if p.err != nil {
		return 0, p.err
	}
	return n, nil
}

// flush writes a last line without a newline.
func (p *prefixWriter) flush() error {
	if len(p.buf) > 0 {
		p.line(p.buf)
		p.buf = p.buf[:0]
	}
	return p.err
}

func (p *prefixWriter) line(l []byte) {
	if p.err != nil {
		return
	}
	s := strings.TrimSuffix(string(l), "\r")
	if p.rep != nil {
		s = p.rep.Replace(s)
	}
	_, p.err = io.WriteString(p.w, p.prefix+s+"\n")
}
