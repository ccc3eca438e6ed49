package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"doorbell/camera"
)

// Encoder turns raw camera frames into H.264 access units, once for every
// consumer. As a camera.Sink, WriteFrame copies the frame and never blocks:
// when the encoder is behind, frames are dropped and counted. Run encodes
// until ctx ends, restarting the encoder whenever it fails.
type Encoder interface {
	camera.Sink
	Run(ctx context.Context)
}

// Encoder backends: what does the work.
const (
	BackendX264    = "libx264"      // software, any machine: doorbell-encoder (cmd/doorbell-encoder)
	BackendV4L2M2M = "h264_v4l2m2m" // Raspberry Pi 4 hardware encoder, through ffmpeg
)

// X264Program is the libx264 encoder's executable, installed next to
// doorbelld.
const X264Program = "doorbell-encoder"

// Encoder supervision timing.
const (
	EncoderMinBackoff = 250 * time.Millisecond
	EncoderMaxBackoff = 10 * time.Second
	// EncoderStall: an encoder that has been given frames but has returned
	// nothing for this long is restarted.
	EncoderStall = 5 * time.Second
	// encoderHealthyRun: an encoder that ran this long restarts from MinBackoff again.
	encoderHealthyRun = 10 * time.Second
)

// FFmpegConfig sets up an encoder subprocess.
type FFmpegConfig struct {
	Command          string // the ffmpeg executable, for BackendV4L2M2M; "" means "ffmpeg" on $PATH
	X264             string // the doorbell-encoder executable, for BackendX264; "" means X264Program, found as besideExecutable says
	Backend          string // BackendX264 or BackendV4L2M2M
	Width, Height    int
	FPS              float64
	BitrateKbps      int
	KeyframeInterval time.Duration // at most this long between IDR pictures
	Queue            int           // frames waiting for the encoder before new ones are dropped; 0 means 2

	// Supervision timing; zero means the defaults above.
	MinBackoff, MaxBackoff, Stall time.Duration
}

// FFmpeg encodes with a supervised subprocess: doorbell-encoder (libx264
// alone, a fraction of ffmpeg's memory) or, for the Raspberry Pi 4's
// hardware encoder, ffmpeg. Raw I420 frames go in on its stdin, H.264
// Constrained Baseline comes out as RTP packets on a socket pair (its fd
// 3), which keeps each packet whole. The marker bit of a picture's last
// packet ends the access unit at once, where an Annex B byte stream would
// end it only when the next picture begins, one frame interval later. Each
// access unit carries the capture time of its frame: both encoders keep
// the order of frames and neither drop nor repeat any, so the n-th access
// unit out is the n-th frame in.
type FFmpeg struct {
	cfg     FFmpegConfig
	out     AccessUnitSink
	log     *slog.Logger
	program string // what runs: cfg.X264 or cfg.Command
	args    []string

	queue chan *camera.Frame
	free  chan *camera.Frame

	mu       sync.Mutex
	state    string
	reason   string
	pid      int
	restarts uint64
	recent   [64]auStat // the latest access units, for the rate figures
	nRecent  int

	dropped   atomic.Uint64
	wrongSize atomic.Bool

	mFramesIn, mDropped, mAUs, mKeyframes, mBytes, mRestarts prometheus.Counter
	mLatency                                                 prometheus.Histogram
}

type auStat struct {
	at      time.Time
	bytes   int
	latency time.Duration
}

