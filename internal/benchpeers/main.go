// Command benchpeers measures Doorbell side by side with its peers on this
// machine, in one run, and prints each figure for both with their ratio:
// Debian's motion for motion detection, and go2rtc for streaming when a
// go2rtc binary is given. It builds nothing from the peers' sources. Run
// it with make bench-peers [GO2RTC=/path/to/go2rtc].
//
// Each side gets the same picture (1280x720 at 30 fps, x264 ultrafast,
// zerolatency, Constrained Baseline, 2 Mbit/s, a keyframe each 0.5 s),
// and the viewers are the same pion WebRTC clients in this process, so
// their own decryption does not count as the server's CPU.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"doorbell/pairing"
	"doorbell/stream"
)

const vtestPath = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"

type options struct {
	doorbelld, go2rtc, video     string
	window                       time.Duration
	viewers                      int
	skipMotion, glass, glassOnly bool
}

func main() {
	var o options
	flag.StringVar(&o.doorbelld, "doorbelld", "bin/doorbelld", "the doorbelld binary to measure")
	flag.StringVar(&o.go2rtc, "go2rtc", os.Getenv("GO2RTC"), "a go2rtc binary to measure against (default $GO2RTC; none: Doorbell and motion only)")
	flag.StringVar(&o.video, "video", vtestPath, "the video both motion detectors scan (Debian's opencv-doc ships vtest.avi)")
	flag.DurationVar(&o.window, "window", 10*time.Second, "how long each CPU figure is measured")
	flag.IntVar(&o.viewers, "viewers", 8, "viewers for the memory and per-viewer CPU figures")
	flag.BoolVar(&o.skipMotion, "skip-motion", false, "measure streaming only")
	flag.BoolVar(&o.glass, "glass", true, "measure glass-to-glass latency in Chromium (Doorbell's own page through go test, from the source tree)")
	flag.BoolVar(&o.glassOnly, "glass-only", false, "measure glass-to-glass latency only")
	stamped := flag.String("stamped-source", "", "internal: publish the stamped synthetic camera to this RTSP URL (go2rtc's source for glass-to-glass)")
	flag.Parse()
	if *stamped != "" {
		if err := stampedSource(*stamped); err != nil {
			fmt.Fprintln(os.Stderr, "bench-peers -stamped-source:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-peers:", err)
		os.Exit(1)
	}
}

// figure is one row of the table: Doorbell's value, the peer's, and
// whether less is better.
type figure struct {
	name, unit string
	ours, peer float64
	hasPeer    bool
	peerName   string
}

func run(o options) error {
	for _, tool := range []string{"ffmpeg", "motion"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed: apt-get install %s (deploy/setup.sh lists it)", tool, tool)
		}
	}
	if _, err := os.Stat(o.doorbelld); err != nil {
		return fmt.Errorf("no doorbelld to measure: %w; run make build first", err)
	}
	if _, err := os.Stat(o.video); err != nil {
		return fmt.Errorf("no video to scan: %w; install opencv-doc or pass -video FILE", err)
	}
	var rows []figure

	add := func(name, unit string, a, b float64) {
		rows = append(rows, figure{name: name, unit: unit, ours: a, peer: b, hasPeer: o.go2rtc != "", peerName: "go2rtc"})
	}
	if !o.glassOnly {
		// Streaming: the servers one after the other, so that each has the machine.
		ours, err := measureServer(o, doorbellServer(o))
		if err != nil {
			return fmt.Errorf("doorbell: %w", err)
		}
		var peer serverFigures
		if o.go2rtc != "" {
			if peer, err = measureServer(o, go2rtcServer(o, go2rtcSource)); err != nil {
				return fmt.Errorf("go2rtc: %w", err)
			}
		}
		add("RSS at idle, server process", "MiB", ours.idleRSS, peer.idleRSS)
		add("RSS at idle, server plus its encoder", "MiB", ours.idleRSSWithEncoder, peer.idleRSSWithEncoder)
		add("PSS at idle, server plus its encoder (shared pages once)", "MiB", ours.idlePSSWithEncoder, peer.idlePSSWithEncoder)
		add(fmt.Sprintf("RSS with %d viewers, server process", o.viewers), "MiB", ours.viewersRSS, peer.viewersRSS)
		add("CPU per extra viewer at 2 Mbit/s", "% core", ours.cpuPerViewer, peer.cpuPerViewer)
		add("time to first picture, pion client, median of 10", "ms", ours.firstPicture, peer.firstPicture)
	}
	if o.glass || o.glassOnly {
		// The same minimal WHEP page for both, so that only the servers differ.
		ours, _, err := pageGlassToGlass(func() server { return doorbellServer(o) })
		if err != nil {
			return fmt.Errorf("glass-to-glass: %w", err)
		}
		var peer float64
		if o.go2rtc != "" {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if peer, _, err = pageGlassToGlass(func() server { return go2rtcServer(o, "exec:"+self+" -stamped-source {output}") }); err != nil {
				return fmt.Errorf("glass-to-glass: %w", err)
			}
		}
		add("glass-to-glass at 720p30 in Chromium, same WHEP page, p50", "ms", ours, peer)
		ms, err := glassToGlass()
		if err != nil {
			return fmt.Errorf("glass-to-glass: %w", err)
		}
		rows = append(rows, figure{name: "glass-to-glass at 720p30, Doorbell's own page, p50", unit: "ms", ours: ms})
	}

	if o.glassOnly {
		printRows(rows)
		return nil
	}

	// Motion detection on the same file.
	var m motionFigures
	if !o.skipMotion {
		var err error
		if m, err = measureMotion(o); err != nil {
			return fmt.Errorf("motion: %w", err)
		}
	}
	motionRow := func(name string, a, b float64) {
		rows = append(rows, figure{name: name, unit: "ms CPU/s", ours: a, peer: b, hasPeer: true, peerName: "motion"})
	}
	motionRow("motion: CPU per second of video, total", m.oursTotal, m.motionTotal)
	motionRow(fmt.Sprintf("motion: beyond decoding (ffmpeg -f null: %.1f)", m.decode), m.oursTotal-m.decode, m.motionTotal-m.decode)
	rows = append(rows, figure{name: "motion: of which motion-scan's start-up (a 2-frame video)", unit: "ms CPU/s", ours: m.startup})
	motionRow("motion: in-daemon detector (file camera, /healthz)", m.daemonDetector, m.motionTotal-m.decode)
	rows = append(rows, figure{name: "motion: whole daemon process, file camera, streaming too", unit: "ms CPU/s", ours: m.daemonTotal})

	printRows(rows)
	return nil
}

