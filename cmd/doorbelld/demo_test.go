package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runDemo starts the demo with args and env, waits for its pairing link,
// stops it, and returns what it printed.
func runDemo(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(doorbelldBin.Path(), append([]string{"-demo", "-listen", freePort(t)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	done := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "/pair#") && strings.Contains(all.String(), "Live view") && !sent {
				sent = true
				done <- all.String()
			}
		}
	}()
	select {
	case out := <-done:
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		return out
	case <-time.After(30 * time.Second):
		t.Fatal("the demo printed no pairing link within 30 s")
	}
	return ""
}

// make demo keeps its data between runs, so a paired browser stays paired,
// says where it is and how to start afresh, and prints both ways to trust
// the doorbell.
func TestDemoKeepsItsData(t *testing.T) {
	state := t.TempDir()
	env := []string{"XDG_STATE_HOME=" + state}
	out := runDemo(t, env)
	dir := filepath.Join(state, "doorbell-demo")
	for _, want := range []string{"Data dir:    " + dir, "kept between runs", "rm -rf " + dir,
		"household's own root", "ca sign", "household-root.crt", "household-root.mobileconfig", "[http.acme]"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo did not say %q:\n%s", want, out)
		}
	}
	key, err := os.ReadFile(filepath.Join(dir, "tls-key.pem"))
	if err != nil {
		t.Fatalf("the demo's data is not in %s: %v", dir, err)
	}
	// A paired token survives.
	tokens := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(tokens, []byte(`{"version":1,"tokens":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	runDemo(t, env)
	again, _ := os.ReadFile(filepath.Join(dir, "tls-key.pem"))
	if string(again) != string(key) {
		t.Error("the second run made a new TLS key: browsers would see a new certificate")
	}
	if _, err := os.Stat(tokens); err != nil {
		t.Errorf("the token file went: %v", err)
	}

	// With -data, the demo does not claim it will remove the directory.
	own := t.TempDir()
	out = runDemo(t, env, "-data", own)
	if strings.Contains(out, "removed") || !strings.Contains(out, "given with -data: kept") {
		t.Errorf("with -data:\n%s", out)
	}
}