// NewFFmpeg checks cfg and prepares an encoder that writes access units to out.
func NewFFmpeg(cfg FFmpegConfig, out AccessUnitSink, log *slog.Logger) (*FFmpeg, error) {
	if err := camera.CheckSize(cfg.Width, cfg.Height); err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	if !(cfg.FPS > 0) {
		return nil, fmt.Errorf("encoder: frame rate is %g; use a positive frame rate", cfg.FPS)
	}
	if cfg.BitrateKbps <= 0 {
		return nil, fmt.Errorf("encoder: bit rate is %d kbit/s; use a positive bit rate, e.g. 2000", cfg.BitrateKbps)
	}
	if cfg.KeyframeInterval <= 0 {
		return nil, fmt.Errorf("encoder: keyframe interval is %v; use a positive interval, e.g. 500ms", cfg.KeyframeInterval)
	}
	if cfg.Command == "" {
		cfg.Command = "ffmpeg"
	}
	if cfg.X264 == "" {
		cfg.X264 = X264Program
	}
	if cfg.Backend == "" {
		cfg.Backend = BackendX264
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 2
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = EncoderMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = EncoderMaxBackoff
	}
	if cfg.Stall <= 0 {
		cfg.Stall = EncoderStall
	}
	program, args := cfg.Command, []string(nil)
	var err error
	if cfg.Backend == BackendX264 {
		program, args = besideExecutable(cfg.X264), X264Args(cfg)
	} else if args, err = FFmpegArgs(cfg); err != nil {
		return nil, err
	}
	return &FFmpeg{
		cfg: cfg, out: out, log: log, program: program, args: args, state: "starting",
		queue: make(chan *camera.Frame, cfg.Queue),
		free:  make(chan *camera.Frame, cfg.Queue+1), // as many copies as can be in use: queued, and one being written
		mFramesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_encoder_frames_total", Help: "Frames given to the H.264 encoder."}),
		mDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_encoder_frames_dropped_total", Help: "Frames dropped because the encoder was behind or restarting."}),
		mAUs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_encoder_access_units_total", Help: "Encoded pictures (access units) out of the encoder."}),
		mKeyframes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_encoder_keyframes_total", Help: "IDR pictures out of the encoder."}),
		mBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_encoder_bytes_total", Help: "Bytes of H.264 out of the encoder."}),
		mRestarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_encoder_restarts_total", Help: "Times the encoder was restarted after failing or stalling."}),
		mLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "doorbell_encoder_latency_seconds",
			Help:    "From a frame's capture to its access unit leaving the encoder.",
			Buckets: []float64{.01, .02, .035, .05, .075, .1, .15, .25, .5, 1}}),
	}, nil
}

// gopFrames is the keyframe interval in frames.
func gopFrames(cfg FFmpegConfig) int {
	return max(1, int(math.Round(cfg.FPS*cfg.KeyframeInterval.Seconds())))
}

// X264Args returns doorbell-encoder's command line (without the command)
// for cfg. Its settings are ffmpeg's "-c:v libx264 -preset ultrafast -tune
// zerolatency -profile:v baseline -bf 0 -g N -keyint_min N -sc_threshold 0
// -b:v R -maxrate R -bufsize R -x264-params repeat-headers=1", the ones
// doorbelld gave ffmpeg before (internal/x264).
func X264Args(cfg FFmpegConfig) []string {
	return []string{
		"-size", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height),
		"-fps", strconv.FormatFloat(cfg.FPS, 'f', -1, 64),
		"-kbps", strconv.Itoa(cfg.BitrateKbps),
		"-gop", strconv.Itoa(gopFrames(cfg)),
		"-mtu", strconv.Itoa(rtpMTU),
	}
}

// besideExecutable returns the program of that name that came with this
// one: next to it (make builds both into bin/), or in ../lib/doorbell (the
// package installs /usr/bin/doorbelld and /usr/lib/doorbell/doorbell-encoder);
// or else name itself, for a look-up on $PATH. A path is returned as it is.
func besideExecutable(name string) string {
	self, err := os.Executable()
	if err != nil {
		return name
	}
	return beside(self, name)
}

// beside is besideExecutable for the program at self.
func beside(self, name string) string {
	if strings.ContainsRune(name, '/') {
		return name
	}
	dir := filepath.Dir(self)
	for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, "..", "lib", "doorbell", name)} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return filepath.Clean(p)
		}
	}
	return name
}

