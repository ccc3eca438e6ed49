//go:build linux && amd64

// Package powercut cuts the power under the recorder for real: the recorder
// and the clip store run inside a virtual machine (qemu-system-x86_64, TCG)
// writing to a virtio disk, and qemu is killed with SIGKILL at random
// moments. Unlike a SIGKILL of the daemon, which keeps the page cache, this
// loses everything the guest did not fsync: the guest's dirty-page
// writeback is turned off and ext4 commits its journal only when asked, so
// a missing fsync shows.
//
// The guest says on its serial console (read live by the host, not written
// to the disk under test) every clip the recorder sealed and, after each
// fsync of a recording clip returned, how far it made the clip durable: its
// bytes and the last signed checkpoint wholly in them (recorder.SyncPoint).
// After each cut the disk image is checked: every clip reported sealed
// opens and verifies; every interrupted clip opens, with the household's
// own opening code and a member's key, to at least the last checkpoint
// reported synced before the cut; nothing that claims to be complete is
// corrupt; and the next start cleans up.
//
// Then the same with every fsync of the guest turned off (a seccomp filter
// in this test binary only): the checks must catch it.
//
// The same test binary is the guest's program (DOORBELL_POWERCUT_GUEST=1).
// Needs qemu-system-x86, busybox-static, e2fsprogs and ffmpeg (deploy/setup.sh);
// the Debian cloud kernel is fetched once with apt-get download.
// DOORBELL_POWERCUT_CUTS sets how many cuts (4 by default, as in make test;
// make powercut: 30), DOORBELL_POWERCUT_NOFSYNC_CUTS how many without fsync
// (1 by default; make powercut: 10). Each cut is a boot: about 5 s on an
// idle machine.
package powercut

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
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
	"doorbell/household"
	"doorbell/recorder"
	"doorbell/stream"
)

