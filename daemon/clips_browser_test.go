package daemon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"doorbell/clipstore"
	"doorbell/crypto/clip"
	"doorbell/crypto/keys"
	"doorbell/devicekey"
	"doorbell/internal/testkit"
	"doorbell/pairing"
)

// The phone's list of recorded clips: a clip from before pairing says so;
// one after is opened in the browser, thumbnail included; records signed
// by another device key, or changed after signing, say "not signed by your
// doorbell"; a new clip appears without a reload.
func TestClipListInTheBrowser(t *testing.T) {
	root := newHouseholdRoot(t)
	ctx := trustingBrowser(t, root)
	cfg := smallCamera()
	cfg.Motion.Enabled = false
	cfg.Recorder.PreRoll, cfg.Recorder.PostRoll = 0.5, 0.5
	data := t.TempDir()
	testkit.AddMember(t, data, "anna") // before the doorbell starts, so that it records at once
	d, origin, _ := appDoorbell(t, root, cfg, inDir(data))
	waitFrames(t, d)
	before := clipID(ringForClip(t, d))

	pairApp(t, ctx, d, origin, "anna")
	pastPairingSecond()
	after := clipID(ringForClip(t, d))

	// Two records sealed to the phone that the doorbell did not sign as they are.
	tokens, _ := pairing.List(d.DataDir())
	rcpt, _, err := keys.ParseRecipient(tokens[0].Recipient)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := clipstore.Open(d.DataDir())
	sealedClip, _ := os.ReadFile(store.ClipPath(after))
	_, otherKey, _ := ed25519.GenerateKey(nil)
	deviceKey, _ := devicekey.Load(d.DataDir())
	forge := func(key ed25519.PrivateKey, alter func([]byte) []byte) string {
		id := clip.NewID()
		r := &clip.Record{ID: id, Device: devicekey.Fingerprint(key.Public().(ed25519.PublicKey)), Status: clip.StatusComplete,
			Kind: "motion", Trigger: time.Now(), Duration: 2, Zones: []string{}}
		env, err := r.Sign(key)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		w, _ := age.Encrypt(&buf, rcpt)
		w.Write(alter(env))
		w.Close()
		os.WriteFile(store.ClipPath(id), sealedClip, 0o600)
		os.WriteFile(store.RecordPath(id), buf.Bytes(), 0o600)
		return id
	}
	otherDevice := forge(otherKey, func(b []byte) []byte { return b })
	altered := forge(deviceKey, func(b []byte) []byte { return bytes.Replace(b, []byte(`"kind":"motion"`), []byte(`"kind":"ring"`), 1) })

	phonePortrait(t, ctx)
	captured := captureResponses(t, ctx)
	navigate(t, ctx, origin+"/")
	state := func(id string) string {
		return `(document.querySelector('#clips-list [data-id="` + id + `"]') || {dataset: {}}).dataset.state || ''`
	}
	text := func(id string) string {
		v, _ := js[string](ctx, `document.querySelector('#clips-list [data-id="`+id+`"]').textContent`)
		return v
	}
	for id, want := range map[string]string{before: "before", after: "ok", otherDevice: "forged", altered: "forged"} {
		waitJS(t, ctx, state(id), 10*time.Second, func(s string) bool { return s == want })
	}
	if s := text(before); !strings.Contains(s, "Recorded before this phone was paired") {
		t.Errorf("the clip from before pairing says %q", s)
	}
	for _, id := range []string{otherDevice, altered} {
		if s := text(id); !strings.Contains(s, "Not signed by your doorbell") {
			t.Errorf("a forged record says %q", s)
		}
	}
	ok, _ := js[string](ctx, `(() => { const li = document.querySelector('#clips-list [data-id="`+after+`"]');
		const img = li.querySelector('img'); return li.querySelector('.kind').textContent + ' ' + (!img.hidden && img.complete && img.naturalWidth > 0); })()`)
	if ok != "Ring true" {
		t.Errorf("the clip after pairing: %q, want a ring with its thumbnail shown", ok)
	}
	order, _ := js[string](ctx, `[...document.querySelectorAll('#clips-list li')].map((li) => li.dataset.id).join(' ')`)
	if strings.Index(order, after) > strings.Index(order, before) {
		t.Errorf("not newest first: %s", order)
	}

	// A new clip appears without a reload, on top.
	fresh := clipID(ringForClip(t, d))
	waitJS(t, ctx, state(fresh), 10*time.Second, func(s string) bool { return s == "ok" })
	if first, _ := js[string](ctx, `document.querySelector('#clips-list li').dataset.id`); first != fresh {
		t.Errorf("the new clip is not on top")
	}
	// Tapping the clip plays it: checked against the pinned key as it
	// plays, and the picture moves.
	res, err := js[map[string]any](ctx, `(document.querySelector('#clips-list [data-id="`+after+`"]').click(), new Promise((ok) => {
		const t = setInterval(() => { if (doorbell.clips.result) { clearInterval(t); ok(doorbell.clips.result); } }, 20); }))`)
	if err != nil || res["verified"] != true || res["error"] != "" {
		t.Fatalf("playing the clip: %v %v", res, err)
	}
	waitJS(t, ctx, `document.getElementById('clip-video').currentTime`, 10*time.Second, func(v float64) bool { return v > 0.2 })
	if frames, _ := js[float64](ctx, `document.getElementById('clip-video').getVideoPlaybackQuality().totalVideoFrames`); frames == 0 {
		t.Error("no frames decoded")
	}

	// One bit flipped in the sealed clip: flagged, and not played.
	sealedFresh, _ := os.ReadFile(store.ClipPath(fresh))
	payload := bytes.Index(sealedFresh, []byte("\n--- ")) + 1
	payload += bytes.IndexByte(sealedFresh[payload:], '\n') + 1
	sealedFresh[payload+16+300] ^= 0x10
	if err := os.WriteFile(store.ClipPath(fresh), sealedFresh, 0o600); err != nil {
		t.Fatal(err)
	}
	js[bool](ctx, `(document.getElementById('clip-close').click(), delete doorbell.clips.result, true)`)
	res, err = js[map[string]any](ctx, `doorbell.clips.play('`+fresh+`')`)
	if err != nil || res["verified"] != false || !strings.Contains(fmt.Sprint(res["error"]), "Not signed by your doorbell") {
		t.Errorf("a clip with a bit flipped: %v %v", res, err)
	}
	if v, _ := js[string](ctx, `(() => { const v = document.getElementById('clip-video'); return v.currentTime + ' ' + v.getVideoPlaybackQuality().totalVideoFrames + ' ' + !document.getElementById('clip-insist').hidden + ' ' + document.getElementById('clip-note').textContent; })()`); !strings.HasPrefix(v, "0 0 true Not signed by your doorbell") {
		t.Errorf("the altered clip: currentTime, frames, insist button, note: %q", v)
	}

	// Every byte the doorbell served in this session is ciphertext or the app.
	records, scanned := 0, 0
	for url, body := range captured() {
		if !strings.HasPrefix(url, origin+"/") {
			continue // data: URLs the page made of what it decrypted
		}
		scanned += len(body)
		if strings.Contains(url, clip.RecordSuffix) {
			records++
		}
		for _, marker := range [][]byte{[]byte("ftyp"), []byte("mdat"), []byte("/9j/")} {
			if bytes.Contains(body, marker) {
				t.Errorf("%s holds %q: plaintext footage or a thumbnail left the doorbell", url, marker)
			}
		}
		if testkit.HoldsJPEG(body) {
			t.Errorf("%s holds a JPEG picture: a thumbnail left the doorbell", url)
		}
	}
	if records < 4 {
		t.Errorf("captured %d sealed records, want the 4 listed", records)
	}
	t.Logf("scanned %d bytes of responses, %d sealed records among them", scanned, records)

	timings, _ := js[string](ctx, `JSON.stringify(doorbell.clips.timings)`)
	var tm map[string]float64
	_ = json.Unmarshal([]byte(timings), &tm)
	t.Logf("clip list timings (ms since the page began loading): %v", tm)
	// Nothing the page opened was stored: Cache Storage holds the app's
	// own files alone, and IndexedDB the phone's key alone.
	stored, err := js[[]any](ctx, `(async () => {
		const out = [];
		let cached = 0;
		for (const name of await caches.keys()) {
			const c = await caches.open(name);
			for (const req of await c.keys()) {
				const body = new Uint8Array(await (await c.match(req)).arrayBuffer());
				const jpeg = body.some((b, i) => b === 0xff && body[i + 1] === 0xd8 && body[i + 2] === 0xff);
				const path = new URL(req.url).pathname;
				cached++;
				if (!/^\/(assets\/[\w.-]+|manifest\.webmanifest)?$/.test(path) || (jpeg && !path.endsWith('.png'))) out.push('cache ' + name + ': ' + path);
			}
		}
		for (const db of await indexedDB.databases()) {
			if (db.name !== 'doorbell') { out.push('database ' + db.name); continue; }
			const d = await new Promise((ok, fail) => { const r = indexedDB.open('doorbell'); r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
			for (const store of d.objectStoreNames) {
				const keys = await new Promise((ok) => { const r = d.transaction(store).objectStore(store).getAllKeys(); r.onsuccess = () => ok(r.result); });
				if (store !== 'keys' || keys.join() !== 'phone') out.push('store ' + store + ': ' + keys.join());
			}
			d.close();
		}
		return [out.join('; '), cached];
	})()`)
	if err != nil || len(stored) != 2 || stored[0] != "" {
		t.Errorf("the browser stored more than the app and its key: %v %v", stored, err)
	} else if stored[1].(float64) == 0 {
		t.Error("Cache Storage is empty: the app shell was not cached, so the check above saw nothing")
	}

	// The records were opened in the record worker: only it reports how
	// long opening took, one figure per record it opened.
	if n, _ := js[int](ctx, `doorbell.clips.steps.open.length`); n < 3 {
		t.Errorf("%d records were opened in the record worker, want the 3 sealed to the phone", n)
	}

	// Where the record worker cannot start, the entries say so in words;
	// the page does not open them itself.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `(() => {
		const W = window.Worker;
		window.Worker = class extends W { constructor(url, opts) { super(/clipworker/.test(String(url)) ? '/assets/no-such-worker.js' : url, opts); } };
	})()`}); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, origin+"/")
	waitJS(t, ctx, state(after), 10*time.Second, func(s string) bool { return s == "no-worker" })
	if s := text(after); !strings.Contains(s, "could not start the part of the app that opens clips") || !strings.Contains(s, "Reload the app") {
		t.Errorf("without its worker, an entry says %q", s)
	}
	if s, _ := js[string](ctx, state(before)); s != "before" {
		t.Errorf("without the worker, the clip from before pairing is %q, want its notice", s)
	}
}

// pairedForClips is the setup of the clip tests: a doorbell that records
// only on rings, half a second before each and postRoll seconds after, its
// camera running, and a phone (a browser trusting the household's root)
// paired as member, its key made. setup goes on to appDoorbell.
func pairedForClips(t *testing.T, member string, postRoll float64, setup ...any) (householdRoot, context.Context, *Daemon, string) {
	t.Helper()
	root := newHouseholdRoot(t)
	ctx := trustingBrowser(t, root)
	cfg := smallCamera()
	cfg.Motion.Enabled = false // only rings record
	cfg.Recorder.PreRoll, cfg.Recorder.PostRoll = 0.5, postRoll
	d, origin, _ := appDoorbell(t, root, cfg, setup...)
	waitFrames(t, d)
	pairApp(t, ctx, d, origin, member)
	return root, ctx, d, origin
}

// captureResponses records the body of every response the page gets from
// now on; the returned function fetches them, by URL.
func captureResponses(t *testing.T, ctx context.Context) func() map[string][]byte {
	t.Helper()
	var mu sync.Mutex
	urls := map[network.RequestID]string{}
	var finished []network.RequestID
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventResponseReceived:
			urls[e.RequestID] = e.Response.URL
		case *network.EventLoadingFinished:
			finished = append(finished, e.RequestID)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{MaxTotalBufferSize: new(int64(200 << 20)), MaxResourceBufferSize: new(int64(50 << 20))}); err != nil {
		t.Fatal(err)
	}
	return func() map[string][]byte {
		mu.Lock()
		ids := slices.Clone(finished)
		mu.Unlock()
		out := map[string][]byte{}
		for _, id := range ids {
			res, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
			mu.Lock()
			u := urls[id]
			mu.Unlock()
			if err != nil || u == "" {
				continue // no body (a redirect, or a preflight)
			}
			out[u+"#"+string(id)] = res.Body
		}
		return out
	}
}

// phonePortrait makes the window a phone held upright, where the app
// shows its lists below the picture.
func phonePortrait(t testing.TB, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: 390, Height: 844, DeviceScaleFactor: 3, Mobile: true}); err != nil {
		t.Fatal(err)
	}
}

func clipID(path string) string {
	id, _, _ := clip.SplitName(path[strings.LastIndexByte(path, '/')+1:])
	return id
}

// waitFrames waits until the camera runs, so that a ring records a clip.
func waitFrames(t *testing.T, d *Daemon) {
	t.Helper()
	testkit.Eventually(t, 60*time.Second, "the camera running", func() bool { return d.camera.Status().State == "running" })
}

// pastPairingSecond waits until the wall clock is past the second in which
// the phone was just paired: key times are kept in whole seconds, so a clip
// that starts within that second counts as sealed before the phone
// (clipstore's sealed_before), and the next tests want one from after.
func pastPairingSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
}
