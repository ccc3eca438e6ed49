// Package cvbuild stops a build of the OpenCV parts without the build tag
// that keeps gocv to the OpenCV modules the doorbell uses (core and
// imgproc; imgcodecs too, unless the link drops it, as make's does): without
// it gocv links every module, face and people detectors among them. Every
// package that imports gocv imports this one. The Makefile sets the tag
// (GOFLAGS) for every build, test, bench and cross build.
package cvbuild

// Tags are the build tags every build of gocv's users needs.
const Tags = "gocv_specific_modules"
