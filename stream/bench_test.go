package stream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"doorbell/camera"
)

// Benchmarks. Each measures at real time, so an iteration is one second
// of video; give more iterations for steadier figures:
//
//	go test -run '^$' -bench . -benchtime 10x ./stream
//
// CPU figures are in percent of one core. ffmpeg's comes from
// /proc/PID/stat, the doorbell process's from getrusage.

// prerendered renders n frames of the synthetic scene, so that feeding
// them costs only the copy that a real camera's frames cost.
func prerendered(w, h, n int) []*camera.Frame {
	src, err := camera.NewSynthetic(camera.SyntheticConfig{Width: w, Height: h, FPS: 30, Seed: 1, Noise: 2,
		VisitorPeriod: 10 * time.Second, VisitorStay: 2 * time.Second})
	if err != nil {
		panic(err)
	}
	frames := make([]*camera.Frame, n)
	for i := range frames {
		frames[i] = &camera.Frame{}
		src.Render(uint64(i*7), frames[i])
	}
	return frames
}

// feedFrames sends frames round and round at fps, stamped with the time.
func feedFrames(ctx context.Context, frames []*camera.Frame, fps float64, sink camera.Sink) {
	p := camera.Pacer{FPS: fps}
	for seq := uint64(0); ; seq++ {
		if p.Wait(ctx, seq) != nil {
			return
		}
		f := frames[seq%uint64(len(frames))]
		f.Seq, f.Captured = seq, time.Now()
		camera.StampTime(f, f.Captured)
		sink.WriteFrame(f)
	}
}

// procCPU is the CPU time a process has used, from /proc (Linux, 100 Hz ticks).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// selfCPU is the CPU time this process has used (not its children).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pct(cpu, wall time.Duration) float64 { return 100 * cpu.Seconds() / wall.Seconds() }

// BenchmarkEncoder: ffmpeg's CPU at real time (FIELD-NOTES measured 10, 12
// and 23% of a core for 480p30, 720p15 and 720p30), the doorbell's own CPU
// for feeding it and parsing its output (synthetic frames pre-rendered), and
// the latency from capture to access unit.
func BenchmarkEncoder(b *testing.B) {
	for _, c := range []struct {
		name      string
		w, h, fps int
		kbps      int
	}{{"480p30", 640, 480, 30, 1000}, {"720p15", 1280, 720, 15, 1500}, {"720p30", 1280, 720, 30, 2000}} {
		b.Run(c.name, func(b *testing.B) {
			out := newAULog()
			enc, err := NewFFmpeg(FFmpegConfig{Backend: BackendX264, Width: c.w, Height: c.h, FPS: float64(c.fps),
				BitrateKbps: c.kbps, KeyframeInterval: 500 * time.Millisecond}, out, testLog(b))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); enc.Run(ctx) }()
			go func() { defer wg.Done(); feedFrames(ctx, prerendered(c.w, c.h, 30), float64(c.fps), enc) }()
			defer func() { cancel(); wg.Wait() }()
			if !waitFor(10*time.Second, func() bool { return len(out.list()) > c.fps }) { // past start-up
				b.Fatalf("no output: %+v", enc.Status())
			}
			pid := enc.PID()
			n0, ff0, self0, t0 := len(out.list()), procCPU(pid), selfCPU(), time.Now()
			b.ResetTimer()
			time.Sleep(time.Duration(b.N) * time.Second)
			b.StopTimer()
			wall := time.Since(t0)
			if enc.PID() != pid {
				b.Fatal("ffmpeg restarted during the measurement")
			}
			aus, at := out.list()[n0:], out.times()[n0:]
			var bytes int
			lat := make([]time.Duration, len(aus))
			for i, au := range aus {
				bytes += au.Size()
				lat[i] = at[i].Sub(au.Captured)
			}
			slices.Sort(lat)
			b.ReportMetric(pct(procCPU(pid)-ff0, wall), "%core-ffmpeg")
			b.ReportMetric(pct(selfCPU()-self0, wall), "%core-doorbell")
			b.ReportMetric(float64(len(aus))/wall.Seconds(), "fps")
			b.ReportMetric(float64(bytes)*8/1000/wall.Seconds(), "kbit/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-latency-p50")
			b.ReportMetric(float64(enc.Status().Dropped), "dropped")
		})
	}
}

