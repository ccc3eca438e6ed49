package daemon

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"

	"doorbell/config"
)

// Lighthouse (npm, mobile profile) on the app's unpaired screen and its live
// screen, in a Chromium that trusts the doorbell's household root. Targets:
// performance ≥ 95, accessibility 100, best practices 100. It needs
// Lighthouse from web/lighthouse (npm ci), so it runs only when asked:
//
//	web/lighthouse/run.sh
//
// (which is: cd web/lighthouse && npm ci && cd ../.. &&
// DOORBELL_LIGHTHOUSE=1 go test -count=1 -run TestLighthouse -v ./daemon).
// The reports go to web/lighthouse/reports/.
func TestLighthouse(t *testing.T) {
	if os.Getenv("DOORBELL_LIGHTHOUSE") == "" {
		t.Skip("set DOORBELL_LIGHTHOUSE=1, or run web/lighthouse/run.sh")
	}
	dir, _ := filepath.Abs("../web/lighthouse")
	bin := filepath.Join(dir, "node_modules", ".bin", "lighthouse")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no Lighthouse at %s: run npm ci in web/lighthouse", bin)
	}
	reports := filepath.Join(dir, "reports")
	if err := os.MkdirAll(reports, 0o755); err != nil {
		t.Fatal(err)
	}
	// Lighthouse drives this browser through its debugging port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	root := newHouseholdRoot(t)
	ctx := trustingBrowser(t, root, chromedp.Flag("remote-debugging-port", strconv.Itoa(port)), remote.WebSocket)
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 640, 360, 30
	d, origin, _ := appDoorbell(t, root, cfg)

	run := func(name, url string) {
		out := filepath.Join(reports, name+".json")
		cmd := exec.Command(bin, url, "--port="+strconv.Itoa(port), "--form-factor=mobile", "--disable-storage-reset",
			"--only-categories=performance,accessibility,best-practices", "--output=json", "--output-path="+out, "--quiet")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("lighthouse %s: %v\n%s", url, err, b)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Categories map[string]struct{ Score float64 } `json:"categories"`
			Audits     map[string]struct {
				Score        *float64
				Title        string
				DisplayValue string
			} `json:"audits"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		perf, a11y, bp := r.Categories["performance"].Score*100, r.Categories["accessibility"].Score*100, r.Categories["best-practices"].Score*100
		t.Logf("Lighthouse, %s screen: performance %.0f, accessibility %.0f, best practices %.0f (%s)", name, perf, a11y, bp, out)
		if perf < 95 || a11y < 100 || bp < 100 {
			t.Errorf("%s: %.0f / %.0f / %.0f, want ≥ 95 / 100 / 100", name, perf, a11y, bp)
			for id, a := range r.Audits {
				if a.Score != nil && *a.Score < 1 {
					t.Logf("  %s: %s %s (%.2f)", id, a.Title, a.DisplayValue, *a.Score)
				}
			}
		}
	}
	navigate(t, ctx, origin+"/")
	screen(t, ctx, "unpaired")
	run("unpaired", origin+"/")
	pairApp(t, ctx, d, origin, "lighthouse")
	run("live", origin+"/")
}