// FFmpegArgs returns the ffmpeg command line (without the command) for
// cfg's hardware backend; libx264 runs in doorbell-encoder (X264Args).
func FFmpegArgs(cfg FFmpegConfig) ([]string, error) {
	gop := gopFrames(cfg)
	rate := strconv.Itoa(cfg.BitrateKbps) + "k"
	args := []string{
		"-hide_banner", "-loglevel", "error", "-nostats", "-nostdin",
		"-f", "rawvideo", "-pix_fmt", "yuv420p",
		"-s", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height),
		"-r", strconv.FormatFloat(cfg.FPS, 'f', -1, 64),
		"-i", "pipe:0", "-an",
	}
	switch cfg.Backend {
	case BackendV4L2M2M:
		// 578 is FF_PROFILE_H264_CONSTRAINED_BASELINE; this encoder has no
		// profile names. It does not repeat SPS and PPS: dump_extra puts
		// them in front of every keyframe, and the assembler would too.
		args = append(args,
			"-c:v", "h264_v4l2m2m", "-pix_fmt", "yuv420p", "-profile:v", "578",
			"-bf", "0", "-g", strconv.Itoa(gop), "-b:v", rate,
			"-bsf:v", "dump_extra=freq=keyframe")
	case BackendX264:
		return nil, fmt.Errorf("encoder backend %q runs in %s, not ffmpeg; use X264Args", BackendX264, X264Program)
	default:
		return nil, fmt.Errorf("encoder backend %q is unknown; use %q or %q", cfg.Backend, BackendX264, BackendV4L2M2M)
	}
	// RTP to fd 3, one packet per write (the muxer flushes each), no RTCP.
	return append(args, "-fps_mode", "passthrough", "-flush_packets", "1",
		"-f", "rtp", "-packetsize", strconv.Itoa(rtpMTU), "-rtpflags", "skip_rtcp", "pipe:3"), nil
}

// WriteFrame queues a copy of f for the encoder, or drops it when the
// encoder is behind. It never blocks.
func (e *FFmpeg) WriteFrame(f *camera.Frame) {
	if f.Width != e.cfg.Width || f.Height != e.cfg.Height {
		if !e.wrongSize.Swap(true) {
			e.log.Warn("encoder got a frame of the wrong size; dropping such frames: check that camera and stream settings agree",
				"got", fmt.Sprintf("%dx%d", f.Width, f.Height), "want", fmt.Sprintf("%dx%d", e.cfg.Width, e.cfg.Height))
		}
		e.drop(1)
		return
	}
	var c *camera.Frame
	select {
	case c = <-e.free:
	default:
		c = &camera.Frame{}
	}
	f.CopyTo(c)
	select {
	case e.queue <- c:
	default:
		e.recycle(c)
		e.drop(1)
	}
}

func (e *FFmpeg) recycle(f *camera.Frame) {
	select {
	case e.free <- f:
	default:
	}
}

func (e *FFmpeg) drop(n int) {
	e.dropped.Add(uint64(n))
	e.mDropped.Add(float64(n))
}

// Run encodes until ctx ends. When the encoder fails or stalls it is started
// again, after 250 ms and then doubling waits up to 10 s. It never gives up.
func (e *FFmpeg) Run(ctx context.Context) {
	backoff := e.cfg.MinBackoff
	for {
		started := time.Now()
		err := e.runOnce(ctx)
		if ctx.Err() != nil {
			e.setState("stopped", "")
			return
		}
		if time.Since(started) >= encoderHealthyRun {
			backoff = e.cfg.MinBackoff
		}
		e.mRestarts.Inc()
		e.failed(err, backoff)
		select {
		case <-ctx.Done():
			e.setState("stopped", "")
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, e.cfg.MaxBackoff)
	}
}

// failed records why the encoder stopped, logging only changes of state or reason.
func (e *FFmpeg) failed(err error, backoff time.Duration) {
	e.mu.Lock()
	was, reason := e.state, e.reason
	e.state, e.reason = "retrying", err.Error()
	e.restarts++
	e.mu.Unlock()
	if was != "retrying" || reason != err.Error() {
		e.log.Warn("encoder stopped; restarting it", "backend", e.cfg.Backend, "reason", err.Error(), "retry_in", backoff)
	} else {
		e.log.Debug("encoder failed again", "reason", err.Error(), "retry_in", backoff)
	}
}

func (e *FFmpeg) setState(state, reason string) {
	e.mu.Lock()
	was := e.state
	e.state, e.reason = state, reason
	restarts := e.restarts
	e.mu.Unlock()
	if state == "running" && was != "running" {
		if restarts == 0 {
			e.log.Info("encoder running", "backend", e.cfg.Backend, "size", fmt.Sprintf("%dx%d", e.cfg.Width, e.cfg.Height),
				"fps", e.cfg.FPS, "kbit_s", e.cfg.BitrateKbps, "keyframe_interval", e.cfg.KeyframeInterval)
		} else {
			e.log.Info("encoder running again", "restarts", restarts)
		}
	}
}

// PID is the process id of the running encoder, or 0.
func (e *FFmpeg) PID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pid
}

