package testkit

import (
	"bytes"
	"crypto/rand"
	"image"
	"image/jpeg"
	"testing"
)

func TestHoldsJPEG(t *testing.T) {
	var pic bytes.Buffer
	if err := jpeg.Encode(&pic, image.NewGray(image.Rect(0, 0, 16, 16)), nil); err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 1<<16)
	rand.Read(noise)
	// Noise with the marker bytes in it, as ciphertext has by chance.
	copy(noise[100:], []byte{0xFF, 0xD8, 0xFF, 0xDB})
	if HoldsJPEG(noise) {
		t.Error("noise with a start-of-image marker counts as a JPEG")
	}
	if !HoldsJPEG(append(noise, pic.Bytes()...)) {
		t.Error("a JPEG after noise is not found")
	}
	if !HoldsJPEG(pic.Bytes()) {
		t.Error("a JPEG is not found")
	}
}
