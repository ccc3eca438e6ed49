// Package recorder records a clip for every event at the door: the pre-roll
// from the stream's GOP ring, the event, and post-roll until it is quiet,
// muxed to fragmented MP4 and sealed to the household's members as it is
// written. No plaintext byte of video, thumbnail or event record ever
// reaches the disk.
//
//	rec := recorder.New(cfg, ring, store, signingKey, watcher.Current, bus.Publish, log)
//	events, cancel := bus.Subscribe("recorder", 64)
//	go rec.Run(ctx, events)
//	daemon.AddSink(rec) // for the thumbnail: one small frame per clip
package recorder

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"doorbell/camera"
	"doorbell/clipstore"
	"doorbell/crypto/clip"
	"doorbell/crypto/members"
	"doorbell/devicekey"
	"doorbell/events"
	"doorbell/stream"
)

// Config sets what is recorded and how.
type Config struct {
	PreRoll time.Duration // before the event, from the ring (starting at a keyframe)
	// NothingBeforeEvent drops the pre-roll altogether, even the pictures
	// from the keyframe before the event: the clip begins at the first
	// keyframe captured after it (the ring-only privacy profile).
	NothingBeforeEvent bool
	PostRoll           time.Duration // after the last activity
	MaxLength          time.Duration // longest clip, pre-roll included
	OnMotion           bool
	OnRing             bool
	FPS                float64 // the camera's rate, for the last frame's duration

	// MaxFragment cuts a fragment (and writes a signed checkpoint) at least
	// this often, besides at every keyframe; 0 means 1 s.
	MaxFragment time.Duration
	// SyncInterval is how often a recording clip is fsynced; 0 means 1 s.
	SyncInterval time.Duration
	Retention    clipstore.Retention
	// ThumbnailWidth of the event record's JPEG, in pixels; 0 means 160.
	ThumbnailWidth int
	// Queue is how many access units may wait for the disk before the
	// recording skips to the next keyframe; 0 means 900 (30 s at 30 fps).
	Queue int
	// Recording, if set, is told when a clip starts (true) and when it is
	// sealed (false): the status LED shows it.
	Recording func(on bool)
	// Lost, if set, counts the events meant for the recorder that the bus
	// dropped (events.Bus.Dropped). When it grows while motion is going on,
	// the motion's end may be among them: the clip then ends once quiet for
	// the post-roll, not at its maximum length.
	Lost func() uint64
	// Replica, if set, is told of each sealed piece as it reaches the
	// clip's file, to copy it off the device. Its methods must not block.
	Replica Replica
	// Synced, if set, is told after each fsync of a clip's file returned
	// what it made durable (the power-cut test checks the clip recovered
	// after a cut against it). It must not block.
	Synced func(id string, p SyncPoint)
	// Microphone, if set, is recorded into every clip as a second track
	// (Opus), sealed with the video. It runs only while a clip records.
	// nil: clips have no sound, and the microphone is never asked for.
	Microphone Microphone
}

// Microphone is the doorbell's microphone as a clip records it
// (stream.Audio): f gets its Opus until stop.
type Microphone interface {
	Record(f func(stream.OpusPacket)) (stop func())
}

// Replica is told what of a clip is in its file (replica/uploader).
type Replica interface {
	// Written: the first size bytes of clip id's sealed file are written
	// (not necessarily fsynced: the copy is to outlast the device, not a
	// power cut); final: the file is whole (complete, or kept cut off).
	Written(id string, size int64, final bool)
	// RecordWritten: clip id's sealed event record was replaced.
	RecordWritten(id string)
}

type noReplica struct{}

func (noReplica) Written(string, int64, bool) {}
func (noReplica) RecordWritten(string)        {}

// Recorder turns events into sealed clips. Run it, and make it a camera
// sink for thumbnails.
type Recorder struct {
	cfg     Config
	ring    *stream.Ring
	store   *clipstore.Store
	key     ed25519.PrivateKey
	device  string
	members func() *members.Registry
	publish func(events.Event)
	log     *slog.Logger

	mu        sync.Mutex
	cur       *session
	lastErr   string
	noMembers bool

	lost uint64 // Config.Lost when last looked at (event loop only)

	thumbFor atomic.Pointer[session] // the session that still wants a thumbnail

	mSealed, mSealedBytes, mEvicted, mEvictedBytes, mDropped, mFailed prometheus.Counter
	mStartLatency                                                     prometheus.Histogram
	sealed                                                            atomic.Uint64

	// trace, if set, is told when a clip's age header reached its file
	// ("header"), its first sealed video ("video"), and when the pre-roll
	// was fsynced ("synced"). Benchmarks use it.
	trace func(id, what string, at time.Time)
}

