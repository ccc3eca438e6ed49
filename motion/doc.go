// Package motion notices something moving inside the owner's zones, and
// nothing else: not a passing cloud, a porch lamp, the camera's day/night
// switch, sensor noise, the street outside the zones or a privacy-masked
// window.
//
// A Detector compares the luma (Y) plane of each frame with a background
// model and reports the changed share of each zone and the boxes of the
// changed regions. A Machine turns those per-frame results into motion_start
// and motion_end events, and a Runner does both on its own goroutine for the
// daemon, fed by the camera. Scan runs the same on a video file, for
// `doorbelld motion-scan`.
//
// The package compares pixels and nothing more. It does not detect or
// recognise faces or people, and no part of this module may: no cascade
// classifiers, HOG people detectors, neural networks or face APIs. The test
// TestNoFaceOrPersonDetection fails if any package of the module refers to
// them.
package motion
