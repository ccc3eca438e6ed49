package stream

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"doorbell/internal/udpburst"
)

// Viewers is what the WHEP handler needs from a hub: open a session for an
// SDP offer, and end one.
type Viewers interface {
	// Open starts sending the stream to the viewer who made offer and
	// returns the session's id and the SDP answer. viewer names who is
	// watching (a token's id). If still is not nil, it is asked every
	// RecheckInterval whether the viewer may still watch; when it says no,
	// the session ends.
	Open(ctx context.Context, offer, viewer string, still func() bool) (id, answer string, err error)
	// End ends session id if viewer opened it, and reports whether it did.
	End(id, viewer string) bool
}

// HubConfig sets up a Hub.
type HubConfig struct {
	MaxViewers int // sessions at once; more are refused with ErrHubFull
	// MaxPerViewer is the sessions at once of one viewer (one paired
	// device); more are refused with ErrViewerFull. 0: 3.
	MaxPerViewer int
	Queue        int // access units queued per viewer; a viewer further behind skips to the next keyframe

	ICEServers         []webrtc.ICEServer // STUN/TURN; none is right on a LAN
	LoopbackCandidates bool               // offer 127.0.0.1 too: for a browser on the device itself, and tests
	UDPPortMin         uint16             // with UDPPortMax, the range of UDP ports for media; 0: any
	UDPPortMax         uint16

	GatherTimeout   time.Duration // longest wait for ICE candidates before answering; 0: 2 s
	ConnectTimeout  time.Duration // a session not connected this long after its answer ends; 0: 5 s
	RecheckInterval time.Duration // how often sessions' viewers are re-authorized; 0: 500 ms

	// Audio, if set, adds the doorbell's microphone and speaker to every
	// session whose offer has audio (audio.go); a viewer without audio
	// still gets video.
	Audio *Audio

	// OnViewers, if set, is called with the number of connected viewers
	// each time it changes (the status LED shows someone watching).
	OnViewers func(n int)

	Log *slog.Logger
}

// Errors from Hub.Open besides *OfferError.
var (
	ErrHubFull   = errors.New("the doorbell has as many viewers as stream.max_viewers allows; close another viewer, or raise the limit")
	ErrHubClosed = errors.New("the doorbell is shutting down; try again when it is back")
	// ErrViewerFull: one device may not take every place.
	ErrViewerFull = errors.New("this device already watches in as many sessions as it may; close its other live views first")
)

// OfferError is something wrong with a viewer's SDP offer.
type OfferError struct{ Reason string }

func (e *OfferError) Error() string { return "bad SDP offer: " + e.Reason }

// Hub sends one encoded stream to many WebRTC viewers. Each viewer has its
// own track and one goroutine that writes to it, so a new viewer's replay of
// the current GOP never interleaves with live pictures, and a slow viewer
// delays nobody else: its queue is bounded, and when it overflows the
// viewer drops what is queued and waits for the next keyframe.
type Hub struct {
	ring *Ring
	cfg  HubConfig
	log  *slog.Logger
	// What every session's peer connection is made with; each session
	// adds a network of its own (negotiate).
	media    *webrtc.MediaEngine
	registry *interceptor.Registry
	settings webrtc.SettingEngine

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup
	stop     chan struct{}

	mViewers                          prometheus.Gauge
	mSessions, mSent, mSkipped, mPLI  prometheus.Counter
	mAnswer, mConnect                 prometheus.Histogram
	totalSent, totalSkipped, totalPLI atomic.Uint64
	totalSessions                     atomic.Uint64
}

// H.264 as every browser decodes it: Constrained Baseline, level 3.1,
// non-interleaved packetization.
const h264FMTP = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"

// playoutDelayURI asks the browser to render each picture as soon as it is
// decoded: a doorbell wants the lowest latency, not the smoothest playback.
const playoutDelayURI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"

// nackHistory is how many packets each viewer's NACK responder keeps.
const nackHistory = 256

