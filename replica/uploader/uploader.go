// Package uploader copies each sealed piece of the device's clips to the
// replica as soon as it is on the device's disk, from a bounded queue of
// references into the clips directory, so recording never waits on the
// network.
//
//	u := uploader.New(client, files, uploader.Config{MaxQueue: 1 << 30, StateFile: path}, log)
//	recorderConfig.Replica = u // Written and RecordWritten, called as the clip is written
//	go u.Run(ctx)
package uploader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"doorbell/internal/atomicfile"
	"doorbell/replica"
)

// Putter stores objects without ever overwriting one (replica.Client).
type Putter interface {
	Put(ctx context.Context, key string, data io.Reader, size int64) error
	Target() replica.Target
}

// Sealed is a sealed file being read.
type Sealed interface {
	io.ReaderAt
	io.Closer
}

// Files is the clips directory: the uploader reads what the recorder
// wrote, so the queue holds only references to it.
type Files interface {
	// OpenClip opens clip id's sealed file, recording or finished.
	OpenClip(id string) (Sealed, error)
	// ReadRecord returns clip id's sealed event record.
	ReadRecord(id string) ([]byte, error)
	// Clips lists the finished clips, oldest first, with their sizes.
	Clips() ([]Clip, error)
}

// Clip is a finished clip in the clips directory.
type Clip struct {
	ID   string
	Size int64
}

// Config sets the queue's bound and where progress is noted.
type Config struct {
	// MaxQueue bounds the bytes waiting for the replica; past it the
	// oldest waiting pieces are given up (they stay on the device).
	// 0 means no bound but the clip store's own retention.
	MaxQueue int64
	// MaxObject bounds one object; a backlog goes in pieces this big.
	// 0 means 8 MiB.
	MaxObject int64
	// StateFile notes how much of each clip is on the replica, so a
	// restart resumes instead of starting over.
	StateFile string
	// Retry is the first wait after a failure, doubling up to MaxRetry;
	// 0 means 500 ms and 10 s.
	Retry, MaxRetry time.Duration
	// Timeout bounds one upload; 0 means 30 s.
	Timeout time.Duration
}

// pending is one clip's work.
type pending struct {
	id       string
	written  int64 // bytes of its sealed file written
	uploaded int64 // bytes of it stored on the replica, from 0
	final    bool  // the file is whole: written is its size
	record   bool  // its record file changed and is not stored yet
	recSum   [32]byte
	marks    []mark // when each written size was reached, for the lag
	dropped  bool   // given up: the queue was full
	seq      uint64 // order of arrival
}

type mark struct {
	size int64
	at   time.Time
}

// Uploader is the queue and the goroutine that empties it.
type Uploader struct {
	put   Putter
	files Files
	cfg   Config
	log   *slog.Logger
	now   func() time.Time

	mu          sync.Mutex
	clips       map[string]*pending
	seq         uint64
	failures    uint64
	lastSuccess time.Time
	lastErr     string
	lastErrAt   time.Time
	retry       time.Duration // the wait after the latest failure; 0 after a success
	dirty       bool
	saved       time.Time
	kick        chan struct{}

	mLag                                    prometheus.Histogram
	mUploads, mBytes, mFailures, mDropBytes prometheus.Counter
	mLastSuccess                            prometheus.Gauge
	observeLag                              func(time.Duration) // tests and benchmarks
}

// New makes an uploader; nothing is sent until Run.
func New(put Putter, files Files, cfg Config, log *slog.Logger) *Uploader {
	if cfg.MaxObject <= 0 {
		cfg.MaxObject = 8 << 20
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 500 * time.Millisecond
	}
	if cfg.MaxRetry <= 0 {
		cfg.MaxRetry = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Uploader{
		put: put, files: files, cfg: cfg, log: log, now: time.Now,
		clips: map[string]*pending{}, kick: make(chan struct{}, 1),
		mLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "doorbell_replica_lag_seconds", Help: "From a sealed piece of a clip reaching the disk to its copy stored on the replica.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 300}}),
		mUploads:     prometheus.NewCounter(prometheus.CounterOpts{Name: "doorbell_replica_uploads_total", Help: "Objects stored on the replica."}),
		mBytes:       prometheus.NewCounter(prometheus.CounterOpts{Name: "doorbell_replica_uploaded_bytes_total", Help: "Bytes stored on the replica."}),
		mFailures:    prometheus.NewCounter(prometheus.CounterOpts{Name: "doorbell_replica_failures_total", Help: "Uploads to the replica that failed (each is retried)."}),
		mDropBytes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "doorbell_replica_dropped_bytes_total", Help: "Bytes given up because the replica queue was full; they stay on the device."}),
		mLastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "doorbell_replica_last_success_timestamp_seconds", Help: "When the replica last stored an object (Unix time)."}),
	}
}

