package daemon

import "context"

// startMotion wires motion detection into the daemon. (Owned by the motion work.)
func (d *Daemon) startMotion(ctx context.Context) error { return nil }