// NewHub makes a hub that serves the access units in ring.
func NewHub(ring *Ring, cfg HubConfig) (*Hub, error) {
	if cfg.MaxViewers <= 0 {
		cfg.MaxViewers = 10
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 30
	}
	if cfg.GatherTimeout <= 0 {
		cfg.GatherTimeout = 2 * time.Second
	}
	if cfg.MaxPerViewer <= 0 {
		cfg.MaxPerViewer = 3
	}
	if cfg.ConnectTimeout <= 0 {
		// A phone on the LAN connects in well under a second; an offer
		// that never connects must not hold a place for long.
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.RecheckInterval <= 0 {
		cfg.RecheckInterval = 500 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m := &webrtc.MediaEngine{}
	feedback := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: h264FMTP, RTCPFeedback: feedback},
		PayloadType: 102,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: playoutDelayURI}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if cfg.Audio != nil {
		if err := registerOpus(m); err != nil {
			return nil, err
		}
	}
	// Retransmission on NACK and sender reports; no bandwidth estimation:
	// the encoder's rate is fixed and shared by every viewer. The NACK
	// responder keeps each viewer's last 256 packets: about a second at 2
	// Mbit/s, plenty for a home network's round trip. It keeps them
	// without copying: a packet's header is made for it alone (send), and
	// its payload is the access unit's, written once and shared by every
	// viewer, so neither changes after it is sent. Only the video goes
	// through it. Viewers send no video, so no NACK generator.
	reg := &interceptor.Registry{}
	responder, err := nack.NewResponderInterceptor(nack.ResponderSize(nackHistory), nack.DisableCopy(),
		nack.ResponderStreamsFilter(isNackedVideo))
	if err != nil {
		return nil, err
	}
	reg.Add(responder)
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.LoggerFactory = pionLogs{cfg.Log}
	se.SetIncludeLoopbackCandidate(cfg.LoopbackCandidates)
	// The browser checks our host candidates and we learn its address from
	// those checks, so its mDNS names need not be resolved: no multicast
	// socket per viewer.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	se.SetSTUNGatherTimeout(cfg.GatherTimeout)
	if cfg.UDPPortMin != 0 || cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("UDP ports %d to %d: %w; give a range of at least one port", cfg.UDPPortMin, cfg.UDPPortMax, err)
		}
	}
	h := &Hub{
		ring: ring, cfg: cfg, log: cfg.Log,
		media: m, registry: reg, settings: se,
		sessions: map[string]*session{},
		stop:     make(chan struct{}),
		mViewers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "doorbell_stream_viewers", Help: "Live-view sessions open now."}),
		mSessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_stream_sessions_total", Help: "Live-view sessions opened."}),
		mSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_stream_frames_sent_total", Help: "Pictures sent, summed over viewers."}),
		mSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_stream_frames_skipped_total", Help: "Pictures a viewer skipped because it was behind, summed over viewers."}),
		mPLI: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_stream_picture_loss_total", Help: "Picture loss indications (PLI) from viewers."}),
		mAnswer: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "doorbell_stream_answer_seconds", Help: "From an SDP offer to its answer (includes ICE gathering).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		mConnect: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "doorbell_stream_connect_seconds", Help: "From an SDP offer to the first picture sent.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
	}
	h.wg.Add(1)
	go h.recheck()
	return h, nil
}

// RegisterMetrics adds the hub's metrics to reg.
func (h *Hub) RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(h.mViewers, h.mSessions, h.mSent, h.mSkipped, h.mPLI, h.mAnswer, h.mConnect)
}

// session is one viewer.
type session struct {
	hub    *Hub
	id     string
	viewer string
	still  func() bool
	opened time.Time
	pc     *webrtc.PeerConnection
	net    *udpburst.Net // the peer connection's sockets, held while a picture is written
	sender *webrtc.RTPSender
	track  *videoTrack
	queue  chan *AccessUnit
	done   chan struct{}
	once   sync.Once

	detachAudio   func()        // set when the session has audio (audio_hub.go)
	connected     chan struct{} // closed when ICE and DTLS are up
	connectedOnce sync.Once
	skipping      bool // touched only by offer, which the ring serialises
	counted       bool // in the viewers gauge; guarded by hub.mu

	// RTP state, touched only by the session's goroutine.
	seq    uint16
	tsBase uint32
	t0     time.Time
	lastTS uint32

	sent, skipped, plis atomic.Uint64
}

