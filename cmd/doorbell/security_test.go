package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"doorbell/crypto/clip"
)

// A record's kind and zones come from whoever sealed it (anyone with a
// member's public key): the CLI never passes their control characters to
// the terminal.
func TestHostileRecordIsEscaped(t *testing.T) {
	noPins(t)
	h := newTestHousehold(t)
	id := h.seal(t, 2, true, 0)
	hostile := "\x1b]0;PWNED\a\x1b[2J\u202eevil\u009b"
	rp := filepath.Join(h.clips, id+clip.RecordSuffix)
	rb, _ := os.ReadFile(rp)
	s, err := clip.ReadRecord(bytes.NewReader(rb), h.id.Identity)
	if err != nil {
		t.Fatal(err)
	}
	s.Record.Kind = hostile
	s.Record.Zones = []string{"porch\r\nfake line"}
	var out bytes.Buffer
	if err := s.Record.Seal(&out, []age.Recipient{mustRecipient(t, h.id.Recipient)}, h.key); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(rp, out.Bytes(), 0o600)

	o, e, _ := cli(t, "clips", "list", "-from", h.clips, "-data", h.data, "-i", h.idFile)
	o2, e2, _ := cli(t, "clips", "open", "-no-verify", "-i", h.idFile, "-o", filepath.Join(t.TempDir(), "x.mp4"), h.clipPath(id))
	for _, got := range []string{o, e, o2, e2} {
		if strings.ContainsAny(got, "\x1b\a\r\u202e\u009b") {
			t.Errorf("control characters reached the terminal: %q", got)
		}
	}
	if !strings.Contains(o, `\x1b]0;PWNED\a\x1b[2J\u202eevil\u009b`) {
		t.Errorf("list does not show the kind escaped: %q", o)
	}
	if !strings.Contains(o2, `porch\r\nfake line`) {
		t.Errorf("open does not show the zones escaped: %q", o2)
	}
}

func TestTerminalSafe(t *testing.T) {
	for in, want := range map[string]string{
		"ring":          "ring",
		"Anna's phone":  "Anna's phone",
		"é ü 門":         "é ü 門",
		"a\x00b":        `a\x00b`,
		"\x7f":          `\x7f`,
		"bad\xffutf8":   `bad\xffutf8`,
		"\u2066x\u2069": `\u2066x\u2069`,
	} {
		if got := terminalSafe(in); got != want {
			t.Errorf("terminalSafe(%q) = %q, want %q", in, got, want)
		}
	}
	if got := terminalSafeLines("one\ntwo\x1b"); got != "one\ntwo\\x1b" {
		t.Errorf("terminalSafeLines: %q", got)
	}
}

// Every usage error says what was expected (issue 13, item 16).
func TestUsageErrorsSayWhatWasExpected(t *testing.T) {
	noPins(t)
	data := t.TempDir()
	missing := filepath.Join(t.TempDir(), strings.Repeat("a", 26)+clip.ClipSuffix)
	idFile := filepath.Join(t.TempDir(), "me.key")
	if _, _, code := cli(t, "keygen", "-o", idFile); code != 0 {
		t.Fatal("keygen failed")
	}
	for _, c := range []struct {
		args []string
		want []string
		not  string
	}{
		{[]string{"member", "add", "-data", data, "bob"}, []string{"needs NAME PUBLIC-KEY", `got only "bob"`, "missing PUBLIC-KEY"}, "no arguments"},
		{[]string{"device", "add"}, []string{"needs URL [CODE]", "got none"}, "no arguments"},
		{[]string{"device", "ad", "https://doorbell.local:8443/pair#x"}, []string{`unknown command "device ad"`, "add, forget, id, rekey, remove", "doorbell device add [-name NAME] [-id DEVICE-ID] URL [CODE]"}, ""},
		{[]string{"clips", "open", "-i", idFile, missing}, []string{"cannot read the clip", "no such file"}, "not named like a clip"},
		{[]string{"member", "list", "-data", data, "extra"}, []string{"takes no arguments", `"extra"`}, ""},
		{[]string{"member", "pair", "-data", data, "a", "b"}, []string{"takes NAME", "got 2 arguments"}, ""},
	} {
		_, e, code := cli(t, c.args...)
		if code == 0 {
			t.Errorf("%q: exit 0", c.args)
		}
		for _, w := range c.want {
			if !strings.Contains(e, w) {
				t.Errorf("%q: stderr does not say %q:\n%s", c.args, w, e)
			}
		}
		if c.not != "" && strings.Contains(e, c.not) {
			t.Errorf("%q: stderr still says %q:\n%s", c.args, c.not, e)
		}
	}
}

// clips open writes to the current directory by default, and never into a
// doorbell's data directory: the demo's printed command works as printed.
func TestClipsOpenWritesHereAndNeverIntoTheDataDir(t *testing.T) {
	noPins(t)
	h := newTestHousehold(t)
	id := h.seal(t, 2, true, 0)
	here := t.TempDir()
	t.Chdir(here)
	// As the demo prints it.
	o, e, code := cli(t, "clips", "open", "-data", h.data, "-i", h.idFile, h.clipPath(id))
	if code != 0 {
		t.Fatalf("the demo's command: exit %d\n%s%s", code, o, e)
	}
	if _, err := os.Stat(filepath.Join(here, id+".mp4")); err != nil {
		t.Errorf("not written to the current directory: %v\n%s", err, o)
	}
	if _, err := os.Stat(strings.TrimSuffix(h.clipPath(id), ".age")); err == nil {
		t.Error("plaintext written beside the ciphertext, in the doorbell's clips directory")
	}
	// From inside the data directory, or with -o there: refused.
	t.Chdir(h.clips)
	_, e, code = cli(t, "clips", "open", "-data", h.data, "-i", h.idFile, h.clipPath(id))
	if code != 1 || !strings.Contains(e, "inside the doorbell's data directory") {
		t.Errorf("open inside the clips directory: exit %d %s", code, e)
	}
	_, e, code = cli(t, "clips", "open", "-data", h.data, "-i", h.idFile, "-o", filepath.Join(h.data, "x.mp4"), h.clipPath(id))
	if code != 1 || !strings.Contains(e, "plaintext footage") {
		t.Errorf("open -o into the data directory: exit %d %s", code, e)
	}
	entries, _ := os.ReadDir(h.clips)
	for _, en := range entries {
		if strings.HasSuffix(en.Name(), ".mp4") {
			t.Errorf("plaintext left in the clips directory: %s", en.Name())
		}
	}
}
