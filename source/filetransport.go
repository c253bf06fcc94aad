package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// go-git's own file transport runs git-upload-pack with no way to stop it:
// when a fetch fails mid-pack (a full disk, a corrupt pack) go-git stops
// reading and closes the session, whose Close waits for git-upload-pack, which
// waits for someone to read the rest of the pack; a stalled upload-pack is
// only noticed by the reads, and killing it leaves its children holding the
// pipes. Either way the fetch never returns, whatever the context says.
//
// fileTransport replaces it for this package's fetches. It runs
// git-upload-pack in a process group of its own and kills the whole group
// when the fetch's context ends or the session is closed before the pack was
// read to its end, so every fetch returns. go-git has no per-call transport,
// only a process-wide registry, so fetches reach it under a scheme of their
// own (fileScheme) and other users of go-git's file:// are left alone.

// fileScheme is the scheme under which this package's file:// fetches reach
// fileTransport.
const fileScheme = "slipway-file"

// uploadPackGrace bounds how long Close waits for git-upload-pack to exit on
// its own after a complete exchange before it is killed.
const uploadPackGrace = 5 * time.Second

// maxStderr bounds what is kept of git-upload-pack's standard error.
const maxStderr = 4 << 10

var installFileTransport = sync.OnceFunc(func() {
	client.InstallProtocol(fileScheme, fileTransport{})
})

// transportURL returns the URL go-git should fetch raw from: file:// URLs and
// local paths go through fileTransport, anything else is returned as is.
func transportURL(raw string) string {
	ep, err := transport.NewEndpoint(raw)
	if err != nil || ep.Protocol != "file" {
		return raw
	}
	installFileTransport()
	return (&url.URL{Scheme: fileScheme, Path: ep.Path}).String()
}

// fileTransport is a go-git transport for local repositories that never
// leaves a git-upload-pack behind. Push is not supported.
type fileTransport struct{}

// NewUploadPackSession starts git-upload-pack on the repository at ep.Path.
func (fileTransport) NewUploadPackSession(ep *transport.Endpoint, _ transport.AuthMethod) (transport.UploadPackSession, error) {
	return startUploadPack(ep.Path)
}

// NewReceivePackSession refuses: this package never pushes.
func (fileTransport) NewReceivePackSession(*transport.Endpoint, transport.AuthMethod) (transport.ReceivePackSession, error) {
	return nil, errors.New("push over file:// is not supported")
}

// uploadPackSession is one git-upload-pack process and the v0 protocol
// exchange with it.
type uploadPackSession struct {
	cmd    *exec.Cmd
	stdin  *os.File
	stdout *os.File
	stderr *stderrTail
	exited chan struct{} // closed once the process has been waited for

	mu       sync.Mutex
	adv      *packp.AdvRefs
	packRun  bool // the request was sent: the process ends after the pack
	packDone bool // the pack was read to its end
	closed   bool
	stops    []func() bool // context watchers to disarm on Close
}

