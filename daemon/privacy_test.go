package daemon

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"doorbell/camera"
	"doorbell/clipstore"
	"doorbell/config"
	"doorbell/crypto/clip"
	"doorbell/crypto/keys"
	"doorbell/crypto/members"
	"doorbell/devicekey"
	"doorbell/events"
	"doorbell/gpio"
	"doorbell/internal/testkit"
	"doorbell/pairing"
	"doorbell/stream"
)

// pairedToken pairs a test phone with the running daemon d and returns its token.
func pairedToken(t testing.TB, d *Daemon) string {
	t.Helper()
	testkit.AddMember(t, d.DataDir(), "anna") // codes are for members
	code, err := pairing.NewCode(d.DataDir(), "anna", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := d.parts.tokens.Pair(code.Code, "test phone")
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// addMember makes a member, so that the daemon would record if it could.
func addMember(t testing.TB, dir string) age.Identity {
	t.Helper()
	id, err := keys.Generate(keys.Hybrid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := members.Add(dir, "anna", id.Recipient, time.Now()); err != nil {
		t.Fatal(err)
	}
	return id.Identity
}

// peer is a pion WHEP client: video received, and audio both ways when asked.
type peer struct {
	pc        *webrtc.PeerConnection
	videoPkts atomic.Int64
	audioPkts atomic.Int64
	closed    chan struct{}
}

func peerAPI() *webrtc.API {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		panic(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		panic(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// dialWHEP offers video (receive) and, if mic is not nil, audio both ways
// with mic as the phone's microphone. It returns the peer, or the HTTP
// status and body of a refusal.
func dialWHEP(t testing.TB, addr, token string, mic webrtc.TrackLocal, withAudio bool) (*peer, int, string) {
	t.Helper()
	p := &peer{closed: make(chan struct{})}
	pc, err := peerAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	p.pc = pc
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	if mic != nil {
		if _, err := pc.AddTransceiverFromTrack(mic, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
			t.Fatal(err)
		}
	} else if withAudio {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateDisconnected {
			select {
			case <-p.closed:
			default:
				close(p.closed)
			}
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			_, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				p.videoPkts.Add(1)
				continue
			}
			p.audioPkts.Add(1)
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	req, _ := http.NewRequest("POST", "https://"+addr+"/whep", strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := insecure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, resp.StatusCode, string(body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatal(err)
	}
	return p, resp.StatusCode, ""
}

// waitUntil waits for cond, failing after d: a bound for a hung test.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, d, what, cond)
}

func getPrivacy(t testing.TB, addr string) privacyStatus {
	t.Helper()
	resp, err := insecure.Get("https://" + addr + "/api/privacy")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st privacyStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// no-recording, end to end: before a ring no frame is captured, nothing
// reaches the encoder, live view is refused with the reason; a ring
// starts the camera and live view; every picture anyone gets was captured
// after the ring; when the window ends the camera stops, the viewer is cut
// off, and the ring holds nothing. Nothing is recorded, even with members
// and motion in front of the camera.
func TestNoRecordingProfile(t *testing.T) {
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 320, 240, 15
	cfg.Camera.Synthetic.VisitorPeriod, cfg.Camera.Synthetic.VisitorStay = 2, 1 // motion all the time
	cfg.Privacy.Profile = config.ProfileNoRecording
	cfg.Privacy.LiveWindow = 3
	var mu sync.Mutex
	var frames []time.Time
	d, addr, _ := started(t, cfg, func(d *Daemon) {
		addMember(t, d.DataDir())
		d.AddSink(camera.SinkFunc(func(f *camera.Frame) {
			mu.Lock()
			frames = append(frames, f.Captured)
			mu.Unlock()
		}))
	})
	framesSince := func(after time.Time) (before, since int) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range frames {
			if c.Before(after) {
				before++
			} else {
				since++
			}
		}
		return
	}
	var aus []*stream.AccessUnit
	backlog, cancel := streamRing(t, d).Subscribe(time.Time{}, func(au *stream.AccessUnit) { mu.Lock(); aus = append(aus, au); mu.Unlock() })
	defer cancel()
	if len(backlog) > 0 {
		t.Fatalf("the ring holds %d pictures before any ring", len(backlog))
	}
	token := pairedToken(t, d)
	if st := getPrivacy(t, addr); st.Live || st.Recording || !strings.Contains(st.NextLook, "next ring") {
		t.Errorf("/api/privacy before a ring: %+v", st)
	}
	_, code, body := dialWHEP(t, addr, token, nil, false)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "off until someone rings") {
		t.Errorf("live view before a ring: %d %q, want 503 saying the camera is off", code, body)
	}
	// Give the camera every chance to run: it must not.
	time.Sleep(time.Second)
	if before, since := framesSince(time.Now()); before+since > 0 {
		t.Fatalf("%d frames were captured before anyone rang", before+since)
	}

	rang := time.Now()
	d.Bus().Publish(events.Event{Kind: events.Ring, Time: rang, ID: 1})
	waitUntil(t, 30*time.Second, "live after the ring", func() bool { return getPrivacy(t, addr).Live })
	p, code, body := dialWHEP(t, addr, token, nil, false)
	if p == nil {
		t.Fatalf("live view after a ring: %d %q", code, body)
	}
	waitUntil(t, 30*time.Second, "video after the ring", func() bool { return p.videoPkts.Load() > 0 })
	// A stranger on the home network cannot tell from /healthz that someone rang.
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.RemoteAddr = "192.168.1.50:40000"
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, req)
	if strings.Contains(rec.Body.String(), "running") || !strings.Contains(rec.Body.String(), "only after a ring") {
		t.Errorf("a stranger's /healthz while the camera is on: %s", rec.Body.String())
	}
	select {
	case <-p.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the viewer was not cut off when the live window ended")
	}
	off := time.Now()
	waitUntil(t, 30*time.Second, "off after the window", func() bool { return !getPrivacy(t, addr).Live })
	if before, since := framesSince(rang); before > 0 || since == 0 {
		t.Errorf("frames: %d captured before the ring, %d after; want none before and some after", before, since)
	}
	mu.Lock()
	for _, au := range aus {
		if au.Captured.Before(rang) {
			t.Errorf("a picture captured %v before the ring reached the stream", rang.Sub(au.Captured))
		}
	}
	mu.Unlock()
	if snap := streamRing(t, d).Snapshot(time.Now()); len(snap) > 0 {
		t.Errorf("the ring holds %d pictures after the window", len(snap))
	}
	time.Sleep(time.Second)
	if _, since := framesSince(off.Add(200 * time.Millisecond)); since > 0 {
		t.Errorf("%d frames captured after the camera switched off", since)
	}
	store, err := clipstore.Open(d.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := store.List(); len(list) > 0 {
		t.Errorf("no-recording kept %d clips", len(list))
	}

	// A second ring opens the camera again, and its viewers never see the
	// first window's pictures.
	rang2 := time.Now()
	mu.Lock()
	aus = nil
	mu.Unlock()
	d.Bus().Publish(events.Event{Kind: events.Ring, Time: rang2, ID: 2})
	waitUntil(t, 30*time.Second, "live after the second ring", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(aus) > 0
	})
	mu.Lock()
	for _, au := range aus {
		if au.Captured.Before(rang2) {
			t.Errorf("a picture from before the second ring reached the stream")
		}
	}
	mu.Unlock()
}

// Only the home network is answered in no-recording; other profiles answer anyone with a token.
func TestNoRecordingAnswersOnlyTheHomeNetwork(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, c := range []struct {
		profile, from string
		want          int
	}{
		{config.ProfileNoRecording, "203.0.113.7:4000", http.StatusForbidden},
		{config.ProfileNoRecording, "[2001:db8::1]:4000", http.StatusForbidden},
		{config.ProfileNoRecording, "192.168.1.20:4000", http.StatusNoContent},
		{config.ProfileNoRecording, "[fd00::5]:4000", http.StatusNoContent},
		{config.ProfileNoRecording, "[fe80::1]:4000", http.StatusNoContent},
		{config.ProfileNoRecording, "127.0.0.1:4000", http.StatusNoContent},
		{config.ProfileStandard, "203.0.113.7:4000", http.StatusNoContent},
	} {
		cfg := config.Defaults()
		cfg.Privacy.Profile = c.profile
		p := newPrivacy(cfg.Privacy, cfg.Camera, nil, events.NewBus(), slog.New(slog.DiscardHandler))
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/whep", nil)
		req.RemoteAddr = c.from
		p.lanOnly(ok).ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s, from %s: %d %q, want %d", c.profile, c.from, rec.Code, rec.Body.String(), c.want)
		}
	}
}

// ring-only, end to end: motion in front of the camera records nothing, a
// ring records a clip whose every picture was captured after the ring (no
// pre-roll, not even the keyframe before it), kept 72 h at most.
func TestRingOnlyProfile(t *testing.T) {
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 320, 240, 15
	cfg.Camera.Synthetic.VisitorPeriod, cfg.Camera.Synthetic.VisitorStay = 60, 1
	cfg.Motion.Quiet = 1
	cfg.Recorder.PostRoll = 1
	cfg.Privacy.Profile = config.ProfileRingOnly
	var member age.Identity
	d, _, _ := started(t, cfg, func(d *Daemon) { member = addMember(t, d.DataDir()) })
	if d.cfg.Recorder.MaxAgeDays != config.RingOnlyMaxAgeDays || d.cfg.Recorder.OnMotion || d.cfg.Recorder.PreRoll != 0 {
		t.Fatalf("ring-only recorder settings in the daemon: %+v", d.cfg.Recorder)
	}
	sealed, unsubscribe := d.Bus().Subscribe("test", 64)
	defer unsubscribe()
	// The visitor comes and goes: motion, which records nothing.
	motionEnded := false
	deadline := time.After(30 * time.Second)
	for !motionEnded {
		select {
		case e := <-sealed:
			motionEnded = e.Kind == events.MotionEnd
			if e.Kind == events.ClipSealed || d.recording() {
				t.Fatal("motion recorded a clip in ring-only")
			}
		case <-deadline:
			t.Fatal("no motion from the synthetic visitor within 30 s")
		}
	}
	rang := time.Now()
	d.Bus().Publish(events.Event{Kind: events.Ring, Time: rang, ID: 1})
	var clipID string
	deadline = time.After(20 * time.Second)
	for clipID == "" {
		select {
		case e := <-sealed:
			if e.Kind == events.ClipSealed {
				clipID = e.Clip
			}
		case <-deadline:
			t.Fatal("the ring's clip was not sealed within 20 s")
		}
	}
	store, err := clipstore.Open(d.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	list, err := store.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("clips: %+v (%v), want the ring's only", list, err)
	}
	first := firstFrameTime(t, d, member, store, clipID, cfg.Camera.Width, cfg.Camera.Height)
	if first.Before(rang) {
		t.Errorf("the clip's first picture was captured %v before the ring", rang.Sub(first))
	}
}

// firstFrameTime opens a clip with the member's key, decodes its first
// picture with ffmpeg and reads the capture time stamped into it.
func firstFrameTime(t testing.TB, d *Daemon, id age.Identity, store *clipstore.Store, clipID string, w, h int) time.Time {
	t.Helper()
	f, err := os.Open(store.ClipPath(clipID))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	rec, err := os.Open(store.RecordPath(clipID))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	key, err := devicekey.Load(d.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	var mp4 bytes.Buffer
	if _, err := clip.Open(&mp4, f, fi.Size(), rec, clip.Options{Identities: []age.Identity{id},
		Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "mp4", "-i", "pipe:0", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
	cmd.Stdin = &mp4
	y, err := cmd.Output()
	if err != nil || len(y) != w*h {
		t.Fatalf("decoding the clip's first picture: %v (%d bytes)", err, len(y))
	}
	at, ok := camera.ReadTimestamp(y, w, h)
	if !ok {
		t.Fatal("the clip's first picture carries no readable time strip")
	}
	return at
}

// streamRing is the running daemon's ring of encoded pictures.
func streamRing(t testing.TB, d *Daemon) *stream.Ring {
	t.Helper()
	for _, p := range d.parts.all {
		if s, ok := p.(*streamPart); ok {
			return s.ring
		}
	}
	t.Fatal("the daemon has no stream part")
	return nil
}

// recording reports whether a clip is recording now (the LED shows it).
func (d *Daemon) recording() bool { return d.LED().State() == gpio.Recording }

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// BenchmarkNoRecordingRingToFirstFrame: in the no-recording profile, from
// a ring (the camera off) to the first video packet at a viewer that asks
// at once and again every 20 ms while the doorbell says the camera is off:
// the camera's start, the encoder's first keyframe, WHEP and ICE included.
// Reports the p50 and p90 over b.N rings, and the p50s of the ring to the
// camera's first frame and to the encoder's first keyframe.
func BenchmarkNoRecordingRingToFirstFrame(b *testing.B) {
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 1280, 720, 30
	cfg.Privacy.Profile = config.ProfileNoRecording
	cfg.Privacy.LiveWindow = 4 // each ring's window ends before the next
	d, addr, _ := started(b, cfg)
	token := pairedToken(b, d)
	var firstFrame atomic.Int64
	d.AddSink(camera.SinkFunc(func(f *camera.Frame) { firstFrame.CompareAndSwap(0, time.Now().UnixNano()) }))
	var ms, cam, key []float64
	for i := 0; i < b.N; i++ {
		waitUntil(b, 30*time.Second, "the camera off", func() bool { return !getPrivacy(b, addr).Live })
		firstFrame.Store(0)
		rang := time.Now()
		firstKey := make(chan time.Time, 1)
		_, cancelSub := streamRing(b, d).Subscribe(time.Now().Add(time.Hour), func(au *stream.AccessUnit) {
			select {
			case firstKey <- time.Now():
			default:
			}
		})
		d.Bus().Publish(events.Event{Kind: events.Ring, Time: rang, ID: uint64(i + 1)})
		var p *peer
		for p == nil {
			var code int
			var body string
			p, code, body = dialWHEP(b, addr, token, nil, false)
			if p == nil && code != http.StatusServiceUnavailable {
				b.Fatalf("WHEP: %d %s", code, body)
			}
			if p == nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
		waitUntil(b, 30*time.Second, "the first picture", func() bool { return p.videoPkts.Load() > 0 })
		ms = append(ms, float64(time.Since(rang).Microseconds())/1000)
		cancelSub()
		cam = append(cam, float64(time.Unix(0, firstFrame.Load()).Sub(rang).Microseconds())/1000)
		select {
		case k := <-firstKey:
			key = append(key, float64(k.Sub(rang).Microseconds())/1000)
		default:
		}
		_ = p.pc.Close()
	}
	b.ReportMetric(percentile(ms, 0.5), "p50-ms")
	b.ReportMetric(percentile(ms, 0.9), "p90-ms")
	b.ReportMetric(percentile(cam, 0.5), "camera-p50-ms") // ring to the camera's first frame
	if len(key) > 0 {
		b.ReportMetric(percentile(key, 0.5), "keyframe-p50-ms") // ring to the first keyframe out of the encoder
	}
}
