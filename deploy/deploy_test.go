// Package deploy_test checks the device side for real: the arm64 build runs
// under qemu-user in an arm64 Debian root filesystem, for trixie (the
// default: current Raspberry Pi OS) and bookworm (DEB_SUITE=bookworm:
// Raspberry Pi OS Legacy), the Debian packages install, upgrade and purge
// there, the systemd unit verifies and scores,
// and the SD-card image recipe turns a Debian-built arm64 image into a
// doorbell image. These tests need root (chroot, mounts, loop devices), as
// make test has; the arm64 root filesystems are made once and cached in
// /var/cache/doorbell (deploy/arm64/rootfs.sh).
package deploy_test

import (
	"bytes"
	"crypto/tls"
	"debug/elf"
	"doorbell/internal/syncbuf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
)

var (
	top  string // the repository
	dist string // this run's build output
)

func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	top = filepath.Dir(wd)
	dist, err = os.MkdirTemp("", "doorbell-dist-")
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dist)
	os.Exit(code)
}

// suites are the Debian suites the arm64 build and package are made and
// tested for; the first is make's default (DEB_SUITE).
var suites = []string{"trixie", "bookworm"}

// opencvVersion is each suite's OpenCV, as the daemon reports it.
var opencvVersion = map[string]string{"trixie": "4.10.0", "bookworm": "4.6.0"}

// built is what make deb made for one suite, once per run: for the other
// suites make deb-arm64, as the amd64 package is the same for every suite.
type builtT struct {
	err                error
	suite, dist        string // DEB_SUITE, and the build's output (DIST)
	target             string // make's: deb, or deb-arm64
	debAmd64, debArm64 string // debAmd64 for the first suite only
	runtime            string // the arm64 root filesystem to run things in
	took               time.Duration
}

var builds = map[string]func() builtT{}

func init() {
	for _, suite := range suites {
		builds[suite] = sync.OnceValue(func() builtT { return build(suite) })
	}
}

// forEachSuite runs f as a subtest for each suite's build.
func forEachSuite(t *testing.T, f func(t *testing.T, b builtT)) {
	for _, suite := range suites {
		t.Run(suite, func(t *testing.T) { f(t, needSuite(t, suite)) })
	}
}

func build(suite string) (b builtT) {
	b.suite, b.dist = suite, dist
	if suite != suites[0] {
		b.dist = filepath.Join(dist, suite)
	}
	if os.Geteuid() != 0 {
		b.err = errors.New("the deploy tests need root (chroot, mounts, loop devices); run make test as root")
		return
	}
	start := time.Now()
	// On a cold cache, the arm64 system is made (under emulation) while the
	// programs compile; make deb waits for it (a lock) to compute Depends.
	type result struct {
		out []byte
		err error
	}
	runtime := make(chan result, 1)
	go func() {
		cmd := exec.Command(filepath.Join(top, "deploy/arm64/rootfs.sh"), "runtime")
		cmd.Env = append(os.Environ(), "DEB_SUITE="+suite)
		out, err := cmd.Output()
		runtime <- result{out, err}
	}()
	b.target = "deb"
	if suite != suites[0] {
		b.target = "deb-arm64"
	}
	cmd := exec.Command("make", "-C", top, "-s", "DIST="+b.dist, "DEB_SUITE="+suite, "DEB_VERSION=0~test1", b.target)
	cmd.Env = cleanMakeEnv()
	out, err := cmd.CombinedOutput()
	rt := <-runtime
	if rt.err != nil {
		var ee *exec.ExitError
		if errors.As(rt.err, &ee) {
			rt.err = fmt.Errorf("%v\n%s", rt.err, ee.Stderr)
		}
		b.err = fmt.Errorf("DEB_SUITE=%s deploy/arm64/rootfs.sh runtime: %v", suite, rt.err)
		return
	}
	if err != nil {
		b.err = fmt.Errorf("make %s DEB_SUITE=%s: %v\n%s", b.target, suite, err, out)
		return
	}
	b.took = time.Since(start)
	if b.target == "deb" {
		b.debAmd64 = filepath.Join(b.dist, "doorbell_0~test1_amd64.deb")
	}
	b.debArm64 = filepath.Join(b.dist, "doorbell_0~test1_arm64.deb")
	b.runtime = strings.TrimSpace(string(rt.out))
	return b
}

// need is the default suite's build.
func need(t *testing.T) builtT {
	t.Helper()
	return needSuite(t, suites[0])
}

func needSuite(t *testing.T, suite string) builtT {
	t.Helper()
	b := builds[suite]()
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b
}

// cleanMakeEnv drops the outer make's settings (a make test running this
// test): its jobserver descriptors are not passed on.
func cleanMakeEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" && k != "MAKEOVERRIDES" {
			env = append(env, e)
		}
	}
	return env
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// chroot is a throwaway arm64 system: an overlay on the cached root
// filesystem, which it never changes, with /proc and /dev.
type chroot struct {
	root string
}

func newChroot(t *testing.T, lower string) *chroot {
	t.Helper()
	dir := t.TempDir()
	c := &chroot{root: filepath.Join(dir, "root")}
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var mounted []string
	mount := func(args ...string) {
		t.Helper()
		run(t, "mount", args...)
		mounted = append(mounted, args[len(args)-1])
	}
	t.Cleanup(func() {
		for i := len(mounted) - 1; i >= 0; i-- {
			if out, err := exec.Command("umount", mounted[i]).CombinedOutput(); err != nil {
				exec.Command("umount", "-l", mounted[i]).Run()
				t.Logf("umount %s: %v %s", mounted[i], err, out)
			}
		}
	})
	mount("-t", "overlay", "overlay", "-o", "lowerdir="+lower+",upperdir="+filepath.Join(dir, "upper")+",workdir="+filepath.Join(dir, "work"), c.root)
	mount("-t", "proc", "proc", filepath.Join(c.root, "proc"))
	mount("--bind", "/dev", filepath.Join(c.root, "dev"))
	return c
}

// command runs args inside the chroot with a clean environment.
func (c *chroot) command(args ...string) *exec.Cmd {
	return exec.Command("chroot", append([]string{c.root, "/usr/bin/env", "-i",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}, args...)...)
}