func printRows(rows []figure) {
	fmt.Printf("\n%-58s %12s %12s %8s\n", "figure", "Doorbell", "peer", "ratio")
	for _, r := range rows {
		if !r.hasPeer {
			fmt.Printf("%-58s %12s %12s %8s\n", r.name, fmt.Sprintf("%.2f %s", r.ours, r.unit), "-", "-")
			continue
		}
		ratio := "-"
		if r.peer > 0 {
			ratio = fmt.Sprintf("%.2f", r.ours/r.peer)
		}
		fmt.Printf("%-58s %12s %12s %8s\n", r.name, fmt.Sprintf("%.2f %s", r.ours, r.unit), fmt.Sprintf("%s %.2f", r.peerName, r.peer), ratio)
	}
	fmt.Println("\nratio: Doorbell / peer, measured in this run; below 1 is Doorbell ahead on every row (less is better).")
}

// server is one streaming server to measure.
type server struct {
	name  string
	start func(ctx context.Context, dir string) (*exec.Cmd, error)
	// viewer returns what a new viewer POSTs its offer to, and its token:
	// each viewer is a device of its own, as the household's phones are.
	viewer func() (url, token string, err error)
	// ready says whether the server is encoding pictures.
	ready func() bool
	// encoder finds the server's encoder (ffmpeg, doorbell-encoder) among its children.
	encoder func(pid int) int
	// detail, if set, says more about the server's memory.
	detail func() string
}

type serverFigures struct {
	idleRSS, idleRSSWithEncoder, idlePSSWithEncoder, viewersRSS, cpuPerViewer, firstPicture float64
}

