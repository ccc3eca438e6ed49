package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"

	"doorbell/acme/acmetest"
	"doorbell/config"
	"doorbell/internal/testkit"
)

func manager(e *acmetest.Env, t *testing.T, dataDir string, key *ecdsa.PrivateKey) *Manager {
	t.Helper()
	p, err := NewProvider("httpreq", e.Creds)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Domain: "doorbell.example.org", Provider: p, Resolvers: []string{e.Resolver}, Key: key,
		DataDir: dataDir, Directory: e.Directory, HTTPClient: e.Client, RetryAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAgainstPebble(t *testing.T) {
	e := acmetest.New(t)
	dataDir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	m := manager(e, t, dataDir, key)
	if m.Certificate() != nil || m.Status().State != "obtaining" {
		t.Fatalf("before: %+v", m.Status())
	}

	// First issuance, through Run.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	testkit.EventuallyNil(t, 60*time.Second, "a certificate", func() error {
		if m.Certificate() == nil {
			return fmt.Errorf("status %+v", m.Status())
		}
		return nil
	})
	cancel()
	<-done
	first := m.Certificate()
	if err := first.Leaf.VerifyHostname("doorbell.example.org"); err != nil {
		t.Error(err)
	}
	if !key.PublicKey.Equal(first.Leaf.PublicKey) {
		t.Error("the certificate is not for the device's key: pins would break")
	}
	if len(first.Certificate) < 2 {
		t.Error("the chain lacks the intermediate")
	}
	if st := m.Status(); st.State != "valid" || st.Error != "" || !st.NotAfter.Equal(first.Leaf.NotAfter) || !st.RenewAt.Before(st.NotAfter) {
		t.Errorf("status %+v", st)
	}
	if fi, err := os.Stat(filepath.Join(dataDir, AccountKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("account key: %v", err)
	}

	// Renewal: a new certificate, served and stored.
	if err := m.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := m.Certificate()
	if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Error("renewal served the same certificate")
	}
	restarted := manager(e, t, dataDir, key)
	if c := restarted.Certificate(); c == nil || c.Leaf.SerialNumber.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Error("after a restart, the renewed certificate is not the one loaded")
	}

	// A refused challenge: a clear error, the old certificate kept, and
	// the failure in the status long before expiry.
	e.Refuse.Store(true)
	err := m.Renew(context.Background())
	e.Refuse.Store(false)
	if err == nil || !strings.Contains(err.Error(), "did not find the challenge record") || !strings.Contains(err.Error(), "old certificate is kept") {
		t.Errorf("refused challenge: %v", err)
	}
	if m.Certificate() != second {
		t.Error("a refused renewal dropped the certificate")
	}
	st := m.Status()
	if st.State != "renewal_failing" || st.Error == "" || !st.NextAttempt.After(st.LastAttempt) {
		t.Errorf("status after a refusal: %+v", st)
	}
	t.Logf("refused: %v", err)

	// Rate limited: the CA's Retry-After decides the next attempt.
	e.Limited.Store(true)
	err = m.Renew(context.Background())
	e.Limited.Store(false)
	var rl *legoacme.RateLimitedError
	if !errors.As(err, &rl) || !strings.Contains(err.Error(), "rate limited") || m.Certificate() != second {
		t.Errorf("rate limited: %v", err)
	}
	if st := m.Status(); st.NextAttempt.Sub(st.LastAttempt) < 2*time.Hour-time.Second {
		t.Errorf("after a rate limit of 2 h, the next attempt is at %s (last %s)", st.NextAttempt, st.LastAttempt)
	}
	t.Logf("rate limited: %v", err)

	// And it recovers.
	if err := m.Renew(context.Background()); err != nil || m.Status().State != "valid" {
		t.Errorf("after the failures: %v %+v", err, m.Status())
	}
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dns.env")
	_ = os.WriteFile(path, []byte("# Cloudflare\nCF_DNS_API_TOKEN = \"s3cret\"\n"), 0o644)
	if _, err := ReadCredentials(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a file others can read: %v", err)
	}
	_ = os.Chmod(path, 0o600)
	creds, err := ReadCredentials(path)
	if err != nil || creds["CF_DNS_API_TOKEN"] != "s3cret" {
		t.Fatalf("%v %v", err, creds)
	}
	if _, err := NewProvider("cloudflare", creds); err != nil {
		t.Error(err)
	}
	for name, c := range map[string]map[string]string{
		"unknown":    {"X": "s3cret"},
		"cloudflare": {"CF_API_KEY": "s3cret"},
		"httpreq":    {"HTTPREQ_ENDPOINT": "ftp://s3cret"},
	} {
		_, err := NewProvider(name, c)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", name, err)
		}
	}
	_ = os.WriteFile(path, []byte("no equals sign s3cret\n"), 0o600)
	if _, err := ReadCredentials(path); err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad line: %v", err)
	}
}

func TestProvidersMatchTheConfig(t *testing.T) {
	for _, name := range config.ACMEProviders {
		if _, ok := Providers[name]; !ok {
			t.Errorf("config accepts provider %q, which acme does not know", name)
		}
	}
	if len(Providers) != len(config.ACMEProviders) {
		t.Errorf("acme knows %d providers, config accepts %d", len(Providers), len(config.ACMEProviders))
	}
}