// pendingFrames pairs access units with the frames that made them: one
// entry per frame written to the encoder, oldest first.
type pendingFrames struct {
	mu sync.Mutex
	q  []pendingFrame
}

type pendingFrame struct {
	seq      uint64
	captured time.Time
	written  time.Time
}

func (p *pendingFrames) push(f pendingFrame) {
	p.mu.Lock()
	p.q = append(p.q, f)
	p.mu.Unlock()
}

func (p *pendingFrames) pop() (pendingFrame, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.q) == 0 {
		return pendingFrame{}, false
	}
	f := p.q[0]
	p.q = p.q[1:]
	return f, true
}

// stalled reports whether the encoder has held a frame longer than d while
// being given more. One frame may be in flight at any moment, and a
// hardware encoder may hold one back.
func (p *pendingFrames) stalled(now time.Time, d time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.q) >= 2 && now.Sub(p.q[0].written) > d
}

// runOnce starts the encoder and feeds it until it fails, stalls, or ctx ends.
func (e *FFmpeg) runOnce(ctx context.Context) error {
	// Frames queued while no encoder ran are stale.
	for drained := false; !drained; {
		select {
		case f := <-e.queue:
			e.recycle(f)
			e.drop(1)
		default:
			drained = true
		}
	}
	cmd := exec.Command(e.program, e.args...)
	name := filepath.Base(e.program)
	// Its own process group, so that anything it starts dies with it; and
	// killed if the doorbell dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr := &tailWriter{max: 2048}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	// A socket pair, not a pipe: SOCK_SEQPACKET keeps each RTP packet a
	// message of its own, and unlike UDP it neither drops nor reorders.
	// (stdout stays unused; ffmpeg's rtp muxer prints its SDP there.)
	packets, theirs, err := packetPair()
	if err != nil {
		stdin.Close()
		return fmt.Errorf("cannot start the encoder: %w", err)
	}
	defer packets.Close()
	cmd.ExtraFiles = []*os.File{theirs}
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		stdin.Close()
		key := "stream.ffmpeg"
		if e.cfg.Backend == BackendX264 {
			key = "stream.x264_encoder"
		}
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			if e.cfg.Backend == BackendX264 {
				return fmt.Errorf("cannot start the encoder: %q not found; it comes with the doorbell package, next to doorbelld (make build puts it in bin/); reinstall the package or set %s to its path", e.program, key)
			}
			return fmt.Errorf("cannot start the encoder: %q not found; install ffmpeg (apt-get install ffmpeg) or set %s to its path", e.program, key)
		}
		return fmt.Errorf("cannot start the encoder: %w; check %s", err, key)
	}
	e.mu.Lock()
	e.pid = cmd.Process.Pid
	e.mu.Unlock()

	pend := &pendingFrames{}
	stop := make(chan struct{})
	writeErr := make(chan error, 1)
	readErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		writeErr <- e.feed(stdin, pend, stop)
	}()
	go func() {
		defer wg.Done()
		readErr <- rtpAccessUnits(packets, func(nalus [][]byte) { e.deliver(nalus, pend) })
	}()

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var failure error
	for failure == nil {
		select {
		case <-ctx.Done():
			failure = ctx.Err()
		case err := <-writeErr:
			failure = fmt.Errorf("writing frames to %s failed: %w", name, err)
		case err := <-readErr:
			if err == io.EOF {
				failure = fmt.Errorf("%s closed its output", name)
			} else {
				failure = fmt.Errorf("%s's output is not H.264 over RTP: %w", name, err)
			}
		case now := <-tick.C:
			if pend.stalled(now, e.cfg.Stall) {
				failure = fmt.Errorf("%s returned nothing for %v while given frames (stalled); if this repeats, check the CPU load and stream.encoder", name, e.cfg.Stall)
			}
		}
	}
	close(stop)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
	stdin.Close()
	packets.Close() // a grandchild could hold the other end open
	wg.Wait()
	waitErr := cmd.Wait()
	e.mu.Lock()
	e.pid = 0
	e.mu.Unlock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// Add the last thing the encoder said, or else how it ended.
	if msg := stderr.lastLine(); msg != "" {
		if e.cfg.Backend == BackendX264 {
			return fmt.Errorf("%w: %s said %q; check the camera and stream settings", failure, name, msg)
		}
		return fmt.Errorf("%w: %s said %q; check stream.encoder and that this ffmpeg supports it (ffmpeg -encoders)", failure, name, msg)
	}
	var exit *exec.ExitError
	if errors.As(waitErr, &exit) && !strings.Contains(failure.Error(), "stalled") {
		return fmt.Errorf("%w (%v)", failure, exit.ProcessState)
	}
	return failure
}