func measureServer(o options, s server) (serverFigures, error) {
	var f serverFigures
	dir, err := os.MkdirTemp("", "bench-peers-")
	if err != nil {
		return f, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd, err := s.start(ctx, dir)
	if err != nil {
		return f, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	if !waitFor(20*time.Second, s.ready) {
		return f, fmt.Errorf("%s encoded nothing within 20 s", s.name)
	}
	fmt.Fprintf(os.Stderr, "%s: running (pid %d); settling\n", s.name, pid)
	time.Sleep(5 * time.Second)

	// Idle: no viewer has come yet.
	f.idleRSS = rssMiB(pid)
	if s.detail != nil {
		fmt.Fprintf(os.Stderr, "%s idle: %s; %s\n", s.name, s.detail(), smapsBreakdown(pid))
	}
	enc := s.encoder(pid)
	if enc == 0 {
		return f, fmt.Errorf("%s: no encoder among its processes", s.name)
	}
	f.idleRSSWithEncoder = f.idleRSS + rssMiB(enc)
	f.idlePSSWithEncoder = rollupMiB(pid, "Pss:") + rollupMiB(enc, "Pss:")
	fmt.Fprintf(os.Stderr, "%s's encoder idle: RSS %.1f MiB; %s\n", s.name, rssMiB(enc), smapsBreakdown(enc))

	// Time to first picture: fresh clients, one at a time.
	var firsts []float64
	for range 10 {
		v, err := watchNew(s)
		if err != nil {
			return f, err
		}
		if !waitFor(10*time.Second, func() bool { return v.frames.Load() > 0 }) {
			v.close()
			return f, fmt.Errorf("%s: a viewer got no picture within 10 s", s.name)
		}
		firsts = append(firsts, float64(v.firstAt.Load()-v.started.UnixNano())/1e6)
		v.close()
	}
	f.firstPicture = median(firsts)
	time.Sleep(2 * time.Second) // sessions closed

	// CPU with one viewer, then with all, in rounds, so that a change of
	// the machine's speed (this class of host varies by up to 2x within an
	// hour) falls on both windows of a round alike: the figure is the
	// median round's difference. Each window of all viewers lies between
	// two of one viewer, and is compared with their mean, so that a steady
	// drift of the speed cancels too.
	var viewers []*viewer
	defer func() {
		for _, v := range viewers {
			v.close()
		}
	}()
	addViewers := func(n int) error {
		for range n {
			v, err := watchNew(s)
			if err != nil {
				return err
			}
			viewers = append(viewers, v)
			if !waitFor(10*time.Second, func() bool { return v.frames.Load() > 0 }) {
				return fmt.Errorf("%s: viewer %d got no picture within 10 s", s.name, len(viewers))
			}
		}
		time.Sleep(2 * time.Second) // past the joins
		return nil
	}
	if err := addViewers(1); err != nil {
		return f, err
	}
	var perViewer []float64
	one := cpuPercent(pid, o.window)
	for round := range cpuRounds {
		if err := addViewers(o.viewers - 1); err != nil {
			return f, err
		}
		many := cpuPercent(pid, o.window)
		for i, v := range viewers {
			if v.frames.Load() == 0 {
				return f, fmt.Errorf("%s: viewer %d got no pictures", s.name, i)
			}
		}
		if round == 0 {
			f.viewersRSS = rssMiB(pid)
			if s.detail != nil {
				fmt.Fprintf(os.Stderr, "%s with %d viewers: %s; %s\n", s.name, o.viewers, s.detail(), smapsBreakdown(pid))
			}
		}
		for _, v := range viewers[1:] {
			v.close()
		}
		viewers = viewers[:1]
		time.Sleep(3 * time.Second) // the sessions ended
		after := cpuPercent(pid, o.window)
		perViewer = append(perViewer, (many-(one+after)/2)/float64(o.viewers-1))
		fmt.Fprintf(os.Stderr, "%s: CPU 1 viewer %.2f%% and %.2f%%, %d viewers %.2f%% between: %.3f%% per extra viewer\n",
			s.name, one, after, o.viewers, many, perViewer[round])
		one = after
	}
	f.cpuPerViewer = median(perViewer)
	fmt.Fprintf(os.Stderr, "%s: idle %.1f MiB (+encoder %.1f), %d viewers %.1f MiB; CPU per extra viewer, median of %d rounds, %.3f%%\n",
		s.name, f.idleRSS, f.idleRSSWithEncoder, o.viewers, f.viewersRSS, cpuRounds, f.cpuPerViewer)
	return f, nil
}

// cpuRounds is how many times the per-viewer CPU is measured: a window's
// CPU on this class of host is off by up to a percent of a core, as much
// as seven viewers cost, so one round says little.
const cpuRounds = 9

// x264 is both sides' encoder setting (stream.X264Args and internal/x264 for Doorbell: the x264 option strings are the same).
const x264 = "-c:v libx264 -preset ultrafast -tune zerolatency -profile:v baseline -pix_fmt yuv420p -bf 0 -g 15 -keyint_min 15 -sc_threshold 0 -b:v 2000k -maxrate 2000k -bufsize 2000k"

var insecure = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the device's own self-signed certificate, on loopback

// doorbellServer is doorbelld in demo mode on its synthetic camera at
// 720p30, with no visitor (so nothing records) and a pairing link on its
// standard output.
func doorbellServer(o options) server {
	var addr, code, dataDir string
	var mu sync.Mutex
	s := server{name: "doorbell"}
	s.start = func(ctx context.Context, dir string) (*exec.Cmd, error) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr = fmt.Sprintf("127.0.0.1:%d", port)
		conf := filepath.Join(dir, "doorbell.toml")
		toml := fmt.Sprintf("[http]\nlisten = %q\n[camera]\nwidth = 1280\nheight = 720\nfps = 30.0\n[camera.synthetic]\nvisitor_period = 0.0\n", addr)
		if err := os.WriteFile(conf, []byte(toml), 0o600); err != nil {
			return nil, err
		}
		dataDir = filepath.Join(dir, "data")
		cmd := exec.CommandContext(ctx, o.doorbelld, "-demo", "-config", conf, "-data", dataDir)
		cmd.Stderr = io.Discard
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		link := regexp.MustCompile(`/pair#code=([a-z0-9]+)`)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if m := link.FindStringSubmatch(sc.Text()); m != nil {
					mu.Lock()
					code = m[1]
					mu.Unlock()
				}
			}
		}()
		return cmd, nil
	}
	s.ready = func() bool {
		var h struct {
			Stream struct{ Encoder struct{ FPS float64 } }
		}
		resp, err := insecure.Get("https://" + addr + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		mu.Lock()
		haveCode := code != ""
		mu.Unlock()
		return json.NewDecoder(resp.Body).Decode(&h) == nil && h.Stream.Encoder.FPS > 20 && haveCode
	}
	// Viewers take turns on a few paired devices: a device may watch in
	// three sessions at once, and pairing is rate-limited per address.
	var tokens []string
	turn := 0
	s.viewer = func() (string, string, error) {
		turn++
		if len(tokens) < benchDevices {
			t, err := pairDemo(addr, dataDir, &mu, &code)
			if err != nil {
				return "", "", err
			}
			tokens = append(tokens, t)
		}
		return "https://" + addr + "/whep", tokens[turn%len(tokens)], nil
	}
	s.encoder = func(pid int) int { return childNamed(pid, stream.X264Program) }
	s.detail = func() string {
		resp, err := insecure.Get("https://" + addr + "/metrics")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		var parts []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			for _, name := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes"} {
				if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
					n, _ := strconv.ParseFloat(v, 64)
					parts = append(parts, fmt.Sprintf("%s %.1f MiB", strings.TrimSuffix(strings.TrimPrefix(name, "go_memstats_"), "_bytes"), n/(1<<20)))
				}
			}
		}
		return "Go " + strings.Join(parts, ", ")
	}
	return s
}

