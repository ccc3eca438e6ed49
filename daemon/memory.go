package daemon

import (
	"log/slog"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"

	"doorbell/config"
)

// ApplyMemory sets the Go runtime's memory limit and GC target from m, for
// the whole process. GOMEMLIMIT and GOGC in the environment, which the
// runtime has already applied, win: they are the operator's explicit choice.
func ApplyMemory(m config.Memory, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") == "" && m.LimitBytes > 0 {
		debug.SetMemoryLimit(m.LimitBytes)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(m.GCPercent)
	}
	s := []rtmetrics.Sample{{Name: "/gc/gomemlimit:bytes"}, {Name: "/gc/gogc:percent"}}
	rtmetrics.Read(s)
	log.Debug("go memory", "limit_bytes", s[0].Value.Uint64(), "gc_percent", s[1].Value.Uint64())
}