// RegisterMetrics adds the uploader's metrics to reg.
func (u *Uploader) RegisterMetrics(reg prometheus.Registerer) error {
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorbell_replica_queued_bytes", Help: "Bytes of sealed clips waiting for the replica."},
		func() float64 { return float64(u.Status().QueuedBytes) })
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorbell_replica_pending_seconds", Help: "How long the oldest piece waiting for the replica has waited: the replica's lag now."},
		func() float64 { return u.Status().LagSeconds })
	for _, c := range []prometheus.Collector{u.mLag, u.mUploads, u.mBytes, u.mFailures, u.mDropBytes, u.mLastSuccess, queued, lag} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Written says that the first size bytes of clip id's sealed file are in
// the file; final, that the file is whole. It never blocks.
func (u *Uploader) Written(id string, size int64, final bool) {
	u.mu.Lock()
	p := u.entry(id)
	if size > p.written {
		p.written = size
		p.marks = append(p.marks, mark{size, u.now()})
	}
	p.final = p.final || final
	u.limit()
	u.mu.Unlock()
	u.wake()
}

// RecordWritten says that clip id's event record was written. It never blocks.
func (u *Uploader) RecordWritten(id string) {
	u.mu.Lock()
	u.entry(id).record = true
	u.mu.Unlock()
	u.wake()
}

func (u *Uploader) entry(id string) *pending {
	p := u.clips[id]
	if p == nil {
		u.seq++
		p = &pending{id: id, seq: u.seq}
		u.clips[id] = p
	}
	return p
}

func (u *Uploader) wake() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// queued is the bytes waiting (u.mu held).
func (u *Uploader) queued() int64 {
	var n int64
	for _, p := range u.clips {
		if !p.dropped {
			n += p.written - p.uploaded
		}
	}
	return n
}

// limit gives up the oldest waiting pieces while the queue is over its
// bound (u.mu held). The clip being recorded goes last.
func (u *Uploader) limit() {
	if u.cfg.MaxQueue <= 0 {
		return
	}
	for over := u.queued() - u.cfg.MaxQueue; over > 0; over = u.queued() - u.cfg.MaxQueue {
		var oldest *pending
		for _, p := range u.clips {
			if p.dropped || p.written == p.uploaded {
				continue
			}
			if oldest == nil || p.final && !oldest.final || p.final == oldest.final && p.seq < oldest.seq {
				oldest = p
			}
		}
		if oldest == nil {
			return
		}
		n := oldest.written - oldest.uploaded
		oldest.dropped = true
		oldest.marks = nil
		u.mDropBytes.Add(float64(n))
		u.lastErr = fmt.Sprintf("the replica queue is full (%d bytes waiting, the limit is replica.queue_bytes = %d): clip %s will not be copied past byte %d; it stays on the device",
			n+u.queued(), u.cfg.MaxQueue, oldest.id, oldest.uploaded)
		u.lastErrAt = u.now()
		u.log.Warn("replica queue full; giving up the oldest waiting clip (it stays on the device)", "clip", oldest.id, "bytes", n, "copied", oldest.uploaded, "queue_bytes", u.cfg.MaxQueue)
	}
}