// Open implements Viewers.
func (h *Hub) Open(ctx context.Context, offer, viewer string, still func() bool) (string, string, error) {
	start := time.Now()
	if err := checkOffer(offer); err != nil {
		return "", "", err
	}
	offer, dropped := filterCandidates(offer, h.cfg.LoopbackCandidates)
	if dropped > 0 {
		h.log.Debug("ICE candidates of an offer left out", "viewer", viewer, "dropped", dropped)
	}
	s := &session{hub: h, viewer: viewer, still: still, opened: start, id: randomID(),
		queue: make(chan *AccessUnit, h.cfg.Queue), done: make(chan struct{}), track: newVideoTrack(),
		connected: make(chan struct{})}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	s.seq = binary.BigEndian.Uint16(rnd[:2])
	s.tsBase = binary.BigEndian.Uint32(rnd[2:])

	// Reserve the place first, so a burst of offers cannot overshoot the limit.
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		return "", "", ErrHubClosed
	case len(h.sessions) >= h.cfg.MaxViewers:
		h.mu.Unlock()
		return "", "", ErrHubFull
	case h.sessionsOf(viewer) >= h.cfg.MaxPerViewer:
		h.mu.Unlock()
		return "", "", ErrViewerFull
	}
	h.sessions[s.id] = s
	h.mu.Unlock()

	answer, err := h.negotiate(ctx, s, offer)
	h.mu.Lock()
	if err == nil {
		select {
		case <-s.done: // ended while negotiating: by Close, CloseWhere or its connection
			err = ErrHubClosed
		default:
			if h.closed {
				err = ErrHubClosed
			}
		}
	}
	if err != nil {
		delete(h.sessions, s.id)
		h.mu.Unlock()
		if s.detachAudio != nil {
			s.detachAudio()
		}
		if s.pc != nil {
			_ = s.pc.GracefulClose()
		}
		return "", "", err
	}
	s.counted = true
	h.mViewers.Inc()
	h.wg.Add(2) // under h.mu and not closed: before any Close's Wait
	h.viewersChanged()
	h.mu.Unlock()
	h.mAnswer.Observe(time.Since(start).Seconds())
	h.mSessions.Inc()
	h.totalSessions.Add(1)
	go s.run()
	go s.readRTCP()
	h.log.Debug("viewer session opened", "session", s.id, "viewer", viewer, "answer_ms", time.Since(start).Milliseconds())
	return s.id, answer, nil
}

// sessionsOf counts viewer's sessions, connected or not. h.mu is held.
func (h *Hub) sessionsOf(viewer string) int {
	n := 0
	for _, s := range h.sessions {
		if s.viewer == viewer {
			n++
		}
	}
	return n
}

