// Package s3test runs a real S3 server for tests: versitygw v1.8.0 with its
// POSIX backend in a temporary directory, on loopback. The first use on a
// machine builds versitygw with go install into the user's cache directory,
// outside this module's dependency graph.
package s3test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Version is the versitygw the tests run.
const Version = "v1.8.0"

const module = "github.com/versity/versitygw/cmd/versitygw"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns versitygw's path, building it the first time (a few
// minutes), with a lock so that test binaries running side by side build
// it once.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { binPath, buildErr = build() })
	if buildErr != nil {
		t.Fatalf("versitygw %s: %v", Version, buildErr)
	}
	return binPath
}

func build() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "doorbell-test", "versitygw-"+Version)
	bin := filepath.Join(dir, "versitygw")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", module+"@"+Version)
	cmd.Dir = dir // outside any module: its dependencies stay out of ours
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %v\n%s", module, Version, err, out)
	}
	return bin, nil
}

// Server is a running versitygw.
type Server struct {
	Endpoint       string // http://127.0.0.1:PORT
	Access, Secret string // the root user's
	Dir            string // the POSIX backend's root: one directory per bucket

	t    testing.TB
	addr string
	iam  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs versitygw on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	Binary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{
		Endpoint: "http://" + addr, Access: "rootaccess", Secret: "rootsecret-" + fmt.Sprint(time.Now().UnixNano()),
		Dir: t.TempDir(), iam: t.TempDir(), t: t, addr: addr,
	}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again after Stop, on the same port and with the same data.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(Binary(s.t), "--access", s.Access, "--secret", s.Secret, "--port", s.addr,
		"--iam-dir", s.iam, "--health", "/health", "--quiet", "posix", s.Dir)
	logFile, err := os.Create(filepath.Join(s.iam, "versitygw.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting versitygw: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(done) }()
	s.cmd, s.done = cmd, done
	// Ready when its health endpoint answers; it exits at once on bad flags.
	deadline := time.Now().Add(30 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		resp, err := http.Get(s.Endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			out, _ := os.ReadFile(filepath.Join(s.iam, "versitygw.log"))
			s.t.Fatalf("versitygw exited at start:\n%s", out)
		case <-time.After(wait):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("versitygw did not answer on %s within 30 s: %v", s.addr, err)
		}
	}
}

// Stop kills the server (as a storage outage would); Restart brings it back.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Root is a client with the root user's keys.
func (s *Server) Root(t testing.TB) *minio.Client {
	t.Helper()
	mc, err := minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s.Access, s.Secret, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

// CreateBucket makes a bucket owned by the root user.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if err := s.Root(t).MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
}

// Admin runs a versitygw admin command (create-user …) against the server.
func (s *Server) Admin(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"admin", "--access", s.Access, "--secret", s.Secret, "--endpoint-url", s.Endpoint}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("versitygw admin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// CredentialsFile writes an AWS shared credentials file (0600) for a key pair.
func CredentialsFile(t testing.TB, access, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	data := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", access, secret)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
