// Command doorbell-encoder is doorbelld's H.264 encoder: raw I420 pictures
// in on stdin, H.264 Constrained Baseline out as RTP packets on fd 3 (a
// SOCK_SEQPACKET socket), the way doorbelld ran ffmpeg before. It links
// libx264 and nothing else of note, so it maps a fraction of ffmpeg's memory.
// doorbelld starts, feeds and restarts it (stream.FFmpeg); it is not meant
// to be run by hand.
//
//	doorbell-encoder -size 1280x720 -fps 30 -kbps 2000 -gop 15 3<>socket
package main

import (
	"flag"
	"fmt"
	"os"

	"doorbell/internal/x264"
)

func main() {
	size := flag.String("size", "", "picture size, WIDTHxHEIGHT")
	fps := flag.Float64("fps", 30, "frames per second")
	kbps := flag.Int("kbps", 2000, "bit rate, kbit/s")
	gop := flag.Int("gop", 15, "frames from one IDR picture to the next")
	mtu := flag.Int("mtu", 1200, "largest RTP packet, bytes")
	flag.Parse()
	if err := run(*size, *fps, *kbps, *gop, *mtu); err != nil {
		fmt.Fprintln(os.Stderr, "doorbell-encoder:", err)
		os.Exit(1)
	}
}

func run(size string, fps float64, kbps, gop, mtu int) error {
	var w, h int
	if _, err := fmt.Sscanf(size, "%dx%d", &w, &h); err != nil {
		return fmt.Errorf("-size %q is not WIDTHxHEIGHT; give e.g. -size 1280x720", size)
	}
	out := os.NewFile(3, "rtp")
	if _, err := out.Stat(); err != nil {
		return fmt.Errorf("fd 3, where the RTP packets go, is not open (%w); doorbelld passes a socket there", err)
	}
	enc, err := x264.New(x264.Config{Width: w, Height: h, FPS: fps, BitrateKbps: kbps, GOP: gop})
	if err != nil {
		return err
	}
	defer enc.Close()
	return enc.EncodeRTP(os.Stdin, out, mtu)
}
