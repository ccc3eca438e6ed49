package stream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"doorbell/camera"
	"doorbell/internal/testkit"
)

// testLog shows the package's logs with -v when DOORBELL_TEST_LOG is set.
var testLog = testkit.Log

// feed runs the synthetic camera at its frame rate into sink until ctx ends.
func feed(ctx context.Context, w, h int, fps float64, sink camera.Sink) error {
	src, err := camera.NewSynthetic(camera.SyntheticConfig{Width: w, Height: h, FPS: fps, Seed: 1, Noise: 2,
		VisitorPeriod: 10 * time.Second, VisitorStay: 2 * time.Second, Realtime: true})
	if err != nil {
		return err
	}
	f := &camera.Frame{}
	for {
		if err := src.Read(ctx, f); err != nil {
			return nil
		}
		sink.WriteFrame(f)
	}
}

// pipeline is camera → encoder → ring → hub → WHEP, served over loopback.
type pipeline struct {
	ring   *Ring
	enc    *FFmpeg
	hub    *Hub
	whep   *WHEP
	srv    *httptest.Server
	tokens *testkit.Tokens
	aus    atomic.Uint64 // access units out of the encoder
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

type pipelineConfig struct {
	w, h       int
	fps        float64
	kbps       int
	noEncoder  bool
	maxViewers int
	perViewer  int // sessions per token; 0: the hub's default
	queue      int
	audio      *Audio
}

type countingSink struct {
	AccessUnitSink
	n *atomic.Uint64
}

func (c countingSink) WriteAccessUnit(au *AccessUnit) {
	c.n.Add(1)
	c.AccessUnitSink.WriteAccessUnit(au)
}

func startPipeline(t testing.TB, c pipelineConfig) *pipeline {
	t.Helper()
	if c.w == 0 {
		c.w, c.h, c.fps, c.kbps = 320, 240, 30, 500
	}
	p := &pipeline{ring: NewRing(4 << 20), tokens: testkit.NewTokens(map[string]string{"good-token": "anna", "other-token": "ben"})}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	var err error
	if !c.noEncoder {
		p.enc, err = NewFFmpeg(FFmpegConfig{Backend: BackendX264, Width: c.w, Height: c.h, FPS: c.fps,
			BitrateKbps: c.kbps, KeyframeInterval: 500 * time.Millisecond}, countingSink{p.ring, &p.aus}, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.enc.Run(ctx) }()
		go func() { defer p.wg.Done(); _ = feed(ctx, c.w, c.h, c.fps, p.enc) }()
	}
	p.hub, err = NewHub(p.ring, HubConfig{MaxViewers: c.maxViewers, MaxPerViewer: c.perViewer, Queue: c.queue, LoopbackCandidates: true, Log: testLog(t), Audio: c.audio})
	if err != nil {
		t.Fatal(err)
	}
	p.whep = &WHEP{Viewers: p.hub, Auth: p.tokens, Log: testLog(t)}
	mux := http.NewServeMux()
	p.whep.Handle(mux)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.stop)
	return p
}

func (p *pipeline) stop() {
	p.once.Do(func() {
		p.srv.Close()
		p.hub.Close()
		p.cancel()
		p.wg.Wait()
		http.DefaultClient.CloseIdleConnections()
	})
}

// session finds the hub's session for a viewer's Location.
func (p *pipeline) session(location string) *session {
	p.hub.mu.Lock()
	defer p.hub.mu.Unlock()
	return p.hub.sessions[location[strings.LastIndexByte(location, '/')+1:]]
}

// frame is one picture as a viewer reassembled it from RTP.
type frame struct {
	types   []byte // NAL unit types, in order
	ts      uint32
	arrived time.Time
	size    int
}

func (f frame) has(t byte) bool { return bytes.IndexByte(f.types, t) >= 0 }

