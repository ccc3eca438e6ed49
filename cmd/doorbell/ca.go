package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"doorbell/crypto/keys"
	"doorbell/household"
	"doorbell/internal/atomicfile"
	"doorbell/tlscert/ca"
)

const caUsage = `Usage:
  doorbell ca sign -i IDENTITY [-from URL] [-new-root] [-dns NAMES] [-ip ADDRS]
  doorbell ca show [-from URL]

sign   makes the doorbell's HTTPS certificate trusted by your household's
       phones. The first time, it makes a household root that can vouch only
       for this doorbell's names (X.509 name constraints), and keeps it on
       this computer with its key sealed to your age identity (-i, the file
       doorbell keygen wrote). It then signs the doorbell's certificate
       request (for the TLS key this computer pinned) and installs the
       certificate on the doorbell. Run it again to renew (the certificate
       lasts 397 days; /healthz warns 30 days ahead), or with -new-root when
       the doorbell's names changed (phones must then install the new root).
show   prints where the root is kept, its fingerprint and its names.

Phones install the root from the doorbell's page: Android and desktops take
https://DOORBELL/household-root.crt, iPhones and iPads
https://DOORBELL/household-root.mobileconfig.

The root is kept in $DOORBELL_CONFIG_DIR/ca/, or doorbell/ca/ in your config
directory. The doorbell never holds its key: a copy of its SD card yields
only the doorbell's own key, which can sign nothing.
`

func runCA(args []string, stdout, stderr io.Writer) int {
	return dispatch("ca", args, stdout, stderr, caUsage, caUsage, map[string]subcommand{
		"sign": caSign, "show": caShow,
	})
}

// Files of a household root, in caDir.
const (
	rootCertFile = "root.crt"     // public
	rootKeyFile  = "root-key.age" // the key, sealed to the owner's age identity
)

// caDir is where the root for the doorbell at url is kept.
func caDir(rawURL string) (string, error) {
	dir, err := household.ConfigDir()
	if err != nil {
		return "", err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	name := strings.NewReplacer(":", "_", "[", "", "]", "").Replace(u.Host)
	sum := sha256.Sum256([]byte(rawURL))
	return filepath.Join(dir, "ca", name+"-"+hex.EncodeToString(sum[:3])), nil
}

type listFlag []string

func (f *listFlag) String() string { return strings.Join(*f, ",") }
func (f *listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*f = append(*f, p)
		}
	}
	return nil
}