// feed writes queued frames to the encoder until stop is closed or a write fails.
func (e *FFmpeg) feed(w io.Writer, pend *pendingFrames, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		case f := <-e.queue:
			// Recorded before writing: the encoder may answer before Write returns.
			pend.push(pendingFrame{seq: f.Seq, captured: f.Captured, written: time.Now()})
			_, err := w.Write(f.Data)
			e.recycle(f)
			if err != nil {
				return err
			}
			e.mFramesIn.Inc()
		}
	}
}

// deliver pairs an access unit with its frame and passes it on.
func (e *FFmpeg) deliver(nalus [][]byte, pend *pendingFrames) {
	now := time.Now()
	f, ok := pend.pop()
	if !ok { // cannot happen with a well-behaved encoder; keep going
		f = pendingFrame{captured: now}
	}
	au := NewAccessUnit(nalus, f.captured, f.seq)
	lat := now.Sub(f.captured)
	e.mAUs.Inc()
	e.mBytes.Add(float64(au.Size()))
	if au.Keyframe {
		e.mKeyframes.Inc()
	}
	e.mLatency.Observe(lat.Seconds())
	e.mu.Lock()
	e.recent[e.nRecent%len(e.recent)] = auStat{at: now, bytes: au.Size(), latency: lat}
	e.nRecent++
	running := e.state == "running"
	e.mu.Unlock()
	if !running {
		e.setState("running", "")
	}
	e.out.WriteAccessUnit(au)
}

// EncoderStatus is the encoder's state, as /healthz shows it.
type EncoderStatus struct {
	State     string  `json:"state"` // starting, running, retrying or stopped
	Backend   string  `json:"backend"`
	Reason    string  `json:"reason,omitempty"` // why it is retrying
	Restarts  uint64  `json:"restarts"`
	FPS       float64 `json:"fps"`        // access units a second, over the last two seconds
	KbitS     float64 `json:"kbit_s"`     // bit rate over the same time
	LatencyMS float64 `json:"latency_ms"` // capture to access unit out, for the latest
	Dropped   uint64  `json:"frames_dropped"`
}

// Status returns the encoder's state and recent output rates.
func (e *FFmpeg) Status() EncoderStatus {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	st := EncoderStatus{State: e.state, Backend: e.cfg.Backend, Reason: e.reason, Restarts: e.restarts, Dropped: e.dropped.Load()}
	n := min(e.nRecent, len(e.recent))
	if n == 0 {
		return st
	}
	last := e.recent[(e.nRecent-1)%len(e.recent)]
	st.LatencyMS = float64(last.latency.Microseconds()) / 1000
	// Rates over the units of the last two seconds: count the gaps between
	// them, and the bytes of all but the oldest.
	first, gaps, bytes := last, 0, 0
	for i := 2; i <= n; i++ {
		s := e.recent[(e.nRecent-i)%len(e.recent)]
		if now.Sub(s.at) > 2*time.Second {
			break
		}
		bytes += first.bytes
		first = s
		gaps++
	}
	if d := last.at.Sub(first.at).Seconds(); gaps > 0 && d > 0 && now.Sub(last.at) <= 2*time.Second {
		st.FPS = float64(gaps) / d
		st.KbitS = float64(bytes) * 8 / 1000 / d
	}
	return st
}

// RegisterMetrics adds the encoder's counters to reg.
func (e *FFmpeg) RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(e.mFramesIn, e.mDropped, e.mAUs, e.mKeyframes, e.mBytes, e.mRestarts, e.mLatency)
}

// packetPair makes a SOCK_SEQPACKET socket pair: ours to read packets from
// (non-blocking, so that closing it ends a Read), theirs for the encoder.
func packetPair() (ours, theirs *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socket pair for the encoder's output: %w", err)
	}
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("socket pair for the encoder's output: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "encoder-rtp"), os.NewFile(uintptr(fds[1]), "encoder-rtp-theirs"), nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailWriter) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimSpace(t.b), []byte("\n"))
	return strings.TrimSpace(string(lines[len(lines)-1]))
}
