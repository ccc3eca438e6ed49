package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"doorbell/internal/testkit"
)

var clipRE = regexp.MustCompile(`clip=([a-z2-7]{26})`)

// sealedClip waits for the next "clip sealed" after mark and returns its id.
func (d *daemon) sealedClip(mark int) (string, int) {
	d.t.Helper()
	line, next := d.waitLogAfter(mark, `msg="clip sealed"`, 30*time.Second)
	return clipRE.FindStringSubmatch(line)[1], next
}

type listedJSON struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Duration  float64  `json:"duration"`
	Bytes     int64    `json:"bytes"`
	Status    string   `json:"status"`
	Zones     []string `json:"zones"`
	Signature string   `json:"signature"`
}

// TestHybridHousehold follows a post-quantum household: keys made with
// doorbell keygen, members added; a member removed between two events;
// this computer paired with doorbell device add; clips listed, pulled
// (resuming a cut-off download) and opened; the official age CLI opens
// them too; pins are enforced.
func TestHybridHousehold(t *testing.T) {
	t.Parallel()
	data, keys, home := t.TempDir(), t.TempDir(), t.TempDir()
	env := []string{"DOORBELL_CONFIG_DIR=" + home}
	alice, aliceKey := keygen(t, keys, "alice")
	bob, bobKey := keygen(t, keys, "bob")
	if !strings.HasPrefix(aliceKey, "age1pq1") {
		t.Fatalf("default key is not post-quantum: %.20s", aliceKey)
	}
	run(t, nil, 0, "doorbell", "member", "add", "-data", data, "alice", aliceKey)
	run(t, nil, 0, "doorbell", "member", "add", "-data", data, "bob", bobKey)

	d := startDaemon(t, data, writeConfig(t, 3))
	// While it records, nothing in the data dir is plaintext video, a
	// thumbnail or an event record.
	stop := make(chan struct{})
	during := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				during <- n
				return
			default:
			}
			if scanPlaintext(t, data) {
				n++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	first, mark := d.sealedClip(0)
	close(stop)
	if n := <-during; n < 3 {
		t.Errorf("only %d scans while a clip was recording", n)
	}
	// Bob leaves before the next event; the daemon notices within 2 s.
	removed := time.Now()
	run(t, nil, 0, "doorbell", "member", "remove", "-data", data, "bob")
	_, mark = d.waitLogAfter(mark, "household changed", 2*time.Second)
	if took := time.Since(removed); took > 2*time.Second {
		t.Errorf("member change picked up after %v", took)
	}
	second, _ := d.sealedClip(mark)

	if h, ok := d.health()["recording"].(map[string]any); !ok || h["members"] != 1.0 || h["clips_sealed"].(float64) < 2 {
		t.Errorf("healthz recording: %v", d.health()["recording"])
	}
	if n := d.metric("doorbell_clips_sealed_total"); n < 2 {
		t.Errorf("doorbell_clips_sealed_total = %v", n)
	}

	// No token, no clips.
	resp, err := insecure.Get("https://" + d.addr + "/api/clips")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /api/clips without a token: %v %v", resp.Status, err)
	}
	resp.Body.Close()

	// Pair this computer.
	out, _ := run(t, nil, 0, "doorbell", "member", "pair", "-data", data, "-json", "alice")
	var pc struct{ Code, Link string }
	json.Unmarshal([]byte(out), &pc)
	if !strings.Contains(pc.Link, "&id=") {
		t.Errorf("member pair made a link without the device ID: %s", pc.Link)
	}
	out, _ = run(t, env, 0, "doorbell", "device", "add", pc.Link) // checks the device ID before it sends the code
	if !strings.Contains(out, "Pinned its TLS certificate") || !strings.Contains(out, "ed25519:") {
		t.Errorf("device add said:\n%s", out)
	}
	fi, err := os.Stat(filepath.Join(home, "devices.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("devices.json: %v %v", fi, err)
	}

	// List: a table, then JSON lines.
	out, _ = run(t, env, 0, "doorbell", "clips", "list", "-i", alice)
	for _, id := range []string{first, second} {
		if !regexp.MustCompile(`motion +[0-9.]+ s +[0-9.]+ [kM]B +✓ +` + id).MatchString(out) {
			t.Errorf("clips list does not show %s as a signed motion event:\n%s", id, out)
		}
	}
	out, _ = run(t, env, 0, "doorbell", "clips", "list", "-json", "-i", alice)
	durations := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l listedJSON
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not JSON lines: %v\n%s", err, out)
		}
		if l.Signature != "ok" || l.Status != "complete" || l.Kind != "motion" || l.Bytes == 0 {
			t.Errorf("listed %+v", l)
		}
		durations[l.ID] = l.Duration
	}
	if len(durations) != 2 {
		t.Fatalf("listed %d clips, want 2:\n%s", len(durations), out)
	}
	// Bob was removed before the second event: his key opens one record only.
	_, errOut := run(t, env, 0, "doorbell", "clips", "list", "-i", bob)
	if !strings.Contains(errOut, "1 event(s) could not be opened") {
		t.Errorf("bob's list: %s", errOut)
	}

	// Pull, then pull again: nothing new.
	pulled := t.TempDir()
	out, _ = run(t, env, 0, "doorbell", "clips", "pull", pulled)
	if !strings.Contains(out, "Pulled 2 new clip(s)") {
		t.Errorf("pull: %s", out)
	}
	out, _ = run(t, env, 0, "doorbell", "clips", "pull", pulled)
	if !strings.Contains(out, "Pulled 0 new clip(s)") || !strings.Contains(out, "2 already") {
		t.Errorf("second pull: %s", out)
	}
	// A download cut off halfway resumes where it stopped.
	full, _ := os.ReadFile(filepath.Join(pulled, first+".mp4.age"))
	os.Remove(filepath.Join(pulled, first+".mp4.age"))
	os.WriteFile(filepath.Join(pulled, "."+first+".mp4.age.part"), full[:len(full)/2], 0o600)
	out, _ = run(t, env, 0, "doorbell", "clips", "pull", pulled)
	if want := fmt.Sprintf("Pulled 1 new clip(s), %s", sizeString(int64(len(full)-len(full)/2))); !strings.Contains(out, want) {
		t.Errorf("resumed pull said %q, want %q", out, want)
	}
	again, _ := os.ReadFile(filepath.Join(pulled, first+".mp4.age"))
	orig, _ := os.ReadFile(filepath.Join(data, "clips", first+".mp4.age"))
	if string(again) != string(orig) {
		t.Error("resumed download differs from the doorbell's clip")
	}
	// On a terminal, pull shows a progress bar.
	out = onTerminal(t, "", "DOORBELL_CONFIG_DIR="+home+" "+filepath.Join(bin(), "doorbell")+" clips pull "+t.TempDir())
	if !strings.Contains(out, "] 100%") || !strings.Contains(out, "Pulled 2 new clip(s)") {
		t.Errorf("pull on a terminal:\n%q", out)
	}
	// Listing the pulled directory works offline.
	out, _ = run(t, env, 0, "doorbell", "clips", "list", "-from", pulled, "-i", alice)
	if strings.Count(out, "✓") != 2 {
		t.Errorf("list of the pulled dir:\n%s", out)
	}

	// Open with the pinned key; ffprobe agrees with the record.
	for _, id := range []string{first, second} {
		mp4 := filepath.Join(t.TempDir(), id+".mp4")
		out, _ = run(t, env, 0, "doorbell", "clips", "open", "-i", alice, "-o", mp4, filepath.Join(pulled, id+".mp4.age"))
		if !strings.Contains(out, "verified: signed by the doorbell SHA256:") {
			t.Errorf("open %s: %s", id, out)
		}
		if got := ffprobeDuration(t, mp4); abs(got-durations[id]) > 0.5 {
			t.Errorf("clip %s: ffprobe %.2f s, record %.2f s", id, got, durations[id])
		}
	}
	// Default output name: the clip's without .age, in the current directory.
	cwd := t.TempDir()
	runIn(t, cwd, env, 0, "doorbell", "clips", "open", "-i", bob, filepath.Join(pulled, first+".mp4.age"))
	if _, err := os.Stat(filepath.Join(cwd, first+".mp4")); err != nil {
		t.Errorf("default output: %v", err)
	}
	// Bob cannot open the clip sealed after his removal, and nothing is left behind.
	bobOut := filepath.Join(t.TempDir(), "bob.mp4")
	_, errOut = run(t, env, 1, "doorbell", "clips", "open", "-i", bob, "-o", bobOut, filepath.Join(pulled, second+".mp4.age"))
	if !strings.Contains(errOut, "no identity matched: this clip was sealed to other keys") {
		t.Errorf("bob opening the later clip: %s", errOut)
	}
	if entries, _ := os.ReadDir(filepath.Dir(bobOut)); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}

	// The official age CLI (go.mod's version) opens a hybrid household's clip and record.
	ageOut := filepath.Join(t.TempDir(), "age.mp4")
	run(t, nil, 0, "age", "-d", "-i", alice, "-o", ageOut, filepath.Join(pulled, second+".mp4.age"))
	if got := ffprobeDuration(t, ageOut); abs(got-durations[second]) > 0.5 {
		t.Errorf("age -d: ffprobe %.2f s, record %.2f s", got, durations[second])
	}
	rec, _ := run(t, nil, 0, "age", "-d", "-i", alice, filepath.Join(pulled, second+".event.age"))
	var env2 struct {
		Record json.RawMessage `json:"record"`
		Sig    []byte          `json:"sig"`
	}
	if json.Unmarshal([]byte(rec), &env2) != nil || len(env2.Sig) != 64 || !strings.Contains(string(env2.Record), `"thumbnail"`) {
		t.Errorf("age -d of the record: %.300s", rec)
	}

	// Pins: a doorbell whose signing key or TLS key changed is refused.
	devs, _ := os.ReadFile(filepath.Join(home, "devices.json"))
	var ds map[string][]map[string]any
	json.Unmarshal(devs, &ds)
	for _, field := range []string{"signing_key", "tls_key_sha256"} {
		changed := deepCopy(ds)
		if field == "signing_key" {
			changed["devices"][0][field] = "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		} else {
			changed["devices"][0][field] = strings.Repeat("00", 32)
		}
		b, _ := json.Marshal(changed)
		os.WriteFile(filepath.Join(home, "devices.json"), b, 0o600)
		_, errOut = run(t, env, 1, "doorbell", "clips", "list", "-i", alice)
		if !strings.Contains(errOut, "the doorbell's identity changed") {
			t.Errorf("%s changed: %s", field, errOut)
		}
	}
	os.WriteFile(filepath.Join(home, "devices.json"), devs, 0o600)
	// Pairing again with a changed key is refused too.
	out, _ = run(t, nil, 0, "doorbell", "member", "pair", "-data", data, "-json", "alice")
	json.Unmarshal([]byte(out), &pc)
	changed := deepCopy(ds)
	changed["devices"][0]["signing_key"] = "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	b, _ := json.Marshal(changed)
	os.WriteFile(filepath.Join(home, "devices.json"), b, 0o600)
	_, errOut = run(t, env, 1, "doorbell", "device", "add", "https://"+d.addr, pc.Code)
	if !strings.Contains(errOut, "identity changed") || !strings.Contains(errOut, "device remove") {
		t.Errorf("re-pairing with a changed key: %s", errOut)
	}
}

