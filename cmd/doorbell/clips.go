package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"filippo.io/age"
	"golang.org/x/term"

	"doorbell/crypto/clip"
	"doorbell/crypto/keys"
	"doorbell/devicekey"
	"doorbell/household"
	"doorbell/replica"
)

const clipsUsage = `Usage:
  doorbell clips list [-from URL|DIR|s3://BUCKET/PREFIX] -i IDENTITY [-json]
  doorbell clips pull [-from URL|s3://BUCKET/PREFIX] [-all] DIR
  doorbell clips open -i IDENTITY [-o OUT.mp4] [-no-verify] CLIP

list   shows the events (time, kind, duration, size, signature) by opening
       only their small sealed records: from the paired doorbell (default),
       from a directory of pulled clips, or from the household's replica.
pull   downloads the clips DIR lacks (ciphertext only), resuming cut-off
       downloads; from a replica it reassembles each clip from its pieces,
       also when the doorbell itself is gone. DIR/.doorbell-seen.json
       records the clips seen; a new clip that claims an earlier time than
       clips seen before is flagged (exit 1). Clips recorded before you
       were added to the household (never sealed to you) stay on the
       doorbell, unless -all.

From a replica (s3://BUCKET/PREFIX, as in the doorbell's [replica]), give
-endpoint https://HOST[:PORT] and your own read key pair: -credentials FILE
(AWS credentials format) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
open   decrypts CLIP (<id>.mp4.age, its record beside it) to OUT.mp4
       (default: CLIP's name without .age, in the current directory; never
       into a doorbell's data directory) and checks the doorbell's signature
       against the pinned key; it refuses a mismatch unless -no-verify.

-i may be repeated. On the doorbell itself, -data DIR trusts the device key
in the data directory instead of a pinned one.
`

// runClips handles "doorbell clips ...".
func runClips(args []string, stdout, stderr io.Writer) int {
	return dispatch("clips", args, stdout, stderr, clipsUsage, clipsUsage, map[string]subcommand{
		"list": clipsList, "ls": clipsList, "pull": clipsPull, "open": clipsOpen,
	})
}

// identityFlags is a repeatable -i.
type identityFlags []string

func (f *identityFlags) String() string     { return strings.Join(*f, ",") }
func (f *identityFlags) Set(s string) error { *f = append(*f, s); return nil }

func loadIdentities(c *command, files identityFlags) ([]age.Identity, int, bool) {
	if len(files) == 0 {
		c.usagef("give your identity file with -i (the file doorbell keygen wrote)")
		return nil, 2, false
	}
	var ids []age.Identity
	for _, f := range files {
		got, err := keys.ReadIdentities(f, askIdentityPassphrase(f))
		if err != nil {
			return nil, c.failf("%v", err), false
		}
		ids = append(ids, got...)
	}
	return ids, 0, true
}

// trustedKeys are the signing keys of the paired doorbells, and the one in
// dataDir if given (on the doorbell itself).
func trustedKeys(c *command, dataDir string) ([]ed25519.PublicKey, *household.Devices, int, bool) {
	ds, code, ok := devicesDir(c)
	if !ok {
		return nil, nil, code, false
	}
	keys := ds.TrustedKeys()
	if dataDir != "" {
		k, err := devicekey.Load(dataDir)
		if err != nil {
			return nil, nil, c.failf("%v", err), false
		}
		keys = append(keys, k.Public().(ed25519.PublicKey))
	}
	return keys, ds, 0, true
}

func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

