package acme

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/challenge/dns01"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs a server for the test, killed at its end.
func start(t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("no %s: run make test (deploy/setup.sh installs Debian's pebble), or apt-get install -y pebble", name)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s:\n%s", name, out.String())
		}
	})
}

// waitUp waits until an HTTP(S) server answers at url.
func waitUp(t *testing.T, c *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within 20 s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// selfSigned makes a TLS certificate for 127.0.0.1, in PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), cert
}

// env is Pebble with two challenge test servers: one is the DNS that
// Pebble asks, the other the resolver the doorbell checks the record
// with. A DNS provider (lego's httpreq, through a small adapter) sets the
// record in both, or, to be refused, a wrong one in Pebble's.
type env struct {
	directory string
	client    *http.Client
	creds     map[string]string
	refuse    atomic.Bool // Pebble's DNS gets a wrong record
	limited   atomic.Bool // new orders get rateLimited
	resolver  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("ACME tests start Pebble")
	}
	e := &env{}
	dir := t.TempDir()
	plain := &http.Client{Timeout: 5 * time.Second}
	var mgmt []string
	var dnsAddrs []string
	for range 2 {
		dnsAddr, mgmtAddr := freePort(t), freePort(t)
		start(t, nil, "pebble-challtestsrv", "-dns01", dnsAddr, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", mgmtAddr,
			"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
		mgmt, dnsAddrs = append(mgmt, "http://"+mgmtAddr), append(dnsAddrs, dnsAddr)
	}
	pebbleDNS, resolverMgmt, pebbleMgmt := dnsAddrs[0], mgmt[1], mgmt[0]
	e.resolver = dnsAddrs[1]
	for _, m := range mgmt {
		waitUp(t, plain, m+"/")
	}

	certPEM, keyPEM, cert := selfSigned(t)
	_ = os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644)
	_ = os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600)
	listen := freePort(t)
	cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "certificate": filepath.Join(dir, "cert.pem"), "privateKey": filepath.Join(dir, "key.pem"),
		"httpPort": 5002, "tlsPort": 5001}})
	_ = os.WriteFile(filepath.Join(dir, "pebble.json"), cfg, 0o644)
	start(t, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"pebble", "-config", filepath.Join(dir, "pebble.json"), "-dnsserver", pebbleDNS)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	toPebble := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	waitUp(t, &http.Client{Transport: toPebble}, "https://"+listen+"/dir")

	// In front of Pebble (which has no rate limits): a proxy that can
	// answer new orders as Let's Encrypt does when a limit is hit.
	target, _ := url.Parse("https://" + listen)
	proxy := &httputil.ReverseProxy{Transport: toPebble, Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // Pebble makes its URLs from the Host
	}}
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.limited.Load() && r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", "7200")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many certificates (5) already issued for this exact set of domains in the last 168h0m0s","status":429}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	e.directory = front.URL + "/dir"
	e.client = front.Client()

	// The DNS provider's API: lego's httpreq posts {"fqdn","value"}.
	setTXT := func(mgmt, fqdn, value string) {
		path, body := "/set-txt", map[string]string{"host": fqdn, "value": value}
		if value == "" {
			path, body = "/clear-txt", map[string]string{"host": fqdn}
		}
		b, _ := json.Marshal(body)
		if resp, err := plain.Post(mgmt+path, "application/json", bytes.NewReader(b)); err == nil {
			resp.Body.Close()
		}
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ FQDN, Value string }
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		switch r.URL.Path {
		case "/present":
			setTXT(resolverMgmt, m.FQDN, m.Value)
			v := m.Value
			if e.refuse.Load() {
				v = "not-the-challenge"
			}
			setTXT(pebbleMgmt, m.FQDN, v)
		case "/cleanup":
			setTXT(resolverMgmt, m.FQDN, "")
			setTXT(pebbleMgmt, m.FQDN, "")
		}
	}))
	t.Cleanup(api.Close)
	e.creds = map[string]string{"HTTPREQ_ENDPOINT": api.URL}

	// The doorbell asks the resolver, not the system's DNS.
	backup := dns01.DefaultClient()
	dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: []string{e.resolver}}))
	t.Cleanup(func() { dns01.SetDefaultClient(backup) })
	return e
}

func (e *env) manager(t *testing.T, dataDir string, key *ecdsa.PrivateKey) *Manager {
	t.Helper()
	p, err := NewProvider("httpreq", e.creds)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Domain: "doorbell.example.org", Provider: p, Resolvers: []string{e.resolver}, Key: key,
		DataDir: dataDir, Directory: e.directory, HTTPClient: e.client, RetryAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAgainstPebble(t *testing.T) {
	e := newEnv(t)
	dataDir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	m := e.manager(t, dataDir, key)
	if m.Certificate() != nil || m.Status().State != "obtaining" {
		t.Fatalf("before: %+v", m.Status())
	}

	// First issuance, through Run.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for m.Certificate() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no certificate within 60 s: %+v", m.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	restarted := e.manager(t, dataDir, key)
	if c := restarted.Certificate(); c == nil || c.Leaf.SerialNumber.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Error("after a restart, the renewed certificate is not the one loaded")
	}

	// A refused challenge: a clear error, the old certificate kept, and
	// the failure in the status long before expiry.
	e.refuse.Store(true)
	err := m.Renew(context.Background())
	e.refuse.Store(false)
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
	e.limited.Store(true)
	err = m.Renew(context.Background())
	e.limited.Store(false)
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
