package daemon

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
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"doorbell/crypto/keys"
	"doorbell/internal/testkit"
	"doorbell/pairing"
	"doorbell/tlscert"
	"doorbell/tlscert/ca"
	"doorbell/wire"
)

// buildCLI builds the household CLI, pure Go as members get it.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "doorbell")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/doorbell")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the CLI: %v\n%s", err, out)
	}
	return bin
}

type cli struct {
	t      *testing.T
	bin    string
	config string
}

func (c cli) run(args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), "DOORBELL_CONFIG_DIR="+c.config)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c cli) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("doorbell %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func getTrust(t *testing.T, addr string) TrustInfo {
	t.Helper()
	resp, err := insecure.Get("https://" + addr + "/api/tls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info TrustInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info
}

// trustedBrowser starts Chromium whose NSS database (in a fresh HOME)
// trusts rootPEM, and which does not ignore certificate errors.
func trustedBrowser(t *testing.T, rootPEM []byte) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	if _, err := exec.LookPath("certutil"); err != nil {
		t.Fatal("no certutil: run make test (deploy/setup.sh installs libnss3-tools), or apt-get install -y libnss3-tools")
	}
	home := t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb")
	rootFile := filepath.Join(home, "root.crt")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootFile, rootPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + db, "--empty-password"},
		{"-A", "-d", "sql:" + db, "-t", "C,,", "-n", "doorbell household root", "-i", rootFile},
	} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("HOME=" + home),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("cannot start Chromium: %v", err)
	}
	return ctx
}

