package household

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"doorbell/crypto/clip"
	"doorbell/devicekey"
	"doorbell/internal/atomicfile"
	"doorbell/wire"
)

// Signature states of a listed event.
const (
	SigOK      = "ok"
	SigBad     = "bad"     // changed after signing
	SigUnknown = "unknown" // signed by a device key this computer has not pinned
	SigNone    = "none"    // no record, or it could not be read
)

// Listed is one clip as clips list shows it.
type Listed struct {
	ID     string
	Bytes  int64        // of the sealed clip; 0 if not known
	Record *clip.Record // nil if it could not be opened
	Sig    string
	Err    error // why Record is nil, or why the signature is not ok
	// SealedBefore is set when the doorbell says the clip was finished
	// before this member was in the household: it was never sealed to
	// them, and its record is not fetched.
	SealedBefore bool
}

// CheckRecord opens the sealed record of clip id and checks its signature
// against the trusted device keys.
func CheckRecord(id string, sealed io.Reader, ids []age.Identity, trusted []ed25519.PublicKey) Listed {
	l := Listed{ID: id, Sig: SigNone}
	s, err := clip.ReadRecord(sealed, ids...)
	if err != nil {
		l.Err = err
		return l
	}
	l.Record = &s.Record
	err = s.Verify(trusted)
	switch {
	case err == nil && s.ID != id:
		l.Sig, l.Err = SigBad, fmt.Errorf("%w: the record belongs to clip %s", clip.ErrMismatch, s.ID)
	case err == nil:
		l.Sig = SigOK
	case errors.Is(err, clip.ErrUnknownKey):
		l.Sig, l.Err = SigUnknown, err
	default:
		l.Sig, l.Err = SigBad, err
	}
	return l
}

// SortListed puts events in time order, unreadable ones last.
func SortListed(ls []Listed) {
	slices.SortStableFunc(ls, func(a, b Listed) int {
		switch {
		case a.Record == nil && b.Record == nil:
			return strings.Compare(a.ID, b.ID)
		case a.Record == nil:
			return 1
		case b.Record == nil:
			return -1
		}
		return a.Record.Trigger.Compare(b.Record.Trigger)
	})
}

// ListDir lists the clips in a directory (pulled, or a copy of the
// doorbell's clips directory) by their event records.
func ListDir(dir string, ids []age.Identity, trusted []ed25519.PublicKey) ([]Listed, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", dir, err)
	}
	seen := map[string]bool{}
	var out []Listed
	for _, e := range entries {
		id, _, ok := clip.SplitName(e.Name())
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		var l Listed
		if f, err := os.Open(filepath.Join(dir, id+clip.RecordSuffix)); err == nil {
			l = CheckRecord(id, f, ids, trusted)
			f.Close()
		} else {
			l = Listed{ID: id, Sig: SigNone, Err: fmt.Errorf("no event record beside the clip")}
		}
		if fi, err := os.Stat(filepath.Join(dir, id+clip.ClipSuffix)); err == nil {
			l.Bytes = fi.Size()
		}
		out = append(out, l)
	}
	SortListed(out)
	return out, nil
}