const (
	fps          = 15
	syncInterval = time.Second
	maxFragment  = time.Second
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
	if os.Getenv("DOORBELL_POWERCUT_FSYNC") == "off" { // from the kernel's command line
		seccomp, err := turnFsyncOff()
		if err != nil {
			say("error turning fsync off: %v", err)
			return 1
		}
		say("fsync off (%s)", seccomp)
	}
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
	// Said once the fsync returned: the host holds the clip to it.
	synced := func(id string, p recorder.SyncPoint) {
		say("synced clip=%s bytes=%d checkpoints=%d video_ns=%d offset=%d", id, p.Bytes, p.Checkpoints, p.Last.Video, p.Last.Offset)
	}
	r := recorder.New(recorder.Config{PreRoll: time.Second, PostRoll: 500 * time.Millisecond, MaxLength: 20 * time.Second,
		OnMotion: true, FPS: fps, MaxFragment: maxFragment, SyncInterval: syncInterval, Synced: synced},
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
	fsyncOff             bool // every fsync of the guest program does nothing
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

// cloudKernel unpacks Debian's cloud kernel (fetched once) into the cache,
// and returns where, with its version. Which kernel is what the
// linux-image-cloud-amd64 metapackage names in this machine's apt lists: a
// fixed version would vanish from the archive with the next security
// update, and differs between machines with and without bookworm-security.
func cloudKernel(t *testing.T) (dir, version string) {
	t.Helper()
	out, err := exec.Command("apt-cache", "depends", "--important", "linux-image-cloud-amd64").CombinedOutput()
	var kernelPackage string
	for _, l := range strings.Split(string(out), "\n") {
		if dep, ok := strings.CutPrefix(strings.TrimSpace(l), "Depends: "); ok && strings.HasPrefix(dep, "linux-image-") {
			kernelPackage = dep
			break
		}
	}
	if err != nil || kernelPackage == "" {
		t.Fatalf("cannot find Debian's cloud kernel (linux-image-cloud-amd64) in apt's lists: %v\n%s\nrun apt-get update", err, out)
	}
	version = strings.TrimPrefix(kernelPackage, "linux-image-")
	cache := filepath.Join(os.Getenv("DOORBELL_CACHE"), "powercut")
	if os.Getenv("DOORBELL_CACHE") == "" {
		cache = "/var/cache/doorbell/powercut"
	}
	dir = filepath.Join(cache, kernelPackage)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, version
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
	return dir, version
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
	cmdline := "console=ttyS0 quiet panic=-1 no_timer_check"
	if v.fsyncOff {
		// Unknown to the kernel, so it lands in /init's environment.
		cmdline += " DOORBELL_POWERCUT_FSYNC=off"
	}
	cmd := exec.Command("qemu-system-x86_64", "-machine", "q35,accel=tcg", "-cpu", "max", "-m", "512", "-smp", "1",
		"-nographic", "-no-reboot", "-nic", "none", "-kernel", v.kernel, "-initrd", v.initrd,
		"-append", cmdline,
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
	syncedRE    = regexp.MustCompile(`powercut: synced clip=([0-9A-Za-z]+) bytes=(\d+) checkpoints=(\d+) video_ns=(\d+) offset=(\d+)`)
)

// parts is what every run of cuts shares: the guest's kernel and
// initramfs, and the disk as it was made, with the device key and a member.
type parts struct {
	kernel, initrd, disk string
	id                   age.Identity
	pub                  ed25519.PublicKey
}

func prepare(t *testing.T) parts {
	t.Helper()
	dir := t.TempDir()
	k, kernelVersion := cloudKernel(t)

	// The guest program: this test binary, linked statically (the guest
	// has no shared libraries). With cgo: the recorder's sound path links
	// libopus, whose static library libopus-dev ships; -lm is what that
	// needs besides. (glibc warns that getaddrinfo wants its shared
	// libraries: the guest resolves no names.)
	guestBin := filepath.Join(dir, "guest")
	build := exec.Command("go", "test", "-c", "-o", guestBin, "-ldflags=-extldflags=-static", ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1", "CGO_LDFLAGS="+strings.TrimSpace(os.Getenv("CGO_LDFLAGS")+" -lm"))
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
	p := parts{kernel: filepath.Join(k, "boot/vmlinuz-"+kernelVersion), initrd: filepath.Join(dir, "initrd.gz"), disk: filepath.Join(dir, "disk.img")}
	initramfs(t, p.initrd, files, map[string]string{"init": initScript})

	// The disk: the data directory with its device key and one member.
	seed := filepath.Join(dir, "seed")
	if err := os.MkdirAll(filepath.Join(seed, "clips"), 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := devicekey.LoadOrCreate(seed)
	if err != nil {
		t.Fatal(err)
	}
	p.pub = key.Public().(ed25519.PublicKey)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	p.id = id
	if _, err := members.Add(seed, "alice", id.Recipient().String(), time.Now()); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.ext4", "-q", "-F", "-d", seed, p.disk, "96M")
	return p
}

// freshDisk copies the disk as it was made for a run of cuts of its own.
func (p parts) freshDisk(t *testing.T, name string) vm {
	t.Helper()
	disk := filepath.Join(t.TempDir(), name)
	run(t, "cp", "--sparse=always", p.disk, disk)
	return vm{kernel: p.kernel, initrd: p.initrd, disk: disk}
}

func cutsFrom(t *testing.T, env string, def int) int {
	t.Helper()
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a number of cuts, at least 1", env, s)
	}
	return n
}

func TestPowerCut(t *testing.T) {
	need(t, "qemu-system-x86_64", "busybox", "mkfs.ext4", "e2fsck", "debugfs", "ffmpeg", "ffprobe", "apt-get", "dpkg-deb", "cp")
	cuts := cutsFrom(t, "DOORBELL_POWERCUT_CUTS", 4)
	noFsyncCuts := cutsFrom(t, "DOORBELL_POWERCUT_NOFSYNC_CUTS", 1)
	p := prepare(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))

	t.Run("with fsync", func(t *testing.T) {
		// One disk for every cut: what survived a cut must survive the
		// next ones. Each cut at a random moment 0.2–10 s after the first
		// clip of its boot started (a clip lasts about 4 s).
		v := p.freshDisk(t, "disk.img")
		c := newChecker(t, p, v.disk)
		survived, held, ran := 0, 0, 0
		for cut := 1; cut <= cuts; cut++ {
			ran++
			delay := 200*time.Millisecond + time.Duration(rng.Int64N(int64(9800*time.Millisecond)))
			clear(c.problems)
			b := bootAndCut(t, v, cut, c, false, delay)
			got := c.check(cut, b.current)
			t.Logf("cut %d, %v after the first clip started: %s", cut, delay.Round(time.Millisecond), got.describe(b))
			if got.held {
				held++
			}
			if len(c.problems) == 0 {
				survived++
				continue
			}
			for _, check := range checks {
				for _, msg := range c.problems[check] {
					t.Errorf("cut %d: %s: %s", cut, check, msg)
				}
			}
			t.Logf("console of cut %d:\n%s", cut, strings.Join(b.console, "\n"))
			break
		}
		t.Logf("FIGURE power cuts survived (no sealed clip lost or corrupt, every interrupted clip opening to at least its last synced checkpoint): %d of %d (%d sealed clips, %d cut off; at %d cuts the interrupted clip had a synced checkpoint to reach)",
			survived, ran, len(c.sealed), c.cutOff, held)
		if survived != cuts {
			t.Errorf("%d of %d power cuts survived (%d of %d run)", survived, cuts, survived, ran)
		}
	})

	t.Run("without fsync", func(t *testing.T) {
		// Every cut on the disk as it was made, 0–3 s after the guest said
		// its first checkpoint was synced: each cut has a checkpoint the
		// interrupted clip must reach, and the checks must see it missing.
		failed := map[string]int{}
		for cut := 1; cut <= noFsyncCuts; cut++ {
			v := p.freshDisk(t, fmt.Sprintf("disk-%d.img", cut))
			v.fsyncOff = true
			c := newChecker(t, p, v.disk)
			delay := time.Duration(rng.Int64N(int64(3 * time.Second)))
			b := bootAndCut(t, v, cut, c, true, delay)
			got := c.check(cut, b.current)
			t.Logf("cut %d without fsync, %v after the first synced checkpoint: %s", cut, delay.Round(time.Millisecond), got.describe(b))
			for _, check := range checks {
				if len(c.problems[check]) > 0 {
					failed[check]++
				}
				for _, msg := range c.problems[check] {
					t.Logf("  %s: %s", check, msg)
				}
			}
		}
		var summary []string
		for _, check := range checks {
			summary = append(summary, fmt.Sprintf("%q failed in %d", check, failed[check]))
		}
		t.Logf("FIGURE without fsync, the checkpoint check failed in %d of %d cuts (%s)", failed[checkCheckpoint], noFsyncCuts, strings.Join(summary, ", "))
		if failed[checkCheckpoint] != noFsyncCuts {
			t.Errorf("with every fsync turned off, the check that the interrupted clip reaches its last synced checkpoint failed in only %d of %d cuts: it cannot see a missing fsync", failed[checkCheckpoint], noFsyncCuts)
		}
	})
}

// boot is what one boot of the guest said before its cut.
type boot struct {
	console []string
	current string  // the clip recording at the cut, "" if none
	given   float64 // seconds of video the camera had given it, pre-roll included
}

// bootAndCut boots the guest on v's disk and cuts its power delay after
// its first clip started (afterSynced: after its first synced checkpoint).
// What the console said about sealed and synced clips goes to c.
func bootAndCut(t *testing.T, v vm, cut int, c *checker, afterSynced bool, delay time.Duration) boot {
	t.Helper()
	lines := make(chan string, 256)
	cmd := v.boot(t, lines)
	var b boot
	var preRoll, fed float64
	var booted, saidFsyncOff bool
	var cutAt <-chan time.Time
	fatal := func(format string, args ...any) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("cut %d: "+format+":\n%s", append([]any{cut}, append(args, strings.Join(b.console, "\n"))...)...)
	}
	// seen notes what a line says; it is told of every line qemu printed
	// before it died, even those read after.
	seen := func(line string) {
		b.console = append(b.console, line)
		if m := sealedRE.FindStringSubmatch(line); m != nil {
			c.sealed[m[1]] = true
			if m[1] == b.current {
				b.current = ""
			}
		}
		if m := syncedRE.FindStringSubmatch(line); m != nil {
			c.noteSynced(m)
		}
	}
	deadline := time.After(10 * time.Minute)
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("cut %d: the guest stopped before the cut:\n%s", cut, strings.Join(b.console, "\n"))
			}
			seen(line)
			switch {
			case strings.Contains(line, "powercut: error"):
				fatal("the guest failed")
			case strings.Contains(line, "powercut: fsync off"):
				saidFsyncOff = true
			case strings.Contains(line, "powercut: recovered"):
				booted = true
				if saidFsyncOff != v.fsyncOff {
					fatal("the guest has fsync off: %v, want %v", saidFsyncOff, v.fsyncOff)
				}
				c.afterRestart(cut, line)
			}
			if m := recordingRE.FindStringSubmatch(line); m != nil {
				b.current = m[1]
				preRoll, fed = 0, 0
				if p := preRollRE.FindStringSubmatch(line); p != nil {
					preRoll, _ = strconv.ParseFloat(p[1], 64)
				}
				if cutAt == nil && !afterSynced {
					cutAt = time.After(delay)
				}
			}
			if m := fedRE.FindStringSubmatch(line); m != nil {
				fed, _ = strconv.ParseFloat(m[1], 64)
			}
			if m := syncedRE.FindStringSubmatch(line); m != nil && m[3] != "0" && cutAt == nil && afterSynced {
				cutAt = time.After(delay)
			}
		case <-cutAt:
			break wait
		case <-deadline:
			fatal("the guest never got to the cut within 10 minutes (booted %v)", booted)
		}
	}
	// The power cut.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	for line := range lines { // what qemu printed before it died
		seen(line)
	}
	if b.current != "" {
		b.given = preRoll + fed
	}
	if testing.Verbose() && os.Getenv("DOORBELL_POWERCUT_CONSOLE") != "" {
		t.Logf("console of cut %d:\n%s", cut, strings.Join(b.console, "\n"))
	}
	return b
}