// BenchmarkParseAccessUnits: the cost of cutting a 720p 2 Mbit/s RTP
// stream into access units with pion's depacketizer, per second of video.
func BenchmarkParseAccessUnits(b *testing.B) {
	const w, h, fps = 1280, 720, 30
	out := newAULog()
	enc, err := NewFFmpeg(FFmpegConfig{Width: w, Height: h, FPS: fps, BitrateKbps: 2000, KeyframeInterval: 500 * time.Millisecond}, out, testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); enc.Run(ctx) }()
	go func() { defer wg.Done(); feedFrames(ctx, prerendered(w, h, 30), fps, enc) }()
	if !waitFor(20*time.Second, func() bool { return len(out.list()) >= 2*fps+1 }) {
		b.Fatal("no output")
	}
	cancel()
	wg.Wait()
	var units [][][]byte
	size := 0
	for _, au := range out.list()[1 : 1+fps] { // one second
		units = append(units, au.NALUs)
		size += au.Size()
	}
	packets := rtpPackets(units, 0)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		n := 0
		r := packetReader(packets)
		_ = rtpAccessUnits(&r, func([][]byte) { n++ })
		if n != fps {
			b.Fatalf("parsed %d access units, want %d", n, fps)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e9*100, "%core")
}

// viewerHelper is another process that watches over WHEP with many pion
// clients, so that their decryption does not count as the doorbell's CPU.
// It reads commands on stdin ("add N", "stats") and answers "stats" with
// one JSON line: every viewer's complete and broken picture counts.
type viewerHelper struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

type helperStats struct {
	Frames []uint64 `json:"frames"`
	Broken []uint64 `json:"broken"`
}

