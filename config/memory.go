package config

// Memory bounds the daemon's Go memory. The defaults fit a Raspberry Pi
// Zero 2 W (512 MB for everything): the heap grows by half, not double,
// before a collection, and the collector works harder near the limit. The
// limit sits above the heap that ten viewers need (about 30 MiB with
// eight), so that it bounds a burst without making the collector spin. The GOMEMLIMIT
// and GOGC environment variables, when set, win over the file.
type Memory struct {
	// LimitBytes is Go's soft memory limit (runtime/debug.SetMemoryLimit):
	// the heap, stacks and runtime, not the libraries mapped or C memory.
	// 0: no limit.
	LimitBytes int64 `toml:"limit_bytes"`
	// GCPercent is the heap growth that starts a collection (GOGC); -1 turns
	// it off, leaving only the limit.
	GCPercent int `toml:"gc_percent"`
}

func defaultMemory() Memory {
	return Memory{LimitBytes: 64 << 20, GCPercent: 50}
}

func (m *Memory) validate(v *validator) {
	if m.LimitBytes != 0 && m.LimitBytes < 16<<20 {
		v.errorf("memory.limit_bytes", "memory.limit_bytes is %d; use 0 (no limit) or at least %d (16 MiB), e.g. %d (64 MiB)", m.LimitBytes, 16<<20, 64<<20)
	}
	if m.GCPercent < -1 || m.GCPercent == 0 || m.GCPercent > 1000 {
		v.errorf("memory.gc_percent", "memory.gc_percent is %d; use 1 to 1000 (e.g. 50), or -1 to collect only at memory.limit_bytes", m.GCPercent)
	}
	if m.GCPercent == -1 && m.LimitBytes == 0 {
		v.errorf("memory.gc_percent", "memory.gc_percent is -1 with no memory.limit_bytes: the heap would grow without bound; set memory.limit_bytes, e.g. %d (64 MiB)", 64<<20)
	}
}
