// Package termqr draws QR codes in a terminal, for the household CLI's
// pairing links and setup cards.
package termqr

import (
	"io"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// Write draws a QR code of text in w with half-block characters, two
// modules per character cell, with the quiet zone around it. With color,
// ANSI escapes force black modules on white, which scans in any terminal
// theme; without, dark modules are drawn as blocks, which is right on a
// light background and on paper.
func Write(w io.Writer, text string, color bool) error {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, Render(q.Bitmap(), color))
	return err
}

// Render draws a module bitmap (true: dark) as Write does.
func Render(bitmap [][]bool, color bool) string {
	var b strings.Builder
	dark := func(y, x int) bool { return y < len(bitmap) && x < len(bitmap[y]) && bitmap[y][x] }
	for y := 0; y < len(bitmap); y += 2 {
		if color {
			b.WriteString("\x1b[30;107m") // black on bright white
		}
		for x := range bitmap[y] {
			top, bottom := dark(y, x), dark(y+1, x)
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		if color {
			b.WriteString("\x1b[0m")
		}
		b.WriteString("\n")
	}
	return b.String()
}