// New makes a recorder. members is asked for the household at the start of
// every clip; publish gets a ClipSealed event for every clip sealed.
func New(cfg Config, ring *stream.Ring, store *clipstore.Store, key ed25519.PrivateKey,
	members func() *members.Registry, publish func(events.Event), log *slog.Logger) *Recorder {
	if cfg.MaxFragment <= 0 {
		cfg.MaxFragment = time.Second
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = time.Second
	}
	if cfg.ThumbnailWidth <= 0 {
		cfg.ThumbnailWidth = 160
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 900
	}
	if cfg.MaxLength <= 0 {
		cfg.MaxLength = 5 * time.Minute
	}
	if publish == nil {
		publish = func(events.Event) {}
	}
	if cfg.Replica == nil {
		cfg.Replica = noReplica{}
	}
	r := &Recorder{
		cfg: cfg, ring: ring, store: store, key: key, members: members, publish: publish, log: log,
		device: devicekey.Fingerprint(key.Public().(ed25519.PublicKey)),
		mSealed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_clips_sealed_total", Help: "Clips recorded and sealed to the household."}),
		mSealedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_clips_sealed_bytes_total", Help: "Bytes of sealed clips and event records written."}),
		mEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_clips_evicted_total", Help: "Clips removed by retention (age, size, or a full disk)."}),
		mEvictedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_clips_evicted_bytes_total", Help: "Bytes of clips removed by retention."}),
		mDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_recorder_access_units_dropped_total", Help: "Encoded pictures a clip skipped because the disk was behind."}),
		mFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_recorder_failures_total", Help: "Clips that could not be recorded or completed."}),
		mStartLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "doorbell_recorder_first_sealed_write_seconds",
			Help:    "From an event to its clip's first sealed video on disk.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
	}
	store.OnEvict(func(id string, n int64) {
		r.mEvicted.Inc()
		r.mEvictedBytes.Add(float64(n))
		r.log.Info("clip evicted", "clip", id, "bytes", n)
	})
	return r
}

// RegisterMetrics adds the recorder's metrics to reg.
func (r *Recorder) RegisterMetrics(reg prometheus.Registerer) error {
	stored := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "doorbell_clips_stored_bytes", Help: "Bytes in the clips directory."},
		func() float64 { n, _ := r.store.Usage(); return float64(n) })
	for _, c := range []prometheus.Collector{r.mSealed, r.mSealedBytes, r.mEvicted, r.mEvictedBytes, r.mDropped, r.mFailed, r.mStartLatency, stored} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Status is the recorder's part of /healthz.
type Status struct {
	State       string `json:"state"` // "idle" or "recording"
	Members     int    `json:"members"`
	Sealed      uint64 `json:"clips_sealed"`
	Stored      int    `json:"clips_stored"`
	StoredBytes int64  `json:"clips_stored_bytes"`
	Evicted     uint64 `json:"clips_evicted"`
	LastError   string `json:"last_error,omitempty"`
}

// Status says what the recorder is doing.
func (r *Recorder) Status() Status {
	st := Status{State: "idle", Members: r.members().Len(), Sealed: r.sealed.Load()}
	r.mu.Lock()
	if r.cur != nil {
		st.State = "recording"
	}
	st.LastError = r.lastErr
	r.mu.Unlock()
	if list, err := r.store.List(); err == nil {
		st.Stored = len(list)
	}
	st.StoredBytes, _ = r.store.Usage()
	st.Evicted, _ = r.store.Evictions()
	return st
}

// Recording reports whether a clip is being recorded.
func (r *Recorder) Recording() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur != nil
}

func (r *Recorder) fail(msg string, err error, args ...any) {
	r.mFailed.Inc()
	r.mu.Lock()
	r.lastErr = msg + ": " + err.Error()
	r.mu.Unlock()
	r.log.Error(msg, append(args, "err", err)...)
}