// viewer is a pion WebRTC client that watches over WHEP, as a browser would.
type viewer struct {
	pc       *webrtc.PeerConnection
	answered time.Duration // how long the POST took
	location string
	token    string
	base     string

	frames   atomic.Uint64 // complete pictures received
	broken   atomic.Uint64 // pictures with packets missing
	keys     atomic.Uint64
	first    chan frame // the first picture
	keyAfter atomic.Int64
	keySeen  chan frame // the first keyframe that arrived after keyAfter (unix ns)
	mu       sync.Mutex
	all      []frame // when keepAll
	keepAll  bool
}

func clientAPI() *webrtc.API {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		panic(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		panic(err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(clientSettings()))
}

// clientSettings are a test viewer's: IPv4 on loopback, no mDNS.
func clientSettings() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return se
}

var sharedClientAPI = sync.OnceValue(clientAPI)

// watch connects a viewer to the WHEP endpoint at base (".../whep").
func watch(base, token string, keepAll bool) (*viewer, error) {
	v := &viewer{token: token, base: base, first: make(chan frame, 1), keySeen: make(chan frame, 1),
		keepAll: keepAll}
	v.keyAfter.Store(1<<63 - 1)
	pc, err := sharedClientAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v.pc = pc
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		pc.Close()
		return nil, err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { v.read(tr) })
	if v.answered, v.location, err = connectWHEP(pc, base, token); err != nil {
		pc.Close()
		return nil, err
	}
	return v, nil
}

// connectWHEP offers pc's transceivers to the WHEP endpoint at base and
// applies the answer. It returns how long the POST took and the session's
// Location.
func connectWHEP(pc *webrtc.PeerConnection, base, token string) (time.Duration, string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return 0, "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return 0, "", err
	}
	<-gathered
	start := time.Now()
	status, hdr, body, err := post(base, token, "application/sdp", pc.LocalDescription().SDP)
	answered := time.Since(start)
	if err != nil {
		return 0, "", err
	}
	if status != http.StatusCreated {
		return 0, "", fmt.Errorf("WHEP POST answered %d: %s", status, body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		return 0, "", err
	}
	return answered, hdr.Get("Location"), nil
}

// read reassembles pictures from the track's RTP packets.
func (v *viewer) read(tr *webrtc.TrackRemote) {
	var (
		depack  codecs.H264Packet
		cur     []byte
		broken  bool
		lastSeq uint16
		started bool
	)
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if started && pkt.SequenceNumber != lastSeq+1 {
			broken = true
		}
		started, lastSeq = true, pkt.SequenceNumber
		nal, err := depack.Unmarshal(pkt.Payload)
		if err != nil {
			broken = true
		}
		cur = append(cur, nal...)
		if !pkt.Marker {
			continue
		}
		f := frame{types: annexBTypes(cur), ts: pkt.Timestamp, arrived: time.Now(), size: len(cur)}
		cur, depack = cur[:0], codecs.H264Packet{}
		if broken {
			v.broken.Add(1)
			broken = false
			continue
		}
		v.frames.Add(1)
		if v.frames.Load() == 1 {
			v.first <- f
		}
		if f.has(nalIDR) {
			v.keys.Add(1)
			if f.arrived.UnixNano() > v.keyAfter.Load() {
				select {
				case v.keySeen <- f:
				default:
				}
			}
		}
		if v.keepAll {
			v.mu.Lock()
			v.all = append(v.all, f)
			v.mu.Unlock()
		}
	}
}

func annexBTypes(b []byte) []byte {
	var types []byte
	for i := 0; i+3 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			types = append(types, b[i+3]&0x1f)
			i += 3
		}
	}
	return types
}

// hangUp ends the session with DELETE and closes the connection.
func (v *viewer) hangUp() error {
	defer v.close()
	status, _, body, err := do(http.MethodDelete, strings.TrimSuffix(v.base, "/whep")+v.location, v.token, "", "")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("DELETE answered %d: %s", status, body)
	}
	return nil
}

// close closes the connection and waits for its goroutines.
func (v *viewer) close() { _ = v.pc.GracefulClose() }

func post(url, token, contentType, body string) (int, http.Header, string, error) {
	return do(http.MethodPost, url, token, contentType, body)
}

func do(method, url, token, contentType, body string) (int, http.Header, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}