// negotiate makes the session's peer connection and answers offer.
func (h *Hub) negotiate(ctx context.Context, s *session, offer string) (string, error) {
	n, err := udpburst.NewNet()
	if err != nil {
		return "", err
	}
	s.net = n
	se := h.settings
	se.SetNet(n)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(h.media), webrtc.WithInterceptorRegistry(h.registry), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: h.cfg.ICEServers})
	if err != nil {
		return "", err
	}
	s.pc = pc
	tr, err := pc.AddTransceiverFromTrack(s.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return "", err
	}
	s.sender = tr.Sender()
	if err := h.addAudio(s, offer); err != nil {
		return "", err
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateFailed:
			s.end("the connection failed")
		case webrtc.PeerConnectionStateClosed:
			s.end("the connection closed")
		case webrtc.PeerConnectionStateConnected:
			s.connectedOnce.Do(func() { close(s.connected) })
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", &OfferError{Reason: err.Error()}
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", &OfferError{Reason: err.Error()}
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", err
	}
	// No trickle ICE: the answer must carry our candidates. Host candidates
	// take a few milliseconds; STUN and TURN may take longer, and then the
	// answer carries what has been gathered by GatherTimeout.
	timer := time.NewTimer(h.cfg.GatherTimeout)
	defer timer.Stop()
	select {
	case <-gathered:
	case <-timer.C:
		h.log.Debug("answering before ICE gathering completed", "session", s.id, "waited", h.cfg.GatherTimeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if !sendsVideo(pc.LocalDescription().SDP) {
		return "", &OfferError{Reason: "the offer has no video the doorbell can send: it needs H.264 Constrained Baseline (profile-level-id 42e01f, packetization-mode=1) in a recvonly video section"}
	}
	answer := pc.LocalDescription().SDP
	if s.detachAudio != nil {
		return askPtime(answer)
	}
	return answer, nil
}

// isNackedVideo says whether the NACK responder keeps a stream's packets:
// the H.264 stream's, when the viewer asked for NACK.
func isNackedVideo(info *interceptor.StreamInfo) bool {
	if !strings.EqualFold(info.MimeType, webrtc.MimeTypeH264) {
		return false
	}
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

// checkOffer parses offer enough to say what is wrong with it.
func checkOffer(offer string) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return &OfferError{Reason: "it does not parse as SDP: " + err.Error()}
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key == "rtpmap" && strings.Contains(strings.ToUpper(a.Value), "H264/90000") {
				return nil
			}
		}
		return &OfferError{Reason: "its video section offers no H.264; the doorbell sends only H.264, which every phone browser decodes"}
	}
	return &OfferError{Reason: "it has no video section; add a recvonly video transceiver before creating the offer"}
}

// sendsVideo reports whether answer sends an H.264 video section.
func sendsVideo(answer string) bool {
	var d sdp.SessionDescription
	if d.UnmarshalString(answer) != nil {
		return false
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 {
			continue
		}
		if _, ok := m.Attribute("sendonly"); !ok {
			if _, ok := m.Attribute("sendrecv"); !ok {
				continue
			}
		}
		for _, a := range m.Attributes {
			if a.Key == "rtpmap" && strings.Contains(strings.ToUpper(a.Value), "H264/90000") {
				return true
			}
		}
	}
	return false
}

// End implements Viewers.
func (h *Hub) End(id, viewer string) bool {
	h.mu.Lock()
	s, ok := h.sessions[id]
	h.mu.Unlock()
	if !ok || s.viewer != viewer {
		return false
	}
	s.end("the viewer ended it")
	return true
}

// CloseWhere ends every session whose viewer match says yes to, and
// returns how many it ended. The pairing code calls it when a token is
// revoked: CloseWhere(func(v string) bool { return v == tokenID }).
func (h *Hub) CloseWhere(match func(viewer string) bool) int {
	n := 0
	for _, s := range h.list() {
		if match(s.viewer) {
			s.end("its token was revoked")
			n++
		}
	}
	return n
}

// Close ends every session and waits for their goroutines to finish.
// Open fails with ErrHubClosed afterwards.
func (h *Hub) Close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.stop)
	}
	h.mu.Unlock()
	for _, s := range h.list() {
		s.end("the doorbell is shutting down")
	}
	h.wg.Wait()
}

func (h *Hub) list() []*session {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		l = append(l, s)
	}
	return l
}

// recheck ends the sessions of viewers who may no longer watch.
func (h *Hub) recheck() {
	defer h.wg.Done()
	t := time.NewTicker(h.cfg.RecheckInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		for _, s := range h.list() {
			if s.still != nil && !s.still() {
				s.end("its token is no longer valid")
			}
		}
	}
}

// HubStatus is the hub's state, as /healthz shows it. It names no viewer:
// /healthz goes to every paired device.
type HubStatus struct {
	Viewers       int    `json:"viewers"`
	MaxViewers    int    `json:"max_viewers"`
	Sessions      uint64 `json:"sessions_total"`
	FramesSent    uint64 `json:"frames_sent"`
	FramesSkipped uint64 `json:"frames_skipped"`
	PLI           uint64 `json:"picture_loss"`
}

