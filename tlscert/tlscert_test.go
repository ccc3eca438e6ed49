package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// served returns the fingerprint of the certificate a TLS client gets from cfg.
func served(t *testing.T, cfg *tls.Config) (string, *x509.Certificate) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	leaf := c.ConnectionState().PeerCertificates[0]
	return Fingerprint(leaf.Raw), leaf
}

func TestSelfSignedIsMadeOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFingerprint(dir, ""); err == nil || !strings.Contains(err.Error(), "start doorbelld") {
		t.Fatalf("ReadFingerprint before the first start: %v", err)
	}
	cfg, fp, err := Load(dir, "", "", []string{"doorbell.local", "192.168.1.20", "localhost", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if len(fp) != 32*3-1 {
		t.Errorf("fingerprint %q", fp)
	}
	got, leaf := served(t, cfg)
	if got != fp {
		t.Errorf("served %s, Load said %s", got, fp)
	}
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("key is %T, want ECDSA", leaf.PublicKey)
	}
	if err := leaf.VerifyHostname("doorbell.local"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("192.168.1.20"); err != nil {
		t.Error(err)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d > 825*24*time.Hour {
		t.Errorf("valid for %v: Apple's platforms refuse more than 825 days", d)
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyFileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, fi)
	}
	_, fp2, err := Load(dir, "", "", nil)
	if err != nil || fp2 != fp {
		t.Fatalf("second Load: %v, fingerprint %s then %s", err, fp, fp2)
	}
	if rf, err := ReadFingerprint(dir, ""); err != nil || rf != fp {
		t.Fatalf("ReadFingerprint: %v %s", err, rf)
	}
}

func TestSelfSignedIsRenewedWithTheSameKey(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	s := &selfSigned{dir: dir, hosts: []string{"localhost"}, now: func() time.Time { return now }}
	if err := s.load(); err != nil {
		t.Fatal(err)
	}
	first := s.current()
	// Near the end of its validity, the running daemon renews it.
	now = now.Add(Validity - RenewBefore + time.Hour)
	second := s.current()
	if second == first || !second.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Fatal("not renewed")
	}
	if !second.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(first.Leaf.PublicKey) {
		t.Error("renewal changed the key")
	}
	// And a daemon started later reads the renewed one.
	if fp, err := ReadFingerprint(dir, ""); err != nil || fp != Fingerprint(second.Certificate[0]) {
		t.Errorf("renewed certificate not saved: %v", err)
	}
	// An expired certificate found at start is replaced too.
	now = now.Add(Validity)
	s2 := &selfSigned{dir: dir, hosts: []string{"localhost"}, now: func() time.Time { return now }}
	if err := s2.load(); err != nil {
		t.Fatal(err)
	}
	if !s2.leaf.NotAfter.After(now) {
		t.Error("expired certificate kept")
	}
}

func TestDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Load(dir, "", "", nil); err != nil {
		t.Fatal(err)
	}
	// A damaged certificate is replaced: it is public, the key is what counts.
	if err := os.WriteFile(filepath.Join(dir, CertFileName), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir, "", "", nil); err != nil {
		t.Fatalf("damaged certificate: %v", err)
	}
	if _, err := ReadFingerprint(dir, ""); err != nil {
		t.Fatal(err)
	}
	// A damaged key is an error that names the file and the fix.
	key := filepath.Join(dir, KeyFileName)
	if err := os.WriteFile(key, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(dir, "", "", nil)
	if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "remove") {
		t.Fatalf("damaged key: %v", err)
	}
}

// ownerPair writes a certificate and key for name, as an owner would have.
func ownerPair(t *testing.T, dir, name string) (certFile, keyFile string, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, der
}

func TestOwnerCertificate(t *testing.T) {
	dataDir, ownerDir := t.TempDir(), t.TempDir()
	certFile, keyFile, der := ownerPair(t, ownerDir, "door.example.net")
	cfg, fp, err := Load(dataDir, certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fp != Fingerprint(der) {
		t.Error("fingerprint is not the owner's certificate's")
	}
	if got, _ := served(t, cfg); got != fp {
		t.Error("served another certificate")
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Error("made a self-signed certificate although the owner has one")
	}
	if rf, err := ReadFingerprint(dataDir, certFile); err != nil || rf != fp {
		t.Errorf("ReadFingerprint of the owner's file: %v", err)
	}

	// A renewal (certbot) is picked up while running.
	old := ownerRecheck
	ownerRecheck = 0
	defer func() { ownerRecheck = old }()
	_, _, der2 := ownerPair(t, ownerDir, "door.example.net")
	if got, _ := served(t, cfg); got != Fingerprint(der2) {
		t.Error("renewed certificate not picked up")
	}
}

func TestOwnerCertificateErrors(t *testing.T) {
	dataDir, ownerDir := t.TempDir(), t.TempDir()
	certFile, keyFile, _ := ownerPair(t, ownerDir, "a.example.net")
	if _, _, err := Load(dataDir, certFile, "", nil); err == nil || !strings.Contains(err.Error(), "set both") {
		t.Errorf("cert without key: %v", err)
	}
	otherDir := t.TempDir()
	_, otherKey, _ := ownerPair(t, otherDir, "b.example.net")
	_, _, err := Load(dataDir, certFile, otherKey, nil)
	if err == nil || !strings.Contains(err.Error(), certFile) || !strings.Contains(err.Error(), otherKey) {
		t.Errorf("mismatched key: %v", err)
	}
	_, _, err = Load(dataDir, filepath.Join(ownerDir, "missing.pem"), keyFile, nil)
	if err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("missing cert: %v", err)
	}
}

func TestDefaultHostsNamesThisMachine(t *testing.T) {
	hosts := DefaultHosts()
	found := map[string]bool{}
	for _, h := range hosts {
		found[h] = true
		if ip := net.ParseIP(h); ip != nil && ip.IsLinkLocalUnicast() {
			t.Errorf("link-local address %s", h)
		}
	}
	if !found["localhost"] || !found["127.0.0.1"] {
		t.Errorf("DefaultHosts = %v", hosts)
	}
}

// TLS 1.2 clients get only AEAD suites: one that offers nothing but a
// SHA-1 CBC suite is refused, and every suite Go knows as insecure or CBC
// is refused too.
// The daemon serves Server.TLSConfig.
func TestTLS12OffersOnlyAEADSuites(t *testing.T) {
	s, err := Open(t.TempDir(), "", "", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.TLSConfig()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	dial := func(suite uint16) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
			InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite},
		})
		if err == nil {
			c.Close()
		}
		return err
	}
	var all []*tls.CipherSuite
	all = append(all, tls.CipherSuites()...)
	all = append(all, tls.InsecureCipherSuites()...)
	for _, s := range all {
		if !slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			continue
		}
		aead := strings.Contains(s.Name, "_GCM_") || strings.Contains(s.Name, "CHACHA20")
		err := dial(s.ID)
		if aead && strings.Contains(s.Name, "ECDHE_ECDSA") && err != nil {
			t.Errorf("%s refused: %v", s.Name, err)
		}
		if !aead && err == nil {
			t.Errorf("%s (not AEAD) accepted over TLS 1.2", s.Name)
		}
	}
}
