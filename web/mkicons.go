//go:build ignore

// mkicons draws the app's icons into static/: go run mkicons.go (from web/),
// or into another directory: go run mkicons.go -o DIR (TestIconsMatchTheirSource).
// A doorbell: a light plate with an orange button, on the app's dark blue.
package main

import (
	"flag"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"
)

var (
	bg     = color.NRGBA{0x10, 0x18, 0x20, 0xff}
	plate  = color.NRGBA{0xee, 0xee, 0xee, 0xff}
	button = color.NRGBA{0xe6, 0x55, 0x22, 0xff}
)

// inRoundRect reports whether (x, y) lies in the rectangle centred on (cx,
// cy) of half-size (hw, hh) with corner radius r.
func inRoundRect(x, y, cx, cy, hw, hh, r float64) bool {
	dx := math.Max(math.Abs(x-cx)-(hw-r), 0)
	dy := math.Max(math.Abs(y-cy)-(hh-r), 0)
	return dx*dx+dy*dy <= r*r
}

// draw makes a size×size icon; scale is the drawing's size within it (1
// for "any", smaller for "maskable", whose corners a launcher may cut),
// and rounded gives the background round corners.
func draw(size int, scale float64, rounded bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4 // supersampling, for smooth edges
	s := float64(size)
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss) / s
					y := (float64(py) + (float64(sy)+0.5)/ss) / s
					c := color.NRGBA{}
					if !rounded || inRoundRect(x, y, .5, .5, .5, .5, .18) {
						c = bg
					}
					u, v := .5+(x-.5)/scale, .5+(y-.5)/scale
					if inRoundRect(u, v, .5, .5, .22, .36, .12) {
						c = plate
					}
					if (u-.5)*(u-.5)+(v-.58)*(v-.58) <= .12*.12 {
						c = button
					}
					if inRoundRect(u, v, .5, .3, .1, .025, .025) { // the name slot
						c = bg
					}
					fa := float64(c.A) / 255
					r, g, b, a = r+float64(c.R)*fa, g+float64(c.G)*fa, b+float64(c.B)*fa, a+fa
				}
			}
			n := float64(ss * ss)
			if a > 0 {
				img.SetNRGBA(px, py, color.NRGBA{uint8(r / a), uint8(g / a), uint8(b / a), uint8(255 * a / n)})
			}
		}
	}
	return img
}

func write(name string, img image.Image) {
	f, err := os.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func main() {
	out := flag.String("o", "static", "the directory to write the icons to")
	flag.Parse()
	write(filepath.Join(*out, "icon-192.png"), draw(192, 1, true))
	write(filepath.Join(*out, "icon-512.png"), draw(512, 1, true))
	write(filepath.Join(*out, "icon-maskable-512.png"), draw(512, .8, false))
}
