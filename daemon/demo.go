package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"doorbell/clipstore"
	"doorbell/config"
	"doorbell/crypto/keys"
	"doorbell/crypto/members"
	"doorbell/events"
	"doorbell/gpio"
	"doorbell/pairing"
	"doorbell/pairing/linkaddr"
	"doorbell/tlscert"
	"doorbell/wire"
)

// This file is all of the demo (doorbelld -demo). Production runs with
// Options.Demo nil and reaches none of it.

// Demo is what the demo talks to: the terminal it runs in.
type Demo struct {
	// Out is where the pairing link and each clip's open command go. The
	// code is a secret, so it never goes to the log.
	Out io.Writer
	// Input presses the fake button with Enter; at its end the demo
	// button answers only POST /api/demo/press.
	Input io.Reader
}

// DemoIdentityFile is the demo member's identity in the data directory.
const DemoIdentityFile = "demo-identity.txt"

// demoHold is how long a demo press holds the fake button down.
const demoHold = 150 * time.Millisecond

// demoPart is the demo's fake button and its terminal.
type demoPart struct {
	*Demo
	visitorPeriod float64 // seconds, for the banner
	dataDir       string
	fake          *gpio.Fake
	clips         *clipstore.Store // where sealed clips are, for their open commands
	trust         *tlscert.Server  // how browsers trust the doorbell, for the trust steps
	bus           *events.Bus
	log           *slog.Logger
}

// newDemo makes the demo member (once per data directory) and the fake
// GPIO pins.
func newDemo(demo *Demo, c config.GPIO, visitorPeriod float64, dataDir string, bus *events.Bus, log *slog.Logger) (*demoPart, error) {
	if demo.Out == nil {
		demo.Out = io.Discard
	}
	p := &demoPart{Demo: demo, visitorPeriod: visitorPeriod, dataDir: dataDir,
		fake: gpio.NewFake(c.Button.Active == "low"), bus: bus, log: log}
	if err := p.addMember(); err != nil {
		return nil, err
	}
	return p, nil
}

// pins are the fake GPIO pins, or nil outside the demo.
func (p *demoPart) pins() *gpio.Fake {
	if p == nil {
		return nil
	}
	return p.fake
}

// withClips tells the demo where the sealed clips are.
func (p *demoPart) withClips(s *clipstore.Store) *demoPart {
	p.clips = s
	return p
}

// start lets the fake button be pressed with Enter on the terminal, or
// with POST /api/demo/press from this machine, and prints each sealed
// clip's open command.
func (p *demoPart) start(ctx context.Context, h *host) error {
	f := p.fake
	h.mux.HandleFunc("POST /api/demo/press", func(w http.ResponseWriter, r *http.Request) {
		if !fromLoopback(r) {
			http.Error(w, "the demo button answers only requests from this machine (loopback)", http.StatusForbidden)
			return
		}
		// A page from another site must not ring it through the browser.
		if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
			http.Error(w, "the demo button answers only its own pages", http.StatusForbidden)
			return
		}
		f.Press(demoHold)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"pressed":true}`+"\n")
	})
	var stdin atomic.Value
	stdin.Store("listening")
	h.AddHealth("demo_button", func() any {
		return map[string]string{"enter_key": stdin.Load().(string), "http": "POST /api/demo/press (loopback only)"}
	})
	in := p.Input
	if in == nil {
		in = eof{}
	}
	go func() {
		// Ends at end of input: a daemon with no terminal (stdin closed or
		// /dev/null) neither rings nor spins.
		sc := bufio.NewScanner(in)
		for sc.Scan() && ctx.Err() == nil {
			f.Press(demoHold)
		}
		stdin.Store("closed")
		if ctx.Err() == nil {
			p.log.Info("demo: standard input is closed; press the demo button with POST /api/demo/press")
		}
	}()
	p.log.Info("demo: press Enter here, or POST /api/demo/press from this machine, to ring the doorbell")

	if p.clips != nil {
		sealed, unsub := p.bus.Subscribe("demo", 8)
		go func() {
			defer unsub()
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-sealed:
					if e.Kind == events.ClipSealed {
						fmt.Fprintf(p.Out, "Clip sealed. Open it with:\n  %s clips open -data %s -i %s %s\n",
							householdCLI(), p.dataDir, filepath.Join(p.dataDir, DemoIdentityFile), p.clips.ClipPath(e.Clip))
					}
				}
			}
		}()
	}
	return nil
}

type eof struct{}

func (eof) Read([]byte) (int, error) { return 0, io.EOF }

// printLink makes a pairing code for the demo member and prints its link.
func (p *demoPart) printLink(addr string) {
	hostport, err := linkaddr.ForLinks(p.dataDir, addr)
	if err == nil {
		var c pairing.Code
		var id string
		if id, err = linkaddr.DeviceID(p.dataDir); err != nil {
			p.log.Warn("the demo pairing link lacks the device ID", "err", err)
		}
		p.printTrustSteps(hostport)
		if c, err = pairing.NewCode(p.dataDir, "demo", time.Now()); err == nil {
			fmt.Fprintf(p.Out, "Live view:   open this pairing link in a browser on this machine (works once, for %d minutes):\n             %s\n",
				int(pairing.CodeTTL.Minutes()), wire.PairLink(hostport, c.Code, id))
			p.log.Info("demo pairing link printed on standard output", "member", "demo", "expires", c.Expires)
			return
		}
	}
	p.log.Warn("cannot make the demo pairing link", "err", err)
}

// householdCLI is how to run the household CLI: bin/doorbell beside
// bin/doorbelld after make build, else the one on PATH.
func householdCLI() string {
	if exe, err := os.Executable(); err == nil {
		cli := filepath.Join(filepath.Dir(exe), "doorbell")
		if fi, err := os.Stat(cli); err == nil && fi.Mode().IsRegular() {
			return cli
		}
	}
	return "doorbell"
}

// addMember makes the demo member's identity (once per data directory)
// and puts it in the household.
func (p *demoPart) addMember() error {
	path := filepath.Join(p.dataDir, DemoIdentityFile)
	var recipient string
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		id, err := keys.Generate(keys.Hybrid)
		if err != nil {
			return err
		}
		if err := keys.WriteNew(path, id.File(time.Now())); err != nil {
			return err
		}
		recipient = id.Recipient
	} else {
		ids, err := keys.ReadIdentities(path, nil)
		if err != nil || len(keys.PublicKeys(ids)) == 0 {
			return fmt.Errorf("demo identity: %w; remove %s to make a new one", err, path)
		}
		recipient = keys.PublicKeys(ids)[0]
	}
	reg, err := members.Load(p.dataDir)
	if err != nil {
		return err
	}
	for _, m := range reg.Members() {
		if m.Recipient == recipient {
			return nil
		}
	}
	name := "demo"
	if _, taken := reg.Lookup(name); taken {
		name = fmt.Sprintf("demo-%d", time.Now().Unix())
	}
	if _, err := members.Add(p.dataDir, name, recipient, time.Now()); err != nil {
		return fmt.Errorf("cannot add the demo member: %w", err)
	}
	fmt.Fprintf(p.Out, "Clips:       sealed to the demo member, whose identity is %s;\n             the visitor comes every %g s, and each clip's open command is printed here.\n",
		path, p.visitorPeriod)
	return nil
}
