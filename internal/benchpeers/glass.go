package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"

	"doorbell/camera"
	"doorbell/config"
)

// Glass-to-glass on the same page for both servers: each gets the pictures
// of Doorbell's synthetic camera, which stamps its capture time into a strip
// along the top, and one minimal WHEP page in Chromium reads the strip back
// from each picture it shows. Doorbell's camera stamps its own pictures; for
// go2rtc this program renders the same camera into ffmpeg (stampedSource),
// with the same x264 settings, as go2rtc's source.

const (
	glassWidth, glassHeight, glassFPS = 1280, 720, 30
	glassRounds, glassPictures        = 2, 60
)

const chromiumPath = "/usr/lib/chromium/chromium"

// glassPage offers to receive video, waits for its candidates (loopback:
// milliseconds), POSTs the offer to its own origin's /whep, and keeps one
// pixel row of each picture shown with when it was shown.
const glassPage = `<!doctype html><meta charset="utf-8"><title>glass-to-glass</title>
<video id="v" muted autoplay playsinline></video>
<script type="module">
const v = document.getElementById('v');
const pc = window.pc = new RTCPeerConnection();
pc.addTransceiver('video', { direction: 'recvonly' });
pc.ontrack = (e) => { v.srcObject = e.streams[0] || new MediaStream([e.track]); v.play().catch(() => {}); };
await pc.setLocalDescription(await pc.createOffer());
await new Promise((done) => {
  if (pc.iceGatheringState === 'complete') return done();
  pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && done());
});
const r = await fetch('/whep', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
if (!r.ok) throw new Error('WHEP answered ' + r.status + ': ' + await r.text());
await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
const canvas = document.createElement('canvas');
const ctx = canvas.getContext('2d', { willReadFrequently: true });
window.measure = (row, count) => new Promise((done) => {
  const samples = [];
  const next = (now, meta) => {
    const w = v.videoWidth;
    canvas.width = w;
    canvas.height = 1;
    ctx.drawImage(v, 0, row, w, 1, 0, 0, w, 1);
    const d = ctx.getImageData(0, 0, w, 1).data;
    const y = new Array(w);
    for (let i = 0; i < w; i++) y[i] = (77 * d[4 * i] + 150 * d[4 * i + 1] + 29 * d[4 * i + 2]) >> 8;
    // Chromium gives a picture that reached the compositor after the
    // current frame began that frame's display time, though it shows a
    // frame later: taken as is, a picture was "shown" before its last
    // packet arrived. So it shows at the first display time at or after
    // its presentation (headless Chromium draws at 60 Hz).
    let shown = meta.expectedDisplayTime || now;
    while (shown < meta.presentationTime) shown += 1000 / 60;
    const at = (t) => performance.timeOrigin + t;
    samples.push({ y, width: w, height: v.videoHeight, shown: at(shown), received: at(meta.receiveTime || shown), presented: at(meta.presentationTime || shown) });
    if (samples.length < count) v.requestVideoFrameCallback(next); else done(samples);
  };
  v.requestVideoFrameCallback(next);
});
</script>`

// glassSessions is how many times each server is started and watched by
// a fresh browser. The camera's clock and the display's 60 Hz are
// independent, and while both run their phase holds: each picture waits
// the same part of a display frame, so one session's p50 is one phase's,
// anywhere in a range of a display frame or more (measured: 14 to 41 ms on
// one server). The phase is set when the camera starts, and where the
// browser's frames fall, so each session starts both anew, and the p50 of
// all sessions' pictures together is what a viewer meets on average.
const glassSessions = 8

// pageGlassToGlass starts a server from newServer and shows its stream on
// glassPage in a fresh browser, glassSessions times, and returns the
// median glass-to-glass latency in ms over all their pictures, and how many
// pictures it rests on.
func pageGlassToGlass(newServer func() server) (float64, int, error) {
	if _, err := os.Stat(chromiumPath); err != nil {
		return 0, 0, fmt.Errorf("no Chromium at %s: %w; apt-get install chromium (deploy/setup.sh lists it)", chromiumPath, err)
	}
	dir, err := os.MkdirTemp("", "bench-peers-glass-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	name := newServer().name

	// The page and its /whep on one loopback origin, so that neither server
	// needs to allow another origin; the offer goes on to the server as a
	// pion viewer's would, each session's as a viewer of its own (Doorbell
	// limits how many sessions one device holds). refused keeps the last
	// answer that was not an answer, for the error.
	var mu sync.Mutex
	var url, token, refused string
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/whep" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, glassPage)
			return
		}
		mu.Lock()
		url, token := url, token
		mu.Unlock()
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, url, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header.Set("Content-Type", "application/sdp")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := insecure.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if resp.StatusCode/100 != 2 {
			mu.Lock()
			refused = fmt.Sprintf("%s answered the offer %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/sdp")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}))
	defer site.Close()

	var all glassSamples
	var p50s []string
	// session starts the server, watches it in a fresh browser and stops it.
	session := func(i int) (glassSamples, error) {
		s := newServer()
		sdir := fmt.Sprintf("%s/%d", dir, i)
		if err := os.Mkdir(sdir, 0o700); err != nil {
			return glassSamples{}, err
		}
		cmd, err := s.start(ctx, sdir)
		if err != nil {
			return glassSamples{}, err
		}
		defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
		if !waitFor(20*time.Second, s.ready) {
			return glassSamples{}, fmt.Errorf("encoded nothing within 20 s")
		}
		u, t, err := s.viewer()
		if err != nil {
			return glassSamples{}, err
		}
		mu.Lock()
		url, token = u, t
		mu.Unlock()
		return glassSession(ctx, site.URL, sdir+"/chromium")
	}
	for i := range glassSessions {
		got, err := session(i)
		if err != nil {
			mu.Lock()
			why := refused
			mu.Unlock()
			if why != "" {
				err = fmt.Errorf("%w (%s)", err, why)
			}
			return 0, 0, fmt.Errorf("%s, session %d of %d: %w", name, i+1, glassSessions, err)
		}
		p50s = append(p50s, fmt.Sprintf("%.1f", median(got.shown)))
		all.shown = append(all.shown, got.shown...)
		all.received = append(all.received, got.received...)
		all.presented = append(all.presented, got.presented...)
	}
	lat := all.shown
	slices.Sort(lat)
	fmt.Fprintf(os.Stderr, "%s: glass-to-glass on the WHEP page, %d pictures in %d sessions: p50 %.1f ms (each session's: %s), min %.1f, max %.1f; p50 from capture to the last packet %.1f ms, to the compositor %.1f ms\n",
		name, len(lat), glassSessions, median(lat), strings.Join(p50s, ", "), lat[0], lat[len(lat)-1], median(all.received), median(all.presented))
	return median(lat), len(lat), nil
}