// benchDevices is how many devices the viewers of the Doorbell half are:
// enough places for 8 viewers and sessions still closing.
const benchDevices = 4

// pairDemo pairs one more device with the demo daemon and returns its
// token: with the printed link's code first, then with codes made as
// `doorbell member pair demo` makes them (a code pairs one device).
func pairDemo(addr, dataDir string, mu *sync.Mutex, printed *string) (string, error) {
	mu.Lock()
	c := *printed
	*printed = ""
	mu.Unlock()
	if c == "" {
		pc, err := pairing.NewCode(dataDir, "demo", time.Now())
		if err != nil {
			return "", err
		}
		c = pc.Code
	}
	body, _ := json.Marshal(map[string]string{"code": c, "device": "bench-peers"})
	for {
		resp, err := insecure.Post("https://"+addr+"/api/pair", "application/json", strings.NewReader(string(body)))
		if err != nil {
			return "", err
		}
		var pr struct{ Token, Error string }
		err = json.NewDecoder(resp.Body).Decode(&pr)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(time.Duration(max(wait, 1)) * time.Second) // the daemon's own pace
			continue
		}
		if err != nil || pr.Token == "" {
			return "", fmt.Errorf("pairing with the demo daemon failed: %d %s %v", resp.StatusCode, pr.Error, err)
		}
		return pr.Token, nil
	}
}

