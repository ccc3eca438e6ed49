package household

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"doorbell/wire"
)

// A clip that appears after newer ones, claiming an earlier time, is
// flagged once; clips that come in order are not (issue 13, item 4).
func TestPullFlagsAClipThatClaimsAnEarlierTime(t *testing.T) {
	dir := t.TempDir()
	h := func(hour int) time.Time { return time.Date(2026, 12, 1, hour, 0, 0, 0, time.UTC) }
	now := h(20)
	first := []wire.ClipEntry{{ID: "a", Hour: h(9)}, {ID: "b", Hour: h(11)}}
	if fl, err := checkSeen(dir, first, now); err != nil || len(fl) != 0 {
		t.Fatalf("first pull: %v %v", fl, err)
	}
	// Later, the same clips, one newer (fine) and one that claims 10:00.
	second := append(first, wire.ClipEntry{ID: "c", Hour: h(12)}, wire.ClipEntry{ID: "forged", Hour: h(10)})
	fl, err := checkSeen(dir, second, now)
	if err != nil || len(fl) != 1 || fl[0].ID != "forged" || !fl[0].LatestSeen.Equal(h(11)) {
		t.Fatalf("second pull: %+v %v", fl, err)
	}
	// Same hour as the newest seen: not flagged.
	if fl, _ := checkSeen(dir, append(second, wire.ClipEntry{ID: "d", Hour: h(12)}), now); len(fl) != 0 {
		t.Errorf("a clip of the newest hour flagged: %+v", fl)
	}
	data, _ := os.ReadFile(filepath.Join(dir, SeenFile))
	if !strings.Contains(string(data), `"flagged": true`) {
		t.Errorf("the record does not keep the flag:\n%s", data)
	}
	// A damaged record is an error that says what to do, not a silent reset.
	os.WriteFile(filepath.Join(dir, SeenFile), []byte("{"), 0o600)
	if _, err := checkSeen(dir, second, now); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("damaged record: %v", err)
	}
}
