package camera

import (
	"math/rand/v2"
	"testing"
)

// insideRef is an independent even-odd point-in-polygon test.
func insideRef(poly [][2]float64, x, y float64) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a[1] > y) != (b[1] > y) && x < (b[0]-a[0])*(y-a[1])/(b[1]-a[1])+a[0] {
			in = !in
		}
	}
	return in
}

func randomFrame(w, h int, seed uint64) *Frame {
	f := NewFrame(w, h)
	r := rand.New(rand.NewPCG(seed, 2))
	for i := range f.Data {
		f.Data[i] = byte(r.IntN(200) + 40) // never black, so a missed pixel shows
	}
	return f
}

func TestMaskBlacksOutExactlyThePolygons(t *testing.T) {
	const w, h = 320, 240
	polys := [][][2]float64{
		{{0.051, 0.049}, {0.301, 0.083}, {0.253, 0.401}, {0.021, 0.333}},                 // a window (corners off the pixel grid: ties are a matter of taste)
		{{0.603, 0.501}, {0.951, 0.507}, {0.803, 0.701}, {0.947, 0.953}, {0.601, 0.949}}, // concave
		{{0.903, 0.0}, {1.0, 0.0}, {1.0, 1.0}},                                           // touching the edges
	}
	m, err := NewMask(w, h, polys)
	if err != nil {
		t.Fatal(err)
	}
	orig := randomFrame(w, h, 1)
	f := &Frame{}
	orig.CopyTo(f)
	m.Apply(f)

	masked := make([]bool, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			cx, cy := (float64(x)+0.5)/w, (float64(y)+0.5)/h
			for _, p := range polys {
				if insideRef(p, cx, cy) {
					masked[y*w+x] = true
				}
			}
			i := y*w + x
			switch {
			case masked[i] && f.Y()[i] != 16:
				t.Fatalf("pixel (%d,%d) inside a mask has Y=%d, not black", x, y, f.Y()[i])
			case !masked[i] && f.Y()[i] != orig.Y()[i]:
				t.Fatalf("pixel (%d,%d) outside every mask was changed", x, y)
			}
		}
	}
	n := 0
	for _, v := range masked {
		if v {
			n++
		}
	}
	if n < w*h/10 {
		t.Fatalf("only %d pixels masked: the test polygons are wrong", n)
	}
	cw := w / 2
	for y := 0; y < h/2; y++ {
		for x := 0; x < cw; x++ {
			i := 2*y*w + 2*x
			any := masked[i] || masked[i+1] || masked[i+w] || masked[i+w+1]
			c := y*cw + x
			for plane, p := range map[string][2][]byte{"U": {f.U(), orig.U()}, "V": {f.V(), orig.V()}} {
				switch {
				case any && p[0][c] != 128:
					t.Fatalf("%s sample (%d,%d) colours a masked pixel but is %d, not neutral", plane, x, y, p[0][c])
				case !any && p[0][c] != p[1][c]:
					t.Fatalf("%s sample (%d,%d) colours no masked pixel but was changed", plane, x, y)
				}
			}
		}
	}
	if !m.Covers(int(0.1*w), int(0.2*h)) || m.Covers(w/2, h/4) {
		t.Error("Covers disagrees with the mask")
	}
}

// ApplyY does to a Y plane alone what Apply does to a frame's.
func TestMaskApplyY(t *testing.T) {
	const w, h = 320, 240
	m, err := NewMask(w, h, [][][2]float64{{{0.1, 0.1}, {0.6, 0.2}, {0.3, 0.9}}})
	if err != nil {
		t.Fatal(err)
	}
	f := randomFrame(w, h, 2)
	y := append([]byte(nil), f.Y()...)
	m.Apply(f)
	m.ApplyY(y)
	if string(y) != string(f.Y()) {
		t.Error("ApplyY's plane differs from Apply's Y plane")
	}
	other := make([]byte, 100)
	other[0] = 200
	m.ApplyY(other)
	if other[0] != 0 {
		t.Error("a plane of another size was not blacked out whole")
	}
}

// EvenRows masks the even rows of a picture as the whole picture's mask
// does, an odd number of them too, and never lets a frame through unmasked.
func TestMaskEvenRows(t *testing.T) {
	for _, h := range []int{240, 242} { // 121 even rows: an odd count
		const w = 320
		m, err := NewMask(w, h, [][][2]float64{{{0.1, 0.1}, {0.6, 0.2}, {0.3, 0.9}}, {{0.7, 0.5}, {1, 0.5}, {1, 1}}})
		if err != nil {
			t.Fatal(err)
		}
		f := randomFrame(w, h, 3)
		even := make([]byte, 0, w*(h/2))
		for r := 0; r < h/2; r++ {
			even = append(even, f.Y()[2*r*w:2*r*w+w]...)
		}
		m.Apply(f)
		m.EvenRows().ApplyY(even)
		for r := 0; r < h/2; r++ {
			if string(even[r*w:(r+1)*w]) != string(f.Y()[2*r*w:2*r*w+w]) {
				t.Fatalf("height %d: even row %d (row %d) is masked differently", h, r, 2*r)
			}
		}
		g := randomFrame(w, h/2&^1, 4)
		m.EvenRows().Apply(g)
		for i, v := range g.Y() {
			if v != 16 {
				t.Fatalf("height %d: Apply of the even rows' mask left pixel %d of a frame as %d; it has no chroma spans, so it must black out the frame", h, i, v)
			}
		}
	}
}

func TestEmptyMaskTouchesNothing(t *testing.T) {
	m, err := NewMask(64, 48, nil)
	if err != nil {
		t.Fatal(err)
	}
	orig := randomFrame(64, 48, 3)
	f := &Frame{}
	orig.CopyTo(f)
	m.Apply(f)
	if !m.Empty() || string(f.Data) != string(orig.Data) {
		t.Fatal("an empty mask changed the frame")
	}
}

func TestMaskBlacksOutFramesOfAnotherSize(t *testing.T) {
	m, _ := NewMask(64, 48, [][][2]float64{{{0, 0}, {0.1, 0}, {0.1, 0.1}}})
	f := randomFrame(128, 96, 4)
	m.Apply(f)
	for i, p := range f.Y() {
		if p != 16 {
			t.Fatalf("pixel %d of a frame of the wrong size survived the mask", i)
		}
	}
}

func BenchmarkMask1280x720(b *testing.B) {
	m, err := NewMask(1280, 720, [][][2]float64{
		{{0, 0}, {0.3, 0}, {0.3, 0.4}, {0, 0.4}},
		{{0.6, 0.5}, {0.95, 0.5}, {0.8, 0.7}, {0.95, 0.95}, {0.6, 0.95}},
	})
	if err != nil {
		b.Fatal(err)
	}
	f := randomFrame(1280, 720, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Apply(f)
	}
}