// smapsBreakdown sums a process's resident memory (RSS, and PSS beside it)
// by kind of mapping: its own executable, each shared library, anonymous
// memory (Go's heap and stacks, C's malloc) and the rest, from
// /proc/PID/smaps. Libraries below 0.5 MiB are summed as one.
func smapsBreakdown(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return err.Error()
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	type kb struct{ rss, pss float64 }
	byName := map[string]*kb{}
	var order []string
	add := func(name string, key string, v float64) {
		k := byName[name]
		if k == nil {
			k = &kb{}
			byName[name] = k
			order = append(order, name)
		}
		if key == "Rss:" {
			k.rss += v
		} else {
			k.pss += v
		}
	}
	name := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
			name = "anonymous"
			if len(f) >= 6 {
				switch path := f[5]; {
				case path == exe:
					name = "executable"
				case strings.Contains(path, ".so"):
					name = filepath.Base(path)
				case strings.HasPrefix(path, "["):
					name = "anonymous" // [heap], [stack], [anon:...]: memory no file backs
					if path == "[vdso]" || path == "[vvar]" || path == "[vsyscall]" {
						name = "kernel"
					}
				default:
					name = "other files"
				}
			}
			continue
		}
		if len(f) >= 2 && (f[0] == "Rss:" || f[0] == "Pss:") {
			v, _ := strconv.ParseFloat(f[1], 64)
			add(name, f[0], v)
		}
	}
	var small kb
	var parts []string
	var libs kb
	for _, n := range order {
		k := byName[n]
		if n != "anonymous" && n != "executable" && n != "kernel" && n != "other files" {
			libs.rss += k.rss
			libs.pss += k.pss
			if k.rss < 512 {
				small.rss += k.rss
				small.pss += k.pss
				continue
			}
		}
		parts = append(parts, fmt.Sprintf("%s %.1f (PSS %.1f)", n, k.rss/1024, k.pss/1024))
	}
	parts = append(parts, fmt.Sprintf("smaller libraries %.1f (PSS %.1f)", small.rss/1024, small.pss/1024))
	return fmt.Sprintf("RSS in MiB: all libraries %.1f (PSS %.1f); %s", libs.rss/1024, libs.pss/1024, strings.Join(parts, ", "))
}

// go2rtcSource is go2rtc's stream for the memory and CPU figures: ffmpeg
// makes it from the same kind of picture with the same x264 settings.
const go2rtcSource = "exec:ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=1280x720:rate=30 -an " + x264 + " -f rtsp {output}"

