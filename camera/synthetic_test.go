package camera

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func testScene(t testing.TB, seed int64) *Synthetic {
	t.Helper()
	s, err := NewSynthetic(SyntheticConfig{Width: 320, Height: 240, FPS: 10, Seed: seed, Noise: 3,
		VisitorPeriod: 20 * time.Second, VisitorStay: 5 * time.Second, LightingRamp: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSyntheticIsDeterministic(t *testing.T) {
	a, b := testScene(t, 7), testScene(t, 7)
	fa, fb := &Frame{}, &Frame{}
	for _, seq := range []uint64{0, 1, 25, 40, 77, 199} {
		a.Render(seq, fa)
		b.Render(seq, fb)
		if !bytes.Equal(fa.Data, fb.Data) {
			t.Fatalf("frame %d differs between two scenes with the same seed", seq)
		}
	}
	c := testScene(t, 8)
	fc := &Frame{}
	c.Render(25, fc)
	a.Render(25, fa)
	if bytes.Equal(fa.Data, fc.Data) {
		t.Fatal("scenes with different seeds are identical")
	}
}

func TestSyntheticReadIsDeterministicForAFixedClock(t *testing.T) {
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	read := func() []byte {
		s, err := NewSynthetic(SyntheticConfig{Width: 160, Height: 120, FPS: 5, Seed: 3, Noise: 2,
			VisitorPeriod: 12 * time.Second, VisitorStay: 2 * time.Second, Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		var all []byte
		f := &Frame{}
		for i := 0; i < 30; i++ {
			if err := s.Read(context.Background(), f); err != nil {
				t.Fatal(err)
			}
			if f.Seq != uint64(i) {
				t.Fatalf("frame %d has sequence number %d", i, f.Seq)
			}
			all = append(all, f.Data...)
		}
		return all
	}
	if !bytes.Equal(read(), read()) {
		t.Fatal("two reads of the same scene with the same clock differ")
	}
}

func TestSyntheticVisitorComesAndGoes(t *testing.T) {
	s := testScene(t, 1)
	s.cfg.LightingRamp = 0
	empty, f := &Frame{}, &Frame{}
	s.Render(0, empty) // t=0: nobody there yet
	changed := func(seq uint64) int {
		s.Render(seq, f)
		// Compare against the same noise variant, so only the visitor differs.
		n := 0
		base := s.variant(seq)
		for i, p := range f.Y() {
			if p != base[i] {
				n++
			}
		}
		return n
	}
	at := func(d time.Duration) uint64 { return uint64(d.Seconds() * s.cfg.FPS) }
	if n := changed(at(time.Second)); n != 0 {
		t.Errorf("%d pixels changed before the visitor arrives", n)
	}
	if n := changed(at(5 * time.Second)); n < 2000 {
		t.Errorf("only %d pixels show the visitor standing at the door", n)
	}
	if n := changed(at(15 * time.Second)); n != 0 {
		t.Errorf("%d pixels changed after the visitor left", n)
	}
	box, ok := VisitorBox(20*time.Second, 5*time.Second, 5*time.Second)
	if !ok || box[0] > 0.5 || box[2] < 0.5 {
		t.Errorf("visitor standing at the door is at %v, not over the door in the middle", box)
	}
}

func TestSyntheticLightingRampChangesBrightness(t *testing.T) {
	s := testScene(t, 1)
	f := &Frame{}
	mean := func(seq uint64) float64 {
		s.Render(seq, f)
		var sum int
		for _, p := range f.Y() {
			sum += int(p)
		}
		return float64(sum) / float64(len(f.Y()))
	}
	bright, dark := mean(0), mean(uint64(30*s.cfg.FPS)) // half of the 60 s cycle
	if dark > bright*0.6 {
		t.Errorf("half way through the lighting cycle the mean is %.1f, at the start %.1f: expected about 40%%", dark, bright)
	}
}

func TestSyntheticPacesInRealTimeAndSkipsWhenLate(t *testing.T) {
	now := time.Unix(1000, 0)
	s, err := NewSynthetic(SyntheticConfig{Width: 64, Height: 48, FPS: 10, Realtime: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f := &Frame{}
	_ = s.Read(context.Background(), f)
	now = now.Add(time.Second) // the consumer was away for a second
	_ = s.Read(context.Background(), f)
	if f.Seq != 10 {
		t.Errorf("after a second away the next frame is %d, want 10 (frames skipped, not queued)", f.Seq)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Read(ctx, f); err == nil {
		t.Error("Read ignores a cancelled context")
	}
}

func TestTimestampRoundTrip(t *testing.T) {
	for _, size := range [][2]int{{1280, 720}, {640, 480}, {320, 240}} {
		f := NewFrame(size[0], size[1])
		want := time.UnixMilli(1795000000123)
		StampTime(f, want)
		got, ok := ReadTimestamp(f.Y(), f.Width, f.Height)
		if !ok || !got.Equal(want) {
			t.Errorf("%dx%d: read back %v, %v; want %v", size[0], size[1], got, ok, want)
		}
		_, strip := StampGeometry(f.Width, f.Height)
		row := f.Y()[(strip/2)*f.Width : (strip/2+1)*f.Width]
		if got, ok := ReadTimestampRow(row, f.Width, f.Height); !ok || !got.Equal(want) {
			t.Errorf("%dx%d: read back from the middle row %v, %v; want %v", size[0], size[1], got, ok, want)
		}
		if _, ok := ReadTimestampRow(row[:f.Width/2], f.Width, f.Height); ok {
			t.Errorf("%dx%d: half a row reads as a time stamp", size[0], size[1])
		}
		// A damaged strip is refused rather than misread.
		block, _ := StampGeometry(f.Width, f.Height)
		f.Y()[(strip/2)*f.Width+5*block+block/2] ^= 0xff
		if got, ok := ReadTimestamp(f.Y(), f.Width, f.Height); ok {
			t.Errorf("%dx%d: a damaged strip read as %v", size[0], size[1], got)
		}
	}
	if _, ok := ReadTimestamp(NewFrame(320, 240).Y(), 320, 240); ok {
		t.Error("a black frame reads as a time stamp")
	}
}

func benchmarkSynthetic(b *testing.B, ramp time.Duration) {
	s, err := NewSynthetic(SyntheticConfig{Width: 1280, Height: 720, FPS: 30, Seed: 1, Noise: 2,
		VisitorPeriod: 10 * time.Second, VisitorStay: 6 * time.Second, LightingRamp: ramp})
	if err != nil {
		b.Fatal(err)
	}
	f := &Frame{}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = s.Read(ctx, f)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

func BenchmarkSynthetic1280x720SteadyLight(b *testing.B)  { benchmarkSynthetic(b, 0) }
func BenchmarkSynthetic1280x720LightingRamp(b *testing.B) { benchmarkSynthetic(b, time.Minute) }

func TestApplyGainMatchesArithmetic(t *testing.T) {
	y := make([]byte, 259) // not a multiple of 8: the tail takes the slow path
	for i := range y {
		y[i] = byte(i)
	}
	for _, g := range []float64{0, 0.4, 0.7, 1} {
		got := append([]byte(nil), y...)
		applyGain(got, g)
		k := uint64(g*256 + 0.5)
		for i, v := range y {
			if want := byte(uint64(v) * k >> 8); got[i] != want {
				t.Fatalf("gain %v: pixel %d (%d) became %d, want %d", g, i, v, got[i], want)
			}
		}
	}
}
