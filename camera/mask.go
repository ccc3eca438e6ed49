package camera

import "fmt"

// Mask blacks out privacy regions. It is built once per picture size, so
// applying it is only a fill of precomputed row spans.
type Mask struct {
	width, height int
	luma, chroma  []span
	lumaOnly      bool // made by EvenRows: it has no chroma spans, so Apply clears frames
}

type span struct{ off, n int } // n bytes from offset off in the plane

// NewMask rasterises polygons (corners normalised to 0..1) for w x h frames.
// A pixel is masked when its centre lies inside a polygon. A chroma sample is
// masked when any of the four pixels it colours is, so no colour leaks out.
func NewMask(w, h int, polygons [][][2]float64) (*Mask, error) {
	if err := CheckSize(w, h); err != nil {
		return nil, err
	}
	m := &Mask{width: w, height: h}
	if len(polygons) == 0 {
		return m, nil
	}
	inside := make([]bool, w*h)
	xs := make([]float64, 0, 16)
	for _, poly := range polygons {
		if len(poly) < 3 {
			return nil, fmt.Errorf("privacy mask polygon has %d corners; give at least 3", len(poly))
		}
		for r := 0; r < h; r++ {
			xs = crossings(poly, (float64(r)+0.5)/float64(h), xs[:0])
			for i := 0; i+1 < len(xs); i += 2 {
				// Pixel c is inside when its centre (c+0.5)/w lies in [xs[i], xs[i+1]).
				c0 := max(int(ceilHalf(xs[i]*float64(w))), 0)
				c1 := min(int(ceilHalf(xs[i+1]*float64(w))), w)
				for c := c0; c < c1; c++ {
					inside[r*w+c] = true
				}
			}
		}
	}
	m.luma = spans(inside, w, h)
	cw, ch := w/2, h/2
	cin := make([]bool, cw*ch)
	for r := 0; r < ch; r++ {
		for c := 0; c < cw; c++ {
			i := 2*r*w + 2*c
			cin[r*cw+c] = inside[i] || inside[i+1] || inside[i+w] || inside[i+w+1]
		}
	}
	m.chroma = spans(cin, cw, ch)
	return m, nil
}

// ceilHalf returns the first pixel index whose centre is at or past x.
func ceilHalf(x float64) float64 {
	c := float64(int(x - 0.5))
	if c < x-0.5 {
		c++
	}
	return c
}

// crossings returns the sorted x positions where the horizontal line at y
// crosses the polygon's edges.
func crossings(poly [][2]float64, y float64, xs []float64) []float64 {
	n := len(poly)
	for i := 0; i < n; i++ {
		a, b := poly[i], poly[(i+1)%n]
		if (a[1] <= y) != (b[1] <= y) {
			xs = append(xs, a[0]+(y-a[1])*(b[0]-a[0])/(b[1]-a[1]))
		}
	}
	for i := 1; i < len(xs); i++ { // insertion sort: a handful of crossings
		for j := i; j > 0 && xs[j] < xs[j-1]; j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
	return xs
}

func spans(in []bool, w, h int) []span {
	var out []span
	for r := 0; r < h; r++ {
		for c := 0; c < w; {
			if !in[r*w+c] {
				c++
				continue
			}
			start := c
			for c < w && in[r*w+c] {
				c++
			}
			out = append(out, span{r*w + start, c - start})
		}
	}
	return out
}

// Empty reports whether the mask hides nothing.
func (m *Mask) Empty() bool { return len(m.luma) == 0 }

// Covers reports whether pixel (x, y) is masked.
func (m *Mask) Covers(x, y int) bool {
	i := y*m.width + x
	for _, s := range m.luma {
		if i >= s.off && i < s.off+s.n {
			return true
		}
	}
	return false
}

// Apply blacks out the masked pixels of f in all three planes. Frames of
// another size are blacked out whole: better no picture than a leak.
func (m *Mask) Apply(f *Frame) {
	if len(m.luma) == 0 {
		return
	}
	if f.Width != m.width || f.Height != m.height || m.lumaOnly {
		f.Clear()
		return
	}
	fill(f.Y(), m.luma, 16)
	fill(f.U(), m.chroma, 128)
	fill(f.V(), m.chroma, 128)
}

// ApplyY blacks out the masked areas of a Y plane alone, w*h bytes of a
// picture of the mask's size, for the motion detector's own copy.
func (m *Mask) ApplyY(y []byte) {
	if len(m.luma) == 0 {
		return
	}
	if len(y) != m.width*m.height {
		clear(y)
		return
	}
	fill(y, m.luma, 16)
}

// EvenRows is the mask for the picture made of rows 0, 2, 4, … of m's, for
// ApplyY on what a decoder opened EvenRows reads: each of those rows masked
// as it is in the whole picture.
func (m *Mask) EvenRows() *Mask {
	e := &Mask{width: m.width, height: m.height / 2, lumaOnly: true}
	for _, s := range m.luma {
		if r := s.off / m.width; r%2 == 0 && r/2 < e.height {
			e.luma = append(e.luma, span{r/2*m.width + s.off%m.width, s.n})
		}
	}
	return e
}

func fill(plane []byte, ss []span, v byte) {
	for _, s := range ss {
		p := plane[s.off : s.off+s.n]
		for i := range p {
			p[i] = v
		}
	}
}
