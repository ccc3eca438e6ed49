package daemon

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"doorbell/acme"
)

// acmeHTTPClient talks to the ACME CA; nil: the system's roots. Tests
// point it at Pebble.
var acmeHTTPClient *http.Client

// startACME, when [http.acme] enabled = true, obtains and renews a
// certificate for the owner's domain, for the device's own TLS key, and
// has the server prefer it. Failures keep the old certificate and show in
// /healthz ("acme", "tls") and /api/tls long before it expires.
func (d *Daemon) startACME(ctx context.Context) error {
	c := d.Cfg.HTTP.ACME
	if !c.Enabled {
		d.AddHealth("acme", func() any { return acme.Status{State: "off"} })
		return nil
	}
	creds, err := acme.ReadCredentials(c.CredentialsFile)
	if err != nil {
		return err
	}
	provider, err := acme.NewProvider(c.Provider, creds)
	if err != nil {
		return fmt.Errorf("%w (http.acme in %s)", err, d.Cfg.File)
	}
	key := d.trust.Key()
	if key == nil {
		return fmt.Errorf("http.acme needs the device's own TLS key, but http.cert_file is set; use one or the other (%s)", d.Cfg.File)
	}
	m, err := acme.New(acme.Options{
		Domain: c.Domain, Email: c.Email, Directory: c.Directory, Provider: provider, Resolvers: c.Resolvers,
		Key: key, DataDir: d.DataDir, HTTPClient: acmeHTTPClient,
		RenewBefore: time.Duration(c.RenewBeforeDays * float64(24*time.Hour)),
		Log:         d.Log.With("part", "acme"),
	})
	if err != nil {
		return err
	}
	d.trust.SetACME(m)
	d.AddHealth("acme", func() any { return m.Status() })
	d.goBackground(func() { m.Run(ctx) })
	return nil
}
