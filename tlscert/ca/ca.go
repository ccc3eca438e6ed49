// Package ca is the household's own certificate authority: a root that can
// vouch only for one doorbell's names (X.509 name constraints), kept on the
// owner's computer with its key sealed like an age identity, and the
// doorbell certificates it signs.
package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
)

const (
	// RootValidity is long: a new root means installing it again on every phone.
	RootValidity = 10 * 365 * 24 * time.Hour
	// LeafValidity stays inside Apple's 398 days for public TLS
	// certificates, and well inside the 825 days it allows under
	// user-installed roots; renewing is one command.
	LeafValidity = 397 * 24 * time.Hour
)

// Root is the household's root certificate and, when unsealed, its key.
type Root struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey // nil until Unseal
}

// NewRoot makes a root that may vouch only for dnsNames and ips: its name
// constraints are critical, so a browser that cannot check them refuses
// the root, and it may sign no intermediate (path length 0).
func NewRoot(label string, dnsNames []string, ips []net.IP, now time.Time) (*Root, error) {
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, errors.New("a household root needs at least one name or address of the doorbell to vouch for")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:                serial,
		Subject:                     pkix.Name{CommonName: "Doorbell household root: " + label, Organization: []string{"Doorbell household"}},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(RootValidity),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLen:                  0,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         exactDNS(dnsNames),
	}
	for _, ip := range ips {
		bits := 128
		if ip4 := ip.To4(); ip4 != nil {
			ip, bits = ip4, 32
		}
		tmpl.PermittedIPRanges = append(tmpl.PermittedIPRanges, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
	}
	if len(tmpl.PermittedIPRanges) == 0 {
		// No address is allowed: an empty permitted list would allow all.
		tmpl.ExcludedIPRanges = []*net.IPNet{{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, {IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}}
	}
	if len(tmpl.PermittedDNSDomains) == 0 {
		tmpl.PermittedDNSDomains = []string{"invalid."} // no name at all
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("cannot make the household root: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Root{Cert: cert, Key: key}, nil
}

// exactDNS turns names into constraints. A DNS constraint "a.local" also
// admits its subdomains (RFC 5280 §4.2.1.10); a doorbell's names have
// none it could abuse, and the leaf it signs names only what was asked.
func exactDNS(names []string) []string {
	var out []string
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Sign issues the doorbell's TLS certificate for the key of csr and the
// names dnsNames and ips. It refuses names the root may not vouch for, so
// the owner learns now rather than from a browser's warning.
func (r *Root) Sign(csr *x509.CertificateRequest, dnsNames []string, ips []net.IP, now time.Time) ([]byte, error) {
	if r.Key == nil {
		return nil, errors.New("the household root's key is sealed; unseal it first")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the doorbell's certificate request is not signed by its key: %w", err)
	}
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, errors.New("the doorbell's certificate would name no host")
	}
	serial, err := randSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Doorbell"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              minTime(now.Add(LeafValidity), r.Cert.NotAfter),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, // and not a CA: this key signs nothing
		DNSNames:              exactDNS(dnsNames),
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.Cert, csr.PublicKey, r.Key)
	if err != nil {
		return nil, fmt.Errorf("cannot sign the doorbell's certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := r.Verify(leaf, now); err != nil {
		return nil, err
	}
	return der, nil
}

// Verify checks that leaf chains to the root for each of its names, name
// constraints included.
func (r *Root) Verify(leaf *x509.Certificate, now time.Time) error {
	pool := x509.NewCertPool()
	pool.AddCert(r.Cert)
	for _, name := range hostsOf(leaf) {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return fmt.Errorf("the household root cannot vouch for %s: %w; make a root for the doorbell's current names (doorbell ca sign -new-root)", name, err)
		}
	}
	return nil
}

func hostsOf(c *x509.Certificate) []string {
	out := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// Names lists the names and addresses the root may vouch for.
func (r *Root) Names() []string {
	out := slices.DeleteFunc(slices.Clone(r.Cert.PermittedDNSDomains), func(s string) bool { return s == "invalid." })
	for _, n := range r.Cert.PermittedIPRanges {
		out = append(out, n.IP.String())
	}
	return out
}

// Fingerprint is the SHA-256 of the root's DER bytes, upper-case hex
// pairs joined by colons, as phones show it when installing.
func (r *Root) Fingerprint() string {
	sum := sha256.Sum256(r.Cert.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// CertPEM is the root certificate in PEM.
func (r *Root) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Cert.Raw})
}

// SealKey encrypts the root's key to the age recipients (the owner's own
// key, or a passphrase's scrypt recipient), as an age file.
func (r *Root) SealKey(recipients ...age.Recipient) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(r.Key)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	armored := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	w, err := age.Encrypt(&buf, recipients...)
	if err != nil {
		return nil, fmt.Errorf("cannot seal the household root's key: %w", err)
	}
	if _, err := w.Write(armored); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseRoot reads a root certificate (PEM).
func ParseRoot(certPEM []byte) (*Root, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("the household root file holds no PEM certificate; make a new root with doorbell ca sign -new-root")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the household root does not parse: %w", err)
	}
	if !cert.IsCA || !cert.PermittedDNSDomainsCritical {
		return nil, errors.New("the certificate is not a name-constrained household root")
	}
	return &Root{Cert: cert}, nil
}

// Unseal decrypts the root's key with the identities and checks that it
// belongs to the root.
func (r *Root) Unseal(sealed []byte, identities ...age.Identity) error {
	rd, err := age.Decrypt(bytes.NewReader(sealed), identities...)
	if err != nil {
		return fmt.Errorf("cannot open the household root's key: %w; give the identity (or passphrase) it was sealed with", err)
	}
	data, err := io.ReadAll(io.LimitReader(rd, 16<<10))
	if err != nil {
		return fmt.Errorf("the household root's key is damaged: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return errors.New("the household root's key file holds no key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return fmt.Errorf("the household root's key is not an ECDSA key: %v", err)
	}
	pub, ok := r.Cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return errors.New("the sealed key is not the household root's; the key file and root.crt belong to different roots")
	}
	r.Key = key
	return nil
}

func randSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