// glassSamples are latencies in ms from capture: to when each picture was
// shown, to its last packet, and to the compositor.
type glassSamples struct{ shown, received, presented []float64 }

// glassSession opens glassPage at url in a fresh browser (profile in dir)
// and reads glassRounds × glassPictures pictures back.
func glassSession(ctx context.Context, url, dir string) (glassSamples, error) {
	var got glassSamples
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		return got, fmt.Errorf("starting Chromium: %w", err)
	}
	if !waitFor(20*time.Second, func() bool {
		shown, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`typeof measure === 'function' && document.getElementById('v').videoWidth > 0`))
		return err == nil && shown
	}) {
		return got, fmt.Errorf("the page showed no picture within 20 s")
	}
	time.Sleep(2 * time.Second) // past the start-up burst

	_, strip := camera.StampGeometry(glassWidth, glassHeight)
	pictures := 0
	for range glassRounds {
		round, cancelRound := context.WithTimeout(bctx, 20*time.Second)
		samples, err := chromedp.Run(round, chromedp.Evaluate[[]struct {
			Y                          []int
			Width, Height              int
			Shown, Received, Presented float64
		}](fmt.Sprintf(`measure(%d, %d)`, strip/2, glassPictures), chromedp.EvalAwaitPromise))
		cancelRound()
		if err != nil {
			return got, fmt.Errorf("reading pictures back: %w", err)
		}
		for _, p := range samples {
			pictures++
			if p.Width != glassWidth || p.Height != glassHeight {
				return got, fmt.Errorf("the page shows %dx%d, want %dx%d", p.Width, p.Height, glassWidth, glassHeight)
			}
			if at, ok := camera.ReadTimestampRow(bytesOf(p.Y), glassWidth, glassHeight); ok {
				ms := float64(at.UnixMilli())
				got.shown = append(got.shown, p.Shown-ms)
				got.received = append(got.received, p.Received-ms)
				got.presented = append(got.presented, p.Presented-ms)
			}
		}
	}
	if len(got.shown) < pictures/2 {
		return got, fmt.Errorf("only %d of %d pictures had a readable time strip", len(got.shown), pictures)
	}
	// Hang up (DTLS close), so that the server ends the session now rather
	// than when it times out.
	_, _ = chromedp.Run(bctx, chromedp.Evaluate[bool](`pc.close(), true`))
	return got, nil
}

// stampedSource renders Doorbell's synthetic camera, as doorbelld's demo
// does, in real time into ffmpeg with the benchmark's x264 settings, which
// publishes it to url over RTSP: go2rtc's source for glass-to-glass. It
// runs as this program's -stamped-source, started by go2rtc.
func stampedSource(url string) error {
	def := config.Defaults().Camera.Synthetic
	cam, err := camera.NewSynthetic(camera.SyntheticConfig{
		Width: glassWidth, Height: glassHeight, FPS: glassFPS, Seed: def.Seed, Noise: def.Noise, Realtime: true,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	args := append([]string{"-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
		"-s", fmt.Sprintf("%dx%d", glassWidth, glassHeight), "-r", fmt.Sprint(glassFPS), "-i", "-", "-an"},
		strings.Fields(x264)...)
	ffmpeg := exec.CommandContext(ctx, "ffmpeg", append(args, "-f", "rtsp", url)...)
	ffmpeg.Stderr = os.Stderr
	in, err := ffmpeg.StdinPipe()
	if err != nil {
		return err
	}
	if err := ffmpeg.Start(); err != nil {
		return fmt.Errorf("starting ffmpeg: %w", err)
	}
	f := camera.NewFrame(glassWidth, glassHeight)
	for {
		if err := cam.Read(ctx, f); err != nil {
			in.Close()
			_ = ffmpeg.Wait()
			return nil // stopped
		}
		if _, err := in.Write(f.Data); err != nil {
			return fmt.Errorf("ffmpeg stopped reading: %w (%v)", err, ffmpeg.Wait())
		}
	}
}

// bytesOf turns a row of luma values read from a page (JSON numbers) into bytes.
func bytesOf(vs []int) []byte {
	b := make([]byte, len(vs))
	for i, v := range vs {
		b[i] = byte(v)
	}
	return b
}
