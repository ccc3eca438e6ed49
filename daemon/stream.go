package daemon

import "context"

// startStream wires the encoder, GOP ring, viewer hub and WHEP into the daemon. (Owned by the live-view stream work.)
func (d *Daemon) startStream(ctx context.Context) error { return nil }
