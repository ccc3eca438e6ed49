package e2e

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// noTemporaries fails if the clips directory holds anything but finished
// clips and records.
func noTemporaries(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left after a restart", e.Name())
		}
	}
}

var (
	truncatedRE = regexp.MustCompile(`truncated: recovered ([0-9.]+) s`)
	durationRE  = regexp.MustCompile(`\(([0-9.]+) s\)`)
)

// TestSIGKILLWhileRecording kills the daemon at random moments while it
// records, 22 times, with a few clips let finish in between. Every clip,
// finished or cut off, must still open and verify; a cut-off one opens as
// a playable prefix ("truncated: recovered N s"); temporary files are gone
// after each restart.
func TestSIGKILLWhileRecording(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	clips := filepath.Join(data, "clips")
	cfg := writeConfig(t, 4)
	key, recipient := keygen(t, t.TempDir(), "alice")
	run(t, nil, 0, "doorbell", "member", "add", "-data", data, "alice", recipient)

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const kills = 22
	killed, finished := 0, 0
	for cycle := 0; killed < kills; cycle++ {
		d := startDaemon(t, data, cfg)
		// Recovery ran before the daemon listened, and nothing records yet.
		noTemporaries(t, clips)
		line, at := d.waitLogAfter(0, "msg=recording", 30*time.Second)
		if cycle%6 == 5 {
			// Now and then a clip is let finish: earlier complete clips
			// must survive the later kills too.
			d.waitLogAfter(at, `msg="clip sealed"`, 15*time.Second)
			finished++
			d.kill()
			continue
		}
		// The pre-roll is sealed at once; kill between 0.3 s and 1.4 s,
		// before the clip ends (4 s with the pre-roll: 2 to 2.5 s after
		// the event).
		time.Sleep(300*time.Millisecond + time.Duration(rng.Int64N(int64(1100*time.Millisecond))))
		d.kill()
		id := clipRE.FindStringSubmatch(line)[1]
		if strings.Contains(d.log(), `msg="clip sealed" part=recorder clip=`+id) {
			finished++ // it ended before the kill (a very slow machine): not a kill while recording
		} else {
			killed++
		}
	}
	last := startDaemon(t, data, cfg)
	noTemporaries(t, clips)
	last.kill()

	ids := clipsIn(t, clips)
	if len(ids) != kills+finished {
		t.Errorf("%d clips after %d kills and %d finished clips", len(ids), kills, finished)
	}
	out := t.TempDir()
	truncated, complete := 0, 0
	for _, id := range ids {
		mp4 := filepath.Join(out, id+".mp4")
		stdout, _ := run(t, nil, 0, "doorbell", "clips", "open", "-data", data, "-i", key, "-o", mp4, filepath.Join(clips, id+".mp4.age"))
		if !strings.Contains(stdout, "verified:") {
			t.Errorf("clip %s: not verified:\n%s", id, stdout)
		}
		got := ffprobeDuration(t, mp4)
		if m := truncatedRE.FindStringSubmatch(stdout); m != nil {
			truncated++
			n, _ := strconv.ParseFloat(m[1], 64)
			if n < 0.5 || abs(got-n) > 0.5 {
				t.Errorf("clip %s: recovered %.1f s, ffprobe says %.2f s", id, n, got)
			}
			continue
		}
		complete++
		m := durationRE.FindStringSubmatch(stdout)
		if m == nil {
			t.Errorf("clip %s: no duration in %q", id, stdout)
			continue
		}
		want, _ := strconv.ParseFloat(m[1], 64)
		if abs(got-want) > 0.5 {
			t.Errorf("clip %s: record says %.1f s, ffprobe %.2f s", id, want, got)
		}
	}
	t.Logf("%d kills while recording: %d clips cut off, %d complete", killed, truncated, complete)
	// A kill may land while a clip is being sealed: it then opens whole.
	if truncated < kills-2 || truncated+complete != kills+finished {
		t.Errorf("%d clips cut off, %d complete, after %d kills while recording and %d finished clips", truncated, complete, kills, finished)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
