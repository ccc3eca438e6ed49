//go:build !nolibopusfile

package stream

// A build without the tag fails here, and the compiler's message says how
// to build. (One literal, so that the message shows it whole.)
var _ int = "doorbell: build with make (make build, make test), or with GOFLAGS=-tags=gocv_specific_modules,nolibopusfile go build/test ./...; without nolibopusfile the Opus binding also links libopusfile, which the doorbell does not use"
