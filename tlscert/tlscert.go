// Package tlscert gives the daemon its HTTPS certificate: the owner's, or a
// self-signed ECDSA P-256 one that the device makes in its data directory on
// first start and renews, with the same key, before it expires.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"doorbell/internal/atomicfile"
)

// The self-signed certificate's files in the data directory.
const (
	CertFileName = "tls-cert.pem" // public, mode 0644
	KeyFileName  = "tls-key.pem"  // private, mode 0600
)

const (
	// Validity of a self-signed certificate. Apple's platforms refuse TLS
	// server certificates valid for more than 825 days.
	Validity = 800 * 24 * time.Hour
	// RenewBefore is how long before expiry a self-signed certificate is
	// replaced (same key, new validity).
	RenewBefore = 30 * 24 * time.Hour
)

// ownerRecheck is how often the owner's files are checked for a renewal (by
// certbot, say) while the daemon runs.
var ownerRecheck = time.Minute

// Load returns the HTTPS server's TLS configuration and the SHA-256
// fingerprint of its certificate (see Fingerprint).
//
// With certFile and keyFile (config http.cert_file and http.key_file) it
// serves the owner's certificate, and picks up a renewed one from the same
// paths within a minute. With neither, it uses the self-signed certificate in
// dataDir, making it for hosts (DNS names and IP addresses; nil means
// DefaultHosts) if there is none, and renewing it with the same key when it
// is within RenewBefore of expiry, also while the daemon runs.
func Load(dataDir, certFile, keyFile string, hosts []string) (*tls.Config, string, error) {
	s, err := Open(dataDir, certFile, keyFile, hosts)
	if err != nil {
		return nil, "", err
	}
	return s.TLSConfig(), s.Fingerprint(), nil
}

// AEADSuites are the TLS 1.2 cipher suites the server offers: forward
// secret and authenticated (GCM, ChaCha20-Poly1305), for ECDSA certificates
// (the device's own) and RSA ones (an owner's). Go's defaults still include
// SHA-1 CBC suites for old clients; no phone that runs the app needs them.
// TLS 1.3 suites are not configurable and are all AEAD.
var AEADSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ReadFingerprint returns the fingerprint of the certificate the daemon
// serves: the one at certFile if it is set, else the self-signed one in
// dataDir. It never makes one.
func ReadFingerprint(dataDir, certFile string) (string, error) {
	path := certFile
	if path == "" {
		path = filepath.Join(dataDir, CertFileName)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && certFile == "" {
		return "", fmt.Errorf("no TLS certificate in %s yet (%w): the daemon makes it on first start; start doorbelld with this data directory", dataDir, fs.ErrNotExist)
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the TLS certificate: %w", err)
	}
	der, err := firstCert(path, data)
	if err != nil {
		return "", err
	}
	return Fingerprint(der), nil
}

// Fingerprint is the SHA-256 of a certificate's DER bytes, as browsers show
// it: upper-case hex bytes joined by colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// DefaultHosts names this machine the ways a phone on the LAN may reach it:
// its host name, host name + ".local" (mDNS), localhost, and the addresses
// of its network interfaces.
func DefaultHosts() []string {
	hosts := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		hosts = append(hosts, h)
		if !strings.Contains(h, ".") {
			hosts = append(hosts, h+".local")
		}
	}
	hosts = append(hosts, "127.0.0.1", "::1")
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, n.IP.String())
			}
		}
	}
	return hosts
}

// ownerSource serves the owner's files and reloads them when they change.
type ownerSource struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // the files' sizes and modification times
	checked time.Time
}

