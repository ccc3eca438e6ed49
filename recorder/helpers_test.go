package recorder

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"doorbell/camera"
	"doorbell/internal/testkit"
	"doorbell/stream"
)

// testLog shows the package's logs with -v when DOORBELL_TEST_LOG is set.
var testLog = testkit.Log

// auCollector keeps every access unit the encoder makes.
type auCollector struct {
	mu  sync.Mutex
	aus []*stream.AccessUnit
}

func (c *auCollector) WriteAccessUnit(au *stream.AccessUnit) {
	c.mu.Lock()
	c.aus = append(c.aus, au)
	c.mu.Unlock()
}

func (c *auCollector) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.aus)
}

type encodeKey struct {
	w, h   int
	fps    float64
	frames int
	gop    time.Duration
	kbps   int
}

var (
	encodedMu    sync.Mutex
	encodedCache = map[encodeKey][]*stream.AccessUnit{}
)

// encoded returns frames-1 access units of the synthetic scene (visitor
// included), encoded once by the real encoder, faster than real time, with
// capture times 1/fps apart from an arbitrary start. Callers re-stamp them.
func encoded(t testing.TB, w, h int, fps float64, frames int, gop time.Duration) []*stream.AccessUnit {
	t.Helper()
	return encodedAt(t, w, h, fps, frames, gop, 600)
}

// encodedAt is encoded at a bit rate of kbps.
func encodedAt(t testing.TB, w, h int, fps float64, frames int, gop time.Duration, kbps int) []*stream.AccessUnit {
	t.Helper()
	key := encodeKey{w, h, fps, frames, gop, kbps}
	encodedMu.Lock()
	defer encodedMu.Unlock()
	if aus, ok := encodedCache[key]; ok {
		return aus
	}
	col := &auCollector{}
	enc, err := stream.NewFFmpeg(stream.FFmpegConfig{Width: w, Height: h, FPS: fps, BitrateKbps: kbps,
		KeyframeInterval: gop, Queue: frames + 1}, col, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { enc.Run(ctx); close(done) }()
	src, err := camera.NewSynthetic(camera.SyntheticConfig{Width: w, Height: h, FPS: fps, Seed: 3, Noise: 2,
		VisitorPeriod: 12 * time.Second, VisitorStay: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_700_000_000, 0)
	f := &camera.Frame{}
	for i := range frames {
		if err := src.Read(ctx, f); err != nil {
			t.Fatal(err)
		}
		f.Seq = uint64(i)
		f.Captured = base.Add(time.Duration(float64(i) / fps * float64(time.Second)))
		enc.WriteFrame(f)
	}
	deadline := time.Now().Add(60 * time.Second)
	for col.n() < frames-1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if col.n() < frames-1 {
		t.Fatalf("encoder made %d access units of %d frames", col.n(), frames)
	}
	encodedCache[key] = col.aus
	return col.aus
}

// restamp copies access units with capture times from start, 1/fps apart.
func restamp(aus []*stream.AccessUnit, start time.Time, fps float64) []*stream.AccessUnit {
	out := make([]*stream.AccessUnit, len(aus))
	for i, au := range aus {
		out[i] = stream.NewAccessUnit(au.NALUs, start.Add(time.Duration(float64(i)/fps*float64(time.Second))), uint64(i))
	}
	return out
}

// decodeErrors decodes the whole file with ffmpeg and returns what it complains about.
func decodeErrors(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return string(out)
}