// Status returns counts of viewers and frames.
func (h *Hub) Status() HubStatus {
	h.mu.Lock()
	n := len(h.sessions)
	h.mu.Unlock()
	return HubStatus{Viewers: n, MaxViewers: h.cfg.MaxViewers, Sessions: h.totalSessions.Load(),
		FramesSent: h.totalSent.Load(), FramesSkipped: h.totalSkipped.Load(), PLI: h.totalPLI.Load()}
}

// viewersChanged reports the count of connected viewers; h.mu is held, so
// reports arrive in order.
func (h *Hub) viewersChanged() {
	if h.cfg.OnViewers == nil {
		return
	}
	n := 0
	for _, s := range h.sessions {
		if s.counted {
			n++
		}
	}
	h.cfg.OnViewers(n)
}

// end ends the session; its goroutine closes the peer connection.
func (s *session) end(reason string) {
	s.once.Do(func() {
		close(s.done)
		if s.detachAudio != nil {
			s.detachAudio()
		}
		h := s.hub
		h.mu.Lock()
		delete(h.sessions, s.id)
		if s.counted {
			h.mViewers.Dec()
			h.viewersChanged()
		}
		h.mu.Unlock()
		h.log.Debug("viewer session ended", "session", s.id, "reason", reason,
			"seconds", time.Since(s.opened).Seconds(), "frames", s.sent.Load(), "skipped", s.skipped.Load())
	})
}

// offer queues au for the viewer. The ring calls it on the encoder's
// goroutine, so it never blocks: a viewer whose queue is full drops it all
// and waits for the next keyframe, catching up with the live picture.
func (s *session) offer(au *AccessUnit) {
	if s.skipping && !au.Keyframe {
		s.skip(1)
		return
	}
	s.skipping = false
	select {
	case s.queue <- au:
		return
	default:
	}
	n := 0
	for drained := false; !drained; {
		select {
		case <-s.queue:
			n++
		default:
			drained = true
		}
	}
	if au.Keyframe {
		s.queue <- au // room now: only offer sends
	} else {
		s.skipping = true
		n++
	}
	s.skip(n)
}

func (s *session) skip(n int) {
	s.skipped.Add(uint64(n))
	s.hub.totalSkipped.Add(uint64(n))
	s.hub.mSkipped.Add(float64(n))
}

// run is the session's one writer: it waits for the connection, replays
// the current GOP, then sends live pictures, until the session ends.
func (s *session) run() {
	h := s.hub
	defer h.wg.Done()
	defer func() { _ = s.pc.GracefulClose() }()
	defer s.end("done")

	timer := time.NewTimer(h.cfg.ConnectTimeout)
	defer timer.Stop()
	for _, ready := range []chan struct{}{s.track.bound, s.connected} {
		select {
		case <-ready:
		case <-s.done:
			return
		case <-timer.C:
			s.end(fmt.Sprintf("it did not connect within %v", h.cfg.ConnectTimeout))
			return
		}
	}
	// Subscribe only now, so that the replay is as fresh as can be.
	backlog, cancel := h.ring.Subscribe(time.Now(), s.offer)
	defer cancel()
	if n := len(backlog); n > 0 {
		// The replay goes out at once: give its pictures timestamps 1 ms
		// apart that end at the live timeline, so the browser shows the
		// latest at once instead of playing the GOP out in real time.
		s.t0 = backlog[n-1].Captured
		for i, au := range backlog {
			if !s.send(au, s.tsBase-uint32(90*(n-1-i))) {
				return
			}
		}
	}
	for {
		select {
		case <-s.done:
			return
		case au := <-s.queue:
			if !s.send(au, s.liveTS(au)) {
				return
			}
		}
	}
}

