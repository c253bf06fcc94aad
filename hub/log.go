package hub

import (
	"bytes"
	"io"
	"strings"
	"sync"

	"github.com/slipwayci/slipway/internal/redact"
)

// maxLine is the longest partial line held back waiting for its newline;
// longer output is written in pieces.
const maxLine = 64 << 10

// secretValues returns the values to redact (see redact.Values).
func secretValues(secrets map[string]string) []string { return redact.Values(secrets) }

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
	return &prefixWriter{w: w, prefix: prefix, rep: redact.Replacer(secrets)}
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