// go2rtcServer is go2rtc with one stream from source, served over WHEP.
func go2rtcServer(o options, source string) server {
	var api string
	s := server{name: "go2rtc"}
	s.start = func(ctx context.Context, dir string) (*exec.Cmd, error) {
		apiPort, err := freePort()
		if err != nil {
			return nil, err
		}
		rtspPort, err := freePort()
		if err != nil {
			return nil, err
		}
		webrtcPort, err := freePort()
		if err != nil {
			return nil, err
		}
		api = fmt.Sprintf("127.0.0.1:%d", apiPort)
		// No STUN servers (go2rtc's default asks Google's): nothing leaves
		// the machine; loopback candidates, as Doorbell's viewers get.
		yaml := fmt.Sprintf("api:\n  listen: %q\nrtsp:\n  listen: \"127.0.0.1:%d\"\nwebrtc:\n  listen: \"127.0.0.1:%d\"\n  ice_servers: []\n  filters:\n    loopback: true\n    networks: [udp4]\nstreams:\n  door: %q\n",
			api, rtspPort, webrtcPort, source)
		conf := filepath.Join(dir, "go2rtc.yaml")
		if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, o.go2rtc, "-config", conf)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		// go2rtc starts a stream's source when the first consumer comes:
		// keep one RTSP reader on it, so that "idle" has the encoder running
		// as Doorbell's does.
		go func() {
			for ctx.Err() == nil {
				keep := exec.CommandContext(ctx, "ffmpeg", "-v", "quiet", "-rtsp_transport", "tcp", "-i", fmt.Sprintf("rtsp://127.0.0.1:%d/door", rtspPort), "-c", "copy", "-f", "null", "-")
				_ = keep.Run()
				time.Sleep(time.Second)
			}
		}()
		return cmd, nil
	}
	s.ready = func() bool {
		resp, err := http.Get("http://" + api + "/api/streams?src=door")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && strings.Contains(string(b), "producers") && strings.Contains(string(b), "H264")
	}
	s.viewer = func() (string, string, error) { return "http://" + api + "/api/webrtc?src=door", "", nil }
	s.encoder = func(pid int) int { return childNamed(pid, "ffmpeg") }
	return s
}

// glassToGlass runs the daemon's Chromium benchmark: the synthetic camera
// stamps its capture time into each picture and the page reads it back. It
// runs five times, each a fresh daemon (so a fresh camera phase, see
// glassSessions) and browser, and the figure is the median of their p50s.
func glassToGlass() (float64, error) {
	fmt.Fprintln(os.Stderr, "glass-to-glass: go test -run '^$' -bench BrowserGlassToGlass720p -benchtime 1x -count 5 ./daemon")
	out, err := exec.Command("go", "test", "-run", "^$", "-bench", "BrowserGlassToGlass720p", "-benchtime", "1x", "-count", "5", "./daemon").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%w\n%s", err, out)
	}
	var p50s []float64
	for _, m := range regexp.MustCompile(`([0-9.]+) ms-p50`).FindAllSubmatch(out, -1) {
		v, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			return 0, err
		}
		p50s = append(p50s, v)
	}
	if len(p50s) == 0 {
		return 0, fmt.Errorf("no p50 in the benchmark's output:\n%s", out)
	}
	fmt.Fprintf(os.Stderr, "glass-to-glass on Doorbell's own page, each session's p50: %v ms\n", p50s)
	return median(p50s), nil
}

// motionFigures: CPU in ms per second of video.
type motionFigures struct{ oursTotal, motionTotal, daemonTotal, daemonDetector, decode, startup float64 }

