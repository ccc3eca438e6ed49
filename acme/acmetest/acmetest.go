// Package acmetest runs Debian's Pebble ACME server and its challenge test
// servers on loopback for tests, with a DNS API for lego's httpreq
// provider and a proxy that can answer as a rate-limited CA does.
package acmetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
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
	"sync/atomic"
	"testing"
	"time"

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

// Env is Pebble with two challenge test servers: one is the DNS that
// Pebble asks, the other the resolver the doorbell checks the record
// with. A DNS provider (lego's httpreq, through a small adapter) sets the
// record in both, or, to be refused, a wrong one in Pebble's.
// Env is a running ACME test CA.
type Env struct {
	Directory string       // the ACME directory URL
	Client    *http.Client // trusts the CA's HTTPS certificate
	// Creds are the httpreq provider's credentials for the DNS API.
	Creds    map[string]string
	Refuse   atomic.Bool // Pebble's DNS gets a wrong record
	Limited  atomic.Bool // new orders get rateLimited
	Resolver string      // the DNS server to check records with
}

// New starts Pebble, two challenge test servers, a rate-limiting proxy
// and a DNS API, all on loopback, stopped at the test's end.
func New(t *testing.T) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("ACME tests start Pebble")
	}
	e := &Env{}
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
	e.Resolver = dnsAddrs[1]
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
		if e.Limited.Load() && r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", "7200")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many certificates (5) already issued for this exact set of domains in the last 168h0m0s","status":429}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	e.Directory = front.URL + "/dir"
	e.Client = front.Client()

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
			if e.Refuse.Load() {
				v = "not-the-challenge"
			}
			setTXT(pebbleMgmt, m.FQDN, v)
		case "/cleanup":
			setTXT(resolverMgmt, m.FQDN, "")
			setTXT(pebbleMgmt, m.FQDN, "")
		}
	}))
	t.Cleanup(api.Close)
	e.Creds = map[string]string{"HTTPREQ_ENDPOINT": api.URL}

	// The doorbell is told to ask the resolver (Options.Resolvers); put
	// lego's own choice back afterwards.
	backup := dns01.DefaultClient()
	t.Cleanup(func() { dns01.SetDefaultClient(backup) })
	return e
}
