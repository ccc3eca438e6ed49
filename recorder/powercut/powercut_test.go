// Package powercut cuts the power under the recorder for real: the recorder
// and the clip store run inside a virtual machine (qemu-system-x86_64, TCG)
// writing to a virtio disk, and qemu is killed with SIGKILL at random
// moments. Unlike a SIGKILL of the daemon, which keeps the page cache, this
// loses everything the guest did not fsync: the guest's dirty-page
// writeback is turned off and ext4 commits its journal only when asked, so
// a missing fsync shows. After each cut the disk image is checked: every
// clip the recorder reported sealed opens and verifies, the interrupted
// clip opens up to its last checkpoint, nothing that claims to be complete
// is corrupt, and the next start cleans up.
//
// The same test binary is the guest's program (DOORBELL_POWERCUT_GUEST=1).
// Needs qemu-system-x86, busybox-static, e2fsprogs and ffmpeg (deploy/setup.sh);
// the Debian cloud kernel is fetched once with apt-get download.
// DOORBELL_POWERCUT_CUTS sets how many cuts (4 by default, as in make test;
// make powercut: 30). Each cut is a boot: about 5 s on an idle machine.
package powercut

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"doorbell/clipstore"
	"doorbell/crypto/clip"
	"doorbell/crypto/members"
	"doorbell/devicekey"
	"doorbell/events"
	"doorbell/recorder"
	"doorbell/stream"
)

const (
	kernelPackage = "linux-image-6.1.0-57-cloud-amd64"
	kernelVersion = "6.1.0-57-cloud-amd64"
	fps           = 15
	syncInterval  = time.Second
	maxFragment   = time.Second
)

func TestMain(m *testing.M) {
	if os.Getenv("DOORBELL_POWERCUT_GUEST") == "1" {
		os.Exit(guest())
	}
	os.Exit(m.Run())
}

// guest is the program inside the virtual machine: it cleans up after the
// last cut as the daemon does on start, then records clip after clip to
// /data, saying on the console what it did.
func guest() int {
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	say := func(format string, args ...any) { fmt.Printf("powercut: "+format+"\n", args...) }
	data := "/data"
	store, err := clipstore.Open(data)
	if err != nil {
		say("error %v", err)
		return 1
	}
	rec, err := store.Recover()
	if err != nil {
		say("error recover: %v", err)
		return 1
	}
	entries, _ := os.ReadDir(store.Dir())
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	say("recovered kept=%d removed=%d files=%s", len(rec.Clips), len(rec.Removed), strings.Join(names, ","))
	key, err := devicekey.Load(data)
	if err != nil {
		say("error %v", err)
		return 1
	}
	reg, err := members.Load(data)
	if err != nil || reg.Len() == 0 {
		say("error members: %v", err)
		return 1
	}
	aus, err := readAnnexB("/video.h264")
	if err != nil {
		say("error %v", err)
		return 1
	}
	ring := stream.NewRing(8 << 20)
	r := recorder.New(recorder.Config{PreRoll: time.Second, PostRoll: 500 * time.Millisecond, MaxLength: 20 * time.Second,
		OnMotion: true, FPS: fps, MaxFragment: maxFragment, SyncInterval: syncInterval},
		ring, store, key, func() *members.Registry { return reg }, func(events.Event) {}, log)
	evs := make(chan events.Event, 8)
	go r.Run(context.Background(), evs)

	// The camera: the clip's pictures in a loop, stamped when they are
	// given (a slow guest gives fewer, never older ones). Every quarter of a
	// second it says how long ago the clip started: that much video, plus
	// the pre-roll, went to the recorder.
	tick := time.NewTicker(time.Second / fps)
	next := 0
	var trigger time.Time
	lastSaid := time.Now()
	feed := func(n int) {
		for range n {
			<-tick.C
			now := time.Now()
			ring.WriteAccessUnit(stream.NewAccessUnit(aus[next%len(aus)], now, uint64(next)))
			next++
			if !trigger.IsZero() && now.Sub(lastSaid) >= 250*time.Millisecond {
				say("fed since_trigger_s=%.2f", now.Sub(trigger).Seconds())
				lastSaid = now
			}
		}
	}
	feed(2 * fps) // the pre-roll's ring
	for id := uint64(1); ; id++ {
		trigger = time.Now()
		evs <- events.Event{Kind: events.MotionStart, ID: id, Time: trigger}
		feed(2 * fps)
		evs <- events.Event{Kind: events.MotionEnd, ID: id, Time: time.Now()}
		feed(fps)
	}
}