func measureMotion(o options) (motionFigures, error) {
	var m motionFigures
	length, fps, err := videoLength(o.video)
	if err != nil {
		return m, err
	}
	// The decode floor (ffmpeg decoding the file to nothing) and
	// motion-scan, decoding included (its ffmpeg is its child), each the
	// best of three, before Debian's motion runs and again after it: their
	// means fall at motion's time, whichever way the host's speed drifts.
	bestOf3 := func(args ...string) (float64, error) {
		best := 0.0
		for range 3 {
			c, err := childCPU(exec.Command(args[0], args[1:]...))
			if err != nil {
				return 0, fmt.Errorf("%s: %w", strings.Join(args, " "), err)
			}
			if v := c.Seconds() * 1000 / length; best == 0 || v < best {
				best = v
			}
		}
		return best, nil
	}
	scan := func(when string) error {
		dec, err := bestOf3("ffmpeg", "-v", "error", "-i", o.video, "-f", "null", "-")
		if err != nil {
			return err
		}
		total, err := bestOf3(o.doorbelld, "motion-scan", o.video)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "motion: %s Debian's motion: decoding %.2f, motion-scan %.2f ms CPU/s\n", when, dec, total)
		m.decode += dec / 2
		m.oursTotal += total / 2
		return nil
	}
	if err := scan("before"); err != nil {
		return m, err
	}
	// Debian's motion reads the file at its frame rate, as a camera.
	dir, err := os.MkdirTemp("", "bench-peers-motion-")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(dir)
	// motion-scan's fixed cost (loading the program and its libraries),
	// spread over the video's length as the whole scan's is.
	short := filepath.Join(dir, "short.mkv")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", o.video, "-frames:v", "2", "-c", "copy", short).CombinedOutput(); err != nil {
		return m, fmt.Errorf("cutting a short video: %w: %s", err, out)
	}
	for range 3 {
		c, err := childCPU(exec.Command(o.doorbelld, "motion-scan", short))
		if err != nil {
			return m, fmt.Errorf("motion-scan: %w", err)
		}
		if v := c.Seconds() * 1000 / length; m.startup == 0 || v < m.startup {
			m.startup = v
		}
	}
	w, h, err := videoSize(o.video)
	if err != nil {
		return m, err
	}
	conf := filepath.Join(dir, "motion.conf")
	text := fmt.Sprintf("daemon off\nsetup_mode off\nlog_level 4\nlog_file %s/motion.log\ntarget_dir %s\nnetcam_url file://%s\nwidth %d\nheight %d\nframerate %d\npicture_output off\nmovie_output off\nwebcontrol_port 0\nstream_port 0\n",
		dir, dir, o.video, w, h, int(fps+0.5))
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return m, err
	}
	run := min(time.Duration(length*float64(time.Second)), 60*time.Second)
	fmt.Fprintf(os.Stderr, "motion: running Debian's motion on %s for %v\n", filepath.Base(o.video), run)
	c, err := runFor(exec.Command("motion", "-n", "-c", conf), run)
	if err != nil {
		return m, fmt.Errorf("running Debian's motion: %w", err)
	}
	m.motionTotal = c.Seconds() * 1000 / run.Seconds()
	if err := scan("after"); err != nil {
		return m, err
	}

	// The daemon with the file as its camera, at the file's rate: the
	// daemon process only, so camera reading, mask, detector, feeding the
	// encoder, ring and all, but neither its ffmpeg decoder nor encoder
	// (children, not counted until they end): beyond decoding, and more.
	fmt.Fprintf(os.Stderr, "motion: running doorbelld on %s as its camera for %v\n", filepath.Base(o.video), run)
	port, err := freePort()
	if err != nil {
		return m, err
	}
	dconf := filepath.Join(dir, "doorbell.toml")
	dtext := fmt.Sprintf("[http]\nlisten = \"127.0.0.1:%d\"\n[camera]\nsource = \"file\"\nwidth = %d\nheight = %d\nfps = %g\n[camera.file]\npath = %q\n",
		port, w&^1, h&^1, fps, o.video)
	if err := os.WriteFile(dconf, []byte(dtext), 0o600); err != nil {
		return m, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return m, err
	}
	d := exec.Command(o.doorbelld, "-config", dconf, "-data", filepath.Join(dir, "data"))
	if err := d.Start(); err != nil {
		return m, err
	}
	time.Sleep(3 * time.Second) // started
	cpu := cpuPercent(d.Process.Pid, run/2)
	var health struct {
		Motion struct {
			DetectMS float64 `json:"detect_ms"`
		}
		Camera struct{ FPS float64 }
	}
	if resp, err := insecure.Get(fmt.Sprintf("https://127.0.0.1:%d/healthz", port)); err == nil {
		_ = json.NewDecoder(resp.Body).Decode(&health)
		resp.Body.Close()
	}
	m.daemonDetector = health.Motion.DetectMS * health.Camera.FPS // ms per frame × frames per second
	_ = d.Process.Signal(syscall.SIGTERM)
	_ = d.Wait()
	m.daemonTotal = cpu * 10 // % of a core → ms per second
	return m, nil
}

