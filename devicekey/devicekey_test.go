package devicekey

import (
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateMakesOneKeyAndKeepsIt(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "start doorbelld") {
		t.Fatalf("Load of an empty dir: %v", err)
	}
	// Two starts at once must agree on one key.
	keys := make([]ed25519.PrivateKey, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreate(dir)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !k.Equal(keys[0]) {
			t.Fatal("concurrent LoadOrCreate made different keys")
		}
	}
	fi, err := os.Stat(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := Load(dir)
	if err != nil || !again.Equal(keys[0]) {
		t.Fatalf("Load after create: %v", err)
	}
	msg := []byte("clip manifest")
	if !ed25519.Verify(again.Public().(ed25519.PublicKey), msg, ed25519.Sign(keys[0], msg)) {
		t.Error("signature does not verify")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir has %d entries, want only the key (no temporary files left)", len(entries))
	}
}

func TestDamagedKeyIsAnErrorNotANewKey(t *testing.T) {
	for name, data := range map[string]string{
		"empty":   "",
		"garbage": "not a key\n",
		"ecdsa":   "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGR4I4y3K0o1V5b1R\n-----END PRIVATE KEY-----\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(Path(dir), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreate(dir)
			if err == nil || !strings.Contains(err.Error(), Path(dir)) {
				t.Fatalf("want an error naming the file, got %v", err)
			}
			if b, _ := os.ReadFile(Path(dir)); string(b) != data {
				t.Error("the damaged key was overwritten")
			}
		})
	}
}

func TestFormats(t *testing.T) {
	pub := ed25519.PublicKey(make([]byte, 32))
	if got := PublicString(pub); got != "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" {
		t.Errorf("PublicString = %q", got)
	}
	// sha256 of 32 zero bytes: 66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925
	if got := Fingerprint(pub); got != "SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU" {
		t.Errorf("Fingerprint = %q", got)
	}
}
