package recorder

import (
	"sort"
	"syscall"
	"testing"
	"time"

	"doorbell/events"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecording720p30 measures what recording costs beyond encoding:
// 1280x720 at 30 fps and 2 Mbit/s, replayed in real time into the ring,
// and recorded into one clip (fMP4, checkpoints, sealing to two
// post-quantum members, writes, an fsync a second). One op is one second
// of video; "%core" is the CPU the whole test process used meanwhile, as a
// share of one core. "idle" is the same without a clip (the ring fed, the
// recorder waiting): the difference is the recording.
func BenchmarkRecording720p30(b *testing.B) {
	aus := encodedAt(b, 1280, 720, 30, 91, 500*time.Millisecond, 2000)
	for _, recording := range []bool{false, true} {
		name := "idle"
		if recording {
			name = "recording"
		}
		b.Run(name, func(b *testing.B) {
			cfg := Config{PreRoll: time.Second, PostRoll: time.Second, MaxLength: time.Hour, OnMotion: true, FPS: 30}
			r := newRigWith(b, cfg, aus, "alice", "bob")
			time.Sleep(1200 * time.Millisecond)
			if recording {
				r.bus.Publish(events.Event{Kind: events.MotionStart, Time: time.Now(), ID: 1})
				time.Sleep(500 * time.Millisecond) // past the pre-roll's burst
			}
			sealed0, _ := r.store.Usage()
			b.ResetTimer()
			cpu0, wall0 := cpuTime(b), time.Now()
			for range b.N {
				time.Sleep(time.Second)
			}
			cpu, wall := cpuTime(b)-cpu0, time.Since(wall0)
			b.StopTimer()
			sealed1, _ := r.store.Usage()
			if r.rec.Recording() != recording {
				b.Fatalf("recording is %v", r.rec.Recording())
			}
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "%core")
			b.ReportMetric(float64(sealed1-sealed0)*8/1000/wall.Seconds(), "kbit/s-sealed")
		})
	}
}

// BenchmarkEventToFirstSealedByte measures, for clips of 720p30 at
// 2 Mbit/s with a 3 s pre-roll, the time from an event to its clip's age
// header on disk, to the first sealed video written, and to the pre-roll
// fsynced. One op is one clip.
func BenchmarkEventToFirstSealedByte(b *testing.B) {
	aus := encodedAt(b, 1280, 720, 30, 91, 500*time.Millisecond, 2000)
	cfg := Config{PreRoll: 3 * time.Second, PostRoll: 0, MaxLength: time.Minute, OnMotion: true, FPS: 30}
	traces := make(chan [2]any, 16)
	r := newRigWith(b, cfg, aus, "alice", "bob")
	time.Sleep(3500 * time.Millisecond) // fill the ring with the pre-roll
	// Set before the first event: publishing it orders this write before
	// any read.
	r.rec.trace = func(id, what string, at time.Time) { traces <- [2]any{what, at} }
	var header, video, synced []time.Duration
	b.ResetTimer()
	for i := range b.N {
		got := map[string]time.Time{}
		start := time.Now()
		r.bus.Publish(events.Event{Kind: events.MotionStart, Time: start, ID: uint64(i + 1)})
		for len(got) < 3 {
			tr := <-traces
			got[tr[0].(string)] = tr[1].(time.Time)
		}
		header = append(header, got["header"].Sub(start))
		video = append(video, got["video"].Sub(start))
		synced = append(synced, got["synced"].Sub(start))
		r.bus.Publish(events.Event{Kind: events.MotionEnd, Time: time.Now(), ID: uint64(i + 1)})
		r.waitSealed()
	}
	b.StopTimer()
	ms := func(ds []time.Duration, q float64) float64 {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(ms(header, 0.5), "ms-to-header")
	b.ReportMetric(ms(video, 0.5), "ms-to-sealed-video")
	b.ReportMetric(ms(video, 1), "ms-to-sealed-video-max")
	b.ReportMetric(ms(synced, 0.5), "ms-to-fsynced-preroll")
}
