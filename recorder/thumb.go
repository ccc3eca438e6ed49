package recorder

import (
	"bytes"
	"image"
	"image/jpeg"

	"doorbell/camera"
)

// smallFrame is a scaled-down copy of one frame, kept in memory only until
// it is sealed into the event record as a JPEG.
type smallFrame struct {
	img *image.YCbCr
}

// scaleDown copies f at width w (nearest neighbour), its height following
// the aspect ratio, both even. Luma is stretched from video range (16–235)
// to the full range JPEG expects.
func scaleDown(f *camera.Frame, w int) *smallFrame {
	w = min(w, f.Width) &^ 1
	h := max(2, (f.Height*w/f.Width)&^1)
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	fy := f.Y()
	for y := range h {
		sy := y * f.Height / h
		row := fy[sy*f.Width:]
		out := img.Y[y*img.YStride:]
		for x := range w {
			v := (int(row[x*f.Width/w]) - 16) * 255 / 219
			out[x] = byte(min(max(v, 0), 255))
		}
	}
	fu, fv := f.U(), f.V()
	cw, ch := f.Width/2, f.Height/2
	for y := range h / 2 {
		sy := y * ch / (h / 2)
		for x := range w / 2 {
			sx := x * cw / (w / 2)
			img.Cb[y*img.CStride+x] = fu[sy*cw+sx]
			img.Cr[y*img.CStride+x] = fv[sy*cw+sx]
		}
	}
	return &smallFrame{img: img}
}

func (s *smallFrame) jpeg() ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, s.img, &jpeg.Options{Quality: 75}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
