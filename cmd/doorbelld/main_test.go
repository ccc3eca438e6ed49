package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"doorbell/internal/testkit"
)

// doorbelldBin is the daemon under test, built with -race.
var doorbelldBin = &testkit.Binary{Name: "doorbelld", Package: ".", Flags: []string{"-race"}}

func TestMain(m *testing.M) { testkit.Main(m, doorbelldBin, testkit.Encoder) }

func doorbelld(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(doorbelldBin.Path(), args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestVersionNamesOpenCV(t *testing.T) {
	out, _, code := doorbelld(t, "--version")
	if code != 0 || !regexp.MustCompile(`^doorbelld \S+ \(commit \S+, go1\.\d+.*\), OpenCV 4\.6\.\d+\n$`).MatchString(out) {
		t.Fatalf("exit %d: %q", code, out)
	}
}

func writeConfig(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "doorbell.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckConfig(t *testing.T) {
	out, _, code := doorbelld(t, "-check-config", "../../deploy/doorbell.example.toml")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("example config: exit %d, %q", code, out)
	}
	bad := writeConfig(t, "[camera]\nfps = 0\n\n[[privacy_mask]]\npolygon = [[0.1, 0.1], [0.2, 0.2]]\n")
	_, errOut, code := doorbelld(t, "-check-config", bad)
	if code != 2 || !strings.Contains(errOut, bad+":2: camera.fps is 0") || !strings.Contains(errOut, bad+":5: privacy_mask[0].polygon") {
		t.Errorf("bad config: exit %d, %q", code, errOut)
	}
}

func TestBadConfigStopsBeforeAnythingStarts(t *testing.T) {
	for name, body := range map[string]string{
		"malformed":    "[camera\nfps = 30\n",
		"fps of zero":  "[camera]\nfps = 0\n",
		"bad polygon":  "[[privacy_mask]]\npolygon = [[0.1, 0.1], [2, 0.1], [0.5, 0.5]]\n",
		"unknown key":  "[camera]\nresolution = \"720p\"\n",
		"missing file": "",
	} {
		t.Run(name, func(t *testing.T) {
			path := "/nonexistent/doorbell.toml"
			if body != "" {
				path = writeConfig(t, body)
			}
			_, errOut, code := doorbelld(t, "-config", path, "-listen", "127.0.0.1:0", "-data", t.TempDir())
			if code != 2 || !strings.Contains(errOut, path) {
				t.Errorf("exit %d, stderr %q", code, errOut)
			}
			if strings.Contains(errOut, "listening") {
				t.Errorf("the daemon started despite the bad config: %q", errOut)
			}
		})
	}
}

func TestPortInUseIsOneLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, errOut, code := doorbelld(t, "-demo", "-listen", ln.Addr().String(), "-data", t.TempDir())
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	last := lines[len(lines)-1]
	if code != 1 || !strings.Contains(last, ln.Addr().String()) || !strings.Contains(last, "already in use") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The "done when": doorbelld -demo -listen ADDR -data DIR serves a
// running camera at the configured rate, and stops cleanly on SIGTERM.
func TestDemoServesHealthAndStopsOnSignal(t *testing.T) {
	addr := freePort(t)
	data := t.TempDir()
	cmd := exec.Command(doorbelldBin.Path(), "-demo", "-listen", addr, "-data", data)
	stdout, _ := cmd.StdoutPipe()
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	printed := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Status page") {
				printed <- all.String()
			}
		}
	}()
	select {
	case out := <-printed:
		if !strings.Contains(out, "https://"+addr+"/healthz") {
			t.Errorf("demo did not print its status page URL: %q", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("demo printed no status page within 30 s; stderr:\n%s", errOut.String())
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	var h struct {
		Camera struct {
			State string
			FPS   float64
		}
	}
	// The camera running and delivering frames; how fast is for the
	// benchmarks to say (a loaded machine slows it, and a camera that
	// stalls is retried, then runs again).
	testkit.EventuallyNil(t, 60*time.Second, "healthz to show the camera running with frames", func() error {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			return fmt.Errorf("healthz is not JSON: %w", err)
		}
		if h.Camera.State != "running" || h.Camera.FPS == 0 {
			return fmt.Errorf("camera %+v", h.Camera)
		}
		return nil
	})
	cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("demo exited with %v after SIGTERM; stderr:\n%s", err, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not exit within 10 s of SIGTERM")
	}
	if _, err := os.Stat(data); err != nil {
		t.Errorf("the data dir given with -data was removed: %v", err)
	}
}
