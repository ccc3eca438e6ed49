package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"doorbell/internal/testkit"
	"doorbell/tlscert/ca"
)

// householdFor signs s's request with a new root for names.
func householdFor(t *testing.T, s *Server, names ...string) (leafPEM, rootPEM []byte, root *ca.Root) {
	leafPEM, root = testkit.HouseholdRoot(t, s, names...)
	return leafPEM, root.CertPEM(), root
}

func servedBy(t *testing.T, s *Server) *x509.Certificate {
	t.Helper()
	c, err := s.TLSConfig().GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(c.Certificate[0])
	return leaf
}

func TestHouseholdCertificate(t *testing.T) {
	dir := t.TempDir()
	hosts := []string{"doorbell-ab12.local", "localhost", "127.0.0.1"}
	s, err := Open(dir, "", "", hosts)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Mode != ModeSelfSigned || s.Root() != nil {
		t.Fatalf("fresh: %+v", st)
	}
	selfSigned := servedBy(t, s)
	reqPEM, _ := s.Request()
	block, _ := pem.Decode(reqPEM)
	csr, _ := x509.ParseCertificateRequest(block.Bytes)
	if strings.Join(csr.DNSNames, " ") != "doorbell-ab12.local localhost" || len(csr.IPAddresses) != 1 || csr.CheckSignature() != nil {
		t.Errorf("request names %v %v", csr.DNSNames, csr.IPAddresses)
	}

	leafPEM, rootPEM, root := householdFor(t, s, hosts...)
	// Refusals first: none changes what is served.
	other, _ := Open(t.TempDir(), "", "", hosts)
	otherLeaf, _, _ := householdFor(t, other, hosts...)
	unconstrained := selfSignedPEM(t, dir)
	for name, tc := range map[string][2][]byte{
		"another device's key": {otherLeaf, rootPEM},
		"the wrong root":       {leafPEM, otherRootPEM(t)},
		"an unconstrained CA":  {leafPEM, unconstrained},
		"garbage":              {[]byte("x"), rootPEM},
	} {
		if err := s.InstallHousehold(tc[0], tc[1]); err == nil {
			t.Errorf("%s: installed", name)
		}
	}
	if servedBy(t, s).SerialNumber.Cmp(selfSigned.SerialNumber) != 0 {
		t.Fatal("a refused certificate is served")
	}

	if err := s.InstallHousehold(leafPEM, rootPEM); err != nil {
		t.Fatal(err)
	}
	leaf := servedBy(t, s)
	if err := root.Verify(leaf, time.Now()); err != nil {
		t.Errorf("served certificate: %v", err)
	}
	// Same key as before: computers that pinned it (device add) still match.
	if string(leaf.RawSubjectPublicKeyInfo) != string(selfSigned.RawSubjectPublicKeyInfo) {
		t.Error("the household certificate has another key than the pinned one")
	}
	st := s.Status()
	if st.Mode != ModeHousehold || st.RootSHA256 != Fingerprint(root.Cert.Raw) || st.Problem != "" || s.Root() == nil {
		t.Errorf("status %+v", st)
	}

	// After a restart.
	again, err := Open(dir, "", "", hosts)
	if err != nil || again.Status().Mode != ModeHousehold || servedBy(t, again).SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("after restart: %v %+v", err, again.Status())
	}

	// A damaged file falls back to self-signed and says why.
	if err := os.WriteFile(filepath.Join(dir, HouseholdCertFileName), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken, err := Open(dir, "", "", hosts)
	if err != nil {
		t.Fatal(err)
	}
	if st := broken.Status(); st.Mode != ModeSelfSigned || !strings.Contains(st.Problem, "not used") {
		t.Errorf("damaged: %+v", st)
	}

	// The owner's own files: nothing to sign.
	own, err := Open(dir, filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := own.Request(); err == nil || own.Status().Mode != ModeOwn {
		t.Errorf("own files: %v %+v", err, own.Status())
	}
}

func selfSignedPEM(t *testing.T, dir string) []byte {
	data, err := os.ReadFile(filepath.Join(dir, CertFileName))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func otherRootPEM(t *testing.T) []byte {
	r, err := ca.NewRoot("other", []string{"doorbell-ab12.local"}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r.CertPEM()
}

// Served reads what the daemon would serve from the files alone: the CLI
// says so when it prints a pairing link.
func TestServedFromTheDataDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Served(dir, time.Now()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty data directory: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("Served made files: %v", entries)
	}
	s, err := Open(dir, "", "", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if mode, fp, err := Served(dir, time.Now()); err != nil || mode != ModeSelfSigned || fp != s.Fingerprint() {
		t.Fatalf("self-signed: %s %s %v, want %s", mode, fp, err, s.Fingerprint())
	}
	leafPEM, rootPEM, _ := householdFor(t, s, "localhost")
	if err := s.InstallHousehold(leafPEM, rootPEM); err != nil {
		t.Fatal(err)
	}
	mode, fp, err := Served(dir, time.Now())
	if err != nil || mode != ModeHousehold || fp != s.Fingerprint() {
		t.Fatalf("household: %s %s %v, want %s", mode, fp, err, s.Fingerprint())
	}
	leaf := servedBy(t, s)
	if mode, _, _ := Served(dir, leaf.NotAfter.Add(time.Second)); mode != ModeSelfSigned {
		t.Errorf("expired household certificate: served as %s", mode)
	}
	if err := os.WriteFile(filepath.Join(dir, ACMECertFileName), []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if mode, _, _ := Served(dir, time.Now()); mode != ModeHousehold {
		t.Errorf("with a damaged ACME file: %s", mode)
	}
	if err := os.WriteFile(filepath.Join(dir, ACMECertFileName), leafPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if mode, _, _ := Served(dir, time.Now()); mode != ModeACME {
		t.Errorf("with an ACME certificate: %s", mode)
	}
}
