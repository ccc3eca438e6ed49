package motion

import (
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"
)

// Colours of the debug drawing (BGR order is handled by gocv's RGBA).
var (
	zoneColour    = color.RGBA{0, 220, 0, 0}
	maskColour    = color.RGBA{220, 0, 220, 0}
	boxColour     = color.RGBA{255, 220, 0, 0}
	inZoneTint    = color.RGBA{255, 0, 0, 0}
	outZoneTint   = color.RGBA{0, 120, 255, 0}
	labelColour   = color.RGBA{255, 255, 255, 0}
	labelBackdrop = color.RGBA{0, 0, 0, 0}
)

// debugDrawing is what Annotate keeps between frames of one size.
type debugDrawing struct {
	w, h        int
	zones       gocv.PointsVector
	masks       gocv.PointsVector
	names       []image.Point // where each zone's name goes
	big, in     gocv.Mat
	tint, blend gocv.Mat
}

func (g *debugDrawing) close() {
	g.zones.Close()
	g.masks.Close()
	for _, m := range []*gocv.Mat{&g.big, &g.in, &g.tint, &g.blend} {
		m.Close()
	}
}

func scalePolys(polys [][][2]float64, w, h int) [][]image.Point {
	out := make([][]image.Point, len(polys))
	for i, p := range polys {
		for _, c := range p {
			out[i] = append(out[i], image.Pt(int(math.Round(c[0]*float64(w-1))), int(math.Round(c[1]*float64(h-1)))))
		}
	}
	return out
}

// Annotate draws on img (a BGR picture of the detector's input size) what the
// last Detect saw: changed pixels tinted red inside the zones and blue
// outside, the boxes, the zones' outlines and names, the privacy masks'
// outlines, and label at the top. It is for tuning, not for every frame: it
// allocates.
func (d *Detector) Annotate(img *gocv.Mat, r *Result, label string) {
	w, h := img.Cols(), img.Rows()
	g := d.debug
	if g == nil || g.w != w || g.h != h {
		if g != nil {
			g.close()
		}
		zs := d.cfg.zones()
		polys := make([][][2]float64, len(zs))
		for i, z := range zs {
			polys[i] = z.Polygon
		}
		pts := scalePolys(polys, w, h)
		g = &debugDrawing{w: w, h: h,
			zones: gocv.NewPointsVectorFromPoints(pts),
			masks: gocv.NewPointsVectorFromPoints(scalePolys(d.cfg.Masks, w, h)),
			big:   gocv.NewMat(), in: gocv.NewMat(), blend: gocv.NewMat(),
			tint: gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3),
		}
		for _, p := range pts {
			top := p[0]
			for _, q := range p {
				if q.Y < top.Y || q.Y == top.Y && q.X < top.X {
					top = q
				}
			}
			g.names = append(g.names, image.Pt(top.X+4, top.Y+18))
		}
		d.debug = g
	}

	// Changed pixels, scaled up to the picture: red inside zones, blue outside.
	if !r.Relearned {
		for _, pass := range []struct {
			c    color.RGBA
			zone bool
		}{{outZoneTint, false}, {inZoneTint, true}} {
			if pass.zone {
				gocv.BitwiseAnd(d.fg, d.union, &g.in)
			} else {
				gocv.BitwiseNot(d.union, &g.in)
				gocv.BitwiseAnd(d.fg, g.in, &g.in)
			}
			gocv.Resize(g.in, &g.big, image.Pt(w, h), 0, 0, gocv.InterpolationNearestNeighbor)
			g.tint.SetTo(gocv.NewScalar(float64(pass.c.B), float64(pass.c.G), float64(pass.c.R), 0))
			gocv.AddWeighted(*img, 0.45, g.tint, 0.55, 0, &g.blend)
			g.blend.CopyToWithMask(img, g.big)
		}
	}
	if g.masks.Size() > 0 {
		gocv.Polylines(img, g.masks, true, maskColour, 2)
	}
	gocv.Polylines(img, g.zones, true, zoneColour, 2)
	for i, name := range d.cfg.ZoneNames() {
		gocv.PutText(img, name, g.names[i], gocv.FontHersheySimplex, 0.5, zoneColour, 1)
	}
	for _, b := range r.Boxes() {
		gocv.Rectangle(img, image.Rect(int(b[0]*float64(w)), int(b[1]*float64(h)),
			int(b[2]*float64(w))-1, int(b[3]*float64(h))-1), boxColour, 2)
	}
	if r.Relearned {
		label += " (background relearnt)"
	}
	size := gocv.GetTextSize(label, gocv.FontHersheySimplex, 0.5, 1)
	gocv.Rectangle(img, image.Rect(0, 0, size.X+8, size.Y+10), labelBackdrop, -1)
	gocv.PutText(img, label, image.Pt(4, size.Y+4), gocv.FontHersheySimplex, 0.5, labelColour, 1)
}