// The household CA end to end: the CLI makes the root on the owner's
// computer, signs the doorbell's request and installs the certificate;
// the doorbell serves the root for phones; a browser that trusts the root
// loads the page and plays live video without a warning; renewing keeps
// the pin; the data directory never holds the root's key.
func TestHouseholdTrust(t *testing.T) {
	bin := buildCLI(t)
	d, addr := startedTB(t, smallCamera())
	home := t.TempDir()
	c := cli{t, bin, filepath.Join(home, "config")}

	if info := getTrust(t, addr); info.Mode != tlscert.ModeSelfSigned || info.RootCRT != "" {
		t.Fatalf("fresh doorbell: %+v", info)
	}
	for _, p := range []string{RootCRTPath, RootMobileConfigPath} {
		if resp := authGet(t, "https://"+addr+p, ""); resp.StatusCode != 404 {
			t.Errorf("%s without a root: %s", p, resp.Status)
		}
	}
	idFile := filepath.Join(home, "me.txt")
	c.must("keygen", "-o", idFile)
	testkit.AddMember(t, d.DataDir(), "owner")
	code, err := pairing.NewCode(d.DataDir(), "owner", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.must("device", "add", wire.PairLink(addr, code.Code, deviceID(t, d)))

	if out, err := c.run("ca", "sign"); err == nil || !strings.Contains(out, "-i") {
		t.Errorf("ca sign without an identity: %v\n%s", err, out)
	}
	out := c.must("ca", "sign", "-i", idFile)
	for _, want := range []string{"Made a household root", "127.0.0.1", "/household-root.mobileconfig", "/household-root.crt", "Root fingerprint"} {
		if !strings.Contains(out, want) {
			t.Errorf("ca sign output lacks %q:\n%s", want, out)
		}
	}
	info := getTrust(t, addr)
	if info.Mode != tlscert.ModeHousehold || info.RootCRT != RootCRTPath || info.RootMobileConfig != RootMobileConfigPath || info.Problem != "" {
		t.Fatalf("after ca sign: %+v", info)
	}

	// The root, as the CLI keeps it and as the doorbell serves it.
	caDirs, _ := filepath.Glob(filepath.Join(c.config, "ca", "*"))
	if len(caDirs) != 1 {
		t.Fatalf("ca dirs %v", caDirs)
	}
	rootPEM, err := os.ReadFile(filepath.Join(caDirs[0], "root.crt"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.ParseRoot(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	resp := authGet(t, "https://"+addr+RootCRTPath, "")
	der, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/x-x509-ca-cert" || !bytes.Equal(der, root.Cert.Raw) {
		t.Errorf("%s: %s, %d bytes", RootCRTPath, resp.Header.Get("Content-Type"), len(der))
	}
	resp = authGet(t, "https://"+addr+RootMobileConfigPath, "")
	profile, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/x-apple-aspen-config" || !bytes.Contains(profile, []byte("com.apple.security.root")) {
		t.Errorf("%s: %s", RootMobileConfigPath, resp.Header.Get("Content-Type"))
	}

	// A client that trusts only the root, and checks names, connects.
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	strict := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err = strict.Get("https://" + addr + "/api/tls")
	if err != nil {
		t.Fatalf("a client trusting only the household root: %v", err)
	}
	resp.Body.Close()

	// The root's key: sealed on the owner's computer, nowhere in the data directory.
	sealed, err := os.ReadFile(filepath.Join(caDirs[0], "root-key.age"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(caDirs[0], "root-key.age")); fi.Mode().Perm() != 0o600 {
		t.Errorf("root key file mode %v", fi.Mode())
	}
	ids, err := keys.ReadIdentities(idFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Unseal(sealed, ids...); err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(root.Key)
	scalar, _ := root.Key.Bytes()
	_ = filepath.Walk(d.DataDir(), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(p)
		if bytes.Contains(data, scalar) || bytes.Contains(data, keyDER) || bytes.Contains(data, sealed) {
			t.Errorf("the data directory holds the root's key in %s", p)
		}
		return nil
	})

	// Renewal: the same root, the same pinned key (the CLI still connects).
	before := getTrust(t, addr)
	out = c.must("ca", "sign", "-i", idFile)
	after := getTrust(t, addr)
	if strings.Contains(out, "Made a household root") || after.RootSHA256 != before.RootSHA256 || after.Mode != tlscert.ModeHousehold {
		t.Errorf("renewal: %+v\n%s", after, out)
	}
	if out := c.must("ca", "show"); !strings.Contains(out, root.Fingerprint()) {
		t.Errorf("ca show:\n%s", out)
	}
	// Another identity cannot open the root's key.
	other := filepath.Join(home, "other.txt")
	c.must("keygen", "-o", other)
	if out, err := c.run("ca", "sign", "-i", other); err == nil || !strings.Contains(out, "cannot open the household root's key") {
		t.Errorf("ca sign with another identity: %v\n%s", err, out)
	}

	// A browser that trusts the root: no warning, live video.
	ctx := trustedBrowser(t, rootPEM)
	pairBrowser(t, ctx, d, addr, "anna")
	if secure, _ := js[bool](ctx, `window.isSecureContext`); !secure {
		t.Error("the page is not a secure context")
	}
}

// The same browser refuses a doorbell certificate that the root signed
// for a name outside its constraints.
func TestBrowserRefusesACertificateOutsideTheConstraints(t *testing.T) {
	root, err := ca.NewRoot("test", []string{"doorbell-test.local"}, []net.IP{net.ParseIP("127.0.0.2")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Signed with the root's key, bypassing Sign's check: what a stolen
	// root key could make.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "outside"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Cert, &key.PublicKey, root.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)

	cfg := smallCamera()
	cfg.HTTP.CertFile, cfg.HTTP.KeyFile = certFile, keyFile
	_, addr := startedTB(t, cfg)
	ctx := trustedBrowser(t, root.CertPEM())
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err = chromedp.Do(c, chromedp.Navigate("https://"+addr+"/"))
	// Not ERR_CERT_AUTHORITY_INVALID: the root is trusted, the name is not
	// within it (Chromium says ERR_CERT_INVALID or ..._NAME_CONSTRAINT_VIOLATION).
	if err == nil || !strings.Contains(err.Error(), "ERR_CERT") || strings.Contains(err.Error(), "AUTHORITY_INVALID") {
		t.Fatalf("Chromium loaded a page whose certificate is outside the root's constraints: %v", err)
	}
	t.Logf("Chromium: %v", err)
}