// ListRemote lists a doorbell's clips, downloading and opening only their
// small event records, workers at a time.
func ListRemote(ctx context.Context, c *Client, ids []age.Identity, trusted []ed25519.PublicKey, workers int) ([]Listed, error) {
	entries, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Listed, len(entries))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range max(1, workers) {
		wg.Go(func() {
			var buf bytes.Buffer
			for i := range jobs {
				e := entries[i]
				if e.SealedBefore == wire.SealedBeforeMember {
					out[i] = Listed{ID: e.ID, Bytes: e.Bytes, Sig: SigNone, SealedBefore: true}
					continue
				}
				if e.RecordBytes == 0 {
					out[i] = Listed{ID: e.ID, Bytes: e.Bytes, Sig: SigNone, Err: errors.New("the doorbell has no event record for this clip (its recording was cut off before one was written)")}
					continue
				}
				buf.Reset()
				_, err := c.Fetch(ctx, e.ID+clip.RecordSuffix, 0, &buf)
				if err != nil {
					out[i] = Listed{ID: e.ID, Bytes: e.Bytes, Sig: SigNone, Err: err}
					if errors.Is(err, ErrPinMismatch) {
						mu.Lock()
						firstErr = cmpOr(firstErr, err)
						mu.Unlock()
					}
					continue
				}
				out[i] = CheckRecord(e.ID, &buf, ids, trusted)
				out[i].Bytes = e.Bytes
			}
		})
	}
	for i := range entries {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	SortListed(out)
	return out, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Progress is told how a pull goes: bytes done of total.
type Progress func(done, total int64)

// PullStats says what a pull did.
type PullStats struct {
	New, Present int
	Bytes        int64
	// Flagged are new clips that claim an earlier hour than clips pulled
	// before (seen.go): do not trust them.
	Flagged []Flagged
	// Skipped are the clips finished before the member was in the
	// household, which Pull leaves on the doorbell: they cannot open them.
	Skipped int
}

// Pull downloads the doorbell's clips and records that dir lacks, except
// those sealed before the member was in the household (PullAll takes
// those too). A download cut off is resumed from where it stopped
// (DIR/.<name>.part). Only ciphertext is written.
func Pull(ctx context.Context, c *Client, dir string, progress Progress) (PullStats, error) {
	return pull(ctx, c, dir, progress, false)
}

// PullAll is Pull, taking also the clips the member cannot open.
func PullAll(ctx context.Context, c *Client, dir string, progress Progress) (PullStats, error) {
	return pull(ctx, c, dir, progress, true)
}

func pull(ctx context.Context, c *Client, dir string, progress Progress, all bool) (PullStats, error) {
	var st PullStats
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return st, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	entries, err := c.List(ctx)
	if err != nil {
		return st, err
	}
	if st.Flagged, err = checkSeen(dir, entries, time.Now()); err != nil {
		return st, err
	}
	type job struct {
		name string
		size int64
		have int64
	}
	var jobs []job
	var total int64
	for _, e := range entries {
		if e.SealedBefore == wire.SealedBeforeMember && !all {
			st.Skipped++
			continue
		}
		fresh := false
		for _, f := range []struct {
			suffix string
			size   int64
		}{{clip.RecordSuffix, e.RecordBytes}, {clip.ClipSuffix, e.Bytes}} {
			name := e.ID + f.suffix
			if f.size == 0 && f.suffix == clip.RecordSuffix {
				continue // kept without its record (cut off before it was written)
			}
			if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Size() == f.size {
				continue
			}
			var have int64
			if fi, err := os.Stat(partPath(dir, name)); err == nil && fi.Size() <= f.size {
				have = fi.Size()
			}
			jobs = append(jobs, job{name, f.size, have})
			total += f.size - have
			fresh = true
		}
		if fresh {
			st.New++
		} else {
			st.Present++
		}
	}
	var done int64
	if progress != nil {
		progress(0, total)
	}
	for _, j := range jobs {
		n, err := pullFile(ctx, c, dir, j.name, j.size, func(n int64) {
			if progress != nil {
				progress(done+n, total)
			}
		})
		done += n
		st.Bytes += n
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

func partPath(dir, name string) string { return filepath.Join(dir, "."+name+".part") }

// pullFile downloads name into dir, resuming its part file.
func pullFile(ctx context.Context, c *Client, dir, name string, size int64, progress func(int64)) (int64, error) {
	part := partPath(dir, name)
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if have > size {
		if err := f.Truncate(0); err != nil {
			return 0, err
		}
		have, _ = f.Seek(0, io.SeekStart)
	}
	cw := &countWriter{w: f, report: progress}
	_, err = c.Fetch(ctx, name, have, cw)
	if errors.Is(err, errRestart) {
		if err := f.Truncate(0); err != nil {
			return 0, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		have = 0
		_, err = c.Fetch(ctx, name, 0, cw)
	}
	if err != nil {
		return cw.n, fmt.Errorf("downloading %s: %w (run clips pull again to resume)", name, err)
	}
	if have+cw.n != size {
		return cw.n, fmt.Errorf("downloading %s: got %d bytes of %d (run clips pull again to resume)", name, have+cw.n, size)
	}
	if err := f.Sync(); err != nil {
		return cw.n, err
	}
	if err := f.Close(); err != nil {
		return cw.n, err
	}
	if err := os.Rename(part, filepath.Join(dir, name)); err != nil {
		return cw.n, err
	}
	return cw.n, atomicfile.SyncDir(dir)
}

type countWriter struct {
	w      io.Writer
	n      int64
	report func(int64)
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.report != nil {
		c.report(c.n)
	}
	return n, err
}

// OpenFile decrypts and verifies the clip at clipPath (its record beside
// it, if there) into a new file outPath, which appears only when all went
// well: on any error nothing is left behind.
func OpenFile(clipPath, outPath string, opt clip.Options) (*clip.Result, error) {
	cf, err := os.Open(clipPath)
	if err != nil {
		return nil, fmt.Errorf("cannot read the clip: %w", err)
	}
	defer cf.Close()
	id, suffix, ok := clip.SplitName(filepath.Base(clipPath))
	if !ok || suffix != clip.ClipSuffix {
		return nil, fmt.Errorf("%s is not named like a clip (<id>.mp4.age); give the file from the doorbell or from clips pull, under its own name", clipPath)
	}
	opt.ID = id
	if dir, ok := inDoorbellDataDir(outPath); ok {
		return nil, fmt.Errorf("%s is inside the doorbell's data directory %s: the decrypted video would be plaintext footage on the doorbell's disk; write it elsewhere with -o, or run clips open from another directory", outPath, dir)
	}
	if _, err := os.Lstat(outPath); err == nil {
		return nil, fmt.Errorf("%s already exists; choose another name with -o, or remove it", outPath)
	}
	fi, err := cf.Stat()
	if err != nil {
		return nil, err
	}
	var record io.Reader
	if rf, err := os.Open(filepath.Join(filepath.Dir(clipPath), id+clip.RecordSuffix)); err == nil {
		defer rf.Close()
		record = rf
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot read the event record: %w", err)
	}
	outDir := filepath.Dir(outPath)
	tmp, err := os.CreateTemp(outDir, "."+filepath.Base(outPath)+".part-")
	if err != nil {
		return nil, fmt.Errorf("cannot write in %s: %w", outDir, err)
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	res, err := clip.Open(tmp, cf, fi.Size(), record, opt)
	if err != nil {
		return res, err
	}
	if err := tmp.Sync(); err != nil {
		return res, err
	}
	if err := tmp.Close(); err != nil {
		return res, err
	}
	// Link, not rename: never replace a file that appeared meanwhile.
	if err := os.Link(tmp.Name(), outPath); err != nil {
		return res, fmt.Errorf("cannot write %s: %w", outPath, err)
	}
	keep = true
	os.Remove(tmp.Name())
	return res, atomicfile.SyncDir(outDir)
}

// inDoorbellDataDir reports whether path would be inside a doorbell's data
// directory (one that holds its signing key), and which.
func inDoorbellDataDir(path string) (string, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	dir := filepath.Dir(abs)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	for {
		if _, err := os.Lstat(devicekey.Path(dir)); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
