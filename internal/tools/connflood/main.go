// Command connflood measures what a connection flood costs a running
// doorbelld, and whether a paired device is served through it (issue 13,
// item 3). Loopback only: it opens idle keep-alive connections and
// connections that send 1 MiB of headers, from many 127/8 source
// addresses, while a paired client fetches /api/clips every 200 ms, and
// prints the daemon's RSS before, at the peak and at the end.
//
//	doorbelld -demo -listen 127.0.0.1:8443 &   # prints a pairing link
//	go run ./internal/tools/connflood -pid $! -pair 'https://127.0.0.1:8443/pair#CODE'
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	pid := flag.Int("pid", 0, "doorbelld's process id, whose RSS is measured")
	pair := flag.String("pair", "", "a pairing link the daemon printed (https://HOST:PORT/pair#CODE)")
	idle := flag.Int("idle", 3000, "idle keep-alive connections to open")
	big := flag.Int("big", 100, "connections that send 1 MiB of headers")
	hold := flag.Duration("hold", 40*time.Second, "how long to hold the flood")
	flag.Parse()
	if *pid == 0 || *pair == "" {
		fmt.Fprintln(os.Stderr, "usage: connflood -pid PID -pair https://127.0.0.1:8443/pair#CODE")
		os.Exit(2)
	}
	if err := run(*pid, *pair, *idle, *big, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "connflood:", err)
		os.Exit(1)
	}
}

func run(pid int, pairLink string, idle, big int, hold time.Duration) error {
	u, err := url.Parse(pairLink)
	if err != nil || u.Fragment == "" {
		return fmt.Errorf("the pairing link %q has no #CODE; give the link doorbelld -demo printed", pairLink)
	}
	host := u.Host
	tlsCfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}} // loopback, the daemon's own certificate
	device := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	token, err := pairDevice(device, host, u.Fragment)
	if err != nil {
		return err
	}

	before := rss(pid)
	fmt.Printf("RSS before: %.1f MiB\n", before)

	// The paired device, throughout.
	var served, refused atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var probes sync.WaitGroup
	probes.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			req, _ := http.NewRequest("GET", "https://"+host+"/api/clips", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := device.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					served.Add(1)
					continue
				}
				err = errors.New(resp.Status)
			}
			refused.Add(1)
			lastErr.Store(err.Error())
		}
	})

	var conns []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	var opened, failed atomic.Int64
	sem := make(chan struct{}, 64)
	for i := range idle + big {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			// 250 source addresses, 127.0.2.1–127.0.2.250.
			src := &net.TCPAddr{IP: net.IPv4(127, 0, 2, byte(1+i%250))}
			d := &net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}
			c, err := tls.DialWithDialer(d, "tcp", host, tlsCfg)
			if err != nil {
				failed.Add(1)
				return
			}
			if i < idle {
				// One request, then idle with keep-alive.
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: doorbell\r\n\r\n")
				if err == nil {
					var resp *http.Response
					if resp, err = http.ReadResponse(bufio.NewReader(c), nil); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			} else {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: doorbell\r\nX-Big: "+strings.Repeat("a", 1<<20)+"\r\n")
			}
			_ = c.SetDeadline(time.Time{})
			if err != nil {
				failed.Add(1)
				c.Close()
				return
			}
			opened.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		})
	}
	wg.Wait()
	peak := rss(pid)
	fmt.Printf("flood: %d of %d connections opened and used, %d failed or refused\n", opened.Load(), idle+big, failed.Load())
	fmt.Printf("RSS with the flood open: %.1f MiB (%+.1f)\n", peak, peak-before)

	deadline := time.Now().Add(hold)
	for time.Now().Before(deadline) {
		p := rss(pid)
		if p > peak {
			peak = p
		}
		time.Sleep(time.Second)
	}
	still := 0
	for _, c := range conns {
		if open(c) {
			still++
		}
	}
	end := rss(pid)
	fmt.Printf("after %s: %d of the flood's connections still open; RSS %.1f MiB (%+.1f), peak %.1f MiB (%+.1f)\n",
		hold, still, end, end-before, peak, peak-before)
	close(stop)
	probes.Wait()
	fmt.Printf("paired device throughout: %d requests served, %d failed", served.Load(), refused.Load())
	if e, ok := lastErr.Load().(string); ok {
		fmt.Printf(" (last: %s)", e)
	}
	fmt.Println()
	for _, c := range conns {
		c.Close()
	}
	return nil
}

func pairDevice(c *http.Client, host, code string) (string, error) {
	body, _ := json.Marshal(map[string]string{"code": code, "device": "connflood"})
	resp, err := c.Post("https://"+host+"/api/pair", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("cannot pair: %w", err)
	}
	defer resp.Body.Close()
	var pr struct {
		Token string `json:"token"`
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&pr)
	if resp.StatusCode != 200 || pr.Token == "" {
		return "", fmt.Errorf("pairing refused: %s %s; give a fresh link", resp.Status, pr.Error)
	}
	return pr.Token, nil
}

// open reports whether the server still holds c open.
func open(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rss is the VmRSS of pid in MiB.
func rss(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb / 1024
		}
	}
	return 0
}