func clipsList(args []string, stdout, stderr io.Writer) int {
	c := newCommand("clips list", "clips list [-from URL|DIR] -i IDENTITY [-json]", stderr)
	from := c.fs.String("from", "", "the paired doorbell's `URL`, or a directory of clips (default: the paired doorbell)")
	var idFiles identityFlags
	c.fs.Var(&idFiles, "i", "your identity `FILE` (repeatable)")
	asJSON := c.fs.Bool("json", false, "print one JSON object per event")
	dataDir := c.fs.String("data", "", "on the doorbell: trust the signing key in its data `DIR`")
	workers := c.fs.Int("parallel", 8, "records fetched at once")
	s3 := addS3Flags(c.fs)
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	ids, code, ok := loadIdentities(c, idFiles)
	if !ok {
		return code
	}
	trusted, ds, code, ok := trustedKeys(c, *dataDir)
	if !ok {
		return code
	}
	var list []household.Listed
	var fromReplica map[string]*replica.Clip
	var err error
	if strings.HasPrefix(*from, "s3://") {
		cl, cerr := s3.client(*from)
		if cerr != nil {
			return c.failf("%v", cerr)
		}
		ctx, cancel := interruptible()
		defer cancel()
		list, fromReplica, err = listS3(ctx, cl, ids, trusted, *workers)
	} else if fi, statErr := os.Stat(*from); *from != "" && statErr == nil && fi.IsDir() {
		list, err = household.ListDir(*from, ids, trusted)
	} else {
		d, ferr := ds.Find(*from)
		if ferr != nil {
			return c.failf("%v", ferr)
		}
		ctx, cancel := interruptible()
		defer cancel()
		cl := household.NewClient(d)
		defer cl.Close()
		list, err = household.ListRemote(ctx, cl, ids, trusted, *workers)
	}
	if err != nil {
		return c.failf("%v", err)
	}
	opened, bad, before := 0, 0, 0
	for _, l := range list {
		if l.SealedBefore {
			before++
		}
		if l.Record != nil {
			opened++
		}
		if l.Sig == household.SigBad || l.Sig == household.SigUnknown {
			bad++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, l := range list {
			_ = enc.Encode(listJSON(l))
		}
	} else {
		printList(stdout, list)
	}
	if before > 0 && !*asJSON {
		fmt.Fprintf(stdout, "%d clip(s) recorded before you were added to the household: not sealed to you, not listed.\n", before)
	}
	for _, l := range list {
		// The replica's newest piece says when a cut-off recording stopped.
		if r, ok := fromReplica[l.ID]; ok && l.Record != nil && l.Record.Status != clip.StatusComplete {
			fmt.Fprintf(stderr, "doorbell: %s was cut off: the replica's newest piece of it was stored at %s\n", l.ID, r.Last.Local().Format("2006-01-02 15:04:05"))
		}
	}
	switch {
	case len(list)-before > 0 && opened == 0:
		return c.failf("%v: none of the %d events since you were added could be opened with the identity given", clip.ErrNoIdentity, len(list)-before)
	case bad > 0:
		return c.failf("%d event record(s) do not carry the pinned doorbell's signature (marked ✗): do not trust them", bad)
	case opened < len(list)-before:
		fmt.Fprintf(stderr, "doorbell: %d event(s) could not be opened: sealed to other keys, or damaged (marked ?).\n", len(list)-before-opened)
	}
	return 0
}

type listedJSON struct {
	ID        string       `json:"id"`
	Time      *time.Time   `json:"time,omitempty"`
	Start     *time.Time   `json:"start,omitempty"`
	Kind      string       `json:"kind,omitempty"`
	Duration  float64      `json:"duration"`
	Bytes     int64        `json:"bytes"`
	Status    string       `json:"status,omitempty"`
	Zones     []string     `json:"zones,omitempty"`
	Boxes     [][4]float64 `json:"boxes,omitempty"`
	Signature string       `json:"signature"`
	Error     string       `json:"error,omitempty"`
	// SealedBefore: recorded before you were added, so not sealed to you.
	SealedBefore bool `json:"sealed_before,omitempty"`
}

func listJSON(l household.Listed) listedJSON {
	j := listedJSON{ID: l.ID, Bytes: l.Bytes, Signature: l.Sig, SealedBefore: l.SealedBefore}
	if r := l.Record; r != nil {
		j.Time, j.Start = &r.Trigger, &r.Start
		j.Kind, j.Duration, j.Status, j.Zones, j.Boxes = r.Kind, r.Duration, r.Status, r.Zones, r.Boxes
	}
	if l.Err != nil {
		j.Error = l.Err.Error()
	}
	return j
}

func printList(w io.Writer, list []household.Listed) {
	shown := slices.DeleteFunc(slices.Clone(list), func(l household.Listed) bool { return l.SealedBefore })
	if len(shown) == 0 && len(list) > 0 {
		return // all recorded before the member was added: clipsList says so in one line
	}
	list = shown
	if len(list) == 0 {
		fmt.Fprintln(w, "No clips.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tDURATION\tSIZE\tSIGNATURE\tID")
	for _, l := range list {
		sig := "?"
		switch l.Sig {
		case household.SigOK:
			sig = "✓"
		case household.SigBad, household.SigUnknown:
			sig = "✗"
		}
		r := l.Record
		if r == nil {
			fmt.Fprintf(tw, "-\t-\t-\t%s\t%s\t%s\n", size(l.Bytes), sig, terminalSafe(l.ID))
			continue
		}
		kind := terminalSafe(r.Kind)
		dur := fmt.Sprintf("%.1f s", r.Duration)
		if r.Status != clip.StatusComplete {
			kind += " (cut off)"
			dur = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Trigger.Local().Format("2006-01-02 15:04:05"), kind, dur, size(l.Bytes), sig, terminalSafe(l.ID))
	}
	tw.Flush()
}

func size(n int64) string {
	switch {
	case n <= 0:
		return "-"
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

func clipsPull(args []string, stdout, stderr io.Writer) int {
	c := newCommand("clips pull", "clips pull [-from URL|s3://BUCKET/PREFIX] [-all] DIR", stderr)
	from := c.fs.String("from", "", "the paired doorbell's `URL` (default: the only one paired), or the replica's s3://BUCKET/PREFIX")
	s3 := addS3Flags(c.fs)
	workers := c.fs.Int("parallel", 8, "with -from s3://…: clips fetched at once")
	all := c.fs.Bool("all", false, "also pull the clips recorded before you were added, which you cannot open")
	args, code, ok := c.parse(args, 1, 1)
	if !ok {
		return code
	}
	if strings.HasPrefix(*from, "s3://") {
		cl, err := s3.client(*from)
		if err != nil {
			return c.failf("%v", err)
		}
		ctx, cancel := interruptible()
		defer cancel()
		bar := newProgressBar(stderr)
		st, _, err := pullS3(ctx, cl, args[0], *workers, bar.update)
		bar.finish()
		if err != nil {
			if ctx.Err() != nil {
				return c.failf("interrupted after %s; run clips pull again to resume", size(st.Bytes))
			}
			return c.failf("%v", err)
		}
		fmt.Fprintf(stdout, "Pulled %d new clip(s), %s, from %s; %d already in %s.\n", st.New, size(st.Bytes), cl.Target(), st.Present, args[0])
		return 0
	}
	ds, code, ok := devicesDir(c)
	if !ok {
		return code
	}
	d, err := ds.Find(*from)
	if err != nil {
		return c.failf("%v", err)
	}
	ctx, cancel := interruptible()
	defer cancel()
	cl := household.NewClient(d)
	defer cl.Close()
	bar := newProgressBar(stderr)
	pull := household.Pull
	if *all {
		pull = household.PullAll
	}
	st, err := pull(ctx, cl, args[0], bar.update)
	bar.finish()
	if err != nil {
		if ctx.Err() != nil {
			return c.failf("interrupted after %s; run clips pull again to resume", size(st.Bytes))
		}
		return c.failf("%v", err)
	}
	fmt.Fprintf(stdout, "Pulled %d new clip(s), %s; %d already in %s.\n", st.New, size(st.Bytes), st.Present, args[0])
	if st.Skipped > 0 {
		fmt.Fprintf(stdout, "Left %d clip(s) on the doorbell that were recorded before you were added, so never sealed to you (pull them anyway with -all).\n", st.Skipped)
	}
	for _, f := range st.Flagged {
		fmt.Fprintf(stderr, "doorbell: warning: clip %s appeared only now, but claims %s, before clips pulled earlier (up to %s)\n",
			terminalSafe(f.ID), f.Hour.Local().Format("2006-01-02 15:00"), f.LatestSeen.Local().Format("2006-01-02 15:00"))
	}
	if len(st.Flagged) > 0 {
		return c.failf("%d clip(s) flagged: the doorbell lists clips in the order it records them, so these may have been made with a copy of its keys (a copied SD card). Do not trust them; see \"A copy of the SD card\" in the README", len(st.Flagged))
	}
	return 0
}

// progressBar draws on a terminal, and stays silent elsewhere.
type progressBar struct {
	w      io.Writer
	on     bool
	last   time.Time
	drawn  bool
	start  time.Time
	done   int64
	totalN int64
}

func newProgressBar(w io.Writer) *progressBar {
	f, ok := w.(*os.File)
	return &progressBar{w: w, on: ok && term.IsTerminal(int(f.Fd())), start: time.Now()}
}

func (p *progressBar) update(done, total int64) {
	p.done, p.totalN = done, total
	if !p.on || total == 0 || (time.Since(p.last) < 100*time.Millisecond && done < total) {
		return
	}
	p.last = time.Now()
	const width = 30
	filled := int(float64(width) * float64(done) / float64(total))
	rate := float64(done) / max(time.Since(p.start).Seconds(), 0.001)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  %s of %s  %s/s ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		100*float64(done)/float64(total), size(done), size(total), size(int64(rate)))
	p.drawn = true
}

func (p *progressBar) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

func clipsOpen(args []string, stdout, stderr io.Writer) int {
	c := newCommand("clips open", "clips open -i IDENTITY [-o OUT.mp4] [-no-verify] CLIP", stderr)
	var idFiles identityFlags
	c.fs.Var(&idFiles, "i", "your identity `FILE` (repeatable)")
	out := c.fs.String("o", "", "write the video to `FILE` (default: CLIP's name without .age, in the current directory); never overwritten")
	noVerify := c.fs.Bool("no-verify", false, "open even if the doorbell's signature is missing or does not match (do not trust what you see)")
	dataDir := c.fs.String("data", "", "on the doorbell: trust the signing key in its data `DIR`")
	args, code, ok := c.parse(args, 1, 1)
	if !ok {
		return code
	}
	ids, code, ok := loadIdentities(c, idFiles)
	if !ok {
		return code
	}
	trusted, _, code, ok := trustedKeys(c, *dataDir)
	if !ok {
		return code
	}
	clipPath := args[0]
	outPath := *out
	if outPath == "" {
		// Here, not beside the clip: beside it may be the doorbell's own
		// clips directory, and footage there must stay ciphertext.
		outPath = strings.TrimSuffix(filepath.Base(clipPath), ".age")
	}
	res, err := household.OpenFile(clipPath, outPath, clip.Options{Identities: ids, Trusted: trusted, NoVerify: *noVerify})
	if err != nil {
		return c.failf("%s: %v", filepath.Base(clipPath), err)
	}
	if r := res.Record; r != nil {
		fmt.Fprintf(stdout, "%s at %s, %s", terminalSafe(r.Kind), r.Trigger.Local().Format("2006-01-02 15:04:05"), terminalSafe(strings.Join(r.Zones, ", ")))
		if r.Status == clip.StatusComplete {
			fmt.Fprintf(stdout, " (%.1f s)", r.Duration)
		}
		fmt.Fprintln(stdout)
	}
	if res.Truncated {
		fmt.Fprintf(stdout, "truncated: recovered %.1f s (the recording was cut off, by a power cut or a crash)\n", res.Video.Seconds())
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "doorbell: note: %s\n", terminalSafe(n))
	}
	switch {
	case res.Verified && res.Record != nil:
		fmt.Fprintf(stdout, "verified: signed by the doorbell %s\n", terminalSafe(res.Record.Device))
	case res.Verified:
		fmt.Fprintln(stdout, "verified: signed by a paired doorbell")
	default:
		fmt.Fprintln(stderr, "doorbell: warning: NOT verified (-no-verify): anyone who knows your public key could have made this clip")
	}
	fmt.Fprintf(stdout, "wrote %s\n", terminalSafe(outPath))
	return 0
}
