package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"doorbell/acme"
	"doorbell/config"
	"doorbell/tlscert"
)

// acmeHTTPClient talks to the ACME CA; nil: the system's roots. Tests
// point it at Pebble.
var acmeHTTPClient *http.Client

// acmePart, when [http.acme] enabled = true, obtains and renews a
// certificate for the owner's domain, for the device's own TLS key, and has
// the server prefer it. Failures keep the old certificate and show in
// /healthz ("acme", "tls") and /api/tls long before it expires.
type acmePart struct {
	m *acme.Manager // nil: off
}

// newACME checks the [http.acme] section and its credentials; configFile
// names the config in errors.
func newACME(c config.ACME, configFile, dataDir string, srv *tlscert.Server, log *slog.Logger) (*acmePart, error) {
	if !c.Enabled {
		return &acmePart{}, nil
	}
	creds, err := acme.ReadCredentials(c.CredentialsFile)
	if err != nil {
		return nil, err
	}
	provider, err := acme.NewProvider(c.Provider, creds)
	if err != nil {
		return nil, fmt.Errorf("%w (http.acme in %s)", err, configFile)
	}
	key := srv.Key()
	if key == nil {
		return nil, fmt.Errorf("http.acme needs the device's own TLS key, but http.cert_file is set; use one or the other (%s)", configFile)
	}
	m, err := acme.New(acme.Options{
		Domain: c.Domain, Email: c.Email, Directory: c.Directory, Provider: provider, Resolvers: c.Resolvers,
		Key: key, DataDir: dataDir, HTTPClient: acmeHTTPClient,
		RenewBefore: time.Duration(c.RenewBeforeDays * float64(24*time.Hour)),
		Log:         log.With("part", "acme"),
	})
	if err != nil {
		return nil, err
	}
	srv.SetACME(m)
	return &acmePart{m: m}, nil
}

func (p *acmePart) start(ctx context.Context, h *host) error {
	if p.m == nil {
		h.AddHealth("acme", func() any { return acme.Status{State: "off"} })
		return nil
	}
	h.AddHealth("acme", func() any { return p.m.Status() })
	h.goBackground(func() { p.m.Run(ctx) })
	return nil
}
