package daemon

import (
	"crypto"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"doorbell/acme/acmetest"
	"doorbell/internal/testkit"
	"doorbell/tlscert"
)

// With [http.acme], the daemon obtains a certificate for the owner's
// domain through Pebble, for its own TLS key, and serves it; /api/tls says so.
func TestACMEInTheDaemon(t *testing.T) {
	e := acmetest.New(t)
	acmeHTTPClient = e.Client
	t.Cleanup(func() { acmeHTTPClient = nil })
	creds := filepath.Join(t.TempDir(), "dns.env")
	if err := os.WriteFile(creds, []byte("HTTPREQ_ENDPOINT="+e.Creds["HTTPREQ_ENDPOINT"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := bellConfig()
	cfg.HTTP.ACME.Enabled = true
	cfg.HTTP.ACME.Domain, cfg.HTTP.ACME.Provider, cfg.HTTP.ACME.CredentialsFile = "doorbell.example.org", "httpreq", creds
	cfg.HTTP.ACME.Directory, cfg.HTTP.ACME.Resolvers = e.Directory, []string{e.Resolver}
	var d *Daemon
	d, addr, _ := started(t, cfg)

	testkit.Eventually(t, 60*time.Second, "an ACME certificate", func() bool { return getTrust(t, addr).Mode == tlscert.ModeACME })
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "doorbell.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if err := leaf.VerifyHostname("doorbell.example.org"); err != nil {
		t.Error(err)
	}
	if !d.parts.tls.Key().Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
		t.Error("the ACME certificate is not for the device's key: pins would break")
	}
}
