// Package camera delivers raw frames from a camera (synthetic, file, V4L2 or
// rpicam-vid), keeps a failing camera restarting, and blacks out privacy masks.
package camera

import (
	"context"
	"fmt"
	"time"
)

// Frame is one picture in I420 (planar YUV 4:2:0): the Y plane (Width*Height
// bytes) followed by the U and V planes (Width/2 * Height/2 bytes each).
// Width and Height are always even.
type Frame struct {
	Data     []byte
	Width    int
	Height   int
	Seq      uint64    // counts frames from the source, starting at 0; gaps mean dropped frames
	Captured time.Time // when the light hit the sensor, as near as the source knows
}

// I420Size is the number of bytes of an I420 frame of w x h.
func I420Size(w, h int) int { return w*h + 2*(w/2)*(h/2) }

// NewFrame allocates an I420 frame of w x h, all black.
func NewFrame(w, h int) *Frame {
	f := &Frame{Width: w, Height: h, Data: make([]byte, I420Size(w, h))}
	f.Clear()
	return f
}

// Resize makes f hold a w x h picture, reusing its buffer when it is big enough.
func (f *Frame) Resize(w, h int) {
	n := I420Size(w, h)
	if cap(f.Data) < n {
		f.Data = make([]byte, n)
	}
	f.Data = f.Data[:n]
	f.Width, f.Height = w, h
}

// Clear paints the frame black (Y=16, U=V=128, video range).
func (f *Frame) Clear() {
	y := f.Width * f.Height
	for i := range f.Data[:y] {
		f.Data[i] = 16
	}
	for i := range f.Data[y:] {
		f.Data[y+i] = 128
	}
}

// Y is the luma plane: the grey picture, Width bytes a row.
func (f *Frame) Y() []byte { return f.Data[:f.Width*f.Height] }

// U is the blue-difference plane, Width/2 bytes a row.
func (f *Frame) U() []byte {
	y, c := f.Width*f.Height, (f.Width/2)*(f.Height/2)
	return f.Data[y : y+c]
}

// V is the red-difference plane, Width/2 bytes a row.
func (f *Frame) V() []byte {
	y, c := f.Width*f.Height, (f.Width/2)*(f.Height/2)
	return f.Data[y+c : y+2*c]
}

// CopyTo copies f into dst, reusing dst's buffer.
func (f *Frame) CopyTo(dst *Frame) {
	dst.Resize(f.Width, f.Height)
	copy(dst.Data, f.Data)
	dst.Seq, dst.Captured = f.Seq, f.Captured
}

// Source is a camera. Read fills f with the next frame, reusing f's buffer,
// and blocks until one is ready or ctx ends. A Source is used by one goroutine.
type Source interface {
	Read(ctx context.Context, f *Frame) error
	Close() error
}

// Opener opens a Source. The supervisor calls it again after every failure.
type Opener func(ctx context.Context) (Source, error)

// Sink receives frames. WriteFrame must not keep f after it returns: copy what
// is needed. It must return quickly; a slow consumer queues and drops itself.
type Sink interface {
	WriteFrame(f *Frame)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(f *Frame)

// WriteFrame calls s(f).
func (s SinkFunc) WriteFrame(f *Frame) { s(f) }

// CheckSize reports whether w x h is usable as an I420 frame.
func CheckSize(w, h int) error {
	if w <= 0 || h <= 0 || w%2 != 0 || h%2 != 0 {
		return fmt.Errorf("frame size %dx%d is not usable: width and height must be positive and even", w, h)
	}
	return nil
}