// Run records clips for the events from ch until ctx ends, then finishes
// the clip in progress.
func (r *Recorder) Run(ctx context.Context, ch <-chan events.Event) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	retention := time.NewTicker(time.Minute)
	defer retention.Stop()
	r.enforceRetention(0)
	for {
		var done <-chan struct{}
		if s := r.current(); s != nil {
			done = s.done
		}
		select {
		case <-ctx.Done():
			r.stop()
			return
		case e, ok := <-ch:
			if !ok {
				r.stop()
				return
			}
			r.handle(e)
		case <-tick.C:
			r.check(time.Now())
		case <-done:
			r.stop() // the clip ended by itself: at its maximum length, or failing
		case <-retention.C:
			if r.current() == nil {
				r.enforceRetention(0)
			}
		}
	}
}

func (r *Recorder) current() *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

func (r *Recorder) enforceRetention(extra int64) {
	if _, err := r.store.Enforce(r.cfg.Retention, time.Now(), extra); err != nil {
		r.log.Error("cannot evict old clips", "err", err)
	}
}

func (r *Recorder) handle(e events.Event) {
	s := r.current()
	switch e.Kind {
	case events.MotionStart:
		if !r.cfg.OnMotion {
			return
		}
		if s == nil {
			if s = r.start(e, "motion"); s == nil {
				return
			}
		}
		s.active[e.ID] = true
		s.activity(e)
	case events.MotionEnd:
		if s != nil && s.active[e.ID] {
			delete(s.active, e.ID)
			s.activity(e)
		}
	case events.Ring:
		if !r.cfg.OnRing {
			return
		}
		if s == nil {
			if e.Repeat {
				return // within the button's cooldown: no second clip
			}
			if s = r.start(e, "ring"); s == nil {
				return
			}
		}
		s.activity(e)
	}
}

// check ends the clip once it has been quiet for the post-roll, or at its
// maximum length.
func (r *Recorder) check(now time.Time) {
	s := r.current()
	r.noticeLost(s)
	if s == nil {
		return
	}
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	// The post-roll is of pictures, not of waiting: a busy encoder hands
	// pictures on late, and a clip that ended by the clock would miss the
	// visitor (or hold no picture at all, and be dropped). It waits for
	// late pictures at most latePictures, for a camera that stopped.
	end := last.Add(r.cfg.PostRoll)
	pictured := !time.Unix(0, s.newest.Load()).Before(end)
	quiet := len(s.active) == 0 && (pictured || now.Sub(end) >= latePictures)
	if quiet || now.After(s.deadline()) {
		r.stop()
		return
	}
	if r.sealedToRemoved(s) {
		r.split(s)
	}
}

// sealedToRemoved reports whether the clip s records is sealed to a key
// that is no longer the household's: a member was removed meanwhile, or a
// phone with a key of its own was revoked (its key went with its token).
func (r *Recorder) sealedToRemoved(s *session) bool {
	reg := r.members()
	now := map[string]bool{}
	for _, m := range reg.Members() {
		now[m.Recipient] = true
	}
	for _, k := range reg.DeviceKeys() {
		now[k] = true
	}
	for _, m := range s.recipients.Members() {
		if !now[m.Recipient] {
			return true
		}
	}
	for _, k := range s.recipients.DeviceKeys() {
		if !now[k] {
			return true
		}
	}
	return false
}

// split ends the clip s, sealed to a member who was removed (or a phone
// revoked) while it recorded, and goes on in a new clip sealed to the
// members and phones there are now (no members: recording stops). A removed
// member or revoked phone gets nothing recorded after the recorder's next
// check, 100 ms at most after the member list or the tokens changed.
func (r *Recorder) split(s *session) {
	s.mu.Lock()
	kind, last := s.kind, s.last
	s.mu.Unlock()
	active := s.active
	r.log.Info("a member was removed or a phone revoked while a clip recorded: ending it, and going on in a new clip sealed to the keys there are now", "clip", s.id)
	r.stop()
	ns := r.start(events.Event{Time: time.Now(), ID: s.eventID}, kind)
	if ns == nil {
		return
	}
	ns.mu.Lock()
	if last.After(ns.last) {
		ns.last = last
	}
	ns.mu.Unlock()
	ns.active = active
}

