// Package acme obtains and renews the doorbell's certificate for the
// owner's own domain from an ACME CA (Let's Encrypt by default) with the
// DNS-01 challenge, through lego: no port is opened to the internet, and
// the certificate is for the device's own TLS key, so the pins of paired
// computers and phones still hold.
package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/go-acme/lego/v5/registration"

	"doorbell/internal/atomicfile"
	"doorbell/tlscert"
)

// Files in the data directory.
const (
	AccountKeyFile = "acme-account-key.pem"   // 0600: the ACME account's key
	CertFile       = tlscert.ACMECertFileName // the certificate chain; its key is the device's TLS key
)

// LetsEncrypt is the default CA directory.
const LetsEncrypt = lego.DirectoryURLLetsEncrypt

// Options configure a Manager.
type Options struct {
	Domain    string
	Email     string // optional: the CA writes about expiry problems
	Directory string // the CA's ACME directory URL; "": LetsEncrypt
	Provider  challenge.Provider
	// Resolvers, if set, are the DNS servers asked whether the challenge
	// record is visible before the CA is told to look.
	Resolvers []string
	// Key is the device's TLS key: the certificate is issued for it.
	Key     crypto.Signer
	DataDir string
	// HTTPClient talks to the CA; nil: one that trusts the system's roots.
	HTTPClient *http.Client
	// RenewBefore is how long before expiry renewal starts; 0: a third of
	// the certificate's lifetime (30 days for Let's Encrypt's 90).
	RenewBefore time.Duration
	// RetryAfter is the wait after a failed attempt, doubling to 24 h; 0: 1 h.
	RetryAfter time.Duration
	Log        *slog.Logger
	Now        func() time.Time // nil: time.Now
}

// Manager keeps a certificate for the domain. It implements tlscert.Source.
type Manager struct {
	o Options

	mu      sync.Mutex
	cert    *tls.Certificate
	status  Status
	wait    time.Duration // current retry wait
	retryAt time.Time
	kick    chan struct{}
}

