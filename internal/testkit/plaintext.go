package testkit

import (
	"bytes"
	"image/jpeg"
)

// HoldsJPEG says whether b holds a JPEG picture: a start-of-image marker
// from which a JPEG header decodes. Ciphertext holds the three marker
// bytes by chance about once in 16 MiB (a clip of a few MiB often), so a
// check for the bytes alone would fail at random; a header that decodes
// does not happen by chance.
func HoldsJPEG(b []byte) bool {
	soi := []byte{0xFF, 0xD8, 0xFF}
	for i := bytes.Index(b, soi); i >= 0; {
		if _, err := jpeg.DecodeConfig(bytes.NewReader(b[i:])); err == nil {
			return true
		}
		j := bytes.Index(b[i+1:], soi)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}