func (o *ownerSource) fileStamp() string {
	var b strings.Builder
	for _, p := range []string{o.certFile, o.keyFile} {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

func (o *ownerSource) load() error {
	stamp := o.fileStamp()
	cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
	if err != nil {
		return fmt.Errorf("cannot use the certificate %s with the key %s: %w; check http.cert_file and http.key_file (PEM files, the key readable by the daemon's user), or remove both to use a self-signed certificate", o.certFile, o.keyFile, err)
	}
	o.mu.Lock()
	o.cert, o.stamp, o.checked = &cert, stamp, time.Now()
	o.mu.Unlock()
	return nil
}

func (o *ownerSource) current() *tls.Certificate {
	o.mu.Lock()
	due := time.Since(o.checked) >= ownerRecheck
	if due {
		o.checked = time.Now()
	}
	cert, stamp := o.cert, o.stamp
	o.mu.Unlock()
	if due && o.fileStamp() != stamp {
		// A renewal half written keeps the old certificate until it is whole.
		_ = o.load()
		o.mu.Lock()
		cert = o.cert
		o.mu.Unlock()
	}
	return cert
}

// selfSigned is the device's own certificate.
type selfSigned struct {
	dir   string
	hosts []string
	now   func() time.Time

	mu   sync.Mutex
	key  *ecdsa.PrivateKey
	cert *tls.Certificate
	leaf *x509.Certificate
}

func (s *selfSigned) keyPath() string  { return filepath.Join(s.dir, KeyFileName) }
func (s *selfSigned) certPath() string { return filepath.Join(s.dir, CertFileName) }

// load reads the key and certificate, making or renewing what is missing,
// expiring or does not belong to the key.
func (s *selfSigned) load() error {
	key, err := s.loadKey()
	if errors.Is(err, fs.ErrNotExist) {
		key, err = s.makeKey()
	}
	if err != nil {
		return err
	}
	s.key = key
	data, err := os.ReadFile(s.certPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s.issue()
	case err != nil:
		return fmt.Errorf("cannot read the TLS certificate %s: %w; run the daemon as the user that owns the data directory", s.certPath(), err)
	}
	if leaf := s.usable(data); leaf != nil {
		s.cert = &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
		s.leaf = leaf
		return nil
	}
	// Damaged, expiring, or for another key: issue a new one.
	return s.issue()
}

// usable returns the certificate in data if it is for s.key and not due
// for renewal.
func (s *selfSigned) usable(data []byte) *x509.Certificate {
	der, err := firstCert(s.certPath(), data)
	if err != nil {
		return nil
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&s.key.PublicKey) || !s.now().Add(RenewBefore).Before(leaf.NotAfter) {
		return nil
	}
	return leaf
}

func (s *selfSigned) loadKey() (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(s.keyPath())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("cannot read the TLS key %s: %w; run the daemon as the user that owns the data directory", s.keyPath(), err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s is not a PEM key: the device's TLS key is damaged; remove %s and %s to make a new certificate (phones will warn about it once)", s.keyPath(), s.keyPath(), s.certPath())
	}
	var k any
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		err = fmt.Errorf("PEM type %q", block.Type)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s is not an ECDSA P-256 key (%w): remove %s and %s to make a new certificate (phones will warn about it once)", s.keyPath(), err, s.keyPath(), s.certPath())
	}
	return key, nil
}

func (s *selfSigned) makeKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	err = atomicfile.CreateExclusive(s.keyPath(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if errors.Is(err, fs.ErrExist) {
		return s.loadKey()
	}
	if err != nil {
		return nil, fmt.Errorf("cannot save the TLS key in %s: %w; check that the data directory is writable", s.dir, err)
	}
	return key, nil
}

// issue makes and saves a new certificate for s.key.
func (s *selfSigned) issue() error {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := s.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Doorbell", Organization: []string{"Doorbell (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	seen := map[string]bool{}
	for _, h := range s.hosts {
		h = strings.TrimSuffix(strings.TrimSpace(h), ".")
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &s.key.PublicKey, s.key)
	if err != nil {
		return fmt.Errorf("cannot make a TLS certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.certPath(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("cannot save the TLS certificate in %s: %w; check that the data directory is writable", s.dir, err)
	}
	s.cert = &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: s.key, Leaf: leaf}
	s.leaf = leaf
	return nil
}

func (s *selfSigned) current() *tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now().Add(RenewBefore).After(s.leaf.NotAfter) {
		// Keep serving the old one if the disk refuses the new one.
		old, oldLeaf := s.cert, s.leaf
		if s.issue() != nil {
			s.cert, s.leaf = old, oldLeaf
		}
	}
	return s.cert
}

// firstCert returns the DER bytes of the first certificate in PEM data.
func firstCert(path string, data []byte) ([]byte, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s holds no PEM certificate; check the file, or give the certificate's path", path)
		}
		if block.Type == "CERTIFICATE" {
			return block.Bytes, nil
		}
	}
}