// Status is the "acme" section of /healthz.
type Status struct {
	State       string    `json:"state"` // "off", "obtaining", "valid", "renewal_failing", "expired"
	Domain      string    `json:"domain,omitempty"`
	NotAfter    time.Time `json:"not_after,omitzero"`
	RenewAt     time.Time `json:"renew_at,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Error is the last failure, in words the owner can act on.
	Error string `json:"error,omitempty"`
}

// New loads the stored certificate, if any, and returns a Manager; Run
// obtains and renews.
func New(o Options) (*Manager, error) {
	if o.Domain == "" || o.Provider == nil || o.Key == nil {
		return nil, errors.New("acme: a domain, a DNS provider and the device's key are needed")
	}
	if o.Directory == "" {
		o.Directory = LetsEncrypt
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	// lego logs to standard output unless told; its lines go with ours.
	legolog.SetDefault(o.Log)
	if len(o.Resolvers) > 0 {
		// lego keeps its resolvers in one place for the process; a
		// doorbell has one domain.
		dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: o.Resolvers}))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = time.Hour
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}, TLSHandshakeTimeout: 30 * time.Second}}
	}
	m := &Manager{o: o, wait: o.RetryAfter, kick: make(chan struct{}, 1)}
	m.status = Status{State: "obtaining", Domain: o.Domain}
	data, err := os.ReadFile(filepath.Join(o.DataDir, CertFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("cannot read the ACME certificate: %w; run the daemon as the user that owns the data directory", err)
	default:
		if cert, err := m.parse(data); err != nil {
			o.Log.Warn("the stored ACME certificate is not usable; obtaining a new one", "err", err)
		} else {
			m.setCert(cert)
		}
	}
	return m, nil
}

// Certificate is the current certificate, or nil before the first one or
// once it has expired.
func (m *Manager) Certificate() *tls.Certificate {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cert == nil || !m.o.Now().Before(m.cert.Leaf.NotAfter) {
		return nil
	}
	return m.cert
}

// Status reports the certificate and the last attempt.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.status
	if m.cert != nil && !m.o.Now().Before(m.cert.Leaf.NotAfter) {
		st.State = "expired"
	}
	return st
}

// Problem says, for the app and /api/tls, what is wrong with the
// certificate for the domain, or "".
func (m *Manager) Problem() string {
	st := m.Status()
	switch {
	case st.State == "expired":
		return fmt.Sprintf("the certificate for %s has expired, and renewing it fails: %s", st.Domain, st.Error)
	case st.Error != "" && !st.NotAfter.IsZero():
		return fmt.Sprintf("renewing the certificate for %s fails (it expires on %s): %s", st.Domain, st.NotAfter.Format(time.DateOnly), st.Error)
	case st.Error != "":
		return fmt.Sprintf("no certificate for %s yet: %s", st.Domain, st.Error)
	}
	return ""
}

func (m *Manager) renewAt(leaf *x509.Certificate) time.Time {
	before := m.o.RenewBefore
	if before == 0 {
		before = leaf.NotAfter.Sub(leaf.NotBefore) / 3
	}
	return leaf.NotAfter.Add(-before)
}

func (m *Manager) setCert(c *tls.Certificate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cert = c
	m.status.State, m.status.Error = "valid", ""
	m.status.NotAfter, m.status.RenewAt = c.Leaf.NotAfter, m.renewAt(c.Leaf)
	m.status.NextAttempt = m.status.RenewAt
	m.wait, m.retryAt = m.o.RetryAfter, time.Time{}
}

// due reports when the next attempt is due.
func (m *Manager) due() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.retryAt.IsZero() {
		return m.retryAt
	}
	if m.cert == nil {
		return time.Time{}
	}
	return m.renewAt(m.cert.Leaf)
}

// Run obtains a certificate if there is none, and renews it when due,
// until ctx ends. A failure keeps the old certificate, is logged and shown
// in Status, and is retried after RetryAfter, doubling up to a day, or
// when the CA says (rate limits).
func (m *Manager) Run(ctx context.Context) {
	for {
		wait := time.Until(m.due())
		if wait > 0 {
			t := time.NewTimer(min(wait, time.Hour)) // wake hourly: the clock may jump
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-m.kick:
			case <-t.C:
			}
			t.Stop()
			if time.Until(m.due()) > 0 {
				continue
			}
		}
		if err := m.Renew(ctx); err != nil && ctx.Err() != nil {
			return
		}
	}
}

// Renew makes one attempt to obtain a certificate now.
func (m *Manager) Renew(ctx context.Context) error {
	now := m.o.Now()
	m.mu.Lock()
	m.status.LastAttempt = now
	m.mu.Unlock()
	cert, err := m.obtain(ctx)
	if err != nil {
		err = explain(err, m.o.Domain)
		m.mu.Lock()
		wait := m.wait
		var rl *legoacme.RateLimitedError
		if errors.As(err, &rl) && rl.RetryAfter > 0 {
			wait = rl.RetryAfter
		} else {
			m.wait = min(m.wait*2, 24*time.Hour)
		}
		m.retryAt = now.Add(wait)
		m.status.NextAttempt, m.status.Error = m.retryAt, err.Error()
		if m.cert != nil {
			m.status.State = "renewal_failing"
		}
		kept := m.cert != nil
		m.mu.Unlock()
		m.o.Log.Warn("acme: cannot obtain a certificate", "domain", m.o.Domain, "err", err, "kept_old_certificate", kept, "retry_in", wait.Round(time.Second))
		return err
	}
	m.setCert(cert)
	m.o.Log.Info("acme: certificate obtained", "domain", m.o.Domain, "not_after", cert.Leaf.NotAfter)
	return nil
}

// explain puts a lego error in words, keeping it in the chain.
func explain(err error, domain string) error {
	var rl *legoacme.RateLimitedError
	var pd *legoacme.ProblemDetails
	switch {
	case errors.As(err, &rl):
		return fmt.Errorf("the CA refused for now: rate limited (%w); the old certificate is kept, and the doorbell tries again when the CA allows", err)
	case errors.As(err, &pd) && strings.HasSuffix(pd.Type, ":unauthorized"),
		strings.Contains(err.Error(), "urn:ietf:params:acme:error:unauthorized"),
		strings.Contains(err.Error(), "urn:ietf:params:acme:error:incorrectResponse"):
		return fmt.Errorf("the CA did not find the challenge record for %s in DNS (%w); check the DNS provider's credentials and that the record _acme-challenge.%s can be made; the old certificate is kept", domain, err, domain)
	}
	return fmt.Errorf("%w; the old certificate, if any, is kept", err)
}

type user struct {
	email string
	key   crypto.Signer
	reg   *legoacme.ExtendedAccount
}

func (u *user) GetEmail() string                           { return u.email }
func (u *user) GetRegistration() *legoacme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer               { return u.key }

func (m *Manager) obtain(ctx context.Context) (*tls.Certificate, error) {
	accountKey, err := m.accountKey()
	if err != nil {
		return nil, err
	}
	u := &user{email: m.o.Email, key: accountKey}
	cfg := lego.NewConfig(u)
	cfg.CADirURL, cfg.HTTPClient, cfg.UserAgent = m.o.Directory, m.o.HTTPClient, "doorbell"
	client, err := lego.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the ACME CA at %s: %w", m.o.Directory, err)
	}
	var opts []dns01.ChallengeOption
	if len(m.o.Resolvers) > 0 {
		opts = append(opts, dns01.DisableAuthoritativeNssPropagationRequirement())
	}
	if err := client.Challenge.SetDNS01Provider(m.o.Provider, opts...); err != nil {
		return nil, err
	}
	if u.reg, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		return nil, fmt.Errorf("the ACME CA refused the account: %w", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: m.o.Domain}, DNSNames: []string{m.o.Domain}}, m.o.Key)
	if err != nil {
		return nil, err
	}
	csr, _ := x509.ParseCertificateRequest(csrDER)
	res, err := client.Certificate.ObtainForCSR(ctx, certificate.ObtainForCSRRequest{CSR: csr, Bundle: true})
	if err != nil {
		return nil, err
	}
	cert, err := m.parse(res.Certificate)
	if err != nil {
		return nil, fmt.Errorf("the CA's certificate is not usable: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(m.o.DataDir, CertFile), res.Certificate, 0o644); err != nil {
		return nil, fmt.Errorf("cannot save the ACME certificate: %w; check that the data directory is writable", err)
	}
	return cert, nil
}

// parse reads a PEM chain whose leaf must be for the domain and the key.
func (m *Manager) parse(data []byte) (*tls.Certificate, error) {
	var chain [][]byte
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			chain = append(chain, b.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, errors.New("no certificate in the chain")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, err
	}
	if err := leaf.VerifyHostname(m.o.Domain); err != nil {
		return nil, err
	}
	pub, ok := m.o.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, errors.New("the certificate is not for the device's TLS key")
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: m.o.Key, Leaf: leaf}, nil
}

func (m *Manager) accountKey() (crypto.Signer, error) {
	path := filepath.Join(m.o.DataDir, AccountKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, genErr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if genErr != nil {
			return nil, genErr
		}
		der, _ := x509.MarshalPKCS8PrivateKey(key)
		switch err := atomicfile.CreateExclusive(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); {
		case err == nil:
			return key, nil
		case !errors.Is(err, fs.ErrExist):
			return nil, fmt.Errorf("cannot save the ACME account key: %w; check that the data directory is writable", err)
		}
		data, err = os.ReadFile(path) // made meanwhile by another start
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the ACME account key: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s is damaged; remove it, and the doorbell makes a new ACME account", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	signer, ok := k.(crypto.Signer)
	if err != nil || !ok {
		return nil, fmt.Errorf("%s is damaged (%v); remove it, and the doorbell makes a new ACME account", path, err)
	}
	return signer, nil
}