// noticeLost stops waiting for the ends of the motion going on in s if the
// bus dropped events meant for the recorder since it last looked: an end
// may have been among them. The clip then ends once quiet for the
// post-roll after the last activity it saw, as if the motion had ended.
func (r *Recorder) noticeLost(s *session) {
	if r.cfg.Lost == nil {
		return
	}
	n := r.cfg.Lost()
	if n == r.lost {
		return
	}
	r.lost = n
	if s != nil && len(s.active) > 0 {
		r.log.Warn("events were lost while motion went on; the clip ends once quiet for the post-roll", "clip", s.id, "lost_total", n)
		clear(s.active)
	}
}

// stop ends the current clip and waits for it to be sealed.
func (r *Recorder) stop() {
	r.mu.Lock()
	s := r.cur
	r.mu.Unlock()
	if s == nil {
		return
	}
	s.end()
	<-s.done
	r.mu.Lock()
	r.cur = nil
	r.mu.Unlock()
	if r.cfg.Recording != nil {
		r.cfg.Recording(false)
	}
	r.enforceRetention(0)
}

// start begins a clip for event e: the file and its age header at once,
// then the pre-roll and the live pictures on the session's goroutine.
func (r *Recorder) start(e events.Event, kind string) *session {
	reg := r.members()
	if reg.Len() == 0 {
		r.mu.Lock()
		first := !r.noMembers
		r.noMembers = true
		r.mu.Unlock()
		if first {
			r.log.Warn("not recording: the household has no members to seal clips to; add one with doorbell member add")
		}
		return nil
	}
	r.mu.Lock()
	r.noMembers = false
	r.mu.Unlock()
	id := clip.NewID()
	cf, err := r.store.Create(id)
	if err != nil {
		r.fail("cannot start a clip", err)
		return nil
	}
	cw, err := clip.NewWriter(cf, id, reg.Recipients(), r.key)
	if err != nil {
		cf.Abort()
		r.fail("cannot start a clip", err)
		return nil
	}
	if r.trace != nil {
		r.trace(id, "header", time.Now())
	}
	s := &session{
		r: r, id: id, kind: kind, trigger: e.Time, last: e.Time, eventID: e.ID,
		active: map[uint64]bool{}, sealedTo: reg.Names(),
		recipients: reg, file: cf, w: cw,
		aus:  make(chan *stream.AccessUnit, r.cfg.Queue),
		done: make(chan struct{}),
	}
	if s.trigger.IsZero() {
		s.trigger = time.Now()
		s.last = s.trigger
	}
	s.startedAt = time.Now()
	if mic := r.cfg.Microphone; mic != nil {
		s.sound = make(chan stream.OpusPacket, 256) // 5 s
		s.stopMic = mic.Record(func(p stream.OpusPacket) {
			select {
			case s.sound <- p:
			default: // the disk is behind: the sound has a gap
			}
		})
	}
	// Nothing before the event: live pictures only, from the first
	// keyframe that offer takes (it refuses any older than the event).
	s.dropping.Store(r.cfg.NothingBeforeEvent)
	backlog, cancel := r.ring.Subscribe(s.trigger.Add(-r.cfg.PreRoll), s.offer)
	s.cancel = cancel
	if r.cfg.NothingBeforeEvent {
		backlog = nil
	}
	if len(backlog) > 0 {
		s.first = backlog[0].Captured
		s.newest.Store(backlog[len(backlog)-1].Captured.UnixNano())
	} else {
		s.first = s.trigger
	}
	r.thumbFor.Store(s)
	r.mu.Lock()
	r.cur = s
	r.mu.Unlock()
	if r.cfg.Recording != nil {
		r.cfg.Recording(true)
	}
	r.log.Info("recording", "clip", id, "kind", kind, "members", reg.Len(), "pre_roll_s", s.trigger.Sub(s.first).Seconds())
	go s.run(backlog)
	return s
}

// WriteFrame takes the first frame at or after the event as the clip's
// thumbnail, scaled down at once; other frames cost one atomic load.
func (r *Recorder) WriteFrame(f *camera.Frame) {
	s := r.thumbFor.Load()
	if s == nil || f.Captured.Before(s.trigger) {
		return
	}
	if r.thumbFor.CompareAndSwap(s, nil) {
		s.thumb.Store(scaleDown(f, r.cfg.ThumbnailWidth))
	}
}

