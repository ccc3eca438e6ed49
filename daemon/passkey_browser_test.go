package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// storedKeyJS is the phone's key record exactly as IndexedDB holds it, byte
// arrays as hex, read without the app's code.
const storedKeyJS = `new Promise((ok, fail) => {
	const req = indexedDB.open('doorbell', 1);
	req.onerror = () => fail(req.error);
	req.onsuccess = () => {
		const get = req.result.transaction('keys').objectStore('keys').get('phone');
		get.onsuccess = () => { req.result.close(); ok(JSON.stringify(get.result || null, (k, v) =>
			v instanceof Uint8Array ? 'hex:' + Array.from(v, (c) => c.toString(16).padStart(2, '0')).join('') : v)); };
	};
})`

// addAuthenticator adds a virtual platform authenticator (ctap2, internal)
// to the page's WebAuthn environment and returns its ID.
func addAuthenticator(t *testing.T, ctx context.Context, prf, verified bool) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: verified, HasPrf: prf, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return res.AuthenticatorID
}

// Where the passkey offers PRF, "Protect with a passkey" wraps the phone's
// key: IndexedDB then holds only ciphertext, clips stay locked until the
// passkey is used with user verification, and open after it; a failed
// verification or another authenticator fails in words and the wrapped key
// stays as it was. Where the passkey has no PRF, the key stays unwrapped
// and the app says so.
func TestPasskeyWrapsThePhoneKey(t *testing.T) {
	root, ctx, d, origin := pairedForClips(t, "anna", 0.5)
	authenticator := addAuthenticator(t, ctx, true, true)

	plain := waitJS(t, ctx, phoneKeyJS, 5*time.Second, func(s string) bool { return s != "" })
	var secret string
	for _, l := range strings.Split(plain, "\n") {
		if strings.HasPrefix(l, "AGE-SECRET-KEY-") {
			secret = l
		}
	}
	state := `document.getElementById('key-state').textContent`
	waitJS(t, ctx, `!document.getElementById('key-protect').hidden`, 5*time.Second, func(b bool) bool { return b })
	js[bool](ctx, `(document.getElementById('key-protect').click(), true)`)
	waitJS(t, ctx, state, 10*time.Second, func(s string) bool { return strings.Contains(s, "wrapped by a passkey") })
	if s, _ := js[string](ctx, `document.getElementById('key-threat').textContent`); !strings.Contains(s, "opens nothing") {
		t.Errorf("the threat model for a wrapped key says %q", s)
	}
	stored, err := js[string](ctx, storedKeyJS)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToUpper(stored), "AGE-SECRET-KEY") || strings.Contains(stored, `"identity"`) || !strings.Contains(stored, `"wrapped":true`) {
		t.Fatalf("IndexedDB holds, after wrapping: %s", stored)
	}
	// The identity's own bytes, in hex, appear nowhere either.
	if hexOf(secret) == "" || strings.Contains(stored, hexOf(secret)[:32]) {
		t.Fatalf("the wrapped record holds the identity's bytes: %s", stored)
	}

	pastPairingSecond()
	id := clipID(ringForClip(t, d))
	entry := `(document.querySelector('#clips-list [data-id="` + id + `"]') || {dataset: {}}).dataset.state || ''`
	why := `document.getElementById('clips-locked-why').textContent`
	// The record workers get the key only once the passkey opened it:
	// every message the page posts to a worker that carries one is counted.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `(() => {
		window.keysToWorkers = 0;
		const post = Worker.prototype.postMessage;
		Worker.prototype.postMessage = function (m, ...rest) {
			if (m && typeof m === 'object' && 'key' in m) window.keysToWorkers++;
			return post.call(this, m, ...rest);
		};
	})()`}); err != nil {
		t.Fatal(err)
	}
	keysSent := func() int { n, _ := js[int](ctx, `window.keysToWorkers`); return n }
	navigate(t, ctx, origin+"/")
	waitJS(t, ctx, entry, 10*time.Second, func(s string) bool { return s == "locked" })
	if v, _ := js[bool](ctx, `!document.getElementById('clips-locked').hidden`); !v {
		t.Error("locked clips, but no unlock button shown")
	}
	if n := keysSent(); n != 0 {
		t.Errorf("the record workers got the key %d times while it was locked", n)
	}

	// Verified: the clip opens and plays, checked as before.
	tap(t, ctx, "#clips-unlock")
	waitJS(t, ctx, entry, 30*time.Second, func(s string) bool { return s == "ok" })
	if n := keysSent(); n == 0 {
		t.Error("the clip opened, but no record worker was given the key")
	}
	res, err := js[map[string]any](ctx, `doorbell.clips.play('`+id+`')`)
	if err != nil || res["verified"] != true {
		t.Fatalf("playing the clip after unlocking: %v %v", res, err)
	}
	if exported, _ := js[string](ctx, `import('/assets/keystore.js').then(async (m) => m.identityFile(await m.unlock()))`); !strings.Contains(exported, secret) {
		t.Error("the unlocked key is not the identity made at pairing")
	}

	// The passkey's user verification fails: still locked, in words.
	if _, err := chromedp.Call(ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: authenticator, IsUserVerified: false}); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, origin+"/")
	waitJS(t, ctx, entry, 10*time.Second, func(s string) bool { return s == "locked" })
	tap(t, ctx, "#clips-unlock")
	waitJS(t, ctx, why, 30*time.Second, func(s string) bool { return strings.Contains(s, "did not open it") })
	if s, _ := js[string](ctx, entry); s != "locked" {
		t.Errorf("after a failed verification the clip is %q", s)
	}
	if n := keysSent(); n != 0 {
		t.Errorf("after a failed verification the record workers got the key %d times", n)
	}
	if again, _ := js[string](ctx, storedKeyJS); again != stored {
		t.Errorf("a failed unlock changed the stored key:\n%s\n%s", stored, again)
	}

	// The passkey is gone (another authenticator): it fails the same way,
	// and the wrapped key stays.
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: authenticator}); err != nil {
		t.Fatal(err)
	}
	addAuthenticator(t, ctx, true, true)
	navigate(t, ctx, origin+"/")
	waitJS(t, ctx, entry, 10*time.Second, func(s string) bool { return s == "locked" })
	tap(t, ctx, "#clips-unlock")
	waitJS(t, ctx, why, 30*time.Second, func(s string) bool { return strings.Contains(s, "did not open it") })
	if again, _ := js[string](ctx, storedKeyJS); again != stored {
		t.Errorf("unlocking with another authenticator changed the stored key:\n%s\n%s", stored, again)
	}

	// A browser whose passkeys have no PRF: the key stays unwrapped, and the app says so.
	other := trustingBrowser(t, root)
	pairApp(t, other, d, origin, "bob")
	addAuthenticator(t, other, false, true)
	waitJS(t, other, `!document.getElementById('key-protect').hidden`, 5*time.Second, func(b bool) bool { return b })
	js[bool](other, `(document.getElementById('key-protect').click(), true)`)
	waitJS(t, other, state, 10*time.Second, func(s string) bool { return strings.Contains(s, "do not offer the PRF extension") })
	if s, _ := js[string](other, storedKeyJS); !strings.Contains(s, `"wrapped":false`) || !strings.Contains(s, "AGE-SECRET-KEY-") {
		t.Errorf("without PRF the stored key is %s", s)
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for i := range len(s) {
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

// tap clicks selector with real input events, as a finger would: WebAuthn
// wants the user's activation.
func tap(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	gesture := func(p *runtime.EvaluateParams) { p.UserGesture = new(true) }
	if _, err := chromedp.Run(c, chromedp.Evaluate[bool](`(document.querySelector('`+selector+`').click(), true)`, gesture)); err != nil {
		t.Fatalf("tap %s: %v", selector, err)
	}
}
