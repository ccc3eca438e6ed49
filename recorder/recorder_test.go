package recorder

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"doorbell/camera"
	"doorbell/clipstore"
	"doorbell/crypto/clip"
	"doorbell/crypto/keys"
	"doorbell/crypto/members"
	"doorbell/events"
	"doorbell/internal/testkit"
	"doorbell/internal/testkit/audiotest"
	"doorbell/stream"
)

const testFPS = 30

// rig is a recorder fed in real time by a replay of encoded video, with a
// household of members and an event bus.
type rig struct {
	t      testing.TB
	data   string
	store  *clipstore.Store
	ring   *stream.Ring
	rec    *Recorder
	bus    *events.Bus
	pub    ed25519.PublicKey
	ids    map[string]age.Identity
	reg    atomic.Pointer[members.Registry]
	sealed chan events.Event
	cancel context.CancelFunc
	wg     sync.WaitGroup
	evID   atomic.Uint64
}

func newRig(t testing.TB, cfg Config, names ...string) *rig {
	t.Helper()
	return newRigWith(t, cfg, encoded(t, 320, 240, testFPS, 301, 500*time.Millisecond), names...)
}

// newRigWith replays aus (at testFPS) as the camera.
func newRigWith(t testing.TB, cfg Config, aus []*stream.AccessUnit, names ...string) *rig {
	t.Helper()
	return newRigOn(t, t.TempDir(), cfg, aus, names...)
}

// newRigOn is newRigWith keeping its clips in data.
func newRigOn(t testing.TB, data string, cfg Config, aus []*stream.AccessUnit, names ...string) *rig {
	t.Helper()
	return newRigLagging(t, data, cfg, aus, 0, names...)
}

// newRigLagging is newRigOn with an encoder that hands each picture on lag
// after its capture, as a busy one does.
func newRigLagging(t testing.TB, data string, cfg Config, aus []*stream.AccessUnit, lag time.Duration, names ...string) *rig {
	t.Helper()
	r := &rig{t: t, data: data, ring: stream.NewRing(8 << 20), bus: events.NewBus(), ids: map[string]age.Identity{}}
	var err error
	if r.store, err = clipstore.Open(r.data); err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	r.pub = pub
	var ms []members.Member
	for _, n := range names {
		id, _ := keys.Generate(keys.Hybrid)
		r.ids[n] = id.Identity
		ms = append(ms, members.Member{Name: n, Recipient: id.Recipient})
	}
	reg, err := members.New(ms)
	if err != nil {
		t.Fatal(err)
	}
	r.reg.Store(reg)
	if cfg.FPS == 0 {
		cfg.FPS = testFPS
	}
	r.rec = New(cfg, r.ring, r.store, key, func() *members.Registry { return r.reg.Load() }, r.bus.Publish, testLog(t))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	sealedCh, unsub := r.bus.Subscribe("test", 16)
	r.sealed = make(chan events.Event, 16)
	evs, unsubRec := r.bus.Subscribe("recorder", 64)
	r.wg.Go(func() { <-ctx.Done(); unsub() })
	r.wg.Go(func() {
		for e := range sealedCh {
			if e.Kind == events.ClipSealed {
				r.sealed <- e
			}
		}
	})
	r.wg.Go(func() { r.rec.Run(ctx, evs) })
	r.wg.Go(func() { defer unsubRec(); <-ctx.Done() })
	// The camera: access units into the ring at 30 fps, and frames for
	// thumbnails to the recorder.
	r.wg.Go(func() {
		frame := camera.NewFrame(320, 240)
		for i := range frame.Y() {
			frame.Y()[i] = byte(16 + i%200)
		}
		tick := time.NewTicker(time.Second / testFPS)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			au := aus[i%len(aus)]
			now := time.Now()
			r.ring.WriteAccessUnit(stream.NewAccessUnit(au.NALUs, now.Add(-lag), uint64(i)))
			frame.Captured = now
			r.rec.WriteFrame(frame)
		}
	})
	t.Cleanup(r.close)
	return r
}

func (r *rig) close() {
	r.cancel()
	r.wg.Wait()
}

// motion publishes a motion event lasting d, as the detector would.
func (r *rig) motion(d time.Duration, zones ...string) {
	id := r.evID.Add(1)
	r.bus.Publish(events.Event{Kind: events.MotionStart, Time: time.Now(), ID: id, Zones: zones, Boxes: []events.Box{{0.1, 0.2, 0.5, 0.9}}})
	time.Sleep(d)
	r.bus.Publish(events.Event{Kind: events.MotionEnd, Time: time.Now(), ID: id, Zones: zones, Peak: 0.3})
}