// liveTS is the RTP timestamp of a live access unit: its capture time on
// the 90 kHz clock from t0, and always after the last one sent (if any).
func (s *session) liveTS(au *AccessUnit) uint32 {
	if s.t0.IsZero() {
		s.t0 = au.Captured
	}
	ts := s.tsBase + uint32(au.Captured.Sub(s.t0).Microseconds()*9/100) // 90 kHz
	if s.sent.Load() > 0 && int32(ts-s.lastTS) <= 0 {
		ts = s.lastTS + 1
	}
	return ts
}

var playoutDelayZero, _ = rtp.PlayoutDelayExtension{}.Marshal()

// send writes au as RTP packets, and reports whether the session goes on.
// The packets leave together when the picture is written: its full-size
// packets in one system call (udpburst), not one each.
func (s *session) send(au *AccessUnit, ts uint32) bool {
	s.net.Hold()
	defer s.flush()
	t := s.track
	payloads := au.payloads()
	for i, p := range payloads {
		hdr := rtp.Header{Version: 2, Marker: i == len(payloads)-1, PayloadType: t.pt,
			SequenceNumber: s.seq, Timestamp: ts, SSRC: t.ssrc}
		if t.playoutID != 0 {
			_ = hdr.SetExtension(t.playoutID, playoutDelayZero)
		}
		s.seq++
		if !s.write(&hdr, p) {
			return false
		}
	}
	s.lastTS = ts
	if s.sent.Add(1) == 1 {
		s.hub.mConnect.Observe(time.Since(s.opened).Seconds())
	}
	s.hub.totalSent.Add(1)
	s.hub.mSent.Inc()
	return true
}

// write writes one packet. Right after connecting, SRTP may not have
// started yet, and pion then drops a packet silently, writing 0 bytes: the
// packet is written again until it goes out, so the first keyframe is not lost.
func (s *session) write(hdr *rtp.Header, payload []byte) bool {
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		n, err := s.track.w.WriteRTP(hdr, payload)
		if err != nil {
			s.end("sending failed: " + err.Error())
			return false
		}
		if n > 0 {
			return true
		}
		s.flush() // what is held must not wait with this packet
		select {
		case <-s.done:
			return false
		case <-time.After(wait):
		}
	}
}

// flush sends the packets held since send began.
func (s *session) flush() {
	if err := s.net.Flush(); err != nil {
		s.hub.log.Debug("sending to a viewer", "session", s.id, "err", err)
	}
}

// readRTCP reads the viewer's reports, so that NACKs are answered, and counts
// picture loss. A lost picture heals at the next keyframe, within a second.
func (s *session) readRTCP() {
	defer s.hub.wg.Done()
	for {
		pkts, _, err := s.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.plis.Add(1)
				s.hub.totalPLI.Add(1)
				s.hub.mPLI.Inc()
			}
		}
	}
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// videoTrack is one viewer's H.264 track. It is bound to exactly one peer
// connection, and remembers how to write to it.
type videoTrack struct {
	bound     chan struct{}
	once      sync.Once
	w         webrtc.TrackLocalWriter
	ssrc      uint32
	pt        uint8
	playoutID uint8
}

func newVideoTrack() *videoTrack { return &videoTrack{bound: make(chan struct{})} }

// Bind implements webrtc.TrackLocal.
func (t *videoTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, webrtc.MimeTypeH264) {
			continue
		}
		t.once.Do(func() {
			t.w, t.ssrc, t.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType)
			for _, e := range ctx.HeaderExtensions() {
				if e.URI == playoutDelayURI {
					t.playoutID = uint8(e.ID)
				}
			}
			close(t.bound)
		})
		return c, nil
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind implements webrtc.TrackLocal.
func (t *videoTrack) Unbind(webrtc.TrackLocalContext) error { return nil }

// ID implements webrtc.TrackLocal.
func (t *videoTrack) ID() string { return "video" }

// RID implements webrtc.TrackLocal.
func (t *videoTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (t *videoTrack) StreamID() string { return "doorbell" }

// Kind implements webrtc.TrackLocal.
func (t *videoTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeVideo }
