package daemon

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"doorbell/clipstore"
	"doorbell/events"
	"doorbell/pairing"
)

// phoneKey is what the app keeps in IndexedDB, read the way the app does.
const phoneKeyJS = `import('/assets/keystore.js').then(async (m) => { const k = await m.load(); return k ? m.identityFile(k) : ''; })`

// Pairing makes the phone's key, in the browser; the doorbell keeps only its
// public key and seals the next clip to it; the exported key opens that clip
// with the official age CLI; revoking the phone takes its key out of the
// next clip.
func TestPhoneKeyMadeAtPairingOpensClips(t *testing.T) {
	_, ctx, d, _ := pairedForClips(t, "anna", 0.5)

	file := waitJS(t, ctx, phoneKeyJS, 5*time.Second, func(s string) bool { return s != "" })
	var secret, public string
	for _, l := range strings.Split(file, "\n") {
		if v, ok := strings.CutPrefix(l, "# public key: "); ok {
			public = v
		} else if strings.HasPrefix(l, "AGE-SECRET-KEY-") {
			secret = l
		}
	}
	if !strings.HasPrefix(public, "age1pq1") || !strings.HasPrefix(secret, "AGE-SECRET-KEY-PQ-1") {
		t.Fatalf("the phone's key file, for a hybrid household:\n%.300s", file)
	}
	tokens, err := pairing.List(d.DataDir())
	if err != nil || len(tokens) != 1 || tokens[0].Recipient != public {
		t.Fatalf("the doorbell kept %+v (%v), want the phone's public key", tokens, err)
	}
	for _, name := range []string{"tokens.json", "members.json"} {
		if b, _ := os.ReadFile(filepath.Join(d.DataDir(), name)); bytes.Contains(bytes.ToUpper(b), []byte("AGE-SECRET-KEY")) {
			t.Errorf("%s holds a secret key", name)
		}
	}
	// The app says so, with what a stolen unlocked phone means, and exports
	// only when the member confirms the warning.
	waitJS(t, ctx, `!document.getElementById('key-export').hidden && !document.getElementById('key-threat').hidden && document.getElementById('key-state').textContent`,
		5*time.Second, func(s string) bool { return strings.Contains(s, "Made on this phone") })
	if saved, err := js[bool](ctx, `import('/assets/keystore.js').then((m) => m.exportKey(() => false))`); err != nil || saved {
		t.Errorf("the key was exported without the warning confirmed: %v %v", saved, err)
	}
	keyFile := filepath.Join(t.TempDir(), "phone-key.txt")
	if err := os.WriteFile(keyFile, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}

	first := ringForClip(t, d)
	if out, err := ageDecrypt(keyFile, first); err != nil || !bytes.Contains(out[:min(len(out), 64)], []byte("ftyp")) {
		t.Fatalf("age -d with the exported key: %v %.200s", err, out)
	}

	// Revoked: the next clip is not sealed to the phone.
	if _, _, err := pairing.Revoke(d.DataDir(), tokens[0].ID); err != nil {
		t.Fatal(err)
	}
	second := ringForClip(t, d)
	out, err := ageDecrypt(keyFile, second)
	if err == nil || !strings.Contains(string(out), "no identity matched") {
		t.Errorf("a clip after the revocation opened with the phone's key: %v %.200s", err, out)
	}
}

// ringForClip rings and returns the path of the clip that ring sealed.
func ringForClip(t *testing.T, d *Daemon) string {
	t.Helper()
	sub, unsubscribe := d.Bus().Subscribe("test-sealed", 16)
	defer unsubscribe()
	// The tests ring with half a second of pre- and post-roll; a loaded
	// machine can encode the pictures later than that, and a clip that got
	// no picture is not kept (nor announced). So the ring is repeated, once
	// that clip must have ended, until one is sealed.
	ring := time.NewTicker(5 * time.Second)
	defer ring.Stop()
	d.Bus().Publish(events.Event{Kind: events.Ring, Time: time.Now()})
	timeout := time.After(60 * time.Second)
	for {
		select {
		case e := <-sub:
			if e.Kind != events.ClipSealed {
				continue
			}
			store, err := clipstore.Open(d.DataDir())
			if err != nil {
				t.Fatal(err)
			}
			return store.ClipPath(e.Clip)
		case <-ring.C:
			t.Log("no clip sealed 5 s after a ring; ringing again")
			d.Bus().Publish(events.Event{Kind: events.Ring, Time: time.Now()})
		case <-timeout:
			t.Fatal("no clip sealed 60 s after a ring (rung every 5 s)")
		}
	}
}

// ageDecrypt runs the official age CLI, at the version in go.mod.
func ageDecrypt(keyFile, clipPath string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "run", "filippo.io/age/cmd/age", "-d", "-i", keyFile, clipPath)
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		return errs.Bytes(), err
	}
	return out.Bytes(), nil
}
