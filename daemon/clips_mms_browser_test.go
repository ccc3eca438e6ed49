package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// managedMediaSourceShim stands in for WebKit's ManagedMediaSource, which
// Chromium does not have (not even behind a flag): window.MediaSource is
// removed, so the app can only take this path. As WebKit's does, it opens
// only for an element whose disableRemotePlayback is set before its src;
// it starts with streaming false and asks for data (startstreaming) only
// a while after it opened; it says endstreaming once 4 s are buffered
// ahead of the picture and startstreaming again below 2 s. window.mmsLog
// counts what happened, appends made while it was not streaming included.
const managedMediaSourceShim = `(() => {
	const MS = window.MediaSource;
	const log = window.mmsLog = { made: 0, opened: 0, refused: 0, start: 0, end: 0, appends: 0, unasked: 0 };
	const attached = new Map();
	class ManagedMediaSource extends MS {
		constructor() {
			super();
			log.made++;
			this.streaming = false;
			this.onstartstreaming = null;
			this.onendstreaming = null;
			this.addEventListener('sourceopen', () => {
				log.opened++;
				setTimeout(() => { this.asking = true; this.want(true); }, 500);
			});
		}
		want(on) {
			if (this.readyState !== 'open' || this.streaming === on) return;
			this.streaming = on;
			log[on ? 'start' : 'end']++;
			const ev = new Event(on ? 'startstreaming' : 'endstreaming');
			this.dispatchEvent(ev);
			const h = on ? this.onstartstreaming : this.onendstreaming;
			if (h) h.call(this, ev);
		}
		check() {
			const sb = this.sourceBuffers[0];
			if (!this.asking || !this.video || !sb || sb.updating || !sb.buffered.length) return;
			const ahead = sb.buffered.end(sb.buffered.length - 1) - this.video.currentTime;
			if (this.streaming && ahead >= 4) this.want(false);
			else if (!this.streaming && ahead < 2) this.want(true);
		}
		addSourceBuffer(type) {
			const sb = super.addSourceBuffer(type);
			const append = sb.appendBuffer.bind(sb);
			sb.appendBuffer = (data) => {
				log.appends++;
				if (!this.streaming) log.unasked++;
				return append(data);
			};
			sb.addEventListener('updateend', () => this.check());
			return sb;
		}
	}
	const createObjectURL = URL.createObjectURL;
	URL.createObjectURL = function (o) {
		const u = createObjectURL.call(URL, o);
		if (o instanceof ManagedMediaSource) attached.set(u, o);
		return u;
	};
	const src = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'src');
	Object.defineProperty(HTMLMediaElement.prototype, 'src', { ...src, set(u) {
		const m = attached.get(u);
		if (m && !this.disableRemotePlayback) { // WebKit: no AirPlay alternative, so no opening
			log.refused++;
			return src.set.call(this, 'data:,');
		}
		if (m) {
			m.video = this;
			this.addEventListener('timeupdate', () => m.check());
		}
		return src.set.call(this, u);
	} });
	delete window.MediaSource;
	window.ManagedMediaSource = ManagedMediaSource;
})()`

// A clip plays through ManagedMediaSource, iOS Safari's Media Source
// Extensions: only through it (no MediaSource), with remote playback
// disabled as WebKit requires, appending only while the source asks for
// data, and pausing its appends between endstreaming and startstreaming.
func TestClipPlaysThroughManagedMediaSource(t *testing.T) {
	_, ctx, d, origin := pairedForClips(t, "anna", 12)
	pastPairingSecond()
	id := recordClip(t, d, 2*time.Minute)

	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: managedMediaSourceShim}); err != nil {
		t.Fatal(err)
	}
	phonePortrait(t, ctx)
	navigate(t, ctx, origin+"/")
	if v, _ := js[string](ctx, `typeof MediaSource + ' ' + typeof ManagedMediaSource`); v != "undefined function" {
		t.Fatalf("MediaSource, ManagedMediaSource: %s", v)
	}
	// The shim is faithful in what makes this test worth running: without
	// disableRemotePlayback it does not open.
	if v, _ := js[string](ctx, `new Promise((ok) => {
		const v = document.createElement('video');
		const m = new ManagedMediaSource();
		m.addEventListener('sourceopen', () => ok('opened'));
		v.addEventListener('error', () => ok('refused'));
		v.src = URL.createObjectURL(m);
	})`); v != "refused" {
		t.Fatalf("a ManagedMediaSource on an element that may play remotely: %s", v)
	}
	waitJS(t, ctx, `(document.querySelector('#clips-list [data-id="`+id+`"]') || {dataset: {}}).dataset.state || ''`, 20*time.Second, func(s string) bool { return s == "ok" })

	// It plays in real time: play() resolves once the whole clip went in.
	c, cancel := context.WithTimeout(ctx, 2*time.Minute)
	res, err := chromedp.Run(c, chromedp.Evaluate[map[string]any](`doorbell.clips.play('`+id+`')`, chromedp.EvalAwaitPromise))
	cancel()
	if err != nil || res["verified"] != true || res["truncated"] != false {
		t.Fatalf("playing through ManagedMediaSource: %v %v", res, err)
	}
	waitJS(t, ctx, `document.getElementById('clip-video').currentTime`, 20*time.Second, func(v float64) bool { return v > 8 })
	if frames, _ := js[float64](ctx, `document.getElementById('clip-video').getVideoPlaybackQuality().totalVideoFrames`); frames == 0 {
		t.Error("no frames decoded")
	}
	log, err := js[map[string]float64](ctx, `window.mmsLog`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ManagedMediaSource: %v", log)
	if log["made"] != 2 || log["opened"] != 1 || log["refused"] != 1 {
		t.Errorf("sources made, opened, refused: %v, want the player's opened and the probe's refused", log)
	}
	if log["appends"] < 3 || log["unasked"] != 0 {
		t.Errorf("%v appends, %v of them while the source was not streaming: want none unasked", log["appends"], log["unasked"])
	}
	if log["end"] < 1 || log["start"] < 2 {
		t.Errorf("startstreaming %v times, endstreaming %v times: the clip did not exercise a pause in streaming", log["start"], log["end"])
	}
}
