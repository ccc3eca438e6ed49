package daemon

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"doorbell/clipstore"
	"doorbell/crypto/clip"
	"doorbell/crypto/keys"
	"doorbell/devicekey"
	"doorbell/internal/testkit"
	"doorbell/pairing"
)

// The playback paths beyond a good clip: a clip whose checkpoints another
// device key signed (its record is the doorbell's) is flagged and does not
// play until "Play anyway"; a clip cut off while recording plays what was
// recovered and says so; "Save to phone" writes the decrypted MP4 only when
// tapped; and with no Ed25519 in WebCrypto, noble checks the signatures.
func TestClipPlaybackPaths(t *testing.T) {
	data := t.TempDir()
	member := testkit.AddMember(t, data, "anna")
	_, ctx, d, origin := pairedForClips(t, "anna", 3, inDir(data))
	pastPairingSecond()
	good := clipID(ringForClip(t, d))

	tokens, _ := pairing.List(d.DataDir())
	phone, _, err := keys.ParseRecipient(tokens[0].Recipient)
	if err != nil {
		t.Fatal(err)
	}
	memberRcpt, _, _ := keys.ParseRecipient(member.Recipient)
	recipients := []age.Recipient{phone, memberRcpt}
	store, _ := clipstore.Open(d.DataDir())
	deviceKey, _ := devicekey.Load(d.DataDir())
	_, otherKey, _ := ed25519.GenerateKey(nil)
	plain := decryptFile(t, store.ClipPath(good), member.Identity)
	var fragments int
	for box := range mp4Boxes(t, plain) {
		if string(box[4:8]) == "mdat" {
			fragments++
		}
	}
	if fragments < 3 {
		t.Fatalf("the clip has %d fragments, want 3 or more to cut one off", fragments)
	}

	// reseal writes plain's MP4 as a new clip whose checkpoints clipKey
	// signs, with a record the doorbell signs; cut keeps that many bytes of
	// the sealed clip, and leaves the record "recording" (0: all of it).
	reseal := func(clipKey ed25519.PrivateKey, cut float64) string {
		id := clip.NewID()
		var sealed bytes.Buffer
		w, err := clip.NewWriter(&sealed, id, recipients, clipKey)
		if err != nil {
			t.Fatal(err)
		}
		for box := range mp4Boxes(t, plain) {
			if clip.IsCheckpointBox(box) {
				continue
			}
			w.Write(box)
			if string(box[4:8]) == "moov" || string(box[4:8]) == "mdat" {
				w.Checkpoint(0)
			}
		}
		sum, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := &clip.Record{ID: id, Device: devicekey.Fingerprint(deviceKey.Public().(ed25519.PublicKey)), Status: clip.StatusRecording,
			Kind: "ring", Trigger: time.Now(), Start: time.Now(), Zones: []string{}}
		body := sealed.Bytes()
		if cut > 0 {
			body = body[:int(float64(len(body))*cut)]
		} else {
			r.Complete(sum, int64(len(body)), 2*time.Second)
		}
		var rec bytes.Buffer
		if err := r.Seal(&rec, recipients, deviceKey); err != nil {
			t.Fatal(err)
		}
		for path, b := range map[string][]byte{store.ClipPath(id): body, store.RecordPath(id): rec.Bytes()} {
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	otherSigned := reseal(otherKey, 0)
	cutOff := reseal(deviceKey, 0.8)

	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	phonePortrait(t, ctx)
	open := func() {
		navigate(t, ctx, origin+"/")
		for _, id := range []string{good, otherSigned, cutOff} {
			waitJS(t, ctx, `(document.querySelector('#clips-list [data-id="`+id+`"]') || {dataset: {}}).dataset.state || ''`,
				10*time.Second, func(s string) bool { return s == "ok" })
		}
	}
	play := func(id string, insist bool) map[string]any {
		t.Helper()
		js[bool](ctx, `(document.getElementById('clip-close').click(), true)`)
		res, err := js[map[string]any](ctx, fmt.Sprintf(`doorbell.clips.play('%s', %v)`, id, insist))
		if err != nil {
			t.Fatalf("playing %s: %v", id, err)
		}
		return res
	}
	const video = `(() => { const v = document.getElementById('clip-video'); return [v.currentTime, v.getVideoPlaybackQuality().totalVideoFrames]; })()`
	moving := func() {
		t.Helper()
		waitJS(t, ctx, video, 10*time.Second, func(v []float64) bool { return len(v) == 2 && v[0] > 0.2 && v[1] > 0 })
	}
	note := func() string { s, _ := js[string](ctx, `document.getElementById('clip-note').textContent`); return s }
	open()

	// Cut off: what was recovered plays, and the app says so.
	res := play(cutOff, false)
	if res["truncated"] != true || res["error"] != "" {
		t.Errorf("a cut-off clip: %v", res)
	}
	moving()
	if s := note(); !strings.Contains(s, "cut off") {
		t.Errorf("a cut-off clip's note: %q", s)
	}
	if s, _ := js[string](ctx, `document.querySelector('#clips-list [data-id="`+cutOff+`"] .why').textContent`); !strings.Contains(s, "cut off") {
		t.Errorf("a cut-off clip's entry says %q", s)
	}

	// Another device's checkpoints: flagged, nothing played, until insisted.
	res = play(otherSigned, false)
	if res["verified"] != false || !strings.Contains(fmt.Sprint(res["error"]), "Not signed by your doorbell") {
		t.Errorf("a clip signed by another device key: %v", res)
	}
	if v, _ := js[[]float64](ctx, video); len(v) != 2 || v[0] != 0 || v[1] != 0 {
		t.Errorf("the clip signed by another device played: currentTime, frames %v", v)
	}
	if hidden, _ := js[bool](ctx, `document.getElementById('clip-insist').hidden`); hidden {
		t.Error("no \"Play anyway\" for a clip signed by another device")
	}
	js[bool](ctx, `(document.getElementById('clip-insist').click(), true)`)
	moving()
	if s := note(); !strings.Contains(s, "Not signed by your doorbell") {
		t.Errorf("playing anyway, the note says %q", s)
	}

	// Save to phone: nothing is written before the tap; after it, the
	// decrypted MP4, byte for byte.
	if res := play(good, false); res["verified"] != true {
		t.Fatalf("the good clip: %v", res)
	}
	moving()
	if files, _ := os.ReadDir(downloads); len(files) != 0 {
		t.Errorf("written before the tap: %v", files)
	}
	tap(t, ctx, "#clip-save")
	saved := filepath.Join(downloads, "doorbell-"+good+".mp4")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(saved); err == nil && len(b) == len(plain) {
			if !bytes.Equal(b, plain) {
				t.Error("the saved MP4 is not the clip decrypted")
			}
			break
		}
		if time.Now().After(deadline) {
			files, _ := os.ReadDir(downloads)
			t.Fatalf("no %s 20 s after the tap: %v", saved, files)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// No Ed25519 in WebCrypto (older Safari, Chrome before 137): noble
	// checks records and checkpoints, and still refuses another key's.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `(() => {
		const importKey = SubtleCrypto.prototype.importKey;
		SubtleCrypto.prototype.importKey = function (format, data, alg, ...rest) {
			if (String((alg && alg.name) || alg).toLowerCase() === 'ed25519') {
				window.noEd25519 = (window.noEd25519 || 0) + 1;
				return Promise.reject(new DOMException('Unrecognized name.', 'NotSupportedError'));
			}
			return importKey.call(this, format, data, alg, ...rest);
		};
	})()`}); err != nil {
		t.Fatal(err)
	}
	open()
	if res := play(good, false); res["verified"] != true {
		t.Errorf("with noble, the good clip: %v", res)
	}
	moving()
	if res := play(otherSigned, false); res["verified"] != false || !strings.Contains(fmt.Sprint(res["error"]), "Not signed by your doorbell") {
		t.Errorf("with noble, the clip signed by another key: %v", res)
	}
	if n, _ := js[int](ctx, `window.noEd25519 || 0`); n < 3 {
		t.Errorf("WebCrypto's Ed25519 was refused %d times: the fallback was not exercised", n)
	}
}

// decryptFile is the plaintext of an age file.
func decryptFile(t *testing.T, path string, id age.Identity) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := age.Decrypt(f, id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mp4Boxes yields the top-level boxes of an MP4.
func mp4Boxes(t *testing.T, b []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) >= 8 {
			size := int(binary.BigEndian.Uint32(b))
			if size < 8 || size > len(b) {
				t.Fatalf("bad box size %d", size)
			}
			if !yield(b[:size]) {
				return
			}
			b = b[size:]
		}
	}
}