// The checks after each cut.
const (
	checkSealed     = "every clip reported sealed opens and verifies"
	checkCheckpoint = "the interrupted clip opens to at least its last checkpoint reported synced"
	checkIntact     = "nothing that claims to be complete is corrupt"
	checkCleanup    = "the next start cleans up"
)

var checks = []string{checkSealed, checkCheckpoint, checkIntact, checkCleanup}

// checker checks the disk after each cut against what the guest said.
type checker struct {
	t      *testing.T
	dir    string
	disk   string
	opt    clip.Options
	sealed map[string]bool               // every clip the recorder reported sealed
	synced map[string]recorder.SyncPoint // the furthest each clip was reported synced
	cutOff int

	problems map[string][]string // of the current cut (and the start after it), by check
}

func newChecker(t *testing.T, p parts, disk string) *checker {
	return &checker{t: t, dir: t.TempDir(), disk: disk, sealed: map[string]bool{}, synced: map[string]recorder.SyncPoint{},
		opt:      clip.Options{Identities: []age.Identity{p.id}, Trusted: []ed25519.PublicKey{p.pub}},
		problems: map[string][]string{}}
}

func (c *checker) problem(check, format string, args ...any) {
	c.problems[check] = append(c.problems[check], fmt.Sprintf(format, args...))
}

