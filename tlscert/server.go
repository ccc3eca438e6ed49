package tlscert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"doorbell/internal/atomicfile"
)

// Files of the household certificate in the data directory: the doorbell's
// certificate signed by the household root (for the device's own key,
// KeyFileName), and the root itself, which the device serves for phones to
// install. Neither is secret; the root's key never comes here.
const (
	HouseholdCertFileName = "tls-household-cert.pem"
	HouseholdRootFileName = "household-root.pem"
)

// Trust modes: how a browser comes to trust the doorbell.
const (
	ModeSelfSigned = "self-signed" // nobody's; browsers warn, service workers and push do not run
	ModeHousehold  = "household"   // the household's root, installed on each phone
	ModeACME       = "acme"        // the owner's domain, from an ACME CA
	ModeOwn        = "own"         // the owner's files (http.cert_file)
)

// Source is a certificate from elsewhere (ACME) that the server prefers
// while it has one.
type Source interface {
	// Certificate returns the current certificate, or nil if there is none yet.
	Certificate() *tls.Certificate
	// Problem says what is wrong (renewal failing), or "".
	Problem() string
}

// Server chooses the certificate the daemon serves: ACME's if it has one,
// else the owner's files, else the household certificate while it is
// valid, else the self-signed one.
type Server struct {
	self  *selfSigned
	owner *ownerSource

	mu        sync.Mutex
	household *tls.Certificate
	root      *x509.Certificate
	acme      Source
	problem   string // why the installed household certificate is not used
}

// Status is the "tls" section of /healthz and the body of /api/tls.
type Status struct {
	Mode     string    `json:"mode"`
	NotAfter time.Time `json:"not_after,omitzero"`
	// RootSHA256 is the household root's fingerprint, when there is one.
	RootSHA256 string `json:"root_sha256,omitempty"`
	// Problem says why a trusted mode is not in use, or that renewal fails.
	Problem string `json:"problem,omitempty"`
}

// Open loads the server's certificates as Load does, and the household
// certificate if one was installed.
func Open(dataDir, certFile, keyFile string, hosts []string) (*Server, error) {
	s := &Server{}
	switch {
	case certFile != "" && keyFile != "":
		o := &ownerSource{certFile: certFile, keyFile: keyFile}
		if err := o.load(); err != nil {
			return nil, err
		}
		s.owner = o
		return s, nil
	case certFile != "" || keyFile != "":
		return nil, errors.New("only one of http.cert_file and http.key_file is set; set both to use your own certificate, or neither to use the device's self-signed one")
	}
	if hosts == nil {
		hosts = DefaultHosts()
	}
	s.self = &selfSigned{dir: dataDir, hosts: hosts, now: time.Now}
	if err := s.self.load(); err != nil {
		return nil, err
	}
	leaf, err := os.ReadFile(filepath.Join(dataDir, HouseholdCertFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	root, err2 := os.ReadFile(filepath.Join(dataDir, HouseholdRootFileName))
	if err := errors.Join(err, err2); err != nil {
		return nil, fmt.Errorf("cannot read the household certificate: %w; run the daemon as the user that owns the data directory", err)
	}
	if err := s.setHousehold(leaf, root); err != nil {
		// Serve self-signed rather than not at all; Status says why.
		s.problem = fmt.Sprintf("the installed household certificate is not used: %v", err)
	}
	return s, nil
}

// TLSConfig serves the current certificate to each connection.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   AEADSuites,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.current(), nil },
	}
}

// SetACME makes the server prefer src's certificate while it has one.
func (s *Server) SetACME(src Source) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acme = src
}

func (s *Server) current() *tls.Certificate {
	s.mu.Lock()
	acme, household := s.acme, s.household
	s.mu.Unlock()
	if acme != nil {
		if c := acme.Certificate(); c != nil {
			return c
		}
	}
	if s.owner != nil {
		return s.owner.current()
	}
	if household != nil && time.Now().Before(household.Leaf.NotAfter) {
		return household
	}
	return s.self.current()
}

// Fingerprint is the SHA-256 of the certificate served now.
func (s *Server) Fingerprint() string { return Fingerprint(s.current().Certificate[0]) }

// HouseholdRenewBefore is when Status starts warning that the household
// certificate needs renewing (doorbell ca sign).
const HouseholdRenewBefore = 30 * 24 * time.Hour

// Status says which mode is in use.
func (s *Server) Status() Status {
	cur := s.current()
	s.mu.Lock()
	household, root, acme, problem := s.household, s.root, s.acme, s.problem
	s.mu.Unlock()
	st := Status{Mode: ModeSelfSigned, NotAfter: cur.Leaf.NotAfter}
	if root != nil {
		st.RootSHA256 = Fingerprint(root.Raw)
	}
	switch {
	case acme != nil && acme.Certificate() == cur:
		st.Mode = ModeACME
		st.Problem = acme.Problem()
	case acme != nil:
		st.Problem = acme.Problem()
	case s.owner != nil:
		st.Mode = ModeOwn
	case household != nil && household == cur:
		st.Mode = ModeHousehold
		if time.Until(cur.Leaf.NotAfter) < HouseholdRenewBefore {
			st.Problem = fmt.Sprintf("the household certificate expires on %s; renew it from the owner's computer with doorbell ca sign", cur.Leaf.NotAfter.Format(time.DateOnly))
		}
	case household != nil:
		st.Problem = "the household certificate has expired, so phones see a self-signed one; renew it from the owner's computer with doorbell ca sign"
	case problem != "":
		st.Problem = problem
	}
	return st
}