// uploadPackProgram finds git-upload-pack: on PATH, else in git's exec path.
func uploadPackProgram() (string, error) {
	if p, err := exec.LookPath(transport.UploadPackServiceName); err == nil {
		return p, nil
	}
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("git-upload-pack is not on PATH and `git --exec-path` failed (file:// repositories need git installed): %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), transport.UploadPackServiceName)
	if _, err := exec.LookPath(p); err != nil {
		return "", fmt.Errorf("git-upload-pack not found (file:// repositories need git installed): %w", err)
	}
	return p, nil
}

func startUploadPack(dir string) (*uploadPackSession, error) {
	prog, err := uploadPackProgram()
	if err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	s := &uploadPackSession{stdin: inW, stdout: outR, stderr: &stderrTail{}, exited: make(chan struct{})}
	s.cmd = exec.Command(prog, dir)
	// The exchange below is protocol v0: an inherited GIT_PROTOCOL must
	// not switch upload-pack to v2.
	s.cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GIT_PROTOCOL=") })
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = inR, outW, s.stderr
	// Its own process group, so a kill reaches pack-objects and any
	// other child holding the pipes.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The group is killed before Wait; WaitDelay only bounds the copy of
	// stderr should something outside the group still hold it.
	s.cmd.WaitDelay = time.Second
	err = s.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start git-upload-pack: %w", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// kill ends the whole process group, unless the process was already waited
// for (its group id may then belong to someone else).
func (s *uploadPackSession) kill() {
	select {
	case <-s.exited:
	default:
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// watch kills the process group when ctx ends: every read and write of the
// session then returns.
func (s *uploadPackSession) watch(ctx context.Context) {
	stop := context.AfterFunc(ctx, s.kill)
	s.mu.Lock()
	s.stops = append(s.stops, stop)
	s.mu.Unlock()
}

// AdvertisedReferences implements transport.Session.
func (s *uploadPackSession) AdvertisedReferences() (*packp.AdvRefs, error) {
	return s.AdvertisedReferencesContext(context.Background())
}

// AdvertisedReferencesContext reads the refs git-upload-pack advertises.
func (s *uploadPackSession) AdvertisedReferencesContext(ctx context.Context) (*packp.AdvRefs, error) {
	if s.adv != nil {
		return s.adv, nil
	}
	s.watch(ctx)
	ar := packp.NewAdvRefs()
	err := ar.Decode(s.stdout)
	switch {
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case errors.Is(err, packp.ErrEmptyAdvRefs):
		return nil, transport.ErrEmptyRemoteRepository
	case errors.Is(err, packp.ErrEmptyInput):
		// Nothing on stdout: git-upload-pack refused and said why on
		// stderr.
		s.waitExit()
		said := s.stderr.String()
		if strings.Contains(said, "does not appear to be a git repository") || strings.Contains(said, "not a git repository") {
			return nil, fmt.Errorf("%w: %s", transport.ErrRepositoryNotFound, said)
		}
		return nil, s.remoteFailed("no refs advertised")
	case err != nil:
		var errLine *pktline.ErrorLine
		if errors.As(err, &errLine) {
			return nil, &RemoteError{Said: errLine.Text}
		}
		return nil, s.remoteFailed(err.Error())
	}
	if ar.IsEmpty() {
		return nil, transport.ErrEmptyRemoteRepository
	}
	transport.FilterUnsupportedCapabilities(ar.Capabilities)
	s.adv = ar
	return ar, nil
}

// UploadPack sends the request and returns the response whose body is the
// pack. Closing the response closes the session.
func (s *uploadPackSession) UploadPack(ctx context.Context, req *packp.UploadPackRequest) (*packp.UploadPackResponse, error) {
	if req.IsEmpty() {
		return nil, transport.ErrEmptyUploadPackRequest
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.AdvertisedReferencesContext(ctx); err != nil {
		return nil, err
	}
	s.watch(ctx)
	s.mu.Lock()
	s.packRun = true
	s.mu.Unlock()
	if err := s.sendRequest(req); err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, s.remoteFailed(fmt.Sprintf("send request: %v", err))
	}
	res := packp.NewUploadPackResponse(req)
	if err := res.Decode(packReader{s}); err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		var errLine *pktline.ErrorLine
		if errors.As(err, &errLine) {
			return nil, &RemoteError{Said: errLine.Text}
		}
		return nil, s.remoteFailed(fmt.Sprintf("read the answer: %v", err))
	}
	return res, nil
}

func (s *uploadPackSession) sendRequest(req *packp.UploadPackRequest) error {
	w := bufio.NewWriter(s.stdin)
	if err := req.UploadRequest.Encode(w); err != nil {
		return err
	}
	if err := req.UploadHaves.Encode(w, true); err != nil {
		return err
	}
	if err := pktline.NewEncoder(w).Encodef("done\n"); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return s.stdin.Close()
}

// remoteFailed is the error of a git-upload-pack that broke off: what it
// said on stderr, else what went wrong reading it.
func (s *uploadPackSession) remoteFailed(what string) error {
	s.kill()
	s.waitExit()
	if said := s.stderr.String(); said != "" {
		return &RemoteError{Said: said}
	}
	return &RemoteError{Said: "git-upload-pack " + what}
}

// waitExit waits for the process, killing it if it does not end within
// uploadPackGrace.
func (s *uploadPackSession) waitExit() {
	select {
	case <-s.exited:
	case <-time.After(uploadPackGrace):
		s.kill()
		<-s.exited
	}
}

// Close ends the session: politely when the exchange is complete, else by
// killing git-upload-pack's process group. It never waits on the process
// for longer than uploadPackGrace and is safe to call more than once.
func (s *uploadPackSession) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	stops, packRun, packDone := s.stops, s.packRun, s.packDone
	s.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	switch {
	case !packRun && s.adv != nil:
		// No pack needed: a flush tells git-upload-pack to exit.
		_, _ = s.stdin.Write(pktline.FlushPkt)
	case packRun && !packDone:
		// Broken off mid-pack: nobody will read the rest.
		s.kill()
	case !packRun:
		s.kill()
	}
	_ = s.stdin.Close()
	s.waitExit()
	_ = s.stdout.Close()
	return nil
}

// packReader is the pack stream: it notes when the pack was read to its end
// and closes the session when closed.
type packReader struct{ s *uploadPackSession }

func (r packReader) Read(p []byte) (int, error) {
	n, err := r.s.stdout.Read(p)
	if err == io.EOF {
		r.s.mu.Lock()
		r.s.packDone = true
		r.s.mu.Unlock()
	}
	return n, err
}

func (r packReader) Close() error { return r.s.Close() }

// stderrTail keeps the first maxStderr bytes written to it.
type stderrTail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := maxStderr - len(t.buf); room > 0 {
		t.buf = append(t.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// String returns what was written, trimmed.
func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