// noteSynced keeps the furthest sync the guest reported of a clip.
func (c *checker) noteSynced(m []string) {
	var p recorder.SyncPoint
	p.Bytes, _ = strconv.ParseInt(m[2], 10, 64)
	p.Checkpoints, _ = strconv.Atoi(m[3])
	video, _ := strconv.ParseInt(m[4], 10, 64)
	p.Last.Video = time.Duration(video)
	p.Last.Offset, _ = strconv.ParseInt(m[5], 10, 64)
	if p.Checkpoints > 0 {
		p.Last.Seq = uint32(p.Checkpoints - 1)
	}
	if old, ok := c.synced[m[1]]; !ok || p.Bytes >= old.Bytes {
		c.synced[m[1]] = p
	}
}

// afterRestart checks the guest's own cleanup on the next start: no
// temporary file is left in the clips directory.
func (c *checker) afterRestart(cut int, line string) {
	_, files, _ := strings.Cut(line, "files=")
	for _, f := range strings.Split(files, ",") {
		if strings.HasPrefix(f, ".") {
			c.problem(checkCleanup, "the start after cut %d left %s in the clips directory (%s)", cut-1, f, line)
		}
	}
}

// recovered is what a cut left of the clip interrupted by it.
type recovered struct {
	synced recorder.SyncPoint // what the guest said it had synced of it
	held   bool               // it had a synced checkpoint to reach
	res    *clip.Result       // what it opens to; nil if it does not
	played time.Duration      // how far its video plays, by ffprobe
}

