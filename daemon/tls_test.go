package daemon

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"doorbell/config"
	"doorbell/tlscert"
)

// servedFingerprint connects to addr and returns the fingerprint of the
// certificate it presents.
func servedFingerprint(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return tlscert.Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw)
}

// The self-signed certificate is made once and kept: a phone that trusted
// it keeps trusting the doorbell after a restart, and doorbell device id
// prints the fingerprint the browser shows.
func TestSelfSignedCertificateIsKeptAcrossRestarts(t *testing.T) {
	data := t.TempDir()
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height = 320, 240
	useData := inDir(data)

	_, addr, stop := started(t, cfg, useData)
	first := servedFingerprint(t, addr)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, addr, stop = started(t, cfg, useData)
	defer stop()
	if again := servedFingerprint(t, addr); again != first {
		t.Errorf("the certificate changed across a restart: %s, then %s", first, again)
	}
	if want, err := tlscert.ReadFingerprint(data, ""); err != nil || want != first {
		t.Errorf("doorbell device id would print %s (%v); the daemon serves %s", want, err, first)
	}
}

// An owner's certificate that cannot be used stops the start with an
// error naming the setting, rather than falling back to another one.
func TestOwnersCertificateProblemsStopTheStart(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"missing files", filepath.Join(dir, "none.crt"), filepath.Join(dir, "none.key"), "none.crt"},
		{"garbage", garbage, garbage, "garbage.pem"},
		{"only the cert", garbage, "", "set both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.HTTP.Listen = "127.0.0.1:0"
			cfg.HTTP.CertFile, cfg.HTTP.KeyFile = tc.cert, tc.key
			d := New(Options{Config: cfg, DataDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			err := d.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
