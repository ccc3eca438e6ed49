package daemon

import (
	"log/slog"
	"runtime/debug"
	"testing"

	"doorbell/config"
)

func TestApplyMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("changes the test process's GC settings")
	}
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	oldLimit, oldGC := debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(oldLimit); debug.SetGCPercent(oldGC) })

	ApplyMemory(config.Memory{LimitBytes: 40 << 20, GCPercent: 50}, slog.New(slog.DiscardHandler))
	if got := debug.SetMemoryLimit(-1); got != 40<<20 {
		t.Errorf("memory limit %d, want %d", got, 40<<20)
	}
	if got := debug.SetGCPercent(50); got != 50 {
		t.Errorf("GC percent %d, want 50", got)
	}

	// The environment wins.
	debug.SetMemoryLimit(1 << 30)
	t.Setenv("GOMEMLIMIT", "1GiB")
	t.Setenv("GOGC", "100")
	debug.SetGCPercent(100)
	ApplyMemory(config.Memory{LimitBytes: 40 << 20, GCPercent: 50}, slog.New(slog.DiscardHandler))
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("with GOMEMLIMIT set: memory limit %d, want %d", got, 1<<30)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set: GC percent %d, want 100", got)
	}
}