func (r recovered) describe(b boot) string {
	if b.current == "" {
		return "no clip was recording"
	}
	s := fmt.Sprintf("clip %s had %.1f s of video given, %v synced (%d checkpoints, %d bytes)", b.current, b.given, r.synced.Last.Video, r.synced.Checkpoints, r.synced.Bytes)
	switch {
	case r.res != nil && r.held:
		s += fmt.Sprintf("; it opens to %v (%d checkpoints), playing to %v", r.res.Video, r.res.Checkpoints, r.played)
	case r.res != nil:
		s += fmt.Sprintf("; it opens to %v (%d checkpoints)", r.res.Video, r.res.Checkpoints)
	default:
		s += "; it is not kept"
	}
	return s
}

// check opens the disk as the next start would (journal replayed on a
// copy), and checks every clip in it; current is the clip being recorded
// at the cut.
func (c *checker) check(cut int, current string) recovered {
	t := c.t
	t.Helper()
	img := filepath.Join(c.dir, "check.img")
	run(t, "cp", "--sparse=always", c.disk, img)
	defer os.Remove(img)
	// e2fsck replays the journal, as mounting does; 1 means it fixed
	// something, which a replay is.
	if out, err := exec.Command("e2fsck", "-fy", img).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			c.problem(checkIntact, "e2fsck: %v\n%s", err, out)
			return recovered{}
		}
	}
	dump := filepath.Join(c.dir, fmt.Sprintf("dump-%d", cut))
	out := filepath.Join(c.dir, fmt.Sprintf("opened-%d", cut))
	for _, d := range []string{dump, out} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(d)
	}
	run(t, "debugfs", "-R", "rdump /clips "+dump, img)

	// The next start's cleanup, on the copy.
	store, err := clipstore.Open(dump)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Recover(); err != nil {
		c.problem(checkCleanup, "the cleanup on the next start failed: %v", err)
		return recovered{}
	}
	entries, _ := os.ReadDir(store.Dir())
	present := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			c.problem(checkCleanup, "%s left after the cleanup", e.Name())
		}
		if id, suf, ok := clip.SplitName(e.Name()); ok && suf == clip.ClipSuffix {
			present[id] = true
		}
	}

	// Every clip kept, opened as a member does (doorbell clips open).
	opened := map[string]*clip.Result{}
	for id := range present {
		res, err := household.OpenFile(store.ClipPath(id), filepath.Join(out, id+".mp4"), c.opt)
		switch {
		case err != nil:
			c.problem(checkIntact, "clip %s does not open: %v", id, err)
		case !res.Verified:
			c.problem(checkIntact, "clip %s does not verify: %+v", id, res)
		default:
			opened[id] = res
			if id == current && res.Truncated {
				c.cutOff++
			}
		}
	}
	for id := range c.sealed {
		switch res := opened[id]; {
		case !present[id]:
			c.problem(checkSealed, "clip %s was reported sealed before the cut and is gone", id)
		case res == nil:
			c.problem(checkSealed, "clip %s was reported sealed before the cut and does not open", id)
		case !res.Complete:
			c.problem(checkSealed, "clip %s was reported sealed, and opens cut off (%v of video)", id, res.Video)
		}
	}
	var got recovered
	if current != "" {
		got.synced = c.synced[current]
		got.res = opened[current]
	}
	// Every clip reported synced reaches what was synced of it.
	for id, p := range c.synced {
		if p.Checkpoints == 0 {
			continue // not a checkpoint yet: nothing it must reach
		}
		if id == current {
			got.held = true
		}
		res := opened[id]
		switch {
		case !present[id]:
			c.problem(checkCheckpoint, "clip %s had %d checkpoints (%v of video, %d sealed bytes) reported synced before the cut, and is gone", id, p.Checkpoints, p.Last.Video, p.Bytes)
			continue
		case res == nil:
			c.problem(checkCheckpoint, "clip %s had %d checkpoints reported synced before the cut, and does not open", id, p.Checkpoints)
			continue
		case res.Checkpoints < p.Checkpoints || res.Video < p.Last.Video || res.Bytes < p.Last.Offset+clip.CheckpointSize:
			c.problem(checkCheckpoint, "clip %s had %d checkpoints (%v of video, %d bytes of MP4) reported synced before the cut, and opens to %d (%v, %d bytes)",
				id, p.Checkpoints, p.Last.Video, p.Last.Offset+clip.CheckpointSize, res.Checkpoints, res.Video, res.Bytes)
			continue
		}
		if id != current {
			continue // played when it was cut
		}
		// Its MP4 plays at least as far, as a player sees it.
		played, err := playsTo(filepath.Join(out, id+".mp4"))
		got.played = played
		switch {
		case err != nil:
			c.problem(checkCheckpoint, "clip %s opens, and its MP4 does not play: %v", id, err)
		case played < p.Last.Video-time.Millisecond:
			c.problem(checkCheckpoint, "clip %s had %v of video reported synced, and its opened MP4 plays to %v", id, p.Last.Video, got.played)
		}
	}
	return got
}

// playsTo decodes an MP4 with ffprobe and returns how long it lasts: the
// end of its last picture, with that picture's duration as the file gives
// it (a packet's duration_time is not: ffprobe makes every packet of a
// fragment one frame long, even before a gap). A decoding error is an error.
func playsTo(path string) (time.Duration, error) {
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames:format=duration", "-of", "json", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		return 0, fmt.Errorf("ffprobe: %v: %s", err, stderr.Bytes())
	}
	var probe struct {
		Streams []struct {
			Frames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		return 0, fmt.Errorf("ffprobe: %w\n%s", err, out)
	}
	d, err := strconv.ParseFloat(probe.Format.Duration, 64)
	if err != nil || len(probe.Streams) != 1 || probe.Streams[0].Frames == "" || probe.Streams[0].Frames == "0" {
		return 0, fmt.Errorf("ffprobe finds no video, or no duration:\n%s", out)
	}
	return time.Duration(d * float64(time.Second)), nil
}