func startViewerHelper(b *testing.B, url string) *viewerHelper {
	cmd := exec.Command(os.Args[0], "-test.run=^TestViewerHelperProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), "DOORBELL_VIEWER_HELPER="+url)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	h := &viewerHelper{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	h.out.Buffer(nil, 1<<20)
	b.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	return h
}

func (h *viewerHelper) ask(b *testing.B, command string) string {
	if _, err := fmt.Fprintln(h.in, command); err != nil {
		b.Fatal(err)
	}
	for h.out.Scan() {
		if line := h.out.Text(); strings.HasPrefix(line, "helper: ") {
			return strings.TrimPrefix(line, "helper: ")
		}
	}
	b.Fatalf("viewer helper ended: %v", h.out.Err())
	return ""
}

func (h *viewerHelper) add(b *testing.B, n int) {
	if r := h.ask(b, fmt.Sprintf("add %d", n)); r != "ok" {
		b.Fatal(r)
	}
}

func (h *viewerHelper) stats(b *testing.B) helperStats {
	var st helperStats
	if err := json.Unmarshal([]byte(h.ask(b, "stats")), &st); err != nil {
		b.Fatal(err)
	}
	return st
}

// TestViewerHelperProcess is the viewer helper when run by a benchmark; it
// does nothing in a normal test run.
func TestViewerHelperProcess(t *testing.T) {
	url := os.Getenv("DOORBELL_VIEWER_HELPER")
	if url == "" {
		t.Skip("run by benchmarks as a separate process")
	}
	var viewers []*viewer
	defer func() {
		for _, v := range viewers {
			v.close()
		}
		http.DefaultClient.CloseIdleConnections()
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 2 && f[0] == "add":
			n, _ := strconv.Atoi(f[1])
			added := make([]*viewer, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range added {
				wg.Add(1)
				go func() { defer wg.Done(); added[i], errs[i] = watch(url, "good-token", false) }()
			}
			wg.Wait()
			reply := "ok"
			for i, err := range errs {
				if err != nil {
					reply = err.Error()
					continue
				}
				viewers = append(viewers, added[i])
				v := added[i]
				if !waitFor(10*time.Second, func() bool { return v.frames.Load() > 0 }) {
					reply = "a viewer got no picture within 10 s"
				}
			}
			fmt.Println("helper: " + reply)
		case len(f) == 1 && f[0] == "stats":
			var st helperStats
			for _, v := range viewers {
				st.Frames = append(st.Frames, v.frames.Load())
				st.Broken = append(st.Broken, v.broken.Load())
			}
			j, _ := json.Marshal(st)
			fmt.Println("helper: " + string(j))
		}
	}
}

// benchPipeline is the doorbell at 720p30, 2 Mbit/s, fed pre-rendered frames.
func benchPipeline(b *testing.B, maxViewers int) *pipeline {
	const w, h, fps = 1280, 720, 30
	p := startPipeline(b, pipelineConfig{w: w, h: h, fps: fps, kbps: 2000, noEncoder: true, maxViewers: maxViewers, perViewer: maxViewers, queue: 30})
	var err error
	p.enc, err = NewFFmpeg(FFmpegConfig{Width: w, Height: h, FPS: fps, BitrateKbps: 2000,
		KeyframeInterval: 500 * time.Millisecond}, countingSink{p.ring, &p.aus}, testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.enc.Run(ctx) }()
	go func() { defer p.wg.Done(); feedFrames(ctx, prerendered(w, h, 30), fps, p.enc) }()
	b.Cleanup(cancel)
	if !waitFor(10*time.Second, func() bool { return p.aus.Load() > fps }) {
		b.Fatalf("no output: %+v", p.enc.Status())
	}
	return p
}

// BenchmarkViewerCPU: the doorbell's CPU for each viewer beyond the first
// at 720p and 2 Mbit/s (target: under 1% of a core). The viewers are pion
// clients in another process; the doorbell's CPU is measured with none and
// with 10, and the difference divided by 10.
func BenchmarkViewerCPU(b *testing.B) {
	const n = 10
	p := benchPipeline(b, n+1)
	helper := startViewerHelper(b, p.srv.URL+"/whep")
	window := func() float64 {
		c0, t0 := selfCPU(), time.Now()
		time.Sleep(time.Duration(b.N) * time.Second)
		return pct(selfCPU()-c0, time.Since(t0))
	}
	helper.add(b, 1)
	time.Sleep(time.Second)
	b.ResetTimer()
	one := window()
	b.StopTimer()
	helper.add(b, n)
	time.Sleep(time.Second) // past the joins
	b.StartTimer()
	many := window()
	b.StopTimer()
	st := p.hub.Status()
	b.ReportMetric(one, "%core-1-viewer")
	b.ReportMetric(many, fmt.Sprintf("%%core-%d-viewers", n+1))
	b.ReportMetric((many-one)/n, "%core/viewer")
	b.ReportMetric(float64(st.FramesSkipped), "skipped")
}

// BenchmarkViewersCarried: how many viewers at 720p and 2 Mbit/s get every
// picture. Viewers are added until one misses pictures over two seconds
// per iteration (skipped by the hub, lost on the way, or never encoded
// because the machine is out of CPU), or 128 are watching. The viewers'
// own decryption runs on the same two cores, so this is a lower bound for
// the device.
func BenchmarkViewersCarried(b *testing.B) {
	const most = 128
	p := benchPipeline(b, most)
	helper := startViewerHelper(b, p.srv.URL+"/whep")
	carried, have := 0, 0
	b.ResetTimer()
	for _, want := range []int{1, 2, 4, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128} {
		b.StopTimer()
		helper.add(b, want-have)
		have = want
		time.Sleep(time.Second) // past the joins
		b.StartTimer()
		st0, aus0, skip0 := helper.stats(b), p.aus.Load(), p.hub.Status().FramesSkipped
		time.Sleep(time.Duration(b.N) * 2 * time.Second)
		st1, made, skipped := helper.stats(b), p.aus.Load()-aus0, p.hub.Status().FramesSkipped-skip0
		worst := made
		for i := range st1.Frames {
			if i >= len(st0.Frames) {
				break
			}
			if got := st1.Frames[i] - st0.Frames[i]; got < worst {
				worst = got
			}
			if st1.Broken[i] > st0.Broken[i] {
				worst = 0
			}
		}
		expected := uint64(30 * 2 * b.N) // what the camera gave
		b.Logf("%d viewers: the encoder made %d of %d pictures; the worst viewer got %d of them; the hub skipped %d",
			want, made, expected, worst, skipped)
		if skipped > 0 || worst+2 < made || made+2 < expected {
			break
		}
		carried = want
	}
	b.ReportMetric(float64(carried), "viewers")
}

// BenchmarkTimeToFirstPicture: from the start of a pion client's
// connection (offer made, candidates gathered) to its first complete
// picture, over loopback at 720p30, and how long the WHEP POST took (the
// doorbell's ICE gathering included). A browser adds its own start-up.
func BenchmarkTimeToFirstPicture(b *testing.B) {
	p := benchPipeline(b, 4)
	url := p.srv.URL + "/whep"
	var total, answer time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		v, err := watch(url, "good-token", false)
		if err != nil {
			b.Fatal(err)
		}
		answer += v.answered
		select {
		case f := <-v.first:
			total += f.arrived.Sub(start)
		case <-time.After(5 * time.Second):
			b.Fatal("no picture within 5 s")
		}
		if err := v.hangUp(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-first-picture")
	b.ReportMetric(float64(answer.Microseconds())/1000/float64(b.N), "ms-answer")
}
