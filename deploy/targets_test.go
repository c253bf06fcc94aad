package deploy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/testenv"
)

// TestTargets: a target's connection is made once (concurrent first Gets
// share it) and kept across reads, an engine's answer keeps it, a lost endpoint drops it
// and the next Get connects again once the endpoint is back; a target that
// refuses or does not answer is an UnreachableError saying what to check,
// within the caller's deadline, which its hosts share; Close ends it all.
func TestTargets(t *testing.T) {
	t.Parallel()
	cli := swarmtest.Manager(t)
	service := testenv.Name(t, "tgt")
	const image = "127.0.0.1:1/none:v1"
	swarmtest.CreateService(t, cli, swarmtest.Spec(service, image, 0, nil), "")
	proxy := swarmtest.NewProxy(t, cli, 0)
	silent := swarmtest.NewSilent(t).Host
	targets := deploy.NewTargets(map[string]config.DeployTarget{
		"up":     {Hosts: []string{proxy.Host}},
		"ha":     {Hosts: []string{silent, cli.DaemonHost()}},
		"down":   {Hosts: []string{"tcp://" + testenv.ClosedAddr(t)}, TLS: config.TLS{Insecure: true}},
		"silent": {Hosts: []string{silent}},
	})
	t.Cleanup(func() { targets.Close() })
	ctx := t.Context()

	running := func(target *deploy.Target) error {
		t.Helper()
		got, _, err := target.Running(ctx, service)
		if err == nil && got != image {
			t.Errorf("Running = %q, want %q", got, image)
		}
		return err
	}
	// Eight at once on the first use: one connection, shared.
	var wg sync.WaitGroup
	got := make([]*deploy.Target, 8)
	errs := make([]error, len(got))
	for i := range got {
		wg.Go(func() { got[i], errs[i] = targets.Get(ctx, "up") })
	}
	wg.Wait()
	first := got[0]
	for i := range got {
		if errs[i] != nil || got[i] != first {
			t.Fatalf("Get %d = %p, %v; want the one of the others, %p", i, got[i], errs[i], first)
		}
	}
	if err := running(first); err != nil {
		t.Fatal(err)
	}
	conns := proxy.Connections()
	if conns != 1 {
		t.Errorf("%d connections to the engine after the first read, want 1", conns)
	}

	t.Run("kept", func(t *testing.T) {
		for range 8 {
			target, err := targets.Get(ctx, "up")
			if err != nil || target != first {
				t.Fatalf("Get = %p, %v; want the kept %p", target, err, first)
			}
			if err := running(target); err != nil {
				t.Fatal(err)
			}
		}
		if n := proxy.Connections(); n != conns {
			t.Errorf("%d connections to the engine after 8 more reads, want still %d", n, conns)
		}
	})

	t.Run("an engine's answer keeps it", func(t *testing.T) {
		_, _, err := first.Running(ctx, "nonexistent-"+service)
		if err == nil || deploy.LostConnection(err) {
			t.Fatalf("Running of a missing service = %v, want the engine's not-found", err)
		}
		targets.Failed(first, err)
		if got, err := targets.Get(ctx, "up"); err != nil || got != first {
			t.Errorf("Get after a not-found = %p, %v; want the kept %p", got, err, first)
		}
	})

	t.Run("reconnected after the endpoint came back", func(t *testing.T) {
		proxy.Down()
		err := running(first)
		if !deploy.LostConnection(err) {
			t.Fatalf("Running with the endpoint down = %v, want a lost connection", err)
		}
		targets.Failed(first, err)
		if _, err := targets.Get(ctx, "up"); !errors.As(err, new(*deploy.UnreachableError)) {
			t.Errorf("Get with the endpoint down = %v, want UnreachableError", err)
		}
		proxy.Up()
		again, err := targets.Get(ctx, "up")
		if err != nil {
			t.Fatal(err)
		}
		if again == first {
			t.Error("Get returned the dropped connection")
		}
		if err := running(again); err != nil {
			t.Errorf("Running after reconnecting: %v", err)
		}
		if proxy.Connections() <= conns {
			t.Error("no new connection to the engine")
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		_, err := targets.Get(ctx, "down")
		var ue *deploy.UnreachableError
		if !errors.As(err, &ue) || ue.Target != "down" {
			t.Fatalf("Get of a closed port = %v, want UnreachableError of down", err)
		}
		for _, want := range []string{`deploy target "down" is unreachable`, "127.0.0.1", "check that a manager in deploy_targets.down.hosts is up"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})

	t.Run("silent until the deadline", func(t *testing.T) {
		dctx, cancel := context.WithTimeoutCause(ctx, time.Second, errors.New("no answer within 1s"))
		defer cancel()
		_, err := targets.Get(dctx, "silent")
		if !errors.As(err, new(*deploy.UnreachableError)) || !strings.Contains(err.Error(), `deploy target "silent" is unreachable (no answer within 1s)`) {
			t.Errorf("Get of a silent endpoint = %v, want unreachable, no answer within 1s", err)
		}
	})

	t.Run("a silent first host leaves time for the next", func(t *testing.T) {
		// 10s, under a host's own 15s: the silent host gets half, and
		// the engine's ping and info have the other 5s on a loaded
		// machine (the silent one alone would eat all of it).
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		target, err := targets.Get(dctx, "ha")
		if err != nil {
			t.Fatalf("Get of a target whose second host answers = %v", err)
		}
		if got := target.Host(); got != cli.DaemonHost() {
			t.Errorf("connected through %s, want the second host %s", got, cli.DaemonHost())
		}
	})

	t.Run("not configured", func(t *testing.T) {
		if _, err := targets.Get(ctx, "nowhere"); err == nil || !strings.Contains(err.Error(), "not in deploy_targets") {
			t.Errorf("Get of an unknown target = %v, want not in deploy_targets", err)
		}
	})

	t.Run("closed", func(t *testing.T) {
		if err := targets.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := targets.Get(ctx, "up"); !errors.Is(err, deploy.ErrClosed) {
			t.Errorf("Get after Close = %v, want ErrClosed", err)
		}
	})
}