// Status is the replica's part of /healthz.
type Status struct {
	Target      string     `json:"target"`
	State       string     `json:"state"` // "ok", "sending", "failing"
	QueuedBytes int64      `json:"queued_bytes"`
	QueuedClips int        `json:"queued_clips"`
	LagSeconds  float64    `json:"lag_s"` // how long the oldest waiting piece has waited
	Failures    uint64     `json:"failures"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
}

// Status says how far behind the replica is.
func (u *Uploader) Status() Status {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := Status{Target: u.put.Target().String(), State: "ok", QueuedBytes: u.queued(), Failures: u.failures, LastError: u.lastErr}
	now := u.now()
	for _, p := range u.clips {
		if p.dropped || (p.written == p.uploaded && !p.record) {
			continue
		}
		st.QueuedClips++
		if len(p.marks) > 0 {
			st.LagSeconds = max(st.LagSeconds, now.Sub(p.marks[0].at).Seconds())
		}
	}
	if !u.lastSuccess.IsZero() {
		t := u.lastSuccess
		st.LastSuccess = &t
	}
	switch {
	case u.lastErr != "" && (u.lastSuccess.IsZero() || u.lastErrAt.After(u.lastSuccess)):
		st.State = "failing"
	case st.QueuedClips > 0:
		st.State = "sending"
	}
	return st
}

// Run uploads until ctx ends. It first queues what the clips directory
// holds beyond what the state file says is stored.
func (u *Uploader) Run(ctx context.Context) {
	u.resume()
	defer u.saveState(true)
	check := time.NewTicker(10 * time.Second)
	defer check.Stop()
	for {
		wait := u.step(ctx)
		if wait == 0 {
			continue
		}
		// Idle: new work wakes it. After a failure: the backoff, however
		// many pieces arrive meanwhile.
		kick := u.kick
		var timer *time.Timer
		var retry <-chan time.Time
		if wait > 0 {
			kick = nil
			timer = time.NewTimer(wait)
			retry = timer.C
		}
		select {
		case <-ctx.Done():
		case <-kick:
		case <-retry:
		case <-check.C:
			u.forgetGone()
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// idle, returned by step: nothing to do until woken.
const idle = -1

// step does one upload. It returns 0 to go on at once, idle, or how long
// to wait after a failure.
func (u *Uploader) step(ctx context.Context) time.Duration {
	j, ok := u.next()
	if !ok {
		u.saveState(false)
		return idle
	}
	err := j.run(ctx, u)
	if ctx.Err() != nil {
		return idle
	}
	u.saveState(false)
	if err == nil {
		return 0
	}
	if errors.Is(err, fs.ErrNotExist) {
		// Retention removed the clip first: nothing left to send. (A
		// record that is missing, while its clip is there, is skipped.)
		u.mu.Lock()
		if !j.record {
			delete(u.clips, j.id)
			u.dirty = true
		}
		u.mu.Unlock()
		return 0
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failures++
	u.mFailures.Inc()
	first := u.lastErr == "" || !u.lastErrAt.After(u.lastSuccess)
	u.lastErr = err.Error()
	u.lastErrAt = u.now()
	if first {
		u.log.Error("cannot copy to the replica; the pieces stay queued and are retried", "target", u.put.Target().String(), "err", err)
	}
	u.retry = min(max(2*u.retry, u.cfg.Retry), u.cfg.MaxRetry)
	return u.retry
}

// job is one object to upload.
type job struct {
	id         string
	start, end int64 // a part, or
	record     bool  // the record
}

// next picks the next object: the clip being recorded first, then the
// rest oldest first.
func (u *Uploader) next() (*job, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var best *pending
	for _, p := range u.clips {
		if !p.record && (p.dropped || p.written == p.uploaded) {
			continue
		}
		if best == nil || !p.final && best.final || p.final == best.final && p.seq < best.seq {
			best = p
		}
	}
	if best == nil {
		return nil, false
	}
	j := &job{id: best.id}
	if !best.dropped && best.written > best.uploaded {
		j.start, j.end = best.uploaded, min(best.written, best.uploaded+u.cfg.MaxObject)
	} else {
		j.record = true
	}
	return j, true
}

func (j *job) run(ctx context.Context, u *Uploader) error {
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	target := u.put.Target()
	var key string
	var n int64
	var sum [32]byte
	if j.record {
		u.mu.Lock()
		u.clips[j.id].record = false // a write from now on sets it again
		u.mu.Unlock()
		data, err := u.files.ReadRecord(j.id)
		if err != nil {
			return err
		}
		key, n = replica.RecordKey(target.Prefix, j.id, data), int64(len(data))
		sum = sha256.Sum256(data)
		u.mu.Lock()
		same := u.clips[j.id].recSum == sum
		u.mu.Unlock()
		if !same {
			if err := u.store(ctx, key, bytes.NewReader(data), n); err != nil {
				u.mu.Lock()
				u.clips[j.id].record = true
				u.mu.Unlock()
				return err
			}
		}
	} else {
		f, err := u.files.OpenClip(j.id)
		if err != nil {
			return err
		}
		n = j.end - j.start
		key = replica.PartKey(target.Prefix, j.id, j.start, j.end)
		err = u.store(ctx, key, io.NewSectionReader(f, j.start, n), n)
		f.Close()
		if err != nil {
			return err
		}
	}
	now := u.now()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.retry = 0
	u.lastSuccess = now
	u.mLastSuccess.Set(float64(now.UnixNano()) / 1e9)
	u.mUploads.Inc()
	u.mBytes.Add(float64(n))
	u.dirty = true
	p := u.clips[j.id]
	if p == nil {
		return nil
	}
	if j.record {
		p.recSum = sum
		return nil
	}
	p.uploaded = max(p.uploaded, j.end)
	i := 0
	for ; i < len(p.marks) && p.marks[i].size <= p.uploaded; i++ {
		lag := now.Sub(p.marks[i].at)
		u.mLag.Observe(lag.Seconds())
		if u.observeLag != nil {
			u.observeLag(lag)
		}
	}
	p.marks = p.marks[i:]
	return nil
}

// store puts an object; one already there under the key is the same bytes
// (the key names them), so it counts as stored.
func (u *Uploader) store(ctx context.Context, key string, r io.Reader, n int64) error {
	err := u.put.Put(ctx, key, r, n)
	if errors.Is(err, replica.ErrExists) {
		return nil
	}
	return err
}

// forgetGone drops the clips that retention removed, sent or not.
func (u *Uploader) forgetGone() {
	list, err := u.files.Clips()
	if err != nil {
		return
	}
	have := make(map[string]bool, len(list))
	for _, c := range list {
		have[c.ID] = true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for id, p := range u.clips {
		if p.final && !have[id] {
			delete(u.clips, id)
			u.dirty = true
		}
	}
}

// state is what the state file holds: how much of each clip is stored.
type state struct {
	Clips map[string]clipState `json:"clips"`
}

type clipState struct {
	Stored int64  `json:"stored"`           // bytes of the sealed file, from 0
	Record string `json:"record,omitempty"` // hex SHA-256 of the record version stored last
}

// resume queues what the clips directory holds beyond the state file.
func (u *Uploader) resume() {
	var st state
	if u.cfg.StateFile != "" {
		if b, err := os.ReadFile(u.cfg.StateFile); err == nil {
			if err := json.Unmarshal(b, &st); err != nil {
				u.log.Warn("the replica's state file is damaged; sending every clip again (the replica keeps one copy of each piece)", "file", u.cfg.StateFile, "err", err)
			}
		}
	}
	list, err := u.files.Clips()
	if err != nil {
		u.log.Error("cannot list the clips to copy to the replica", "err", err)
		return
	}
	u.mu.Lock()
	for _, c := range list {
		if _, busy := u.clips[c.ID]; busy {
			continue
		}
		s := st.Clips[c.ID]
		p := u.entry(c.ID)
		p.uploaded = min(s.Stored, c.Size)
		p.written = c.Size
		p.final = true
		if sum, err := hex.DecodeString(s.Record); err == nil && len(sum) == 32 {
			p.recSum = [32]byte(sum)
		}
		p.record = true // compared with recSum when its turn comes
		if p.written > p.uploaded {
			p.marks = []mark{{c.Size, u.now()}}
		}
	}
	u.limit()
	u.mu.Unlock()
	u.wake()
}

// saveStateEvery bounds how often the state file is written: a restart
// after a crash sends at most that much again.
const saveStateEvery = 5 * time.Second

// saveState writes the state file if anything was stored since, at most
// every saveStateEvery unless now.
func (u *Uploader) saveState(now bool) {
	u.mu.Lock()
	if !u.dirty || u.cfg.StateFile == "" || (!now && u.now().Sub(u.saved) < saveStateEvery) {
		u.mu.Unlock()
		return
	}
	st := state{Clips: map[string]clipState{}}
	for id, p := range u.clips {
		if p.uploaded > 0 || p.recSum != ([32]byte{}) {
			cs := clipState{Stored: p.uploaded}
			if p.recSum != ([32]byte{}) {
				cs.Record = hex.EncodeToString(p.recSum[:])
			}
			st.Clips[id] = cs
		}
	}
	u.dirty = false
	u.saved = u.now()
	u.mu.Unlock()
	b, err := json.Marshal(st)
	if err == nil {
		err = atomicfile.WriteFile(u.cfg.StateFile, b, 0o600)
	}
	if err != nil {
		u.log.Warn("cannot note the replica's progress; after a restart some pieces are sent again", "err", err)
	}
}