// session is one clip being recorded.
type session struct {
	r         *Recorder
	id        string
	eventID   uint64
	trigger   time.Time // the event's time
	first     time.Time // the first picture's capture time
	startedAt time.Time
	active    map[uint64]bool // motion events in progress (event loop only)
	sealedTo  []string

	mu    sync.Mutex // what the event loop learns while the clip records
	kind  string
	last  time.Time // latest activity
	zones []string
	boxes [][4]float64
	peak  float64

	recipients *members.Registry

	file *clipstore.ClipFile
	w    *clip.Writer

	aus      chan *stream.AccessUnit
	cancel   func()
	sound    chan stream.OpusPacket // the microphone's, if clips have sound
	stopMic  func()
	dropping atomic.Bool
	ended    atomic.Bool
	thumb    atomic.Pointer[smallFrame]
	newest   atomic.Int64 // capture time (Unix ns) of the newest picture offered
	done     chan struct{}
}

// latePictures is how long past its post-roll a clip waits for pictures
// captured before the post-roll ended that the encoder has not handed on
// yet.
const latePictures = 10 * time.Second

// deadline is when the clip reaches its maximum length.
func (s *session) deadline() time.Time { return s.first.Add(s.r.cfg.MaxLength) }

// activity notes an event during the clip.
func (s *session) activity(e events.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Kind == events.Ring {
		s.kind = "ring"
	}
	if e.Time.After(s.last) {
		s.last = e.Time
	}
	for _, z := range e.Zones {
		if !slices.Contains(s.zones, z) {
			s.zones = append(s.zones, z)
		}
	}
	for _, b := range e.Boxes {
		if len(s.boxes) < 64 {
			s.boxes = append(s.boxes, [4]float64(b))
		}
	}
	s.peak = max(s.peak, e.Peak)
}

// offer queues a live access unit. It runs with the ring locked, so it never
// blocks: when the queue is full, pictures are dropped up to the next
// keyframe, so what is recorded still decodes.
func (s *session) offer(au *stream.AccessUnit) {
	if s.r.cfg.NothingBeforeEvent && au.Captured.Before(s.trigger) {
		return
	}
	s.newest.Store(au.Captured.UnixNano())
	if s.dropping.Load() && !au.Keyframe {
		s.r.mDropped.Inc()
		return
	}
	select {
	case s.aus <- au:
		s.dropping.Store(false)
	default:
		s.dropping.Store(true)
		s.r.mDropped.Inc()
	}
}

// end stops the live pictures; the session's goroutine then seals the clip.
func (s *session) end() {
	if s.ended.Swap(true) {
		return
	}
	s.cancel() // after this, offer is never called again
	close(s.aus)
	if s.sound != nil {
		s.stopMic() // after this, the microphone sends nothing more
		close(s.sound)
	}
	s.r.thumbFor.CompareAndSwap(s, nil)
}