// scanPlaintext fails the test if a file under dir holds the marks of
// plaintext MP4, JPEG or an event record; it reports whether a clip was
// being recorded (a partial clip file was there).
func scanPlaintext(t *testing.T, dir string) (recording bool) {
	filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		if strings.HasSuffix(path, ".partial") {
			recording = true
		}
		if filepath.Base(path) == "members.json" {
			return nil // public keys only, whose Bech32 may spell "mdat"
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, mark := range []string{"ftyp", "moof", "mdat", "avcC", "\xff\xd8\xff\xdb", "JFIF", `"kind"`, `"zones"`} {
			if strings.Contains(string(b), mark) {
				t.Errorf("%s holds %q: plaintext on disk", path, mark)
			}
		}
		return nil
	})
	return recording
}

func deepCopy(m map[string][]map[string]any) map[string][]map[string]any {
	b, _ := json.Marshal(m)
	var out map[string][]map[string]any
	json.Unmarshal(b, &out)
	return out
}

// sizeString is the CLI's size format.
func sizeString(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// TestNoMembersThenAClassicHousehold: with no members the daemon streams
// but records nothing, and says so; a classic member added while it runs
// is picked up within 2 s, and Debian's age opens the clip.
func TestNoMembersThenAClassicHousehold(t *testing.T) {
	t.Parallel()
	data, keys := t.TempDir(), t.TempDir()
	d := startDaemon(t, data, writeConfig(t, 3))
	d.waitLog("recording is disabled: the household has no members", time.Second)
	if h := d.health(); h["recording"] != "disabled: no members" {
		t.Errorf(`healthz "recording" = %v`, h["recording"])
	}
	_, mark := d.waitLogAfter(0, "motion started", 20*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if entries, _ := os.ReadDir(filepath.Join(data, "clips")); len(entries) != 0 {
		t.Errorf("files recorded with no members: %v", entries)
	}
	if st, ok := d.health()["stream"].(map[string]any); !ok || st["encoder"].(map[string]any)["state"] != "running" {
		t.Errorf("not streaming: %v", d.health()["stream"])
	}

	carol, carolKey := keygen(t, keys, "carol", "-classic")
	if !strings.HasPrefix(carolKey, "age1") || strings.HasPrefix(carolKey, "age1pq1") {
		t.Fatalf("-classic made %.20s", carolKey)
	}
	added := time.Now()
	run(t, nil, 0, "doorbell", "member", "add", "-data", data, "carol", carolKey)
	testkit.Eventually(t, 30*time.Second, "the new member picked up", func() bool { return d.health()["recording"] != "disabled: no members" })
	t.Logf("the new member was picked up %v after being added", time.Since(added).Round(10*time.Millisecond))
	// A hybrid key cannot join a classic household.
	_, hybrid := keygen(t, keys, "dave")
	_, errOut := run(t, nil, 1, "doorbell", "member", "add", "-data", data, "dave", hybrid)
	if !strings.Contains(errOut, "age refuses to mix") {
		t.Errorf("mixing: %s", errOut)
	}

	id, _ := d.sealedClip(mark)
	// Debian's age (no post-quantum support) opens a classic household's clip.
	mp4 := filepath.Join(t.TempDir(), "clip.mp4")
	run(t, nil, 0, "/usr/bin/age", "-d", "-i", carol, "-o", mp4, filepath.Join(data, "clips", id+".mp4.age"))
	if got := ffprobeDuration(t, mp4); got < 2 || got > 3.1 {
		t.Errorf("clip lasts %.2f s, want about 3 (max_length)", got)
	}
	run(t, nil, 0, "/usr/bin/age", "-d", "-i", carol, "-o", os.DevNull, filepath.Join(data, "clips", id+".event.age"))
	out, err := exec.Command("/usr/bin/age", "--version").CombinedOutput()
	t.Logf("Debian age %s (%v)", strings.TrimSpace(string(out)), err)
}

var openCmdRE = regexp.MustCompile(`(?m)^  (\S*doorbell clips open .*)$`)

// TestDemo: doorbelld -demo makes a demo member, records the synthetic
// visitor within 30 s, and prints the command that opens the clip.
func TestDemo(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "demo.toml")
	// The demo's defaults (a visitor every 30 s), on a small picture.
	os.WriteFile(cfg, []byte("[http]\nlisten = \"127.0.0.1:0\"\n[camera]\nwidth = 320\nheight = 240\nfps = 15\n[gpio]\nenabled = false\n"), 0o600)
	start := time.Now()
	d := startDaemon(t, data, cfg, "-demo")
	if fi, err := os.Stat(filepath.Join(data, "demo-identity.txt")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("demo identity: %v", err)
	}
	var cmdline string
	// The demo's first visitor comes within its 30 s period.
	testkit.EventuallyNil(t, 90*time.Second, "a clip's open command on the demo's output", func() error {
		if m := openCmdRE.FindStringSubmatch(d.stdout()); m != nil {
			cmdline = m[1]
			return nil
		}
		return fmt.Errorf("stdout:\n%s\nlog:\n%s", d.stdout(), d.log())
	})
	t.Logf("first clip after %v: %s", time.Since(start).Round(100*time.Millisecond), cmdline)
	if strings.Contains(d.log(), "clips open") {
		t.Error("the open command went to the log; it belongs on standard output")
	}
	args := strings.Fields(cmdline)[1:]
	mp4 := filepath.Join(t.TempDir(), "demo.mp4")
	out, _ := run(t, nil, 0, "doorbell", append(args, "-o", mp4)...)
	if !strings.Contains(out, "verified:") {
		t.Errorf("demo clip: %s", out)
	}
	ffprobeDuration(t, mp4)
	// The official age CLI opens it with the demo identity (post-quantum).
	clip := args[len(args)-1]
	run(t, nil, 0, "age", "-d", "-i", filepath.Join(data, "demo-identity.txt"), "-o", os.DevNull, clip)
}