// Key is the device's own TLS key, for which the household CA and ACME
// issue certificates; nil when the owner's files are served.
func (s *Server) Key() crypto.Signer {
	if s.self == nil {
		return nil
	}
	return s.self.key
}

// Root returns the household root the doorbell serves for installation,
// or nil.
func (s *Server) Root() *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.root
}

// Request is a certificate request (PEM) for the device's own key, naming
// the hosts the self-signed certificate names; the household CA signs it.
// Without a self-signed key (the owner's files), there is nothing to sign.
func (s *Server) Request() ([]byte, error) {
	if s.self == nil {
		return nil, errors.New("this doorbell serves the owner's own certificate (http.cert_file); remove it from the config to use a household one")
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Doorbell"}}
	for _, h := range s.self.hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h = strings.TrimSuffix(strings.TrimSpace(h), "."); h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, s.self.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// InstallHousehold checks a certificate signed by the household root
// (both PEM) and serves it from now on. It must be for the device's own
// key, chain to the root for every name it holds, and the root must be
// name-constrained; otherwise nothing changes.
func (s *Server) InstallHousehold(leafPEM, rootPEM []byte) error {
	if s.self == nil {
		return errors.New("this doorbell serves the owner's own certificate (http.cert_file); remove it from the config to use a household one")
	}
	cert, root, err := s.checkHousehold(leafPEM, rootPEM)
	if err != nil {
		return err
	}
	dir := s.self.dir
	if err := atomicfile.WriteFile(filepath.Join(dir, HouseholdRootFileName), rootPEM, 0o644); err != nil {
		return fmt.Errorf("cannot save the household root: %w; check that the data directory is writable", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, HouseholdCertFileName), leafPEM, 0o644); err != nil {
		return fmt.Errorf("cannot save the household certificate: %w; check that the data directory is writable", err)
	}
	s.mu.Lock()
	s.household, s.root, s.problem = cert, root, ""
	s.mu.Unlock()
	return nil
}

func (s *Server) setHousehold(leafPEM, rootPEM []byte) error {
	cert, root, err := s.checkHousehold(leafPEM, rootPEM)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.household, s.root = cert, root
	s.mu.Unlock()
	return nil
}

func (s *Server) checkHousehold(leafPEM, rootPEM []byte) (*tls.Certificate, *x509.Certificate, error) {
	leafDER, err := firstCert(HouseholdCertFileName, leafPEM)
	if err != nil {
		return nil, nil, err
	}
	rootDER, err := firstCert(HouseholdRootFileName, rootPEM)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, nil, fmt.Errorf("the household certificate does not parse: %w", err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, nil, fmt.Errorf("the household root does not parse: %w", err)
	}
	if !root.IsCA || !root.PermittedDNSDomainsCritical || root.MaxPathLen != 0 {
		return nil, nil, errors.New("the household root is not a name-constrained root for this doorbell alone; make one with doorbell ca sign")
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&s.self.key.PublicKey) {
		return nil, nil, errors.New("the household certificate is not for this doorbell's key; sign the request this doorbell made (doorbell ca sign)")
	}
	if leaf.IsCA {
		return nil, nil, errors.New("the household certificate is a CA certificate; the doorbell's own may sign nothing")
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return nil, nil, errors.New("the household certificate names no host")
	}
	for _, n := range names {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: n, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return nil, nil, fmt.Errorf("the household certificate does not verify for %s: %w", n, err)
		}
	}
	return &tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: s.self.key, Leaf: leaf}, root, nil
}

// ACMECertFileName is the ACME certificate chain's file in the data
// directory (package acme writes it); its key is the device's, KeyFileName.
const ACMECertFileName = "acme-cert.pem"

// Served says, from the data directory alone and without making anything,
// which certificate the daemon serves when it runs without http.cert_file:
// a current ACME one, else a current household one, else the self-signed
// one. It returns the mode and that certificate's fingerprint.
func Served(dataDir string, now time.Time) (mode, fingerprint string, err error) {
	for _, c := range []struct{ mode, file string }{
		{ModeACME, ACMECertFileName},
		{ModeHousehold, HouseholdCertFileName},
	} {
		path := filepath.Join(dataDir, c.file)
		data, err := os.ReadFile(path)
		if err != nil {
			continue // none, or unreadable: the daemon would not serve it either
		}
		der, err := firstCert(path, data)
		if err != nil {
			continue
		}
		if leaf, err := x509.ParseCertificate(der); err == nil && now.Before(leaf.NotAfter) && !now.Before(leaf.NotBefore) {
			return c.mode, Fingerprint(der), nil
		}
	}
	fp, err := ReadFingerprint(dataDir, "")
	return ModeSelfSigned, fp, err
}
