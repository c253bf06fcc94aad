// Package client talks to a running `slipway serve` over its HTTP API
// (/api/v1): the client commands of the slipway CLI use it.
//
// Errors say what to do: a server that cannot be reached names its URL and
// --server/$SLIPWAY_SERVER, a refused token names --token-file/$SLIPWAY_TOKEN,
// and any other refusal carries the server's own message. The token never
// appears in an error.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/redact"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// ErrNoServer is returned by New when no server URL is given.
var ErrNoServer = errors.New("no slipway server given: set --server or $SLIPWAY_SERVER to its URL, such as http://slipway:8080")

// ErrUnauthorized is wrapped by the error of a request the server refused
// for want of a valid token (401).
var ErrUnauthorized = errors.New("unauthorized")

// ErrNotFound is wrapped by the error of a request for a build, project or
// schedule the server does not know (404).
var ErrNotFound = errors.New("not found")

// ErrUnreachable is wrapped by the error of a request that got no answer.
var ErrUnreachable = errors.New("server unreachable")

// Client is a slipway API client. Its methods may be called concurrently.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client of the server at serverURL ("http://host:8080";
// "host:8080" means http) sending token, when not empty, as a Bearer
// token. Requests other than followed logs time out after a minute.
func New(serverURL, token string) (*Client, error) {
	if serverURL == "" {
		return nil, ErrNoServer
	}
	if !strings.Contains(serverURL, "://") {
		serverURL = "http://" + serverURL
	}
	u, err := url.Parse(serverURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("server %q: want an http:// or https:// URL, such as http://slipway:8080", redact.URL(serverURL))
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{base: u, token: strings.TrimSpace(token), http: &http.Client{}}, nil
}

// Token is the API token to send: the content of file (--token-file; one
// line, blanks trimmed) when file is set, else env ($SLIPWAY_TOKEN). An
// unreadable or empty file is an error that names it, never its content.
func Token(file, env string) (string, error) {
	if file == "" {
		return strings.TrimSpace(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("--token-file %s is empty: put one token of the server's api_tokens_file in it", file)
	}
	return token, nil
}

// Server is the server's URL, without credentials.
func (c *Client) Server() string { return redact.URL(c.base.String()) }

// Filter selects builds: every field is optional.
type Filter struct {
	Project string
	Status  string
	// Limit is the most builds listed (the server's default: 50).
	Limit int
}

// Builds lists builds, newest first (GET /api/v1/builds).
func (c *Client) Builds(ctx context.Context, f Filter) ([]store.Build, error) {
	q := url.Values{}
	if f.Project != "" {
		q.Set("project", f.Project)
	}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	path := "/api/v1/builds"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []store.Build
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Build is one build's result (GET /api/v1/builds/{id}).
func (c *Client) Build(ctx context.Context, id int64) (store.Build, error) {
	var b store.Build
	return b, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/builds/%d", id), nil, &b)
}

// Start queues a build of project at ref ("" = its default branch) and
// returns it, status queued (POST /api/v1/projects/{name}/builds).
func (c *Client) Start(ctx context.Context, project, ref string) (store.Build, error) {
	var b store.Build
	body := map[string]string{}
	if ref != "" {
		body["ref"] = ref
	}
	return b, c.do(ctx, http.MethodPost, "/api/v1/projects/"+url.PathEscape(project)+"/builds", body, &b)
}

// RunSchedule queues project's schedule release now, as at its time
// (POST /api/v1/projects/{name}/schedules/{schedule}/run).
func (c *Client) RunSchedule(ctx context.Context, project, schedule string) (store.Build, error) {
	var b store.Build
	return b, c.do(ctx, http.MethodPost, "/api/v1/projects/"+url.PathEscape(project)+"/schedules/"+url.PathEscape(schedule)+"/run", nil, &b)
}

// Cancel asks the server to cancel a queued or running build (POST
// /api/v1/builds/{id}/cancel); it returns once the request is accepted.
func (c *Client) Cancel(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/builds/%d/cancel", id), nil, nil)
}

// Deployments is what runs on each service of the deploy bindings (GET
// /api/v1/deployments).
func (c *Client) Deployments(ctx context.Context) ([]pipeline.ServiceState, error) {
	var out []pipeline.ServiceState
	return out, c.do(ctx, http.MethodGet, "/api/v1/deployments", nil, &out)
}

// Log copies build id's log to w; with follow it streams until the build
// has ended and its whole log was sent, or ctx ends.
func (c *Client) Log(ctx context.Context, id int64, follow bool, w io.Writer) error {
	path := fmt.Sprintf("/api/v1/builds/%d/log", id)
	if follow {
		path += "?follow=1"
	}
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read the log of build %d from %s: %w", id, c.Server(), err)
	}
	return nil
}

// do sends a request with body as JSON and decodes a 2xx answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		in = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: the answer of %s is not slipway's JSON: %w", method, path, c.Server(), err)
	}
	return nil
}

// send sends a request and returns a 2xx answer, or an error that says
// what to do.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach slipway at %s (is it running? set --server or $SLIPWAY_SERVER to its URL): %w: %w",
			c.Server(), ErrUnreachable, redact.Error(err, c.token))
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	msg := serverMessage(resp)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if c.token == "" {
			return nil, fmt.Errorf("%s needs an API token (%s): set --token-file to a file holding one of its api_tokens_file, or $SLIPWAY_TOKEN: %w", c.Server(), msg, ErrUnauthorized)
		}
		return nil, fmt.Errorf("%s refused the API token (%s): set --token-file or $SLIPWAY_TOKEN to a token of its api_tokens_file: %w", c.Server(), msg, ErrUnauthorized)
	case http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w", msg, ErrNotFound)
	default:
		return nil, fmt.Errorf("%s answered %d: %s", c.Server(), resp.StatusCode, msg)
	}
}

// serverMessage is the "error" of slipway's JSON error answer, or the
// start of whatever else the server sent.
func serverMessage(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		return s
	}
	return resp.Status
}
