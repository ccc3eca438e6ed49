package stream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func TestWHEPViewerGetsDecodablePictures(t *testing.T) {
	p := startPipeline(t, pipelineConfig{})
	if !waitFor(10*time.Second, func() bool { return p.aus.Load() > 20 }) {
		t.Fatalf("encoder produced nothing: %+v", p.enc.Status())
	}
	start := time.Now()
	v, err := watch(p.srv.URL+"/whep", "good-token", true)
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	if !strings.HasPrefix(v.location, "/whep/") {
		t.Errorf("Location is %q, want /whep/{id}", v.location)
	}
	var first frame
	select {
	case first = <-v.first:
	case <-time.After(5 * time.Second):
		t.Fatal("no picture within 5 s")
	}
	t.Logf("first picture %v after the POST", first.arrived.Sub(start).Round(time.Millisecond))
	// The first picture a viewer gets is a keyframe: SPS, PPS and IDR.
	if !first.has(nalSPS) || !first.has(nalPPS) || !first.has(nalIDR) {
		t.Errorf("first picture has NAL types %v, want SPS (7), PPS (8) and IDR (5)", first.types)
	}
	if !waitFor(5*time.Second, func() bool { return v.frames.Load() >= 45 && v.keys.Load() >= 2 }) {
		t.Fatalf("got %d pictures, %d keyframes", v.frames.Load(), v.keys.Load())
	}
	v.mu.Lock()
	all := append([]frame(nil), v.all...)
	v.mu.Unlock()
	for i := 1; i < len(all); i++ {
		if int32(all[i].ts-all[i-1].ts) <= 0 {
			t.Fatalf("picture %d has RTP timestamp %d after %d", i, all[i].ts, all[i-1].ts)
		}
		if all[i].has(nalIDR) && (!all[i].has(nalSPS) || !all[i].has(nalPPS)) {
			t.Errorf("keyframe %d lacks SPS or PPS: %v", i, all[i].types)
		}
	}
	if b := v.broken.Load(); b > 0 {
		t.Errorf("%d pictures arrived with packets missing", b)
	}
	if st := p.hub.Status(); st.Viewers != 1 {
		t.Errorf("hub status %+v, want 1 viewer", st)
	}
	if err := v.hangUp(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(time.Second, func() bool { return p.hub.Status().Viewers == 0 }) {
		t.Errorf("session still open after DELETE: %+v", p.hub.Status())
	}
	// The session is gone: a second DELETE finds nothing.
	if status, _, _, _ := do(http.MethodDelete, p.srv.URL+v.location, "good-token", "", ""); status != http.StatusNotFound {
		t.Errorf("second DELETE answered %d, want 404", status)
	}
}

// offerSDP makes a browser-like offer for a recvonly video transceiver.
func offerSDP(t *testing.T) string {
	t.Helper()
	pc, err := sharedClientAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.GracefulClose()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

func TestWHEPRefusals(t *testing.T) {
	p := startPipeline(t, pipelineConfig{noEncoder: true, maxViewers: 1})
	url := p.srv.URL + "/whep"
	offer := offerSDP(t)
	audioOnly := strings.Replace(offer, "m=video", "m=audio", 1)
	vp8Only := regexp.MustCompile(`(?m)^a=rtpmap:(\d+) H264/90000`).ReplaceAllString(offer, "a=rtpmap:$1 VP9/90000")
	huge := offer + strings.Repeat("a=x-padding:"+strings.Repeat("x", 100)+"\r\n", 700)

	cases := []struct {
		name         string
		method, path string
		token, ctype string
		body         string
		status       int
		want         string // in the body
		header       [2]string
	}{
		{"no token", "POST", "/whep", "", "application/sdp", offer, 401, "no token", [2]string{"WWW-Authenticate", `Bearer realm="doorbell"`}},
		{"wrong token", "POST", "/whep", "bad-token", "application/sdp", offer, 401, "not valid", [2]string{"WWW-Authenticate", `error="invalid_token"`}},
		{"wrong content type", "POST", "/whep", "good-token", "application/json", offer, 415, "application/sdp", [2]string{"Accept-Post", "application/sdp"}},
		{"no content type", "POST", "/whep", "good-token", "", offer, 415, "application/sdp", [2]string{}},
		{"too big", "POST", "/whep", "good-token", "application/sdp", huge, 413, "limit", [2]string{}},
		{"garbage", "POST", "/whep", "good-token", "application/sdp", "hello, doorbell", 400, "does not parse as SDP", [2]string{}},
		{"empty", "POST", "/whep", "good-token", "application/sdp", "", 400, "empty", [2]string{}},
		{"no video", "POST", "/whep", "good-token", "application/sdp", audioOnly, 400, "no video section", [2]string{}},
		{"no H.264", "POST", "/whep", "good-token", "application/sdp", vp8Only, 400, "no H.264", [2]string{}},
		{"GET", "GET", "/whep", "good-token", "", "", 405, "POST an SDP offer", [2]string{"Allow", "POST, OPTIONS"}},
		{"PATCH", "PATCH", "/whep/0123456789abcdef0123456789abcdef", "good-token", "application/trickle-ice-sdpfrag", "a=end-of-candidates", 405, "trickle", [2]string{"Allow", "DELETE, OPTIONS"}},
		{"DELETE unknown", "DELETE", "/whep/0123456789abcdef0123456789abcdef", "good-token", "", "", 404, "no such", [2]string{}},
		{"DELETE no token", "DELETE", "/whep/0123456789abcdef0123456789abcdef", "", "", "", 401, "no token", [2]string{}},
		{"bad session path", "DELETE", "/whep/not-a-session", "good-token", "", "", 404, "", [2]string{}},
		{"preflight", "OPTIONS", "/whep", "", "", "", 204, "", [2]string{"Access-Control-Allow-Headers", "Authorization, Content-Type"}},
		{"preflight session", "OPTIONS", "/whep/0123456789abcdef0123456789abcdef", "", "", "", 204, "", [2]string{"Access-Control-Allow-Methods", "DELETE, OPTIONS"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body, err := do(c.method, p.srv.URL+c.path, c.token, c.ctype, c.body)
			if err != nil {
				t.Fatal(err)
			}
			if status != c.status {
				t.Fatalf("answered %d, want %d: %s", status, c.status, body)
			}
			if !strings.Contains(body, c.want) {
				t.Errorf("body %q does not say %q", body, c.want)
			}
			if c.header[0] != "" && !strings.Contains(hdr.Get(c.header[0]), c.header[1]) {
				t.Errorf("header %s is %q, want it to hold %q", c.header[0], hdr.Get(c.header[0]), c.header[1])
			}
			if hdr.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("no CORS header on a %d", status)
			}
		})
	}

	t.Run("too big without a length", func(t *testing.T) {
		req, _ := http.NewRequest("POST", url, io.NopCloser(strings.NewReader(huge)))
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer good-token")
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("chunked 700 KB offer answered %d, want 413", resp.StatusCode)
		}
	})

	t.Run("too many viewers", func(t *testing.T) {
		v, err := watch(url, "good-token", false)
		if err != nil {
			t.Fatal(err)
		}
		defer v.close()
		status, hdr, body, err := post(url, "good-token", "application/sdp", offerSDP(t))
		if err != nil {
			t.Fatal(err)
		}
		if status != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(body, "max_viewers") {
			t.Errorf("second viewer with max_viewers 1: %d %q, Retry-After %q", status, body, hdr.Get("Retry-After"))
		}
		// Someone else's token cannot end the session.
		if status, _, _, _ := do("DELETE", p.srv.URL+v.location, "other-token", "", ""); status != 404 {
			t.Errorf("DELETE with another viewer's token answered %d, want 404", status)
		}
		if err := v.hangUp(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRevokedTokenEndsSessions(t *testing.T) {
	p := startPipeline(t, pipelineConfig{})
	url := p.srv.URL + "/whep"
	anna, err := watch(url, "good-token", false)
	if err != nil {
		t.Fatal(err)
	}
	defer anna.close()
	ben, err := watch(url, "other-token", false)
	if err != nil {
		t.Fatal(err)
	}
	defer ben.close()
	if !waitFor(5*time.Second, func() bool { return anna.frames.Load() > 0 && ben.frames.Load() > 0 }) {
		t.Fatal("viewers got no pictures")
	}
	p.tokens.Revoke("good-token")
	revoked := time.Now()
	if !waitFor(time.Second, func() bool { return p.session(anna.location) == nil }) {
		t.Fatal("the revoked token's session is still open after 1 s")
	}
	t.Logf("session ended %v after its token was revoked", time.Since(revoked).Round(time.Millisecond))
	if p.session(ben.location) == nil {
		t.Fatal("another viewer's session ended too")
	}
	if status, _, _, _ := post(url, "good-token", "application/sdp", offerSDP(t)); status != 401 {
		t.Errorf("revoked token: POST answered %d, want 401", status)
	}
	// CloseWhere ends sessions at once.
	if n := p.hub.CloseWhere(func(v string) bool { return v == "ben" }); n != 1 || p.session(ben.location) != nil {
		t.Errorf("CloseWhere ended %d sessions", n)
	}
}

func TestStreamResumesAfterEncoderIsKilled(t *testing.T) {
	p := startPipeline(t, pipelineConfig{})
	v, err := watch(p.srv.URL+"/whep", "good-token", false)
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	if !waitFor(5*time.Second, func() bool { return v.frames.Load() > 10 }) {
		t.Fatal("no pictures")
	}
	if err := syscall.Kill(p.enc.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	v.keyAfter.Store(killed.UnixNano())
	select {
	case f := <-v.keySeen:
		t.Logf("viewer got a keyframe %v after ffmpeg was killed", f.arrived.Sub(killed).Round(time.Millisecond))
	case <-time.After(3 * time.Second):
		t.Fatalf("the stream did not resume within 3 s; encoder %+v", p.enc.Status())
	}
	n := v.frames.Load()
	if !waitFor(2*time.Second, func() bool { return v.frames.Load() > n+10 }) {
		t.Error("pictures did not keep coming after the restart")
	}
}

// fakeViewers opens sessions without WebRTC, for the WHEP handler alone.
type fakeViewers struct {
	open  func()
	mu    sync.Mutex
	ended []string
}

func (f *fakeViewers) Open(ctx context.Context, offer, viewer string, still func() bool) (string, string, error) {
	f.open()
	return "0123456789abcdef0123456789abcdef", "v=0\r\n", nil
}

func (f *fakeViewers) End(id, viewer string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = append(f.ended, id+" "+viewer)
	return true
}

// A session opened for a client that went away meanwhile is ended, not left
// holding a viewer's place until it times out.
func TestWHEPEndsSessionWhoseClientLeft(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := &fakeViewers{open: cancel} // the client leaves while the answer is made
	w := &WHEP{Viewers: v, Auth: AuthorizerFunc(func(string) (string, bool) { return "anna", true })}
	req := httptest.NewRequestWithContext(ctx, "POST", "/whep", strings.NewReader(offerSDP(t)))
	req.Header.Set("Authorization", "Bearer good-token")
	req.Header.Set("Content-Type", "application/sdp")
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("answered %d, want 503", rec.Code)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.ended) != 1 || v.ended[0] != "0123456789abcdef0123456789abcdef anna" {
		t.Errorf("sessions ended: %q, want the one opened", v.ended)
	}
}