func (c *chroot) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.command(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("in the arm64 chroot: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (c *chroot) path(p string) string { return filepath.Join(c.root, p) }

func (c *chroot) install(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(c.path(dst)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.path(dst), data, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestBuildArm64(t *testing.T) { forEachSuite(t, testBuildArm64) }

func testBuildArm64(t *testing.T, b builtT) {
	t.Logf("make %s DEB_SUITE=%s (builds and packages) took %v", b.target, b.suite, b.took.Round(100*time.Millisecond))
	d := filepath.Join(b.dist, "arm64")
	f, err := elf.Open(filepath.Join(d, "doorbelld"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Fatalf("doorbelld is for %v, not arm64", f.Machine)
	}
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, _ := io.ReadAll(p.Open())
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp != "/lib/ld-linux-aarch64.so.1" {
		t.Errorf("doorbelld's interpreter %q, want Debian's /lib/ld-linux-aarch64.so.1", interp)
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(libs, " ")
	soname := map[string]string{"trixie": "libopencv_core.so.410", "bookworm": "libopencv_core.so.406"}[b.suite]
	if !strings.Contains(joined, soname) {
		t.Errorf("doorbelld does not link %s's OpenCV %s (%s): %s", b.suite, opencvVersion[b.suite], soname, joined)
	}
	// --as-needed: no OpenCV module it does not use (viz would pull in VTK).
	for _, l := range libs {
		if strings.Contains(l, "opencv_viz") || strings.Contains(l, "vtk") || strings.Contains(l, "opencv_stitching") {
			t.Errorf("doorbelld links %s, which it does not use", l)
		}
	}
	for _, name := range []string{"doorbell", "doorbell-setup"} {
		g, err := elf.Open(filepath.Join(d, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range g.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked; it must be static (CGO_ENABLED=0)", name)
			}
		}
		if g.Machine != elf.EM_AARCH64 {
			t.Errorf("%s is for %v", name, g.Machine)
		}
		g.Close()
	}
	for _, name := range []string{"doorbelld", "doorbell"} {
		fi, err := os.Stat(filepath.Join(d, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("FIGURE arm64 (%s) %s: %.1f MiB", b.suite, name, float64(fi.Size())/(1<<20))
	}
}

// The daemon links only the OpenCV it uses: core and imgproc (gocv's tag,
// set in the Makefile, and lld's --gc-sections in deploy/build.sh, which
// drops gocv's unused imgcodecs wrappers). No module beyond them is
// NEEDED, and no symbol of a face, people or neural-network detector is
// imported: the README promises no faces, and a binary that carries the
// detectors would weaken it. Besides OpenCV it NEEDs libopus (the sound,
// without libopusfile: the Opus binding's tag) and the C and C++ runtime,
// nothing else. Read with readelf, as a reviewer would.
func TestDaemonLinksOnlyCoreAndImgproc(t *testing.T) {
	trixie, bookworm := need(t), needSuite(t, "bookworm")
	allowed := map[string]bool{"core": true, "imgproc": true}
	needed := regexp.MustCompile(`\(NEEDED\)\s+Shared library: \[libopencv_([a-z0-9_]+)\.so`)
	anyNeeded := regexp.MustCompile(`\(NEEDED\)\s+Shared library: \[([^\]]+)\]`)
	others := regexp.MustCompile(`^(libopencv_(core|imgproc)\.so\.[0-9.]+|libopus\.so\.0|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libm\.so\.6|libc\.so\.6)$`)
	forbidden := regexp.MustCompile(`CascadeClassifier|HOGDescriptor|cv::dnn|FaceDetector|FaceRecognizer|cv::face|objdetect|QRCodeDetector|getDefaultPeopleDetector|readNetFrom`)
	for _, target := range []struct{ name, bin string }{
		{"amd64", filepath.Join(trixie.dist, "amd64/doorbelld")},
		{"arm64-trixie", filepath.Join(trixie.dist, "arm64/doorbelld")},
		{"arm64-bookworm", filepath.Join(bookworm.dist, "arm64/doorbelld")},
	} {
		t.Run(target.name, func(t *testing.T) {
			bin := target.bin
			dynamic := run(t, "readelf", "-d", bin)
			opus := false
			for _, m := range anyNeeded.FindAllStringSubmatch(dynamic, -1) {
				opus = opus || m[1] == "libopus.so.0"
				if !others.MatchString(m[1]) {
					t.Errorf("doorbelld NEEDS %s; only OpenCV's core and imgproc, libopus and the C and C++ runtime are allowed (build with make, which sets the build tags and links with lld --gc-sections and --as-needed)", m[1])
				}
			}
			if !opus {
				t.Errorf("doorbelld does not NEED libopus.so.0, which encodes and decodes its sound:\n%s", dynamic)
			}
			var modules []string
			for _, m := range needed.FindAllStringSubmatch(dynamic, -1) {
				modules = append(modules, m[1])
				if !allowed[m[1]] {
					t.Errorf("doorbelld NEEDS libopencv_%s; only core and imgproc are allowed (build with make, which sets gocv's tag and links with lld --gc-sections)", m[1])
				}
			}
			if len(modules) == 0 {
				t.Fatalf("readelf -d %s shows no OpenCV library: the check reads the wrong file", bin)
			}
			syms := run(t, "readelf", "-W", "--dyn-syms", "-C", bin)
			cv := 0
			for _, line := range strings.Split(syms, "\n") {
				if strings.Contains(line, "cv::") {
					cv++
				}
				if forbidden.MatchString(line) {
					t.Errorf("doorbelld imports a detector's symbol: %s", strings.TrimSpace(line))
				}
			}
			if cv < 20 {
				t.Fatalf("readelf --dyn-syms shows only %d OpenCV symbols: the check reads the wrong file", cv)
			}
			t.Logf("FIGURE %s doorbelld: %d OpenCV modules NEEDED (%s), %d OpenCV symbols, none of a detector", target.name, len(modules), strings.Join(modules, ", "), cv)

			// The live view's encoder beside it: libx264 and the C library.
			enc := run(t, "readelf", "-d", filepath.Join(filepath.Dir(bin), "doorbell-encoder"))
			var encNeeded []string
			for _, m := range anyNeeded.FindAllStringSubmatch(enc, -1) {
				encNeeded = append(encNeeded, m[1])
				if m[1] != "libx264.so.164" && m[1] != "libc.so.6" {
					t.Errorf("doorbell-encoder NEEDS %s; only libx264 and the C library are allowed", m[1])
				}
			}
			if !slices.Contains(encNeeded, "libx264.so.164") {
				t.Errorf("doorbell-encoder does not NEED libx264.so.164:\n%s", enc)
			}
			t.Logf("FIGURE %s doorbell-encoder NEEDS %s", target.name, strings.Join(encNeeded, ", "))
		})
	}
}

func TestArm64VersionUnderQemu(t *testing.T) { forEachSuite(t, testArm64VersionUnderQemu) }

func testArm64VersionUnderQemu(t *testing.T, b builtT) {
	// Without binfmt_misc: the emulator with the arm64 system as its library
	// root. BLAS and LAPACK are links through /etc/alternatives, which -L
	// does not follow into the arm64 system: their directories are named.
	out := run(t, "qemu-aarch64-static", "-L", b.runtime,
		"-E", "LD_LIBRARY_PATH=/usr/lib/aarch64-linux-gnu/blas:/usr/lib/aarch64-linux-gnu/lapack",
		filepath.Join(b.dist, "arm64/doorbelld"), "--version")
	if !strings.HasPrefix(out, "doorbelld ") || !strings.Contains(out, "linux/arm64") || !strings.Contains(out, "OpenCV "+opencvVersion[b.suite]) {
		t.Errorf("doorbelld --version under qemu-aarch64: %q", out)
	}
	out = run(t, "qemu-aarch64-static", filepath.Join(b.dist, "arm64/doorbell"), "--version")
	if !strings.HasPrefix(out, "doorbell ") || !strings.Contains(out, "linux/arm64") {
		t.Errorf("doorbell --version under qemu-aarch64: %q", out)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var insecure = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

type health struct {
	Camera struct {
		State string
		FPS   float64
	}
	Uptime float64 `json:"uptime_s"`
}

func getHealth(addr string) (health, error) {
	var h health
	resp, err := insecure.Get("https://" + addr + "/healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return h, fmt.Errorf("/healthz: %s", resp.Status)
	}
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

func rssKiB(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// The 5-second demo, in the arm64 system (a chroot: everything in it,
// ffmpeg included, is arm64 and runs emulated through binfmt_misc).
func TestArm64DemoUnderQemu(t *testing.T) { forEachSuite(t, testArm64DemoUnderQemu) }

func testArm64DemoUnderQemu(t *testing.T, b builtT) {
	c := newChroot(t, b.runtime)
	c.install(t, filepath.Join(b.dist, "arm64/doorbelld"), "/usr/local/bin/doorbelld")
	addr := freePort(t)
	cmd := c.command("/usr/local/bin/doorbelld", "-demo", "-listen", addr)
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			<-done
		}
	}()
	start := time.Now()
	var h health
	for {
		var err error
		if h, err = getHealth(addr); err == nil {
			break
		}
		select {
		case err := <-done:
			exited = true
			t.Fatalf("doorbelld -demo exited: %v\n%s", err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("no /healthz within 2 minutes under emulation: %v\n%s", err, out.String())
		}
	}
	up := time.Since(start)
	time.Sleep(5 * time.Second)
	h, err := getHealth(addr)
	if err != nil {
		t.Fatalf("/healthz after 5 s: %v\n%s", err, out.String())
	}
	if h.Camera.State != "running" || h.Camera.FPS <= 0 || h.Uptime < 5 {
		t.Errorf("after 5 s under emulation: %+v", h)
	}
	rss := rssKiB(cmd.Process.Pid)
	t.Logf("FIGURE arm64 ("+b.suite+") doorbelld -demo under qemu-aarch64: answering after %v; after 5 s: camera %s at %.1f fps, RSS %.1f MiB (qemu included)",
		up.Round(100*time.Millisecond), h.Camera.State, h.Camera.FPS, float64(rss)/1024)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Errorf("doorbelld -demo did not stop cleanly on SIGINT: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("doorbelld -demo did not stop within 30 s of SIGINT\n%s", out.String())
	}
	if !strings.Contains(out.String(), "Status page: https://"+addr+"/healthz") {
		t.Errorf("the demo did not print its status page:\n%s", out.String())
	}
}

func debField(t *testing.T, deb, field string) string {
	t.Helper()
	return strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, field))
}

func TestDebPackages(t *testing.T) { forEachSuite(t, testDebPackages) }

func testDebPackages(t *testing.T, b builtT) {
	example, err := os.ReadFile(filepath.Join(top, "deploy/doorbell.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	debs := map[string]string{"arm64": b.debArm64}
	if b.suite == suites[0] {
		debs["amd64"] = b.debAmd64 // built natively, the same for every suite
	}
	for arch, deb := range debs {
		t.Run(arch, func(t *testing.T) {
			if got := debField(t, deb, "Architecture"); got != arch {
				t.Errorf("Architecture %q", got)
			}
			if got := debField(t, deb, "Package"); got != "doorbell" {
				t.Errorf("Package %q", got)
			}
			deps := debField(t, deb, "Depends")
			for _, want := range []string{"libopencv-core", "libopencv-imgproc", "libopus0", "libx264-164", "libc6", "ffmpeg", "adduser", "alsa-utils", "espeak-ng"} {
				if !strings.Contains(deps, want) {
					t.Errorf("Depends lacks %s: %s", want, deps)
				}
			}
			// Only the two OpenCV modules doorbelld links.
			for _, m := range regexp.MustCompile(`libopencv-([a-z0-9]*[a-z])[0-9]+\b`).FindAllStringSubmatch(deps, -1) {
				if m[1] != "core" && m[1] != "imgproc" {
					t.Errorf("Depends names libopencv-%s, which doorbelld does not use: %s", m[1], deps)
				}
			}
			contents := run(t, "dpkg-deb", "-c", deb)
			for path, mode := range map[string]string{
				"./usr/bin/doorbelld":                         "-rwxr-xr-x root/root",
				"./usr/bin/doorbell":                          "-rwxr-xr-x root/root",
				"./usr/lib/doorbell/doorbell-setup":           "-rwxr-xr-x root/root",
				"./usr/lib/doorbell/doorbell-encoder":         "-rwxr-xr-x root/root",
				"./lib/systemd/system/doorbell.service":       "-rw-r--r-- root/root",
				"./lib/systemd/system/doorbell-setup.service": "-rw-r--r-- root/root",
				"./etc/doorbell/doorbell.toml":                "-rw-r--r-- root/root",
				"./usr/share/doc/doorbell/copyright":          "-rw-r--r-- root/root",
			} {
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(mode) + `\s.*\s` + regexp.QuoteMeta(path) + `$`).MatchString(contents) {
					t.Errorf("the package lacks %s (%s):\n%s", path, mode, contents)
				}
			}
			x := t.TempDir()
			run(t, "dpkg-deb", "-e", deb, filepath.Join(x, "DEBIAN"))
			run(t, "dpkg-deb", "-x", deb, x)
			if c, _ := os.ReadFile(filepath.Join(x, "DEBIAN/conffiles")); string(c) != "/etc/doorbell/doorbell.toml\n" {
				t.Errorf("conffiles: %q", c)
			}
			// The example config, with the Raspberry Pi camera, and the chime
			// and LED on the README's pins.
			conf, _ := os.ReadFile(filepath.Join(x, "etc/doorbell/doorbell.toml"))
			ex, got := strings.Split(string(example), "\n"), strings.Split(string(conf), "\n")
			var diffs []string
			for i := 0; i < len(ex) && i < len(got); i++ {
				if ex[i] != got[i] {
					diffs = append(diffs, ex[i]+" → "+got[i])
				}
			}
			want := []string{`source = "synthetic" → source = "rpicam"`, `pin = "" → pin = "GPIO27"`, `pin = "" → pin = "GPIO22"`}
			if len(ex) != len(got) || strings.Join(diffs, "\n") != strings.Join(want, "\n") {
				t.Errorf("/etc/doorbell/doorbell.toml differs from the example config by %q, want %q", diffs, want)
			}
			if arch == "amd64" {
				out := run(t, filepath.Join(x, "usr/bin/doorbelld"), "-check-config", filepath.Join(x, "etc/doorbell/doorbell.toml"))
				if !strings.HasSuffix(strings.TrimSpace(out), ": ok") {
					t.Errorf("the packaged config does not check: %s", out)
				}
			}
			fi, err := os.Stat(deb)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("FIGURE %s: %.1f MiB", filepath.Base(deb), float64(fi.Size())/(1<<20))
		})
	}
}

func getent(t *testing.T, c *chroot, db, key string) string {
	t.Helper()
	out, err := c.command("getent", db, key).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func TestDebInstallUpgradePurgeInArm64System(t *testing.T) {
	forEachSuite(t, testDebInstallUpgradePurgeInArm64System)
}

func testDebInstallUpgradePurgeInArm64System(t *testing.T, b builtT) {
	c := newChroot(t, b.runtime)
	if getent(t, c, "group", "gpio") != "" {
		t.Fatal("the test system already has a gpio group")
	}
	c.install(t, b.debArm64, "/tmp/doorbell.deb")
	c.run(t, "dpkg", "-i", "/tmp/doorbell.deb")

	// The user, its groups, the data directory.
	if u := getent(t, c, "passwd", "doorbell"); !strings.Contains(u, ":/var/lib/doorbell:/usr/sbin/nologin") {
		t.Errorf("doorbell user: %q", u)
	}
	groups := strings.Fields(c.run(t, "id", "-nG", "doorbell"))
	for _, g := range []string{"doorbell", "video", "gpio", "audio"} {
		if !contains(groups, g) {
			t.Errorf("doorbell is not in group %s: %v", g, groups)
		}
	}
	if st := c.run(t, "stat", "-c", "%a %U %G", "/var/lib/doorbell"); strings.TrimSpace(st) != "700 doorbell doorbell" {
		t.Errorf("/var/lib/doorbell: %s", st)
	}
	// trixie's systemctl links to the unit's merged-/usr path.
	if l, err := os.Readlink(c.path("/etc/systemd/system/multi-user.target.wants/doorbell.service")); err != nil || (l != "/lib/systemd/system/doorbell.service" && l != "/usr/lib/systemd/system/doorbell.service") {
		t.Errorf("doorbell.service not enabled: %q %v", l, err)
	}
	if out := c.run(t, "dpkg-query", "-W", "-f", "${Conffiles}", "doorbell"); !strings.Contains(out, "/etc/doorbell/doorbell.toml ") {
		t.Errorf("not a conffile: %q", out)
	}
	// The installed daemon runs and accepts the installed config.
	if out := c.run(t, "doorbelld", "-check-config", "/etc/doorbell/doorbell.toml"); !strings.Contains(out, "ok") {
		t.Errorf("doorbelld -check-config: %s", out)
	}

	// The owner's changes to the config survive a reinstall or upgrade; the
	// data survives everything.
	conf := c.path("/etc/doorbell/doorbell.toml")
	orig, _ := os.ReadFile(conf)
	changed := strings.Replace(string(orig), `name = "doorbell"`, `name = "front door"`, 1)
	if err := os.WriteFile(conf, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.path("/var/lib/doorbell/device.key"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.run(t, "dpkg", "-i", "/tmp/doorbell.deb")
	if got, _ := os.ReadFile(conf); string(got) != changed {
		t.Error("reinstalling the package lost the owner's config changes")
	}

	// Purge: everything goes but the data directory, which root keeps.
	c.run(t, "dpkg", "--purge", "doorbell")
	for _, p := range []string{"/usr/bin/doorbelld", "/usr/bin/doorbell", "/usr/lib/doorbell", "/lib/systemd/system/doorbell.service",
		"/lib/systemd/system/doorbell-setup.service", "/etc/doorbell", "/etc/systemd/system/multi-user.target.wants/doorbell.service",
		"/var/lib/doorbell-package", "/var/lib/systemd/deb-systemd-helper-enabled/doorbell.service.dsh-also"} {
		if _, err := os.Lstat(c.path(p)); err == nil {
			t.Errorf("%s is still there after purge", p)
		}
	}
	for db, key := range map[string]string{"passwd": "doorbell", "group": "doorbell"} {
		if e := getent(t, c, db, key); e != "" {
			t.Errorf("%s entry left after purge: %s", db, e)
		}
	}
	if e := getent(t, c, "group", "gpio"); e != "" {
		t.Errorf("the gpio group the package made is left after purge: %s", e)
	}
	if st := c.run(t, "stat", "-c", "%a %U %G", "/var/lib/doorbell"); strings.TrimSpace(st) != "700 root root" {
		t.Errorf("after purge /var/lib/doorbell is %s; want it kept, 700, owned by root", st)
	}
	if got, _ := os.ReadFile(c.path("/var/lib/doorbell/device.key")); string(got) != "secret" {
		t.Error("purge removed the data")
	}
	if out, _ := c.command("dpkg-query", "-W", "doorbell").CombinedOutput(); !strings.Contains(string(out), "no packages found") {
		t.Errorf("dpkg still knows the package: %s", out)
	}

	// Installing again gives the kept data back to the (new) doorbell user.
	c.run(t, "dpkg", "-i", "/tmp/doorbell.deb")
	if st := c.run(t, "stat", "-c", "%a %U", "/var/lib/doorbell", "/var/lib/doorbell/device.key"); st != "700 doorbell\n600 doorbell\n" {
		t.Errorf("after reinstalling: %q", st)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unitDirectives reads a unit file's Key=Value lines (every value of a
// repeated key, in order).
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a directive: %q", path, line)
		}
		d[k] = append(d[k], v)
	}
	return d
}

func TestServiceUnitSandbox(t *testing.T) {
	d := unitDirectives(t, filepath.Join(top, "deploy/doorbell.service"))
	for k, want := range map[string]string{
		"Type": "notify", "WatchdogSec": "30s", "Restart": "on-failure", "NotifyAccess": "main",
		"User": "doorbell", "SupplementaryGroups": "video gpio audio", "StateDirectory": "doorbell", "StateDirectoryMode": "0700",
		"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
		"CapabilityBoundingSet": "", "DevicePolicy": "closed",
	} {
		if got := d[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	// The address families, and netlink: WebRTC lists the interfaces
	// through NETLINK_ROUTE (socket(AF_NETLINK, …, NETLINK_ROUTE)).
	if got := d["RestrictAddressFamilies"]; len(got) != 1 || got[0] != "AF_UNIX AF_INET AF_INET6 AF_NETLINK" {
		t.Errorf("RestrictAddressFamilies=%q", got)
	}
	if got := d["SystemCallFilter"]; len(got) == 0 || got[0] != "@system-service" {
		t.Errorf("SystemCallFilter=%q, want @system-service first", got)
	}
	// Only the data directory is writable: no ReadWritePaths at all.
	for _, k := range []string{"ReadWritePaths", "ReadWriteDirectories", "BindPaths", "InaccessiblePaths"} {
		if len(d[k]) > 0 {
			t.Errorf("%s=%q: only the StateDirectory may be writable", k, d[k])
		}
	}
	// Devices: the camera (V4L2, media controller, DMA buffers), the GPIO
	// chip, the encoder (a V4L2 device too) and ALSA's, nothing else.
	allowed := map[string]bool{"char-video4linux rw": true, "char-media rw": true, "char-dma_heap rw": true, "char-gpiochip rw": true, "char-alsa rw": true}
	for _, a := range d["DeviceAllow"] {
		if !allowed[a] {
			t.Errorf("DeviceAllow=%s is not a camera, GPIO, encoder or sound device", a)
		}
	}
	if len(d["DeviceAllow"]) != len(allowed) {
		t.Errorf("DeviceAllow=%q", d["DeviceAllow"])
	}
	if got := d["ExecStart"]; len(got) != 1 || got[0] != "/usr/bin/doorbelld -config /etc/doorbell/doorbell.toml" {
		t.Errorf("ExecStart=%q", got)
	}
}

// systemd-analyze verify and security, on the units as installed in the
// arm64 system (so verify also finds the programs they start).
func TestServiceUnitVerifiesAndScores(t *testing.T) {
	// This machine's systemd-analyze (Debian 12's) verifies against the
	// bookworm system: in trixie's, it reports trixie's own newer units.
	b := needSuite(t, "bookworm")
	c := newChroot(t, b.runtime)
	c.install(t, b.debArm64, "/tmp/doorbell.deb")
	c.run(t, "dpkg", "-i", "/tmp/doorbell.deb")
	for _, unit := range []string{"doorbell.service", "doorbell-setup.service"} {
		out, err := exec.Command("systemd-analyze", "verify", "--root="+c.root, "/lib/systemd/system/"+unit).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--threshold=20", "--root="+c.root, "doorbell.service").CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security --threshold=20 (exposure 2.0): %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for doorbell\.service: (\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("FIGURE systemd-analyze security --offline=true doorbell.service: exposure %.1f", score)
	if score > 2.0 {
		t.Errorf("exposure %.1f, want 2.0 or lower:\n%s", score, out)
	}
	// The first-boot service runs as root with a few capabilities (its job:
	// SSH, Wi-Fi, handing the card to the daemon's user), sandboxed around
	// that. TestServiceUnderSystemd runs it under the sandbox.
	out, _ = exec.Command("systemd-analyze", "security", "--offline=true", "--root="+c.root, "doorbell-setup.service").CombinedOutput()
	m = regexp.MustCompile(`Overall exposure level for doorbell-setup\.service: (\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ = strconv.ParseFloat(string(m[1]), 64)
	t.Logf("FIGURE systemd-analyze security --offline=true doorbell-setup.service: exposure %.1f (was 8.0)", score)
	if score > 2.5 {
		t.Errorf("doorbell-setup.service exposure %.1f, want 2.5 or lower:\n%s", score, out)
	}
}

// The real daemon under a fake systemd: READY=1 once it listens, WATCHDOG=1
// while it runs, and silence when it hangs (SIGSTOP), which is what makes
// systemd kill and restart it.
func TestDaemonNotifiesSystemdAndStopsPingingWhenHung(t *testing.T) {
	need(t)
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	addr := freePort(t)
	cmd := exec.Command(filepath.Join(dist, "amd64/doorbelld"), "-demo", "-listen", addr)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=600000")
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	}()
	next := func(within time.Duration) string {
		t.Helper()
		select {
		case m := <-msgs:
			return m
		case <-time.After(within):
			t.Fatalf("systemd heard nothing for %v\n%s", within, out.String())
			return ""
		}
	}
	if m := next(30 * time.Second); !strings.HasPrefix(m, "READY=1") {
		t.Fatalf("first message %q, want READY=1", m)
	}
	if _, err := getHealth(addr); err != nil {
		t.Fatalf("READY=1 before /healthz answers: %v", err)
	}
	for i := 0; i < 3; i++ {
		if m := next(2 * time.Second); m != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", m)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	for len(msgs) > 0 {
		<-msgs
	}
	select {
	case m := <-msgs:
		t.Fatalf("a stopped daemon sent %q", m)
	case <-time.After(1500 * time.Millisecond): // 2.5 watchdog intervals
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if m := next(5 * time.Second); m != "WATCHDOG=1" {
		t.Fatalf("after SIGCONT: %q", m)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		m := next(10 * time.Second)
		if m == "STOPPING=1" {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("doorbelld exit: %v\n%s", err, out.String())
	}
}

// overlay is a writable view of lower (which it never changes), without
// /proc or /dev mounted: for making images from.
func overlay(t *testing.T, lower string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(dir, "root")
	run(t, "mount", "-t", "overlay", "overlay", "-o", "lowerdir="+lower+",upperdir="+filepath.Join(dir, "upper")+",workdir="+filepath.Join(dir, "work"), root)
	t.Cleanup(func() {
		if err := exec.Command("umount", root).Run(); err != nil {
			exec.Command("umount", "-l", root).Run()
		}
	})
	return root
}

const (
	bootStart = 2048 // sectors: the boot partition starts at 1 MiB, like Raspberry Pi OS's
	bootMiB   = 256
	rootStart = bootStart + bootMiB*2048
)

// makeBaseImage packs an arm64 root filesystem into a Raspberry Pi OS-like
// image: a DOS partition table, a FAT boot partition (with the "ssh" file
// that turns SSH on in Raspberry Pi OS) and an ext4 root partition.
func makeBaseImage(t *testing.T, rootfs, img string) {
	t.Helper()
	du := strings.Fields(run(t, "du", "-s", "-x", "--block-size=1M", rootfs))
	used, _ := strconv.Atoi(du[0])
	rootMiB := used + used/5 + 200
	run(t, "truncate", "-s", fmt.Sprintf("%dM", 1+bootMiB+rootMiB), img)
	sfdisk := exec.Command("sfdisk", "-q", img)
	sfdisk.Stdin = strings.NewReader(fmt.Sprintf("label: dos\nstart=%d, size=%d, type=c\nstart=%d, type=83\n", bootStart, bootMiB*2048, rootStart))
	if out, err := sfdisk.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	run(t, "mkfs.vfat", "-F", "32", "-s", "1", "-n", "bootfs", "--offset", strconv.Itoa(bootStart), img, strconv.Itoa(bootMiB*1024))
	boot := t.TempDir()
	for name, content := range map[string]string{"ssh": "", "cmdline.txt": "console=serial0,115200 root=LABEL=rootfs rootwait\n"} {
		if err := os.WriteFile(filepath.Join(boot, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, "mcopy", "-i", fmt.Sprintf("%s@@%d", img, bootStart*512), filepath.Join(boot, name), "::"+name)
	}
	run(t, "mkfs.ext4", "-q", "-L", "rootfs", "-E", fmt.Sprintf("offset=%d", rootStart*512), "-d", rootfs, img, fmt.Sprintf("%dM", rootMiB))
}

func TestImageRecipe(t *testing.T) {
	b := need(t)
	// A used system, as a downloaded image might be: SSH on with host keys,
	// a machine-id, a random seed.
	base := overlay(t, b.runtime)
	for p, content := range map[string]string{
		"/etc/machine-id":                "0123456789abcdef0123456789abcdef\n",
		"/var/lib/systemd/random-seed":   "seed",
		"/etc/hostname":                  "raspberrypi\n",
		"/etc/NetworkManager/.placehold": "",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(base, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"ssh_host_ed25519_key", "ssh_host_rsa_key"} {
		if _, err := os.Stat(filepath.Join(base, "etc/ssh", k)); err != nil {
			t.Fatalf("the base system should have SSH host keys for this test: %v", err)
		}
	}
	dir := t.TempDir()
	baseImg, outImg := filepath.Join(dir, "base.img"), filepath.Join(dir, "doorbell.img")
	start := time.Now()
	makeBaseImage(t, base, baseImg)
	before, _ := os.Stat(baseImg)
	t.Logf("base image made in %v", time.Since(start).Round(100*time.Millisecond))

	start = time.Now()
	cmd := exec.Command(filepath.Join(top, "deploy/image/build.sh"), "-grow", "256M", baseImg, outImg, b.debArm64)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy/image/build.sh: %v\n%s", err, out)
	}
	t.Logf("FIGURE image recipe ran in %v", time.Since(start).Round(100*time.Millisecond))
	if after, _ := os.Stat(baseImg); after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Error("the recipe changed the base image")
	}

	// Offline: mount the result read-only and look.
	parts := run(t, "sfdisk", "-d", outImg)
	m := regexp.MustCompile(`(?m)^\S+2 : start=\s*(\d+), size=\s*(\d+), type=83`).FindStringSubmatch(parts)
	if m == nil {
		t.Fatalf("no root partition in the result:\n%s", parts)
	}
	start2, _ := strconv.Atoi(m[1])
	size2, _ := strconv.Atoi(m[2])
	if start2 != rootStart {
		t.Errorf("the root partition moved to sector %d", start2)
	}
	loop := strings.TrimSpace(run(t, "losetup", "--find", "--show", "--read-only", "--offset", strconv.Itoa(start2*512), "--sizelimit", strconv.Itoa(size2*512), outImg))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	if out, err := exec.Command("e2fsck", "-fn", loop).CombinedOutput(); err != nil {
		t.Errorf("the result's root file system has errors: %v\n%s", err, out)
	}
	r := filepath.Join(dir, "root")
	if err := os.Mkdir(r, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-o", "ro,noload", loop, r)
	t.Cleanup(func() { exec.Command("umount", r).Run() })
	p := func(s string) string { return filepath.Join(r, s) }

	uid := lookupID(t, p("/etc/passwd"), "doorbell")
	for path, want := range map[string]string{
		"/usr/bin/doorbelld":                         "-rwxr-xr-x 0",
		"/usr/bin/doorbell":                          "-rwxr-xr-x 0",
		"/usr/lib/doorbell/doorbell-setup":           "-rwxr-xr-x 0",
		"/usr/lib/doorbell/doorbell-encoder":         "-rwxr-xr-x 0",
		"/etc/doorbell/doorbell.toml":                "-rw-r--r-- 0",
		"/lib/systemd/system/doorbell.service":       "-rw-r--r-- 0",
		"/var/lib/doorbell":                          "drwx------ " + uid,
		"/etc/avahi/services/doorbell.service":       "-rw-r--r-- 0",
		"/etc/systemd/journald.conf.d/doorbell.conf": "-rw-r--r-- 0",
	} {
		fi, err := os.Stat(p(path))
		if err != nil {
			t.Errorf("%s missing: %v", path, err)
			continue
		}
		got := fmt.Sprintf("%v %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
		if got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	enabled := map[string]string{
		"/etc/systemd/system/multi-user.target.wants/doorbell.service":     "/lib/systemd/system/doorbell.service",
		"/etc/systemd/system/multi-user.target.wants/avahi-daemon.service": "/lib/systemd/system/avahi-daemon.service",
	}
	for link, want := range enabled {
		// trixie's systemctl links into /usr/lib (merged /usr: the same files).
		if got, err := os.Readlink(p(link)); err != nil || (got != want && got != "/usr"+want) {
			t.Errorf("%s: %q %v, want a link to %s or /usr%s", link, got, err, want, want)
		}
	}
	for _, off := range []string{"/etc/systemd/system/multi-user.target.wants/ssh.service", "/etc/systemd/system/sockets.target.wants/ssh.socket", "/etc/systemd/system/sshd.service"} {
		if _, err := os.Lstat(p(off)); err == nil {
			t.Errorf("SSH is still on: %s", off)
		}
	}
	if h, _ := os.ReadFile(p("/etc/hostname")); string(h) != "doorbell\n" {
		t.Errorf("hostname %q, want doorbell (avahi announces doorbell.local)", h)
	}
	if h, _ := os.ReadFile(p("/etc/hosts")); !regexp.MustCompile(`(?m)^127\.0\.1\.1\s+doorbell$`).Match(h) {
		t.Errorf("/etc/hosts does not name doorbell:\n%s", h)
	}
	if avahi, _ := os.ReadFile(p("/etc/avahi/services/doorbell.service")); !bytes.Contains(avahi, []byte("<type>_https._tcp</type>")) || !bytes.Contains(avahi, []byte("<port>8443</port>")) {
		t.Errorf("avahi service file:\n%s", avahi)
	}
	if j, _ := os.ReadFile(p("/etc/systemd/journald.conf.d/doorbell.conf")); !regexp.MustCompile(`(?m)^Storage=volatile$`).Match(j) {
		t.Errorf("journald keeps logs on the card:\n%s", j)
	}
	if _, err := os.Stat(p("/var/log/journal")); err == nil {
		t.Error("/var/log/journal exists: journald would keep logs on the card")
	}
	// No keys and no per-device state.
	if keys, _ := filepath.Glob(p("/etc/ssh/ssh_host_*")); len(keys) > 0 {
		t.Errorf("SSH host keys left in the image: %v", keys)
	}
	if data, _ := os.ReadDir(p("/var/lib/doorbell")); len(data) > 0 {
		t.Errorf("doorbell data left in the image: %v", data)
	}
	if id, _ := os.ReadFile(p("/etc/machine-id")); len(id) != 0 {
		t.Errorf("machine-id %q left in the image", id)
	}
	for _, f := range []string{"/var/lib/systemd/random-seed", "/usr/sbin/policy-rc.d", "/tmp/doorbell.deb"} {
		if _, err := os.Lstat(p(f)); err == nil {
			t.Errorf("%s left in the image", f)
		}
	}
	if debs, _ := filepath.Glob(p("/var/cache/apt/archives/*.deb")); len(debs) > 0 {
		t.Errorf("package files left in the image: %v", debs)
	}
	// The boot partition: Raspberry Pi OS's "ssh" switch file is gone, the rest stays.
	bootList := run(t, "mdir", "-b", "-i", fmt.Sprintf("%s@@%d", outImg, bootStart*512), "::")
	if strings.Contains(bootList, "::/ssh\n") || !strings.Contains(bootList, "::/cmdline.txt") {
		t.Errorf("boot partition:\n%s", bootList)
	}
	fi, _ := os.Stat(outImg)
	t.Logf("FIGURE image: %d MiB (sparse file)", fi.Size()>>20)
}

// lookupID returns the numeric id of name in a passwd-style file.
func lookupID(t *testing.T, file, name string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 && f[0] == name {
			return f[2]
		}
	}
	t.Fatalf("no %s in %s", name, file)
	return ""
}

// startDaemonIn starts the installed doorbelld in the arm64 system as the
// doorbell user, the way doorbell.service does (config, data dir, setup
// file), and waits until /healthz answers.
func startDaemonIn(t *testing.T, c *chroot, addr string) (stop func() string) {
	t.Helper()
	cmd := exec.Command("chroot", "--userspec=doorbell:doorbell", c.root, "/usr/bin/env", "-i", "PATH=/usr/bin:/bin",
		"DOORBELL_SETUP_FILE=/var/lib/doorbell/setup/doorbell-setup.toml",
		"/usr/bin/doorbelld", "-config", "/etc/doorbell/doorbell.toml", "-listen", addr)
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop = func() string {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Errorf("doorbelld did not stop within 30 s of SIGTERM")
			}
		}
		return out.String()
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := getHealth(addr); err == nil {
			return stop
		}
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("doorbelld exited: %v\n%s", err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("doorbelld did not answer within 2 minutes:\n%s", stop())
		}
	}
}

func pair(t *testing.T, addr, code string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"code": code, "device": "owner's phone"})
	resp, err := insecure.Post("https://"+addr+"/api/pair", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The headless first boot, for real: doorbell setup-card on the owner's
// computer, the card on the boot partition of an arm64 system with the
// package installed, doorbell-setup.service's program as root, then the
// daemon as its user. A malformed card first: the device stays unpaired and
// says why; then a good one: the owner is the first member, and the card's
// pairing link works once.
func TestHeadlessFirstBoot(t *testing.T) {
	b := need(t)
	dir := t.TempDir()
	idFile := filepath.Join(dir, "alice.key")
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idFile, []byte("# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cardFile := filepath.Join(dir, "doorbell-setup.toml")
	cli := exec.Command(filepath.Join(dist, "amd64/doorbell"), "setup-card", "-o", cardFile, "-owner", "alice", "-i", idFile,
		"-wifi", "Home net", "-wifi-country", "gb", "-ssh")
	cli.Stdin = strings.NewReader("correct horse battery\n")
	out, err := cli.CombinedOutput()
	if err != nil {
		t.Fatalf("doorbell setup-card: %v\n%s", err, out)
	}
	link := regexp.MustCompile(`https://doorbell\.local:8443/pair#(\S+)`).FindSubmatch(out)
	if link == nil || !strings.Contains(string(out), "█") {
		t.Fatalf("setup-card printed no pairing link and QR code:\n%s", out)
	}
	code := string(link[1])
	if fi, err := os.Stat(cardFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("card: %v %v", fi, err)
	}
	card, _ := os.ReadFile(cardFile)
	for _, want := range []string{`name = "alice"`, `ssid = "Home net"`, `psk = "correct horse battery"`, `country = "GB"`, "enabled = true", "recipient = \"age1pq1"} {
		if !strings.Contains(string(card), want) {
			t.Errorf("the card lacks %s:\n%s", want, card)
		}
	}
	if out, err := exec.Command(filepath.Join(dist, "amd64/doorbell"), "setup-card", "-o", cardFile, "-owner", "alice", "-i", idFile).CombinedOutput(); err == nil || !strings.Contains(string(out), "already exists") {
		t.Errorf("setup-card overwrote a card: %v\n%s", err, out)
	}

	c := newChroot(t, b.runtime)
	c.install(t, b.debArm64, "/tmp/doorbell.deb")
	c.run(t, "dpkg", "-i", "/tmp/doorbell.deb")
	// This system has SSH on; an image made by the recipe has it off.
	c.run(t, "systemctl", "disable", "ssh.service")
	for _, k := range []string{"rsa", "ecdsa", "ed25519"} {
		os.Remove(c.path("/etc/ssh/ssh_host_" + k + "_key"))
		os.Remove(c.path("/etc/ssh/ssh_host_" + k + "_key.pub"))
	}
	if err := os.MkdirAll(c.path("/etc/NetworkManager/system-connections"), 0o755); err != nil {
		t.Fatal(err)
	}
	bootCard := c.path("/boot/firmware/doorbell-setup.toml")
	if err := os.MkdirAll(filepath.Dir(bootCard), 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)

	// 1. A malformed card: nothing applied, the device unpaired, the reason
	// in the journal and in /healthz.
	bad := strings.Replace(string(card), "[owner]", "[owner", 1)
	if err := os.WriteFile(bootCard, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	c.run(t, "/usr/lib/doorbell/doorbell-setup")
	if _, err := os.Stat(bootCard); !os.IsNotExist(err) {
		t.Fatal("the malformed card is still on the boot partition")
	}
	if keys, _ := filepath.Glob(c.path("/etc/ssh/ssh_host_*")); len(keys) > 0 {
		t.Error("a malformed card turned SSH on")
	}
	stop := startDaemonIn(t, c, addr)
	// The daemon serves while it imports the card: wait for the verdict.
	var setup struct {
		Setup struct{ State, Reason string }
	}
	for deadline := time.Now().Add(time.Minute); setup.Setup.State == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if h, err := insecure.Get("https://" + addr + "/healthz"); err == nil {
			json.NewDecoder(h.Body).Decode(&setup)
			h.Body.Close()
		}
	}
	journal := stop()
	if setup.Setup.State != "rejected" || !strings.Contains(setup.Setup.Reason, "doorbell-setup.toml:8:") {
		t.Errorf("/healthz after a malformed card: %+v", setup.Setup)
	}
	if !strings.Contains(journal, "setup card rejected") || !strings.Contains(journal, "doorbell-setup.toml:8:") {
		t.Errorf("the journal does not say why the card was rejected:\n%s", journal)
	}
	if m, _ := os.ReadFile(c.path("/var/lib/doorbell/members.json")); bytes.Contains(m, []byte("alice")) {
		t.Error("a malformed card made a member")
	}

	// 2. The good card.
	if err := os.WriteFile(bootCard, card, 0o644); err != nil {
		t.Fatal(err)
	}
	setupOut := c.run(t, "/usr/lib/doorbell/doorbell-setup")
	if _, err := os.Stat(bootCard); !os.IsNotExist(err) {
		t.Fatal("the card is still on the boot partition")
	}
	staged := "/var/lib/doorbell/setup/doorbell-setup.toml"
	if st := c.run(t, "stat", "-c", "%a %U", staged); st != "600 doorbell\n" {
		t.Errorf("staged card: %s", st)
	}
	if s, _ := os.ReadFile(c.path(staged)); bytes.Contains(s, []byte("correct horse")) {
		t.Error("the Wi-Fi passphrase was handed to the daemon")
	}
	if keys, _ := filepath.Glob(c.path("/etc/ssh/ssh_host_*_key")); len(keys) == 0 {
		t.Errorf("ssh: true made no host keys\n%s", setupOut)
	}
	if _, err := os.Lstat(c.path("/etc/systemd/system/multi-user.target.wants/ssh.service")); err != nil {
		t.Errorf("ssh: true did not enable the SSH server: %v\n%s", err, setupOut)
	}
	nm, err := os.ReadFile(c.path("/etc/NetworkManager/system-connections/doorbell-wifi.nmconnection"))
	if err != nil || !bytes.Contains(nm, []byte("psk=correct horse battery")) {
		t.Errorf("Wi-Fi connection: %v\n%s", err, nm)
	}
	if st := c.run(t, "stat", "-c", "%a %U", "/etc/NetworkManager/system-connections/doorbell-wifi.nmconnection"); st != "600 root\n" {
		t.Errorf("Wi-Fi connection file: %s", st)
	}

	stop = startDaemonIn(t, c, addr)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if _, err := os.Stat(c.path(staged)); os.IsNotExist(err) {
			break // imported
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not import the card within a minute:\n%s", stop())
		}
	}
	if status, body := pair(t, addr, code); status != 200 || !strings.Contains(body, `"member":"alice"`) {
		t.Errorf("pairing with the card's link: %d %s", status, body)
	}
	if status, body := pair(t, addr, code); status != http.StatusGone {
		t.Errorf("the card's code paired a second time: %d %s", status, body)
	}
	journal = stop()
	if !strings.Contains(journal, "first-time setup done") || strings.Contains(journal, code) {
		t.Errorf("journal:\n%s", journal)
	}
	if _, err := os.Stat(c.path(staged)); !os.IsNotExist(err) {
		t.Error("the staged card was not erased")
	}
	m, _ := os.ReadFile(c.path("/var/lib/doorbell/members.json"))
	if !bytes.Contains(m, []byte(`"name": "alice"`)) {
		t.Errorf("members.json:\n%s", m)
	}

	// 3. A card on a doorbell that has members changes nothing: no SSH, no
	// Wi-Fi. It is logged as ignored and erased.
	c.run(t, "systemctl", "disable", "ssh.service")
	evil := strings.Replace(string(card), `ssid = "Home net"`, `ssid = "Evil net"`, 1)
	if err := os.WriteFile(bootCard, []byte(evil), 0o644); err != nil {
		t.Fatal(err)
	}
	setupOut = c.run(t, "/usr/lib/doorbell/doorbell-setup")
	if !strings.Contains(setupOut, "setup card ignored") {
		t.Errorf("doorbell-setup did not say it ignored the card:\n%s", setupOut)
	}
	if _, err := os.Stat(bootCard); !os.IsNotExist(err) {
		t.Error("the ignored card is still on the boot partition")
	}
	if _, err := os.Lstat(c.path("/etc/systemd/system/multi-user.target.wants/ssh.service")); err == nil {
		t.Errorf("a card on a doorbell with members turned SSH on\n%s", setupOut)
	}
	if nm, _ := os.ReadFile(c.path("/etc/NetworkManager/system-connections/doorbell-wifi.nmconnection")); bytes.Contains(nm, []byte("Evil")) || !bytes.Contains(nm, []byte("psk=correct horse battery")) {
		t.Errorf("a card on a doorbell with members changed the Wi-Fi:\n%s", nm)
	}
	if _, err := os.Stat(c.path(staged)); !os.IsNotExist(err) {
		t.Error("an ignored card was handed to the daemon")
	}
}

// cgroup2Mount finds where the unified cgroup hierarchy is mounted, or
// mounts it.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "cgroup2" {
			return f[1]
		}
	}
	dir := t.TempDir()
	run(t, "mount", "-t", "cgroup2", "cgroup2", dir)
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// removeCgroup removes a cgroup and the ones below it, once they are empty.
func removeCgroup(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeCgroup(filepath.Join(dir, e.Name()))
		}
	}
	for i := 0; i < 50; i++ {
		if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The unit under a real systemd: this machine's own Debian 12 systemd, as
// PID 1 of a container (PID, mount and cgroup namespaces, an overlay of
// this system with the amd64 package installed). It proves what the
// offline checks cannot: the sandbox lets the daemon and its ffmpeg run,
// Type=notify reaches "active", and a hung daemon is killed by the watchdog
// and started again.
func TestServiceUnderSystemd(t *testing.T) {
	b := need(t)
	if _, err := os.Stat("/lib/systemd/systemd"); err != nil {
		t.Fatalf("systemd is not installed (%v); run deploy/setup.sh", err)
	}
	root := overlay(t, "/")
	data, err := os.ReadFile(b.debAmd64)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp/doorbell.deb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "chroot", root, "dpkg", "-i", "/tmp/doorbell.deb")

	// Only doorbell.service and what it needs start; nothing that would
	// change the machine itself (sysctl, binfmt, udev, clock, modules).
	for _, u := range []string{"systemd-sysctl.service", "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount",
		"proc-sys-fs-binfmt_misc.mount", "systemd-modules-load.service", "kmod-static-nodes.service", "systemd-udevd.service",
		"systemd-udev-trigger.service", "systemd-udev-settle.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
		"systemd-timesyncd.service", "systemd-random-seed.service", "systemd-remount-fs.service", "systemd-pstore.service",
		"systemd-hwdb-update.service", "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "sys-kernel-config.mount",
		"sys-fs-fuse-connections.mount", "dev-hugepages.mount", "dev-mqueue.mount", "systemd-journald-audit.socket",
		"systemd-networkd.service", "systemd-networkd-wait-online.service", "systemd-resolved.service", "systemd-firstboot.service",
		"systemd-sysusers.service", "systemd-repart.service", "systemd-boot-update.service", "swap.target", "cryptsetup.target",
		"mosquitto.service", "postgresql.service"} {
		if err := os.Symlink("/dev/null", filepath.Join(root, "etc/systemd/system", u)); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	// The synthetic camera, a loopback port, and a 3-second watchdog.
	addr := freePort(t)
	conf, _ := os.ReadFile(filepath.Join(root, "etc/doorbell/doorbell.toml"))
	test := strings.NewReplacer(`source = "rpicam"`, `source = "synthetic"`, "width = 1280", "width = 320", "height = 720", "height = 240", "fps = 30.0", "fps = 10.0").Replace(string(conf))
	if err := os.WriteFile(filepath.Join(root, "etc/doorbell/test.toml"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	dropin := filepath.Join(root, "etc/systemd/system/doorbell.service.d")
	if err := os.MkdirAll(dropin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dropin, "test.conf"), []byte("[Service]\nExecStart=\nExecStart=/usr/bin/doorbelld -config /etc/doorbell/test.toml -listen "+addr+"\nWatchdogSec=3s\nRestartSec=1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A setup card (owner only: this machine has no Wi-Fi to join), so
	// that doorbell-setup.service runs first, under its own sandbox.
	idFile := filepath.Join(t.TempDir(), "alice.key")
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "boot/firmware"), 0o755); err != nil {
		t.Fatal(err)
	}
	bootCard := filepath.Join(root, "boot/firmware/doorbell-setup.toml")
	if out, err := exec.Command(filepath.Join(dist, "amd64/doorbell"), "setup-card", "-o", bootCard, "-owner", "alice", "-i", idFile).CombinedOutput(); err != nil {
		t.Fatalf("doorbell setup-card: %v\n%s", err, out)
	}

	// A cgroup of its own, which the container sees as its root.
	cg := filepath.Join(cgroup2Mount(t), fmt.Sprintf("doorbell-test-%d", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroup(cg) })
	// The container's mounts must not reach this machine's namespace:
	// unshare makes every mount private, which needs / to be a mount
	// point. In a chroot (fresh-make-test's) it is not, so the root is
	// made a private mount of its own first, and unmounted afterwards.
	propagation := "private"
	if exec.Command("mountpoint", "-q", "/").Run() != nil {
		if out, err := exec.Command("sh", "-c", `mount --bind "$1" "$1" && mount --make-rprivate "$1"`, "sh", root).CombinedOutput(); err != nil {
			t.Fatalf("making %s a private mount: %v\n%s", root, err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", root).Run() })
		propagation = "unchanged"
	}
	boot := `set -e
echo $$ > "$1/cgroup.procs"
exec unshare --cgroup --pid --mount --uts --ipc --fork --propagation "$3" sh -c '
  set -e
  r=$0
  mount -t proc proc "$r/proc"
  mount -t sysfs -o ro sysfs "$r/sys"
  mount -t cgroup2 cgroup2 "$r/sys/fs/cgroup"
  mount --rbind /dev "$r/dev"
  mount -t tmpfs tmpfs "$r/run"
  mount -t tmpfs tmpfs "$r/tmp"
  exec chroot "$r" /usr/bin/env -i container=doorbell-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --unit=doorbell.service --log-target=journal --show-status=false' "$2"`
	cmd := exec.Command("sh", "-c", boot, "sh", cg, root, propagation)
	var console syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &console, &console
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// PID 1 of the container is unshare's child.
	var pid1 string
	for i := 0; i < 100 && pid1 == ""; i++ {
		children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		pid1 = strings.TrimSpace(string(children))
		time.Sleep(50 * time.Millisecond)
	}
	if pid1 == "" {
		t.Fatalf("the container did not start:\n%s", console.String())
	}
	t.Cleanup(func() {
		if n, err := strconv.Atoi(pid1); err == nil {
			syscall.Kill(n, syscall.Signal(34+4)) // SIGRTMIN+4: systemd powers off
		}
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			if n, err := strconv.Atoi(pid1); err == nil {
				syscall.Kill(n, syscall.SIGKILL)
			}
			<-exited
		}
	})
	// nsenter -r takes the container's root from its PID 1: entering a
	// mount namespace resets the root to that namespace's own, which in
	// a chroot (fresh-make-test's) is not this machine's, so a chroot to
	// the path of root would find nothing there.
	systemctl := func(args ...string) string {
		out, _ := exec.Command("nsenter", append([]string{"-t", pid1, "-m", "-p", "-r", "systemctl", "--no-pager"}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	show := func(props ...string) map[string]string {
		m := map[string]string{}
		for _, line := range strings.Split(systemctl(append([]string{"show", "doorbell.service"}, func() (a []string) {
			for _, p := range props {
				a = append(a, "-p", p)
			}
			return
		}()...)...), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				m[k] = v
			}
		}
		return m
	}
	journal := func() string {
		out, _ := exec.Command("nsenter", "-t", pid1, "-m", "-p", "-r", "journalctl", "--no-pager", "-u", "doorbell.service").CombinedOutput()
		return string(out)
	}
	waitFor := func(what string, within time.Duration, ok func(map[string]string) bool, props ...string) map[string]string {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			s := show(props...)
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("doorbell.service never %s: %v\n%s\nconsole:\n%s", what, s, journal(), console.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Type=notify: "active" only after READY=1.
	s := waitFor("became active", time.Minute, func(s map[string]string) bool { return s["ActiveState"] == "active" },
		"ActiveState", "SubState", "StatusText", "MainPID", "NRestarts")
	if !strings.HasPrefix(s["StatusText"], "listening on ") {
		t.Errorf("StatusText %q", s["StatusText"])
	}
	// The sandbox lets the camera and the encoder (ffmpeg) run.
	var hz struct {
		Camera struct{ State string }
		Stream struct {
			Encoder struct{ State string }
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := insecure.Get("https://" + addr + "/healthz")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&hz)
			resp.Body.Close()
			if hz.Camera.State == "running" && hz.Stream.Encoder.State == "running" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("under the sandbox the camera is %q and the encoder %q (%v)\n%s", hz.Camera.State, hz.Stream.Encoder.State, err, journal())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// doorbell-setup.service ran under its sandbox: the card left the boot
	// partition, and the daemon made its owner the first member.
	setup := func() string {
		out, _ := exec.Command("nsenter", "-t", pid1, "-m", "-p", "-r", "journalctl", "--no-pager", "-u", "doorbell-setup.service").CombinedOutput()
		return string(out)
	}
	if r := systemctl("show", "-p", "Result", "-p", "ExecMainStatus", "doorbell-setup.service"); r != "Result=success\nExecMainStatus=0" {
		t.Errorf("doorbell-setup.service under its sandbox: %s\n%s", r, setup())
	}
	if _, err := os.Stat(bootCard); !os.IsNotExist(err) {
		t.Errorf("the sandboxed doorbell-setup.service left the card on the boot partition (%v)\n%s", err, setup())
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if m, _ := os.ReadFile(filepath.Join(root, "var/lib/doorbell/members.json")); bytes.Contains(m, []byte(`"name": "alice"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not import the staged card within 30 s\n%s\n%s", setup(), journal())
		}
	}
	o, _ := exec.Command("nsenter", "-t", pid1, "-m", "-p", "-r", "systemd-analyze", "security", "doorbell.service").CombinedOutput()
	if m := regexp.MustCompile(`Overall exposure level for doorbell\.service: (\d+\.\d+)`).FindSubmatch(o); m != nil {
		t.Logf("FIGURE systemd-analyze security doorbell.service (running, online): exposure %s", m[1])
	}

	// A hung daemon (stopped with SIGSTOP) misses its watchdog pings: systemd
	// kills it and starts it again.
	oldPID := s["MainPID"]
	systemctl("kill", "-s", "STOP", "--kill-whom=main", "doorbell.service")
	waitFor("was restarted by the watchdog", 30*time.Second, func(s map[string]string) bool {
		return s["NRestarts"] == "1" && s["ActiveState"] == "active" && s["MainPID"] != oldPID
	}, "ActiveState", "MainPID", "NRestarts")
	if j := journal(); !strings.Contains(j, "doorbell.service: Watchdog timeout") {
		t.Errorf("systemd did not say it was the watchdog:\n%s", j)
	}

	// And it stops cleanly.
	systemctl("stop", "doorbell.service")
	s = show("ActiveState", "Result")
	if s["ActiveState"] != "inactive" || s["Result"] != "success" {
		t.Errorf("after systemctl stop: %v\n%s", s, journal())
	}
}
