// Package stream encodes the camera once and sends it live to every
// viewer: frames → Encoder (H.264) → Ring (recent access units) → Hub
// (WebRTC viewers) → WHEP (the HTTP signalling, token required).
//
//	ring := stream.NewRing(4 << 20)
//	enc, _ := stream.NewFFmpeg(stream.FFmpegConfig{Width: 1280, Height: 720, FPS: 30,
//		BitrateKbps: 2000, KeyframeInterval: 500 * time.Millisecond}, ring, log)
//	go enc.Run(ctx)              // and give it frames: enc is a camera.Sink
//	hub, _ := stream.NewHub(ring, stream.HubConfig{MaxViewers: 10})
//	(&stream.WHEP{Viewers: hub, Auth: tokens}).Handle(mux)
//
// The encoder is a subprocess: doorbell-encoder (cmd/doorbell-encoder,
// libx264 and nothing else: a fraction of ffmpeg's memory) or, for the
// Raspberry Pi 4's h264_v4l2m2m, ffmpeg. It makes H.264 Constrained Baseline with SPS and PPS before every IDR and
// a keyframe at least every second. It is restarted with backoff whenever
// it fails.
//
// A new viewer gets the current GOP from the ring at once, then live
// pictures, all written by one goroutine per viewer, so the browser has a
// decodable picture without waiting for the next keyframe. A clip recorder
// takes its pre-roll from the same ring: Ring.Subscribe(now minus the
// pre-roll, fn) returns the access units from a keyframe before then and
// passes on every new one.
//
// Who may watch is up to an Authorizer: see WHEP for the protocol and for
// how a browser connects.
package stream