func caSign(args []string, stdout, stderr io.Writer) int {
	c := newCommand("ca sign", "ca sign -i IDENTITY [-from URL] [-new-root] [-dns NAMES] [-ip ADDRS]", stderr)
	var idFiles identityFlags
	c.fs.Var(&idFiles, "i", "your age identity `FILE` (from doorbell keygen): the root's key is sealed to it and opened with it")
	from := c.fs.String("from", "", "the paired doorbell's `URL` (default: the only one paired)")
	newRoot := c.fs.Bool("new-root", false, "make a new household root even if there is one (phones must install it again)")
	var dnsNames, ipFlags listFlag
	c.fs.Var(&dnsNames, "dns", "the doorbell's DNS `NAMES` to vouch for, comma-separated (default: the names it asks for)")
	c.fs.Var(&ipFlags, "ip", "its IP `ADDRS` to vouch for, comma-separated (default: the address in its URL, if that is one)")
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	ids, code, ok := loadIdentities(c, idFiles)
	if !ok {
		return code
	}
	ds, code, ok := devicesDir(c)
	if !ok {
		return code
	}
	d, err := ds.Find(*from)
	if err != nil {
		return c.failf("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := household.NewClient(d)
	defer cl.Close()
	csrPEM, err := cl.CertificateRequest(ctx)
	if err != nil {
		return c.failf("%v", err)
	}
	block, _ := pem.Decode(csrPEM)
	var csr *x509.CertificateRequest
	if block != nil {
		csr, err = x509.ParseCertificateRequest(block.Bytes)
	}
	if block == nil || err != nil {
		return c.failf("the doorbell's certificate request does not parse (%v); is it running this version of doorbelld?", err)
	}

	// The names: what the doorbell asks for, or what the owner says, plus
	// the address this computer reaches it by.
	dns := []string(dnsNames)
	if len(dns) == 0 {
		dns = csr.DNSNames
	}
	var ips []net.IP
	for _, s := range ipFlags {
		ip := net.ParseIP(s)
		if ip == nil {
			return c.failf("-ip %q is not an IP address; give addresses such as 192.168.1.20, comma-separated", s)
		}
		ips = append(ips, ip)
	}
	if len(ipFlags) == 0 {
		if u, err := url.Parse(d.URL); err == nil {
			if ip := net.ParseIP(u.Hostname()); ip != nil {
				ips = append(ips, ip)
			}
		}
	}

	dir, err := caDir(d.URL)
	if err != nil {
		return c.failf("%v", err)
	}
	root, made, err := householdRoot(dir, d.URL, dns, ips, ids, *newRoot)
	if err != nil {
		return c.failf("%v", err)
	}
	der, err := root.Sign(csr, dns, ips, time.Now())
	if err != nil {
		return c.failf("%v", err)
	}
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := cl.InstallCertificate(ctx, leafPEM, root.CertPEM()); err != nil {
		return c.failf("%v", err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if made {
		fmt.Fprintf(stdout, "Made a household root in %s\n(key sealed to your identity; keep a backup of the directory with your key).\n", dir)
	}
	fmt.Fprintf(stdout, "The doorbell at %s now has a certificate from your household root,\nfor %s, valid until %s.\n",
		d.URL, strings.Join(root.Names(), ", "), leaf.NotAfter.Format(time.DateOnly))
	fmt.Fprintf(stdout, "Root fingerprint (SHA-256): %s\n\n", root.Fingerprint())
	printInstallSteps(stdout, d.URL)
	return 0
}

// printInstallSteps tells how phones install the root.
func printInstallSteps(w io.Writer, base string) {
	fmt.Fprintf(w, `Install the root once on each phone, from the doorbell's page or these links:
  iPhone, iPad:  open %s%s in Safari, allow the download, then
                 Settings > Profile Downloaded > Install, and turn it on under
                 Settings > General > About > Certificate Trust Settings.
  Android:       open %s%s, then Settings > Security > Encryption & credentials >
                 Install a certificate > CA certificate.
  Chromium, Chrome on a computer: Settings > Privacy and security > Security >
                 Manage certificates > Authorities > Import.
The root can vouch only for this doorbell's names: it lets nobody read or
change your traffic to any other site.
`, base, "/household-root.mobileconfig", base, "/household-root.crt")
}

// householdRoot loads the root in dir, or makes one for the names.
func householdRoot(dir, deviceURL string, dns []string, ips []net.IP, ids []age.Identity, fresh bool) (*ca.Root, bool, error) {
	certPath, keyPath := filepath.Join(dir, rootCertFile), filepath.Join(dir, rootKeyFile)
	if !fresh {
		certPEM, err := os.ReadFile(certPath)
		switch {
		case err == nil:
			root, err := ca.ParseRoot(certPEM)
			if err != nil {
				return nil, false, fmt.Errorf("%s: %w", certPath, err)
			}
			sealed, err := os.ReadFile(keyPath)
			if err != nil {
				return nil, false, fmt.Errorf("cannot read the household root's key: %w; restore %s from your backup, or make a new root with -new-root (phones must then install it again)", err, keyPath)
			}
			if err := root.Unseal(sealed, ids...); err != nil {
				return nil, false, err
			}
			return root, false, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, false, fmt.Errorf("cannot read the household root: %w", err)
		}
	}
	pubs := keys.PublicKeys(ids)
	if len(pubs) == 0 {
		return nil, false, errors.New("the identity holds no age X25519 or post-quantum key to seal the root's key to; give the file doorbell keygen wrote")
	}
	recipient, _, err := keys.ParseRecipient(pubs[0])
	if err != nil {
		return nil, false, err
	}
	label := deviceURL
	if u, err := url.Parse(deviceURL); err == nil {
		label = u.Hostname()
	}
	root, err := ca.NewRoot(label, dns, ips, time.Now())
	if err != nil {
		return nil, false, err
	}
	sealed, err := root.SealKey(recipient)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("cannot make %s: %w", dir, err)
	}
	if err := atomicfile.WriteFile(keyPath, sealed, 0o600); err != nil {
		return nil, false, fmt.Errorf("cannot save the household root's key: %w", err)
	}
	if err := atomicfile.WriteFile(certPath, root.CertPEM(), 0o644); err != nil {
		return nil, false, fmt.Errorf("cannot save the household root: %w", err)
	}
	return root, true, nil
}

func caShow(args []string, stdout, stderr io.Writer) int {
	c := newCommand("ca show", "ca show [-from URL]", stderr)
	from := c.fs.String("from", "", "the paired doorbell's `URL` (default: the only one paired)")
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	ds, code, ok := devicesDir(c)
	if !ok {
		return code
	}
	d, err := ds.Find(*from)
	if err != nil {
		return c.failf("%v", err)
	}
	dir, err := caDir(d.URL)
	if err != nil {
		return c.failf("%v", err)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, rootCertFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c.failf("no household root for %s yet; make one with doorbell ca sign -i IDENTITY", d.URL)
	}
	if err != nil {
		return c.failf("%v", err)
	}
	root, err := ca.ParseRoot(certPEM)
	if err != nil {
		return c.failf("%v", err)
	}
	fmt.Fprintf(stdout, "Household root for %s\n  kept in      %s\n  fingerprint  %s\n  vouches for  %s\n  valid until  %s\n",
		d.URL, dir, root.Fingerprint(), strings.Join(root.Names(), ", "), root.Cert.NotAfter.Format(time.DateOnly))
	return 0
}
