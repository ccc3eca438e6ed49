package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// onTerminal runs a command line under script(1), so that it has a real
// terminal, typing input into it.
func onTerminal(t *testing.T, input, cmdline string) string {
	t.Helper()
	cmd := exec.Command("script", "-qec", cmdline, os.DevNull)
	cmd.Stdin = strings.NewReader(input)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// TestPassphraseIdentityWorksWithAge: doorbell keygen -passphrase, typed on
// a terminal, writes an identity file that the official age CLI opens the
// way it opens its own passphrase-protected files.
func TestPassphraseIdentityWorksWithAge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "me.key")
	out := onTerminal(t, "tulip garden\ntulip garden\n", filepath.Join(bin(), "doorbell")+" keygen -passphrase -o "+key)
	data, err := os.ReadFile(key)
	if err != nil {
		t.Fatalf("keygen -passphrase wrote nothing: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(data), "-----BEGIN AGE ENCRYPTED FILE-----") {
		t.Fatalf("not an armored age file:\n%s", data)
	}
	var recipient string
	for _, l := range strings.Fields(out) {
		if strings.HasPrefix(l, "age1pq1") {
			recipient = l
		}
	}
	if recipient == "" {
		t.Fatalf("no public key printed:\n%s", out)
	}
	msg := filepath.Join(dir, "msg.txt")
	os.WriteFile(msg, []byte("someone is at the door"), 0o600)
	run(t, nil, 0, "age", "-e", "-r", recipient, "-o", msg+".age", msg)

	out = onTerminal(t, "tulip garden\n", filepath.Join(bin(), "age")+" -d -i "+key+" -o "+filepath.Join(dir, "plain.txt")+" "+msg+".age")
	if got, err := os.ReadFile(filepath.Join(dir, "plain.txt")); err != nil || string(got) != "someone is at the door" {
		t.Fatalf("age could not use the identity: %v\n%s", err, out)
	}
	out = onTerminal(t, "daffodil\n", filepath.Join(bin(), "age")+" -d -i "+key+" -o "+filepath.Join(dir, "wrong.txt")+" "+msg+".age")
	if !strings.Contains(out, "incorrect passphrase") {
		t.Errorf("age with the wrong passphrase said:\n%s", out)
	}
	// And doorbell reads it on the terminal too, refusing a wrong passphrase.
	out = onTerminal(t, "daffodil\n", filepath.Join(bin(), "doorbell")+" clips list -from "+dir+" -i "+key)
	if !strings.Contains(out, "incorrect passphrase") {
		t.Errorf("doorbell with the wrong passphrase said:\n%s", out)
	}
}
