// Package mqtttest runs Debian's real mosquitto broker for tests, on a free
// loopback port with a generated config: never the system broker on 1883.
package mqtttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"doorbell/internal/syncbuf"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options shape the broker.
type Options struct {
	// Users, if set, are the only logins accepted (user name → password).
	Users map[string]string
	// TLS makes the listener speak TLS with a certificate for 127.0.0.1
	// signed by a CA made for the test (CAFile).
	TLS bool
	// Persist keeps sessions and their queued messages across Restart, in
	// the test's temporary directory.
	Persist bool
	// ACL, if set, is the text of mosquitto's acl_file: which user may
	// read or write which topics. Use it with Users.
	ACL string
}

// Broker is one mosquitto process.
type Broker struct {
	t      testing.TB
	dir    string
	conf   string
	Port   int
	CAFile string // with Options.TLS: the CA to trust

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *syncbuf.Buffer
}

// Start starts mosquitto and waits until it accepts connections. The test
// fails, naming the fix, if mosquitto is not installed; it stops at cleanup.
func Start(t testing.TB, o Options) *Broker {
	t.Helper()
	b := &Broker{t: t, dir: t.TempDir(), Port: freePort(t)}
	var conf strings.Builder
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\n", b.Port)
	if len(o.Users) > 0 {
		pw := filepath.Join(b.dir, "passwords")
		for user, pass := range o.Users {
			args := []string{"-b", pw, user, pass}
			if _, err := os.Stat(pw); err != nil {
				args = append([]string{"-c"}, args...)
			}
			if out, err := exec.Command(tool(t, "mosquitto_passwd"), args...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
			}
		}
		fmt.Fprintf(&conf, "allow_anonymous false\npassword_file %s\n", pw)
	} else {
		conf.WriteString("allow_anonymous true\n")
	}
	if o.ACL != "" {
		acl := filepath.Join(b.dir, "acl")
		if err := os.WriteFile(acl, []byte(o.ACL), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&conf, "acl_file %s\n", acl)
	}
	if o.TLS {
		b.CAFile = filepath.Join(b.dir, "ca.pem")
		cert, key := writeCerts(t, b.dir)
		fmt.Fprintf(&conf, "cafile %s\ncertfile %s\nkeyfile %s\n", b.CAFile, cert, key)
	}
	if o.Persist {
		fmt.Fprintf(&conf, "persistence true\npersistence_location %s/\n", b.dir)
	} else {
		conf.WriteString("persistence false\n")
	}
	// As root, mosquitto would switch to its own user, who cannot read the
	// test's private temporary directory.
	if os.Geteuid() == 0 {
		conf.WriteString("user root\n")
	}
	conf.WriteString("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\n")
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	t.Cleanup(b.Stop)
	return b
}

// URL is the broker's address for a client: mqtt:// or, with TLS, mqtts://.
func (b *Broker) URL() string {
	scheme := "mqtt"
	if b.CAFile != "" {
		scheme = "mqtts"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, b.Port)
}

// Addr is HOST:PORT.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port)) }

// Restart starts the broker again on the same port after Stop (Start has
// already started it once).
func (b *Broker) Restart() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		b.t.Fatal("mqtttest: Restart while the broker runs; Stop it first")
	}
	out := &syncbuf.Buffer{}
	cmd := exec.Command(tool(b.t, "mosquitto"), "-c", b.conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("cannot start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			b.t.Fatalf("mosquitto exited at start:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			b.t.Fatalf("mosquitto did not listen on %s within 10 s:\n%s", b.Addr(), out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.cmd, b.out = cmd, out
	b.exited = exited
}

// Stop stops the broker (SIGTERM, so it saves what it persists) and waits.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
	b.cmd = nil
}

// Log is what the broker has logged since it last started.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out == nil {
		return ""
	}
	return b.out.String()
}

// tool finds a mosquitto program, also in /usr/sbin, which a non-root PATH lacks.
func tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin"} {
		if p := filepath.Join(dir, name); isExec(p) {
			return p
		}
	}
	t.Fatalf("%s is not installed; run make setup (deploy/setup.sh), or apt-get install mosquitto", name)
	return ""
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

// freePort finds a free loopback port; never 1883, where Debian's own broker may run.
func freePort(t testing.TB) int {
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port != 1883 && port != 8883 {
			return port
		}
	}
}

// writeCerts makes a CA (written to dir/ca.pem) and a server certificate
// for 127.0.0.1 and localhost signed by it, and returns the server's files.
func writeCerts(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "doorbell test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}
