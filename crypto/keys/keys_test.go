package keys

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

func init() { ScryptWorkFactor = 10 } // fast tests; the format is the same

func TestGenerateWritesAgeKeygenFormat(t *testing.T) {
	for _, k := range []Kind{Hybrid, Classic} {
		t.Run(k.String(), func(t *testing.T) {
			id, err := Generate(k)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			file := string(id.File(now))
			lines := strings.Split(strings.TrimSuffix(file, "\n"), "\n")
			if len(lines) != 3 || lines[0] != "# created: 2026-01-02T03:04:05Z" || lines[1] != "# public key: "+id.Recipient || lines[2] != id.Secret {
				t.Fatalf("file is not as age-keygen writes it:\n%s", file)
			}
			wantPrefix, wantLen := "age1pq1", HybridRecipientLen
			if k == Classic {
				wantPrefix, wantLen = "age1", ClassicRecipientLen
			}
			if !strings.HasPrefix(id.Recipient, wantPrefix) || len(id.Recipient) != wantLen {
				t.Errorf("recipient %.20s… has length %d", id.Recipient, len(id.Recipient))
			}
			ids, err := ParseIdentities("key.txt", []byte(file), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := PublicKeys(ids); len(got) != 1 || got[0] != id.Recipient {
				t.Errorf("parsed identity has public key %v", got)
			}
			// age itself reads the file.
			if _, err := age.ParseIdentities(strings.NewReader(file)); err != nil {
				t.Errorf("age cannot parse the file: %v", err)
			}
			r, kind, err := ParseRecipient(id.Recipient)
			if err != nil || kind != k || r == nil {
				t.Errorf("ParseRecipient: %v %v", kind, err)
			}
		})
	}
}

func TestProtectIsAgePassphraseEncryption(t *testing.T) {
	id, _ := Generate(Classic)
	plain := id.File(time.Now())
	prot, err := Protect(plain, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(prot, []byte(armor.Header)) || bytes.Contains(prot, []byte("AGE-SECRET-KEY")) {
		t.Fatalf("protected file is not an armored age file:\n%s", prot)
	}
	// What `age -d` does with it: armor, then scrypt.
	sid, _ := age.NewScryptIdentity("correct horse")
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(prot)), sid)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if !bytes.Equal(got, plain) {
		t.Fatal("age decrypts something else")
	}
	if !IsProtected(prot) || IsProtected(plain) {
		t.Error("IsProtected is wrong")
	}
	ids, err := ParseIdentities("k", prot, func() (string, error) { return "correct horse", nil })
	if err != nil || PublicKeys(ids)[0] != id.Recipient {
		t.Fatalf("ParseIdentities with the passphrase: %v", err)
	}
	_, err = ParseIdentities("k", prot, func() (string, error) { return "wrong", nil })
	if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), "try again") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	_, err = ParseIdentities("k", prot, nil)
	if err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("no prompt: %v", err)
	}
	if _, err := Protect(plain, ""); err == nil {
		t.Error("empty passphrase accepted")
	}
}

func TestProtectedFileEncryptedToAKeyIsExplained(t *testing.T) {
	other, _ := age.GenerateX25519Identity()
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, other.Recipient())
	w.Write([]byte("AGE-SECRET-KEY-1...\n"))
	w.Close()
	_, err := Unprotect(buf.Bytes(), "x")
	if err == nil || !strings.Contains(err.Error(), "not protected by a passphrase") {
		t.Fatalf("got %v", err)
	}
}

func TestWriteNewNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key.txt")
	if err := WriteNew(p, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	err = WriteNew(p, []byte("two\n"))
	if err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Fatalf("second write: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one\n" {
		t.Fatal("file was overwritten")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteNew(filepath.Join(dir, "missing", "key.txt"), nil); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestIdentityFileErrorsNeverShowSecrets(t *testing.T) {
	id, _ := Generate(Classic)
	damaged := id.Secret[:len(id.Secret)-3] + "QQQ"
	for name, c := range map[string]struct{ file, want string }{
		"damaged":   {"# c\n" + damaged + "\n", "line 2 is a damaged secret key"},
		"recipient": {id.Recipient + "\n", "public key (recipient)"},
		"empty":     {"# nothing\n", "no secret key"},
		"garbage":   {"hello " + id.Secret + "\n", "line 1 is not an age secret key"},
	} {
		_, err := ParseIdentities("k.txt", []byte(c.file), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "AGE-SECRET-KEY") || strings.Contains(err.Error(), damaged[20:40]) {
			t.Errorf("%s: error shows the secret: %v", name, err)
		}
	}
}

func TestParseRecipientSaysWhatIsWrong(t *testing.T) {
	h, _ := Generate(Hybrid)
	c, _ := Generate(Classic)
	typo := []byte(c.Recipient)
	if typo[20] == 'q' {
		typo[20] = 'p'
	} else {
		typo[20] = 'q'
	}
	cases := []struct {
		name, in, want string
	}{
		{"empty", "  ", "is empty"},
		{"secret key", c.Secret, "secret key, not a public key"},
		{"hybrid secret key", h.Secret, "secret key, not a public key"},
		{"ssh", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq", "SSH keys cannot be household keys"},
		{"wrong prefix", "npub1qqqqqqqq", "must start with age1pq1"},
		{"bad character", c.Recipient[:10] + "b" + c.Recipient[11:], `has 'b' at character 11`},
		{"mixed case", "age1" + strings.ToUpper(c.Recipient[4:10]) + c.Recipient[10:], "mixes upper and lower case"},
		{"cut short classic", c.Recipient[:40], "has 40 characters, but classic (age1…) keys have 62"},
		{"cut short hybrid", h.Recipient[:900], "has 900 characters, but post-quantum (age1pq1…) keys have 1959"},
		{"too long classic", c.Recipient + "qq", "not a complete age key"},
		{"typo", string(typo), "checksum does not match"},
		{"space inside", c.Recipient[:30] + " " + c.Recipient[30:], "space or line break at character 31"},
		{"plugin", "AGE-PLUGIN-YUBIKEY-1QQQ", "plugin identity"},
	}
	for _, tc := range cases {
		_, _, err := ParseRecipient(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "AGE-SECRET-KEY") {
			t.Errorf("%s: error repeats a secret key", tc.name)
		}
	}
	if _, k, err := ParseRecipient(" " + strings.ToUpper(c.Recipient) + "\n"); err != nil || k != Classic {
		t.Errorf("upper-case recipient with spaces around: %v", err)
	}
}

func TestMixErrorExplains(t *testing.T) {
	for _, e := range []error{MixError(Hybrid, Classic), MixError(Classic, Hybrid)} {
		if !strings.Contains(e.Error(), "age refuses to mix") || !strings.Contains(e.Error(), "doorbell keygen") {
			t.Errorf("mix error does not explain: %v", e)
		}
	}
}
