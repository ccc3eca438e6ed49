package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func request(t *testing.T) (*x509.CertificateRequest, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"doorbell-ab12.local"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	return csr, key
}

func verify(c *x509.Certificate, root *Root, name string) error {
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	_, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: now})
	return err
}

func TestRootVouchesOnlyForTheDoorbell(t *testing.T) {
	ip := net.ParseIP("192.168.1.20")
	root, err := NewRoot("front door", []string{"doorbell-ab12.local"}, []net.IP{ip}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !root.Cert.IsCA || !root.Cert.MaxPathLenZero || !root.Cert.PermittedDNSDomainsCritical {
		t.Fatal("the root is not a name-constrained CA of path length 0")
	}
	if got := strings.Join(root.Names(), " "); got != "doorbell-ab12.local 192.168.1.20" {
		t.Errorf("names %q", got)
	}
	csr, _ := request(t)
	der, err := root.Sign(csr, []string{"doorbell-ab12.local"}, []net.IP{ip}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	for _, name := range []string{"doorbell-ab12.local", "192.168.1.20"} {
		if err := verify(leaf, root, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if leaf.IsCA || leaf.KeyUsage&x509.KeyUsageCertSign != 0 || leaf.NotAfter.Sub(now) > 398*24*time.Hour {
		t.Errorf("leaf: CA %v, usage %v, valid until %s", leaf.IsCA, leaf.KeyUsage, leaf.NotAfter)
	}

	// Sign refuses names outside the constraints.
	for _, tc := range []struct {
		dns []string
		ips []net.IP
	}{{[]string{"bank.example"}, nil}, {nil, []net.IP{net.ParseIP("10.0.0.1")}}, {[]string{"doorbell-ab13.local"}, nil}} {
		if _, err := root.Sign(csr, tc.dns, tc.ips, now); err == nil || !strings.Contains(err.Error(), "cannot vouch") {
			t.Errorf("signed %v %v: %v", tc.dns, tc.ips, err)
		}
	}

	// Even the root's key, stolen, makes nothing a verifier accepts for another name.
	forged := issue(t, root.Cert, root.Key, &x509.Certificate{DNSNames: []string{"bank.example"}})
	if err := verify(forged, root, "bank.example"); err == nil {
		t.Error("a certificate for bank.example chains to the household root")
	}
	forgedIP := issue(t, root.Cert, root.Key, &x509.Certificate{IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}})
	if err := verify(forgedIP, root, "10.0.0.1"); err == nil {
		t.Error("a certificate for 10.0.0.1 chains to the household root")
	}
	// An intermediate under the root is refused (path length 0).
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	inter := issue(t, root.Cert, root.Key, &x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, PublicKey: &interKey.PublicKey})
	under := issue(t, inter, interKey, &x509.Certificate{DNSNames: []string{"doorbell-ab12.local"}})
	pool, inters := x509.NewCertPool(), x509.NewCertPool()
	pool.AddCert(root.Cert)
	inters.AddCert(inter)
	if _, err := under.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inters, DNSName: "doorbell-ab12.local", CurrentTime: now}); err == nil {
		t.Error("an intermediate under the household root is accepted")
	}
}

// What a copy of the SD card holds, the doorbell's own key, vouches for nothing.
func TestTheDoorbellsKeyVouchesForNothing(t *testing.T) {
	root, _ := NewRoot("x", []string{"doorbell-ab12.local"}, nil, now)
	csr, deviceKey := request(t)
	der, _ := root.Sign(csr, []string{"doorbell-ab12.local"}, nil, now)
	leaf, _ := x509.ParseCertificate(der)
	for _, name := range []string{"bank.example", "doorbell-ab12.local"} {
		forged := issue(t, leaf, deviceKey, &x509.Certificate{DNSNames: []string{name}})
		pool, inters := x509.NewCertPool(), x509.NewCertPool()
		pool.AddCert(root.Cert)
		inters.AddCert(leaf)
		if _, err := forged.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inters, DNSName: name, CurrentTime: now}); err == nil {
			t.Errorf("a certificate for %s signed with the doorbell's key verifies", name)
		}
	}
	// No IP was named: every address is excluded.
	forged := issue(t, root.Cert, root.Key, &x509.Certificate{IPAddresses: []net.IP{net.ParseIP("192.168.1.20")}})
	if err := verify(forged, root, "192.168.1.20"); err == nil {
		t.Error("a root without addresses vouches for one")
	}
}

func issue(t *testing.T, parent *x509.Certificate, key *ecdsa.PrivateKey, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.Subject = pkix.Name{CommonName: "forged"}
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(time.Hour)
	pub := tmpl.PublicKey
	if pub == nil {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = &k.PublicKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestSealedKey(t *testing.T) {
	root, _ := NewRoot("x", []string{"doorbell-ab12.local"}, nil, now)
	owner, _ := age.GenerateX25519Identity()
	stranger, _ := age.GenerateX25519Identity()
	sealed, err := root.SealKey(owner.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "PRIVATE KEY") {
		t.Fatal("the key is not encrypted")
	}
	again, err := ParseRoot(root.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Unseal(sealed, stranger); err == nil || !strings.Contains(err.Error(), "give the identity") {
		t.Errorf("unsealed with another identity: %v", err)
	}
	if err := again.Unseal(sealed, owner); err != nil || !again.Key.Equal(root.Key) {
		t.Fatalf("unseal: %v", err)
	}

	pass, _ := age.NewScryptRecipient("correct horse")
	pass.SetWorkFactor(10)
	sealed, _ = root.SealKey(pass)
	wrong, _ := age.NewScryptIdentity("wrong")
	right, _ := age.NewScryptIdentity("correct horse")
	if err := again.Unseal(sealed, wrong); err == nil {
		t.Error("unsealed with a wrong passphrase")
	}
	if err := again.Unseal(sealed, right); err != nil {
		t.Error(err)
	}

	// A key sealed for another root is refused.
	other, _ := NewRoot("y", []string{"doorbell-ab12.local"}, nil, now)
	otherSealed, _ := other.SealKey(owner.Recipient())
	if err := again.Unseal(otherSealed, owner); err == nil || !strings.Contains(err.Error(), "different roots") {
		t.Errorf("another root's key: %v", err)
	}
	if _, err := ParseRoot([]byte("junk")); err == nil {
		t.Error("junk parsed as a root")
	}
}

func TestMobileConfig(t *testing.T) {
	root, _ := NewRoot("x", []string{"doorbell-ab12.local"}, []net.IP{net.ParseIP("192.168.1.20")}, now)
	p := MobileConfig(root.Cert, "front door")
	if string(MobileConfig(root.Cert, "front door")) != string(p) {
		t.Error("the profile changes between downloads; iOS would install it twice")
	}
	dec := xml.NewDecoder(strings.NewReader(string(p)))
	var datas []string
	var strs []string
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && (se.Name.Local == "data" || se.Name.Local == "string") {
			var s string
			if err := dec.DecodeElement(&s, &se); err != nil {
				t.Fatal(err)
			}
			if se.Name.Local == "data" {
				datas = append(datas, s)
			} else {
				strs = append(strs, s)
			}
		}
	}
	if len(datas) != 1 || datas[0] != base64.StdEncoding.EncodeToString(root.Cert.Raw) {
		t.Errorf("profile data %v", datas)
	}
	all := strings.Join(strs, "\n")
	for _, want := range []string{"com.apple.security.root", "doorbell-ab12.local, 192.168.1.20", "cannot be used to read or change your traffic", "Certificate Trust Settings"} {
		if !strings.Contains(all, want) {
			t.Errorf("profile lacks %q", want)
		}
	}
}