// videoLength is a file's duration in seconds and its frame rate.
func videoLength(path string) (float64, float64, error) {
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=nb_read_packets,avg_frame_rate", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	fields := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(fields) != 2 {
		return 0, 0, fmt.Errorf("ffprobe %s said %q", path, out)
	}
	num, den, _ := strings.Cut(fields[0], "/")
	n, _ := strconv.ParseFloat(num, 64)
	d, _ := strconv.ParseFloat(den, 64)
	frames, _ := strconv.ParseFloat(fields[1], 64)
	if n <= 0 || d <= 0 || frames <= 0 {
		return 0, 0, fmt.Errorf("ffprobe %s: no frame rate or frames in %q", path, out)
	}
	return frames / (n / d), n / d, nil
}

func videoSize(path string) (int, int, error) {
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0, 0, err
	}
	var w, h int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%d,%d", &w, &h); err != nil {
		return 0, 0, fmt.Errorf("ffprobe %s said %q", path, out)
	}
	return w, h, nil
}

// childCPU runs cmd to its end and returns the CPU it and its children used.
func childCPU(cmd *exec.Cmd) (time.Duration, error) {
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Run(); err != nil {
		return 0, err
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// runFor runs cmd for d, stops it with SIGINT, and returns the CPU it and
// its waited-for children used.
func runFor(cmd *exec.Cmd, d time.Duration) (time.Duration, error) {
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	time.Sleep(d)
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// cpuPercent is the process's CPU (all threads, not its children) over d,
// in percent of one core, from /proc/PID/stat.
func cpuPercent(pid int, d time.Duration) float64 {
	c0, t0 := procCPU(pid), time.Now()
	time.Sleep(d)
	return float64(procCPU(pid)-c0) / float64(time.Since(t0)) * 100
}

func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // 100 Hz ticks
}

// rssMiB is the process's resident memory, from /proc/PID/smaps_rollup.
func rssMiB(pid int) float64 { return rollupMiB(pid, "Rss:") }

// rollupMiB is one figure of /proc/PID/smaps_rollup, such as "Pss:".
func rollupMiB(pid int, key string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// childNamed finds a descendant of pid whose command is name, or 0.
func childNamed(pid int, name string) int {
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p))
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			for _, c := range strings.Fields(string(b)) {
				child, _ := strconv.Atoi(c)
				// The executable's name: comm is cut at 15 bytes ("doorbell-encode").
				exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", child))
				if filepath.Base(exe) == name {
					return child
				}
				queue = append(queue, child)
			}
		}
	}
	return 0
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// viewer is a pion WebRTC client that counts the pictures it receives.
type viewer struct {
	pc      *webrtc.PeerConnection
	started time.Time
	frames  atomic.Uint64
	firstAt atomic.Int64
}

var clientAPI = sync.OnceValue(func() *webrtc.API {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		panic(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		panic(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
})

// watchNew connects a new viewer to s.
func watchNew(s server) (*viewer, error) {
	url, token, err := s.viewer()
	if err != nil {
		return nil, err
	}
	return watch(url, token)
}

// watch connects a WHEP viewer to url.
func watch(url, token string) (*viewer, error) {
	v := &viewer{started: time.Now()}
	pc, err := clientAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v.pc = pc
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		pc.Close()
		return nil, err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if pkt.Marker && v.frames.Add(1) == 1 {
				v.firstAt.Store(time.Now().UnixNano())
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		pc.Close()
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		pc.Close()
		return nil, err
	}
	<-gathered
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		pc.Close()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := insecure.Do(req)
	if err != nil {
		pc.Close()
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		pc.Close()
		return nil, fmt.Errorf("WHEP POST to %s answered %d: %s", url, resp.StatusCode, body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		pc.Close()
		return nil, errors.Join(errors.New("the WHEP answer is not usable"), err)
	}
	return v, nil
}

func (v *viewer) close() { _ = v.pc.Close() }