func (r *rig) waitSealed() string {
	r.t.Helper()
	select {
	case e := <-r.sealed:
		return e.Clip
	case <-time.After(15 * time.Second):
		r.t.Fatal("no clip sealed within 15 s")
		return ""
	}
}

// open opens a clip as member name would, into a file; it returns the file.
func (r *rig) open(id, name string) (string, *clip.Result, error) {
	cf, err := os.Open(r.store.ClipPath(id))
	if err != nil {
		return "", nil, err
	}
	defer cf.Close()
	fi, _ := cf.Stat()
	rf, err := os.Open(r.store.RecordPath(id))
	if err != nil {
		return "", nil, err
	}
	defer rf.Close()
	out := filepath.Join(r.t.TempDir(), id+".mp4")
	of, _ := os.Create(out)
	defer of.Close()
	res, err := clip.Open(of, cf, fi.Size(), rf, clip.Options{ID: id, Identities: []age.Identity{r.ids[name]}, Trusted: []ed25519.PublicKey{r.pub}})
	return out, res, err
}

func defaultTestConfig() Config {
	return Config{PreRoll: time.Second, PostRoll: 500 * time.Millisecond, MaxLength: 20 * time.Second, OnMotion: true, OnRing: true}
}

// scanForPlaintext fails if any file under dir holds an MP4 box type or a
// JPEG marker: the signs of plaintext video or thumbnails.
func scanForPlaintext(t *testing.T, dir string) int {
	t.Helper()
	files := 0
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // renamed meanwhile
		}
		files++
		for _, sig := range [][]byte{[]byte("ftyp"), []byte("moof"), []byte("mdat"), []byte("avcC"), []byte("JFIF"), []byte(`"kind"`), []byte("porch")} {
			if bytes.Contains(b, sig) {
				t.Errorf("%s holds %q: plaintext reached the disk", path, sig)
			}
		}
		if testkit.HoldsJPEG(b) {
			t.Errorf("%s holds a JPEG picture: plaintext reached the disk", path)
		}
		return nil
	})
	return files
}

