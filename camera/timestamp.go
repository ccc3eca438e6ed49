package camera

import "time"

// The time strip: a row of black and white blocks along the top of the
// picture that carries the capture time, so a viewer can measure
// glass-to-glass latency by reading it back from the decoded picture.
// Blocks, from the left: the marker bits 1 0, then stampBits bits of Unix
// milliseconds (most significant first), then 4 check bits (the count of
// set time bits, mod 16). Blocks are large enough to survive H.264.
const (
	stampBits   = 44 // Unix milliseconds fit in 44 bits until the year 2527
	stampBlocks = 2 + stampBits + 4
	stampWhite  = 235
	stampBlack  = 16
)

// StampGeometry returns the width of one block and the strip's height, in pixels.
func StampGeometry(width, height int) (block, strip int) {
	block = width / stampBlocks
	strip = max(height/40, 8)
	strip += strip % 2
	return block, strip
}

// StampTime writes t into f's time strip.
func StampTime(f *Frame, t time.Time) {
	block, strip := StampGeometry(f.Width, f.Height)
	bits := stampBitsFor(t.UnixMilli())
	y := f.Y()
	for r := 0; r < strip && r < f.Height; r++ {
		row := y[r*f.Width : (r+1)*f.Width]
		for b := 0; b < stampBlocks; b++ {
			v := byte(stampBlack)
			if bits[b] {
				v = stampWhite
			}
			seg := row[b*block : (b+1)*block]
			for i := range seg {
				seg[i] = v
			}
		}
	}
	// Neutral chroma under the strip keeps the blocks pure grey after encoding.
	cw := f.Width / 2
	u, v := f.U(), f.V()
	for r := 0; r < strip/2; r++ {
		for c := 0; c < stampBlocks*block/2; c++ {
			u[r*cw+c], v[r*cw+c] = 128, 128
		}
	}
}

// ReadTimestamp reads the time strip back from a Y plane, such as one decoded
// by a viewer. It returns false if there is no valid strip.
func ReadTimestamp(y []byte, width, height int) (time.Time, bool) {
	_, strip := StampGeometry(width, height)
	if len(y) < width*strip {
		return time.Time{}, false
	}
	return ReadTimestampRow(y[(strip/2)*width:(strip/2+1)*width], width, height)
}

// ReadTimestampRow reads the time strip back from its middle row alone
// (row strip/2 of StampGeometry), which is all a page needs to read back
// from the picture it shows.
func ReadTimestampRow(row []byte, width, height int) (time.Time, bool) {
	block, _ := StampGeometry(width, height)
	if block < 2 || len(row) < stampBlocks*block {
		return time.Time{}, false
	}
	var bits [stampBlocks]bool
	for b := range bits {
		bits[b] = row[b*block+block/2] >= 128
	}
	if !bits[0] || bits[1] {
		return time.Time{}, false
	}
	var ms int64
	for _, bit := range bits[2 : 2+stampBits] {
		ms <<= 1
		if bit {
			ms |= 1
		}
	}
	if stampBitsFor(ms) != bits {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

func stampBitsFor(ms int64) [stampBlocks]bool {
	var bits [stampBlocks]bool
	bits[0] = true
	ones := 0
	for i := 0; i < stampBits; i++ {
		if ms>>(stampBits-1-i)&1 == 1 {
			bits[2+i] = true
			ones++
		}
	}
	for i := 0; i < 4; i++ {
		bits[2+stampBits+i] = (ones>>(3-i))&1 == 1
	}
	return bits
}
