// Package cvbuild stops a build of the OpenCV parts without the build tags
// that keep gocv to the four OpenCV modules the doorbell uses (core,
// imgproc, imgcodecs, videoio): without them gocv links every module,
// face and people detectors among them. Every package that imports gocv
// imports this one. The Makefile sets the tags (GOFLAGS) for every build,
// test, bench and cross build.
package cvbuild

// Tags are the build tags every build of gocv's users needs.
const Tags = "gocv_specific_modules,gocv_videoio"