func TestRecordsSealsAndOpens(t *testing.T) {
	r := newRig(t, defaultTestConfig(), "alice", "bob")
	time.Sleep(1500 * time.Millisecond) // fill the ring for pre-roll

	// While the clip records, nothing in the data dir is plaintext.
	stop := make(chan struct{})
	scans := make(chan int, 1)
	go func() {
		n, files := 0, 0
		for {
			select {
			case <-stop:
				scans <- n
				return
			default:
			}
			files += scanForPlaintext(t, r.data)
			n++
			time.Sleep(20 * time.Millisecond)
		}
	}()
	start := time.Now()
	r.motion(1500*time.Millisecond, "porch")
	id := r.waitSealed()
	close(stop)
	if n := <-scans; n < 10 {
		t.Errorf("only %d scans while recording", n)
	}
	took := time.Since(start)
	scanForPlaintext(t, r.data)

	for _, name := range []string{"alice", "bob"} {
		out, res, err := r.open(id, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !res.Verified || !res.Complete || res.Truncated {
			t.Fatalf("%s: %+v", name, res)
		}
		rec := res.Record
		// pre-roll ≥ 1 s (from a keyframe), 1.5 s of motion, 0.5 s post-roll.
		if rec.Duration < 2.9 || rec.Duration > took.Seconds()+1.5 || rec.Kind != "motion" || rec.Zones[0] != "porch" || len(rec.Boxes) == 0 || rec.Peak != 0.3 {
			t.Errorf("record %+v (recording took %v)", rec, took)
		}
		if pre := rec.Trigger.Sub(rec.Start); pre < time.Second || pre > 1600*time.Millisecond {
			t.Errorf("pre-roll %v, want 1 s to 1.5 s (from the keyframe before)", pre)
		}
		if strings.Join(rec.SealedTo, ",") != "alice,bob" || rec.Status != clip.StatusComplete {
			t.Errorf("record %+v", rec)
		}
		img, err := jpeg.Decode(bytes.NewReader(rec.Thumbnail))
		if err != nil || img.Bounds().Dx() != 160 || img.Bounds().Dy() != 120 {
			t.Errorf("thumbnail: %v", err)
		}
		streams, d := audiotest.Probe(t, out, true)
		if len(streams) != 1 || streams[0].Codec != "h264" || streams[0].Type != "video" {
			t.Errorf("ffprobe streams: %+v", streams)
		}
		if math.Abs(d-rec.Duration) > 0.5 {
			t.Errorf("ffprobe says %.2f s, the record %.2f s", d, rec.Duration)
		}
		if errs := decodeErrors(t, out); errs != "" {
			t.Errorf("decode errors: %s", errs)
		}
	}
	st := r.rec.Status()
	if st.Sealed != 1 || st.Stored != 1 || st.State != "idle" || st.Members != 2 {
		t.Errorf("status %+v", st)
	}
	entries, _ := os.ReadDir(r.store.Dir())
	if len(entries) != 2 {
		t.Errorf("clips dir holds %d files, want the clip and its record", len(entries))
	}
}

func TestRemovedMemberCannotOpenLaterClips(t *testing.T) {
	r := newRig(t, defaultTestConfig(), "alice", "bob")
	time.Sleep(1200 * time.Millisecond)
	r.motion(300*time.Millisecond, "porch")
	before := r.waitSealed()
	// Bob is removed; the next event is sealed to Alice only.
	reg, _ := members.New(r.reg.Load().Members()[:1])
	r.reg.Store(reg)
	r.bus.Publish(events.Event{Kind: events.Ring, Time: time.Now(), ID: 99})
	after := r.waitSealed()

	if _, _, err := r.open(before, "bob"); err != nil {
		t.Errorf("bob cannot open a clip from before his removal: %v", err)
	}
	_, _, err := r.open(after, "bob")
	if !errors.Is(err, clip.ErrNoIdentity) || !strings.Contains(err.Error(), "no identity matched: this clip was sealed to other keys") {
		t.Errorf("bob opens a clip from after his removal: %v", err)
	}
	_, res, err := r.open(after, "alice")
	if err != nil || res.Record.Kind != "ring" || strings.Join(res.Record.SealedTo, ",") != "alice" {
		t.Errorf("alice: %+v %v", res, err)
	}
}

func TestNoMembersRecordsNothing(t *testing.T) {
	r := newRig(t, defaultTestConfig())
	time.Sleep(300 * time.Millisecond)
	r.motion(200*time.Millisecond, "porch")
	time.Sleep(time.Second)
	if r.rec.Recording() {
		t.Fatal("recording with no members")
	}
	list, _ := r.store.List()
	entries, _ := os.ReadDir(r.store.Dir())
	if len(list) != 0 || len(entries) != 0 {
		t.Errorf("files with no members: %v", entries)
	}
	if st := r.rec.Status(); st.Members != 0 || st.Sealed != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestMaxLengthCapsAClip(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.MaxLength = 2500 * time.Millisecond
	r := newRig(t, cfg, "alice")
	time.Sleep(1200 * time.Millisecond)
	// Motion that never ends.
	r.bus.Publish(events.Event{Kind: events.MotionStart, Time: time.Now(), ID: 1, Zones: []string{"porch"}})
	id := r.waitSealed()
	_, res, err := r.open(id, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Record.Duration; d > 2.5 || d < 2.2 {
		t.Errorf("capped clip lasts %.2f s, want 2.5 s or a frame less", d)
	}
}

// A motion_end lost by the bus (the recorder's buffer was full) does not
// hold the clip open to its maximum length: once the bus says it dropped
// events, the clip ends when quiet for the post-roll.
func TestALostMotionEndEndsTheClipAfterThePostRoll(t *testing.T) {
	cfg := defaultTestConfig() // post-roll 0.5 s, maximum 20 s
	var lost atomic.Uint64
	cfg.Lost = lost.Load
	r := newRig(t, cfg, "alice")
	time.Sleep(1200 * time.Millisecond)
	r.bus.Publish(events.Event{Kind: events.MotionStart, Time: time.Now(), ID: 1, Zones: []string{"porch"}})
	time.Sleep(time.Second)
	lost.Add(1) // its motion_end, dropped
	id := r.waitSealed()
	_, res, err := r.open(id, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Record.Duration; d > 5 {
		t.Errorf("the clip whose motion_end was lost lasts %.2f s; want it to end at the post-roll, far below the 20 s maximum", d)
	}
}

func TestFullDiskEvictsOldClipsAndKeepsRecording(t *testing.T) {
	disk := testkit.SmallDisk(t, 64<<20)
	r := newRigOn(t, disk, defaultTestConfig(), encoded(t, 320, 240, testFPS, 301, 500*time.Millisecond), "alice")
	time.Sleep(1200 * time.Millisecond)
	var got []string
	for i := range 4 {
		r.motion(200*time.Millisecond, "porch")
		got = append(got, r.waitSealed())
		if i == 0 {
			// Room for about two clips.
			list, _ := r.store.List()
			testkit.ResizeDisk(t, disk, 2*(list[0].Bytes+list[0].RecordBytes)+20_000)
		}
	}
	list, _ := r.store.List()
	evicted, _ := r.store.Evictions()
	if evicted == 0 || len(list) == 0 || list[len(list)-1].ID != got[3] {
		t.Fatalf("after a full disk: %d evicted, kept %d", evicted, len(list))
	}
	// What is kept opens, whole.
	for _, e := range list {
		if _, res, err := r.open(e.ID, "alice"); err != nil || !res.Complete {
			t.Errorf("clip %s: %+v %v", e.ID, res, err)
		}
	}
}

func TestRecorderSkipsToAKeyframeWhenTheDiskIsBehind(t *testing.T) {
	r := newRig(t, defaultTestConfig(), "alice")
	s := &session{r: r.rec, aus: make(chan *stream.AccessUnit, 2)}
	aus := encoded(t, 320, 240, testFPS, 301, 500*time.Millisecond)
	for _, au := range aus[:40] {
		s.offer(au)
	}
	// Two queued; then everything dropped up to the next keyframe, which
	// also did not fit: still dropping.
	if len(s.aus) != 2 || !s.dropping.Load() {
		t.Fatalf("queued %d, dropping %v", len(s.aus), s.dropping.Load())
	}
	<-s.aus
	<-s.aus
	for _, au := range aus[40:] {
		s.offer(au)
		if len(s.aus) > 0 {
			break
		}
	}
	if au := <-s.aus; !au.Keyframe {
		t.Error("after dropping, the next picture queued is not a keyframe")
	}
}

// A member removed while a clip records gets nothing recorded after the
// removal: the clip ends, and recording goes on in a new clip sealed to
// the members left (issue 13, item 13).
func TestMemberRemovedWhileRecordingSplitsTheClip(t *testing.T) {
	r := newRig(t, defaultTestConfig(), "alice", "bob")
	time.Sleep(1200 * time.Millisecond)
	r.bus.Publish(events.Event{Kind: events.MotionStart, Time: time.Now(), ID: 7, Zones: []string{"porch"}})
	if !waitUntil(5*time.Second, r.rec.Recording) {
		t.Fatal("not recording")
	}
	time.Sleep(500 * time.Millisecond) // some video in the first clip
	reg, _ := members.New(r.reg.Load().Members()[:1])
	r.reg.Store(reg)
	removed := time.Now()
	first := r.waitSealed()
	if d := time.Since(removed); d > 2*time.Second {
		t.Errorf("the clip sealed to bob ended %v after his removal", d)
	}
	if !waitUntil(5*time.Second, r.rec.Recording) {
		t.Fatal("recording did not go on after the split")
	}
	time.Sleep(500 * time.Millisecond)
	r.bus.Publish(events.Event{Kind: events.MotionEnd, Time: time.Now(), ID: 7, Zones: []string{"porch"}})
	second := r.waitSealed()
	if _, _, err := r.open(first, "bob"); err != nil {
		t.Errorf("bob cannot open the clip from before his removal: %v", err)
	}
	if _, _, err := r.open(second, "bob"); !errors.Is(err, clip.ErrNoIdentity) {
		t.Errorf("bob opens the clip recorded after his removal: %v", err)
	}
	_, res, err := r.open(second, "alice")
	if err != nil || strings.Join(res.Record.SealedTo, ",") != "alice" || res.Record.Kind != "motion" {
		t.Errorf("alice, second clip: %+v %v", res, err)
	}
}

func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// A ring while the encoder is 2 s behind the camera still records the
// visitor: the clip ends once it has pictures up to the post-roll, not
// when the post-roll has passed on the clock (it would hold no picture of
// the ring, or none at all).
func TestALateEncoderStillRecordsThePostRoll(t *testing.T) {
	const lag = 2 * time.Second
	cfg := defaultTestConfig()
	r := newRigLagging(t, t.TempDir(), cfg, encoded(t, 320, 240, testFPS, 301, 500*time.Millisecond), lag, "anna")
	time.Sleep(2 * lag) // the workload: the ring fills with pictures that are all lag behind
	rang := time.Now()
	r.bus.Publish(events.Event{Kind: events.Ring, Time: rang, ID: r.evID.Add(1)})
	id := r.waitSealed()
	_, res, err := r.open(id, "anna")
	if err != nil {
		t.Fatal(err)
	}
	if want := cfg.PreRoll + cfg.PostRoll - 200*time.Millisecond; res.Video < want {
		t.Errorf("the clip holds %v of video; want about the pre-roll and post-roll, %v", res.Video, cfg.PreRoll+cfg.PostRoll)
	}
}
