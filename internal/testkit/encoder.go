package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// Encoder is doorbell-encoder, the live view's libx264 encoder, which
// stream.FFmpeg runs by name. Build it with Main (next to a doorbelld
// built there too, where doorbelld looks first) or, for code under test in
// this process, with OnPath.
var Encoder = &Binary{Name: "doorbell-encoder", Package: "doorbell/cmd/doorbell-encoder"}

// OnPath wraps m so that its Run first builds the binaries into a
// temporary directory put first on $PATH: the code under test finds them by
// name. It suits goleak.VerifyTestMain, which wants to run m itself. A
// failed build fails the run, with go build's output, before any test.
func OnPath(m *testing.M, bins ...*Binary) interface{ Run() int } {
	return onPath{m, bins}
}

type onPath struct {
	m    *testing.M
	bins []*Binary
}

func (o onPath) Run() int {
	return run(runner(func() int {
		os.Setenv("PATH", filepath.Dir(o.bins[0].path)+string(os.PathListSeparator)+os.Getenv("PATH"))
		return o.m.Run()
	}), o.bins)
}

type runner func() int

func (r runner) Run() int { return r() }