// readAnnexB splits an H.264 Annex-B stream made with access unit
// delimiters into access units of NAL units.
func readAnnexB(path string) ([][][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var nalus [][]byte
	for _, part := range bytes.Split(b, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00")
		if len(part) > 0 {
			nalus = append(nalus, part)
		}
	}
	var aus [][][]byte
	for _, n := range nalus {
		if n[0]&0x1f == 9 { // access unit delimiter
			aus = append(aus, nil)
			continue
		}
		if len(aus) == 0 {
			aus = append(aus, nil)
		}
		aus[len(aus)-1] = append(aus[len(aus)-1], n)
	}
	if len(aus) < fps {
		return nil, fmt.Errorf("%s: only %d access units", path, len(aus))
	}
	return aus, nil
}

// vm is what the host needs to boot the guest.
type vm struct {
	kernel, initrd, disk string
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing; run deploy/setup.sh", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// cloudKernel unpacks Debian's cloud kernel (fetched once) into the cache.
func cloudKernel(t *testing.T) string {
	t.Helper()
	cache := filepath.Join(os.Getenv("DOORBELL_CACHE"), "powercut")
	if os.Getenv("DOORBELL_CACHE") == "" {
		cache = "/var/cache/doorbell/powercut"
	}
	dir := filepath.Join(cache, kernelPackage)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	debs, _ := filepath.Glob(filepath.Join(cache, kernelPackage+"_*.deb"))
	if len(debs) == 0 {
		cmd := exec.Command("apt-get", "download", kernelPackage)
		cmd.Dir = cache
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get download %s (Debian's cloud kernel, for the guest): %v\n%s", kernelPackage, err, out)
		}
		debs, _ = filepath.Glob(filepath.Join(cache, kernelPackage+"_*.deb"))
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	run(t, "dpkg-deb", "-x", debs[0], tmp)
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The guest's /init: the virtio disk, no dirty-page writeback (unsynced
// data stays in the guest's memory, and is lost at the cut), ext4 with a
// journal commit only when something asks for it.
const initScript = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /data
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do /bin/busybox insmod /mod/$m.ko; done
echo 0 > /proc/sys/vm/dirty_writeback_centisecs
echo 360000 > /proc/sys/vm/dirty_expire_centisecs
echo 90 > /proc/sys/vm/dirty_background_ratio
echo 90 > /proc/sys/vm/dirty_ratio
/bin/busybox mount -t ext4 -o commit=3600 /dev/vda /data || { echo "powercut: error mount"; /bin/busybox poweroff -f; }
echo "powercut: booted"
DOORBELL_POWERCUT_GUEST=1 /guest
echo "powercut: guest exited $?"
/bin/busybox poweroff -f
`

// initramfs writes a gzipped newc cpio archive of files (name → path on
// this machine, or contents for names ending in "=").
func initramfs(t *testing.T, out string, files map[string]string, contents map[string]string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z := gzip.NewWriter(f)
	ino := 1
	entry := func(name string, mode uint32, data []byte) {
		fmt.Fprintf(z, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		ino++
		z.Write(append([]byte(name), 0))
		pad := func(n int) { z.Write(make([]byte, (4-n%4)%4)) }
		pad(110 + len(name) + 1)
		z.Write(data)
		pad(len(data))
	}
	dirs := map[string]bool{}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	for n := range contents {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for d := filepath.Dir(n); d != "."; d = filepath.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
			}
		}
	}
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	for _, d := range ds {
		entry(d, 0o040755, nil)
	}
	for _, n := range names {
		var data []byte
		if p, ok := files[n]; ok {
			if data, err = os.ReadFile(p); err != nil {
				t.Fatal(err)
			}
		} else {
			data = []byte(contents[n])
		}
		entry(n, 0o100755, data)
	}
	entry("TRAILER!!!", 0, nil)
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
}

// boot starts the guest; lines gets its console, line by line.
func (v vm) boot(t *testing.T, lines chan<- string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("qemu-system-x86_64", "-machine", "q35,accel=tcg", "-cpu", "max", "-m", "512", "-smp", "1",
		"-nographic", "-no-reboot", "-nic", "none", "-kernel", v.kernel, "-initrd", v.initrd,
		"-append", "console=ttyS0 quiet panic=-1 no_timer_check",
		"-drive", "file="+v.disk+",format=raw,if=virtio,cache=writeback")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- strings.TrimRight(s.Text(), "\r")
		}
		close(lines)
	}()
	return cmd
}

var (
	recordingRE = regexp.MustCompile(`msg=recording .*clip=([0-9A-Za-z]+)`)
	preRollRE   = regexp.MustCompile(`pre_roll_s=([0-9.]+)`)
	sealedRE    = regexp.MustCompile(`msg="clip sealed" .*clip=([0-9A-Za-z]+)`)
	fedRE       = regexp.MustCompile(`powercut: fed since_trigger_s=([0-9.]+)`)
)

func TestPowerCut(t *testing.T) {
	need(t, "qemu-system-x86_64", "busybox", "mkfs.ext4", "e2fsck", "debugfs", "ffmpeg", "apt-get", "dpkg-deb")
	cuts := 4
	if s := os.Getenv("DOORBELL_POWERCUT_CUTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("DOORBELL_POWERCUT_CUTS=%q: want a number of cuts", s)
		}
		cuts = n
	}
	dir := t.TempDir()
	k := cloudKernel(t)

	// The guest program: this test binary, static.
	guestBin := filepath.Join(dir, "guest")
	build := exec.Command("go", "test", "-c", "-o", guestBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the guest program: %v\n%s", err, out)
	}
	// Its camera: 2 s of H.264, with access unit delimiters.
	video := filepath.Join(dir, "video.h264")
	run(t, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=320x240:rate=%d", fps), "-t", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-bf", "0", "-g", strconv.Itoa(fps/2),
		"-x264-params", "aud=1", "-f", "h264", video)
	mods := filepath.Join(k, "lib/modules", kernelVersion, "kernel/drivers")
	files := map[string]string{"bin/busybox": "/bin/busybox", "guest": guestBin, "video.h264": video}
	for _, m := range []string{"virtio/virtio_ring", "virtio/virtio", "virtio/virtio_pci_modern_dev", "virtio/virtio_pci_legacy_dev", "virtio/virtio_pci", "block/virtio_blk"} {
		files["mod/"+filepath.Base(m)+".ko"] = filepath.Join(mods, m+".ko")
	}
	v := vm{kernel: filepath.Join(k, "boot/vmlinuz-"+kernelVersion), initrd: filepath.Join(dir, "initrd.gz"), disk: filepath.Join(dir, "disk.img")}
	initramfs(t, v.initrd, files, map[string]string{"init": initScript})

	// The disk: the data directory with its device key and one member.
	seed := filepath.Join(dir, "seed")
	if err := os.MkdirAll(filepath.Join(seed, "clips"), 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := devicekey.LoadOrCreate(seed)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := members.Add(seed, "alice", id.Recipient().String(), time.Now()); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.ext4", "-q", "-F", "-d", seed, v.disk, "96M")

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	c := checker{t: t, dir: dir, disk: v.disk, id: id, pub: key.Public().(ed25519.PublicKey), sealed: map[string]bool{}}
	survived := 0
	for cut := 1; cut <= cuts; cut++ {
		lines := make(chan string, 256)
		cmd := v.boot(t, lines)
		var console []string
		var current string
		var preRoll, fed float64
		var booted bool
		// The cut: at a random moment 0.2–10 s after the first clip of this
		// boot started (a clip lasts about 4 s).
		cutAfter := 200*time.Millisecond + time.Duration(rng.Int64N(int64(9800*time.Millisecond)))
		var cutAt <-chan time.Time
		deadline := time.After(10 * time.Minute)
	wait:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					cmd.Wait()
					t.Fatalf("cut %d: the guest stopped before the cut:\n%s", cut, strings.Join(console, "\n"))
				}
				console = append(console, line)
				if strings.Contains(line, "powercut: error") {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("cut %d: the guest failed:\n%s", cut, strings.Join(console, "\n"))
				}
				if strings.Contains(line, "powercut: recovered") {
					booted = true
					c.afterRestart(cut, line)
				}
				if m := recordingRE.FindStringSubmatch(line); m != nil {
					current = m[1]
					preRoll, fed = 0, 0
					if p := preRollRE.FindStringSubmatch(line); p != nil {
						preRoll, _ = strconv.ParseFloat(p[1], 64)
					}
					if cutAt == nil {
						cutAt = time.After(cutAfter)
					}
				}
				if m := fedRE.FindStringSubmatch(line); m != nil {
					fed, _ = strconv.ParseFloat(m[1], 64)
				}
				if m := sealedRE.FindStringSubmatch(line); m != nil {
					c.sealed[m[1]] = true
					if m[1] == current {
						current = ""
					}
				}
			case <-cutAt:
				break wait
			case <-deadline:
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("cut %d: the guest never recorded within 10 minutes (booted %v):\n%s", cut, booted, strings.Join(console, "\n"))
			}
		}
		// The power cut.
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		for line := range lines { // what the console still had
			if m := sealedRE.FindStringSubmatch(line); m != nil {
				c.sealed[m[1]] = true
			}
		}
		recorded := 0.0
		if current != "" {
			recorded = preRoll + fed
		}
		ok := c.check(cut, current, recorded)
		if ok {
			survived++
		}
		t.Logf("cut %d after %v: %d sealed so far; at the cut clip %q had %.1f s", cut, cutAfter.Round(time.Millisecond), len(c.sealed), current, recorded)
		if testing.Verbose() && os.Getenv("DOORBELL_POWERCUT_CONSOLE") != "" {
			t.Logf("console:\n%s", strings.Join(console, "\n"))
		}
		if t.Failed() {
			t.Logf("console of cut %d:\n%s", cut, strings.Join(console, "\n"))
			break
		}
	}
	t.Logf("FIGURE power cuts survived with no sealed clip lost or corrupt: %d of %d (%d sealed clips, %d cut off)", survived, cuts, len(c.sealed), c.cutOff)
	if survived != cuts {
		t.Errorf("%d of %d power cuts survived", survived, cuts)
	}
}

// checker checks the disk after each cut.
type checker struct {
	t      *testing.T
	dir    string
	disk   string
	id     age.Identity
	pub    ed25519.PublicKey
	sealed map[string]bool // every clip the recorder reported sealed
	cutOff int
}

// afterRestart checks the guest's own cleanup on the next start: no
// temporary file is left in the clips directory.
func (c *checker) afterRestart(cut int, line string) {
	_, files, _ := strings.Cut(line, "files=")
	for _, f := range strings.Split(files, ",") {
		if strings.HasPrefix(f, ".") {
			c.t.Errorf("start after cut %d: %s left in the clips directory after the cleanup (%s)", cut-1, f, line)
		}
	}
}

// check opens the disk as the next start would (journal replayed on a
// copy), and checks every clip in it. current is the clip being recorded
// at the cut, which had been given recorded seconds of video. (How much of
// that was synced is not known from outside the recorder: the writer may
// lag behind the camera, so no lower bound is checked beyond the prefix
// verifying.)
func (c *checker) check(cut int, current string, recorded float64) bool {
	t := c.t
	t.Helper()
	img := filepath.Join(c.dir, "check.img")
	data, err := os.ReadFile(c.disk)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// e2fsck replays the journal, as mounting does; 1 means it fixed
	// something, which a replay is.
	if out, err := exec.Command("e2fsck", "-fy", img).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			t.Errorf("cut %d: e2fsck: %v\n%s", cut, err, out)
			return false
		}
	}
	dump := filepath.Join(c.dir, fmt.Sprintf("dump-%d", cut))
	if err := os.MkdirAll(dump, 0o700); err != nil {
		t.Fatal(err)
	}
	run(t, "debugfs", "-R", "rdump /clips "+dump, img)
	os.Remove(img)
	defer os.RemoveAll(dump)
	clips := filepath.Join(dump, "clips")

	// The next start's cleanup, on the copy.
	store, err := clipstore.Open(dump)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Recover(); err != nil {
		t.Errorf("cut %d: the cleanup on the next start failed: %v", cut, err)
		return false
	}
	entries, _ := os.ReadDir(clips)
	present := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("cut %d: %s left after the cleanup", cut, e.Name())
		}
		if id, suf, ok := clip.SplitName(e.Name()); ok && suf == clip.ClipSuffix {
			present[id] = true
		}
	}
	ok := true
	for id := range c.sealed {
		if !present[id] {
			t.Errorf("cut %d: clip %s was reported sealed before the cut and is gone", cut, id)
			ok = false
		}
	}
	for id := range present {
		res, err := c.open(store, id)
		switch {
		case err != nil:
			t.Errorf("cut %d: clip %s does not open: %v", cut, id, err)
			ok = false
		case !res.Verified:
			t.Errorf("cut %d: clip %s does not verify: %+v", cut, id, res)
			ok = false
		case c.sealed[id] && !res.Complete:
			t.Errorf("cut %d: clip %s was reported sealed, and opens cut off (%v of video)", cut, id, res.Video)
			ok = false
		case id == current && res.Truncated:
			// What it holds verified up to a checkpoint (Open passes on
			// nothing a valid checkpoint does not cover).
			c.cutOff++
		}
	}
	return ok
}

func (c *checker) open(store *clipstore.Store, id string) (*clip.Result, error) {
	f, err := os.Open(store.ClipPath(id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var record io.Reader
	if r, err := os.ReadFile(store.RecordPath(id)); err == nil {
		record = bytes.NewReader(r)
	}
	return clip.Open(io.Discard, f, fi.Size(), record, clip.Options{ID: id, Identities: []age.Identity{c.id}, Trusted: []ed25519.PublicKey{c.pub}})
}
