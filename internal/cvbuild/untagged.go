//go:build !gocv_specific_modules

package cvbuild

// A build without the tag fails here, and the compiler's message says how
// to build. (One literal, so that the message shows it whole.)
var _ int = "doorbell: build with make (make build, make test), or with GOFLAGS=-tags=gocv_specific_modules,nolibopusfile go build/test ./...; gocv without this tag links every OpenCV module, face and people detectors among them"
