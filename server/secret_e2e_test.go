package server_test

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/server"
)

// TestServeWithoutWebhookSecret checks that the webhook secret is needed
// only when a project is built on GitHub's deliveries.
func TestServeWithoutWebhookSecret(t *testing.T) {
	t.Run("no project on GitHub: serves, /hooks/github is 404 with the reason", func(t *testing.T) {
		w := newWorld(t, setup{})
		c := serve(t, w, func(cfg *config.Config) {
			cfg.GitHub.WebhookSecret = ""
			for i := range cfg.Projects {
				cfg.Projects[i].GitHub = ""
			}
		})
		code, a := c.deliver(delivery{"push", "no-secret", pushOf(t, w.Head), "sign"})
		if code != http.StatusNotFound {
			t.Errorf("POST /hooks/github = %d %+v, want 404", code, a)
		}
		for _, want := range []string{"GitHub webhooks are off", "github.webhook_secret"} {
			if !strings.Contains(a.Error, want) {
				t.Errorf("404 reason %q does not say %q", a.Error, want)
			}
		}
		if bs := c.builds(); len(bs) != 0 {
			t.Errorf("builds after a delivery to a server without webhooks = %d, want none", len(bs))
		}
	})

	t.Run("a project on GitHub: serve refuses to start", func(t *testing.T) {
		w := helloWorldWorld(t, setup{})
		cfg, err := config.Load(w.ConfigPath())
		if err != nil {
			t.Fatal(err)
		}
		cfg.GitHub.WebhookSecret = ""
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		err = server.Run(t.Context(), cfg, zerolog.Nop(), server.Options{Listener: ln})
		if !errors.Is(err, config.ErrNoWebhookSecret) {
			t.Fatalf("server.Run = %v, want ErrNoWebhookSecret", err)
		}
		if !strings.Contains(err.Error(), helloWorld) {
			t.Errorf("error %q does not name the project's github: %s", err, helloWorld)
		}
	})
}
