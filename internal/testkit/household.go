package testkit

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
	"time"

	"doorbell/tlscert/ca"
)

// CertificateRequester is a doorbell's TLS server, as far as the household
// CA needs it: a certificate request for the device's own key.
type CertificateRequester interface {
	Request() ([]byte, error)
}

// HouseholdCertificate makes a household root for names (host names or IP
// addresses) and signs s's request with it, as `doorbell ca sign` does. It
// returns the doorbell's certificate and the root, both PEM.
func HouseholdCertificate(t testing.TB, s CertificateRequester, names ...string) (leafPEM, rootPEM []byte) {
	leafPEM, root := HouseholdRoot(t, s, names...)
	return leafPEM, root.CertPEM()
}

// HouseholdRoot is HouseholdCertificate, returning the root itself.
func HouseholdRoot(t testing.TB, s CertificateRequester, names ...string) (leafPEM []byte, root *ca.Root) {
	t.Helper()
	reqPEM, err := s.Request()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(reqPEM)
	if block == nil {
		t.Fatalf("the certificate request is not PEM: %q", reqPEM)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var dns []string
	var ips []net.IP
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, n)
		}
	}
	root, err = ca.NewRoot("test", dns, ips, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	der, err := root.Sign(csr, dns, ips, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), root
}
