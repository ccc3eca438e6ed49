// Package e2e tests sealed clips end to end, with the real programs: the
// daemon (doorbelld) on its synthetic camera, the household CLI (doorbell),
// the official age CLI built from the go.mod version, Debian's age, and
// ffprobe.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"doorbell/internal/testkit"
	"doorbell/internal/testkit/audiotest"
)

// The programs under test; the official age CLI at the version in go.mod.
var (
	doorbelldBin = &testkit.Binary{Name: "doorbelld", Package: "doorbell/cmd/doorbelld"}
	doorbellBin  = &testkit.Binary{Name: "doorbell", Package: "doorbell/cmd/doorbell", Env: []string{"CGO_ENABLED=0"}}
	ageBin       = &testkit.Binary{Name: "age", Package: "filippo.io/age/cmd/age"}
)

func TestMain(m *testing.M) { testkit.Main(m, doorbelldBin, testkit.Encoder, doorbellBin, ageBin) }

// bin is the directory of the programs built for the tests.
func bin() string { return filepath.Dir(doorbelldBin.Path()) }

// config is a small, quick doorbell: 320x240 at 15 fps, a visitor every
// 8 s who starts walking in 2 s after the camera starts, short clips.
const config = `[http]
listen = "127.0.0.1:0"
[camera]
width = 320
height = 240
fps = 15
[camera.synthetic]
visitor_period = 8.0
visitor_stay = 1.0
[stream]
bitrate_kbps = 800
[motion]
learn_time = 0.5
quiet = 1.0
cooldown = 0.5
[recorder]
pre_roll = 1.5
post_roll = 0.5
max_length = %g
[gpio]
enabled = false
`

func writeConfig(t *testing.T, maxLength float64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "doorbell.toml")
	if err := os.WriteFile(p, fmt.Appendf(nil, config, maxLength), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// daemon is a running doorbelld.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	lines  []string // log lines so far
	out    bytes.Buffer
	signal chan struct{}
	done   chan struct{}
}

func startDaemon(t *testing.T, data, cfg string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin(), "doorbelld"), append([]string{"-config", cfg, "-data", data}, args...)...)
	d := &daemon{t: t, cmd: cmd, signal: make(chan struct{}, 1), done: make(chan struct{})}
	cmd.Stdout = &lockedWriter{mu: &d.mu, w: &d.out}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			d.mu.Lock()
			d.lines = append(d.lines, sc.Text())
			d.mu.Unlock()
			select {
			case d.signal <- struct{}{}:
			default:
			}
		}
		cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(d.kill)
	line := d.waitLog("msg=listening", 20*time.Second)
	m := regexp.MustCompile(`url=https://([^/ ]+)/`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no address in %q", line)
	}
	d.addr = m[1]
	return d
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitLog waits for a log line containing s, after any seen before, and returns it.
func (d *daemon) waitLogAfter(from int, s string, timeout time.Duration) (string, int) {
	d.t.Helper()
	deadline := time.After(timeout)
	for {
		d.mu.Lock()
		for i := from; i < len(d.lines); i++ {
			if strings.Contains(d.lines[i], s) {
				line := d.lines[i]
				d.mu.Unlock()
				return line, i + 1
			}
		}
		d.mu.Unlock()
		select {
		case <-d.signal:
		case <-d.done:
			d.t.Fatalf("doorbelld exited while waiting for %q:\n%s", s, d.log())
		case <-deadline:
			d.t.Fatalf("no %q in the log within %v:\n%s", s, timeout, d.log())
		}
	}
}

func (d *daemon) waitLog(s string, timeout time.Duration) string {
	d.t.Helper()
	line, _ := d.waitLogAfter(0, s, timeout)
	return line
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.lines, "\n")
}

func (d *daemon) stdout() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

func (d *daemon) kill() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

var insecure = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}

// health reads /healthz.
func (d *daemon) health() map[string]any {
	d.t.Helper()
	resp, err := insecure.Get("https://" + d.addr + "/healthz")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var h map[string]any
	json.NewDecoder(resp.Body).Decode(&h)
	return h
}

func (d *daemon) metric(name string) float64 {
	d.t.Helper()
	resp, err := insecure.Get("https://" + d.addr + "/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return -1
}

// run runs a program from bin (or a path) and returns its output; it fails
// the test if the exit code is not want.
func run(t *testing.T, env []string, want int, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	return runIn(t, "", env, want, name, args...)
}

// runIn is run in the working directory dir ("": the test's).
func runIn(t *testing.T, dir string, env []string, want int, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	path := name
	if !strings.Contains(name, "/") {
		path = filepath.Join(bin(), name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if code != want {
		t.Fatalf("%s %v: exit %d, want %d\nstdout: %s\nstderr: %s", name, args, code, want, o.String(), e.String())
	}
	return o.String(), e.String()
}

// ffprobeDuration checks that path holds exactly one H.264 video stream
// and returns the file's duration.
func ffprobeDuration(t *testing.T, path string) float64 {
	t.Helper()
	streams, d := audiotest.Probe(t, path, false)
	if len(streams) != 1 || streams[0].Codec != "h264" || streams[0].Type != "video" {
		t.Fatalf("ffprobe %s: streams %+v, want one H.264 video stream", path, streams)
	}
	return d
}

// clipsIn lists the ids of the finished clips in a clips directory.
func clipsIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".mp4.age"); ok && !strings.HasPrefix(id, ".") {
			ids = append(ids, id)
		}
	}
	return ids
}

// keygen makes an identity with the CLI and returns its file and public key.
func keygen(t *testing.T, dir, name string, args ...string) (file, recipient string) {
	t.Helper()
	file = filepath.Join(dir, name+".key")
	out, _ := run(t, nil, 0, "doorbell", append([]string{"keygen", "-o", file}, args...)...)
	return file, strings.TrimSpace(out)
}