// run writes the clip: pre-roll, live pictures until end, then the seal.
func (s *session) run(backlog []*stream.AccessUnit) {
	defer close(s.done)
	r := s.r
	m := newMuxer(s.w, r.cfg.FPS, r.cfg.MaxFragment, r.cfg.MaxLength, s.sound != nil)
	headerSize := s.file.Size() // the age header went out in start
	told := int64(0)            // what the replica was told of
	var werr error
	sawPayload := false
	add := func(au *stream.AccessUnit) {
		if werr != nil {
			return
		}
		werr = m.add(au)
		if n := s.file.Size(); n > told {
			// A sealed chunk reached the file: off the device with it.
			told = n
			r.cfg.Replica.Written(s.id, n, false)
		}
		if !sawPayload && s.file.Size() > headerSize {
			sawPayload = true
			r.mStartLatency.Observe(time.Since(s.startedAt).Seconds())
			if r.trace != nil {
				r.trace(s.id, "video", time.Now())
			}
		}
	}
	for _, au := range backlog {
		add(au)
	}
	if werr == nil {
		werr = s.sync()
		if r.trace != nil {
			r.trace(s.id, "synced", time.Now())
		}
	}
	if werr == nil {
		werr = s.writeRecord(nil, 0, 0)
	}
	lastSync := time.Now()
	aus, sound := s.aus, s.sound
	for {
		var au *stream.AccessUnit
		select {
		case p, ok := <-sound:
			if !ok {
				sound = nil
				continue
			}
			m.addSound(p)
			continue
		case au = <-aus:
		}
		if au == nil {
			break // the clip ended
		}
		add(au)
		if werr == nil && time.Since(lastSync) >= r.cfg.SyncInterval {
			werr = s.sync()
			lastSync = time.Now()
		}
		if (werr != nil || m.full) && !s.ended.Load() {
			go s.end() // at its maximum length, or failed; Run notices through done
		}
	}
	if sound != nil {
		for p := range sound { // what the microphone gave before the end
			m.addSound(p)
		}
	}
	if werr == nil {
		werr = m.close()
	}
	if werr == nil && m.duration() == 0 {
		// The encoder gave no picture: keep nothing.
		s.file.Abort()
		r.store.RemoveRecord(s.id)
		r.fail("clip not kept", errNoVideo, "clip", s.id)
		return
	}
	var sum clip.Summary
	if werr == nil {
		sum, werr = s.w.Close()
	}
	if werr == nil {
		werr = s.sync() // the replica gets the last piece before the complete record
	}
	if werr == nil {
		// The complete record goes first: a member who sees the clip
		// listed gets the record that matches it.
		werr = s.writeRecord(&sum, s.file.Size(), m.duration())
	}
	if werr != nil {
		if m.duration() == 0 && s.file.Size() <= headerSize+64 {
			s.file.Abort()
			r.store.RemoveRecord(s.id)
			r.fail("clip could not be recorded", werr, "clip", s.id)
			return
		}
		// Keep what was written: up to its last checkpoint it opens as a
		// clip whose recording was cut off.
		r.fail("clip could not be completed; what was recorded is kept", werr, "clip", s.id)
		if err := s.file.Commit(); err != nil {
			r.log.Error("cannot keep the cut-off clip", "clip", s.id, "err", err)
			return
		}
		r.cfg.Replica.Written(s.id, s.file.Size(), true)
		return
	}
	if err := s.file.Commit(); err != nil {
		r.fail("cannot save the clip", err, "clip", s.id)
		return
	}
	r.cfg.Replica.Written(s.id, s.file.Size(), true)
	r.sealed.Add(1)
	r.mSealed.Inc()
	r.mSealedBytes.Add(float64(s.file.Size()))
	r.log.Info("clip sealed", "clip", s.id, "kind", s.kindNow(), "duration_s", m.duration().Seconds(), "bytes", s.file.Size(), "members", len(s.sealedTo))
	r.publish(events.Event{Kind: events.ClipSealed, Time: time.Now(), ID: s.eventID, Clip: s.id})
}

// sync makes what was written durable, and tells the replica of it (the
// last chunk, written by Close, goes before the complete record).
func (s *session) sync() error {
	if err := s.file.Sync(); err != nil {
		return err
	}
	s.synced()
	s.r.cfg.Replica.Written(s.id, s.file.Size(), false)
	return nil
}

func (s *session) kindNow() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kind
}

var errNoVideo = errors.New("the encoder gave no picture during the event")

// writeRecord seals and writes the event record: at the start (sum nil,
// status recording), and again when the clip is complete.
func (s *session) writeRecord(sum *clip.Summary, sealedBytes int64, video time.Duration) error {
	s.mu.Lock()
	rec := &clip.Record{
		ID: s.id, Device: s.r.device, Status: clip.StatusRecording, Kind: s.kind,
		Trigger: s.trigger.UTC(), Start: s.first.UTC(),
		Zones: slices.Clone(s.zones), Boxes: slices.Clone(s.boxes), Peak: s.peak,
		SealedTo: s.sealedTo,
	}
	s.mu.Unlock()
	if sum != nil {
		rec.Complete(*sum, sealedBytes, video)
		if t := s.thumb.Load(); t != nil {
			if jpg, err := t.jpeg(); err == nil {
				rec.Thumbnail = jpg
			}
		}
	}
	var buf sealedBuffer
	if err := rec.Seal(&buf, s.recipients.Recipients(), s.r.key); err != nil {
		return err
	}
	if err := s.r.store.WriteRecord(s.id, buf.b); err != nil {
		return err
	}
	s.r.cfg.Replica.RecordWritten(s.id)
	s.r.mSealedBytes.Add(float64(len(buf.b)))
	return nil
}

type sealedBuffer struct{ b []byte }

func (b *sealedBuffer) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }
