package uploader_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"doorbell/crypto/clip"
	"doorbell/internal/s3test"
	"doorbell/replica"
	"doorbell/replica/uploader"
)

// dirFiles is a clips directory of one recording file.
type dirFiles struct{ dir string }

func (d dirFiles) OpenClip(id string) (uploader.Sealed, error) {
	return os.Open(filepath.Join(d.dir, id+clip.ClipSuffix))
}
func (d dirFiles) ReadRecord(id string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.dir, id+clip.RecordSuffix))
}
func (d dirFiles) Clips() ([]uploader.Clip, error) { return nil, nil }

type putter struct {
	c      *replica.Client
	mu     sync.Mutex
	stored []stored
}

type stored struct {
	end int64
	at  time.Time
}

func (p *putter) Target() replica.Target { return p.c.Target() }

func (p *putter) Put(ctx context.Context, key string, r io.Reader, n int64) error {
	err := p.c.Put(ctx, key, r, n)
	if err == nil && strings.HasSuffix(key, ".part") {
		span := key[strings.LastIndex(key, "/")+1:]
		end, _ := strconv.ParseInt(span[17:33], 10, 64)
		p.mu.Lock()
		p.stored = append(p.stored, stored{end, time.Now()})
		p.mu.Unlock()
	}
	return err
}

// BenchmarkReplicaWhileRecording records at 2 Mbit/s in real time, one
// iteration a second: age's 64 KiB sealed chunks are written to a file as
// the bit rate fills them and the uploader is told of each, as the recorder
// does; the file is fsynced every second; the uploader sends what was
// written to versitygw on loopback.
// It reports each sealed chunk's lag from its write to its object stored
// (p50, p99), and the CPU this process spent, in % of one core (the
// writing and fsyncs included, versitygw not).
//
//	go test ./replica/uploader -run '^$' -bench ReplicaWhileRecording -benchtime 60x
func BenchmarkReplicaWhileRecording(b *testing.B) {
	srv := s3test.Start(b)
	srv.CreateBucket(b, "house")
	c, err := replica.NewClient(replica.Target{Endpoint: srv.Endpoint, Bucket: "house", Prefix: "door"},
		replica.Credentials{AccessKey: srv.Access, SecretKey: srv.Secret}, nil)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	id := clip.NewID()
	f, err := os.Create(filepath.Join(dir, id+clip.ClipSuffix))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	p := &putter{c: c}
	u := uploader.New(p, dirFiles{dir}, uploader.Config{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()

	const bitrate = 2_000_000 / 8 // bytes a second
	const chunk = 64<<10 + 16     // one sealed age chunk
	buf := make([]byte, chunk)
	rand.Read(buf)
	var writes []stored // each chunk's end and write time
	var size int64
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		second := start.Add(time.Duration(i) * time.Second)
		// The chunks this second's video fills, each when it is full.
		for size+chunk <= int64(float64(i+1)*bitrate) {
			at := second.Add(time.Duration(float64(size+chunk-int64(i)*bitrate) / bitrate * float64(time.Second)))
			time.Sleep(time.Until(at))
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
			size += chunk
			writes = append(writes, stored{size, time.Now()})
			u.Written(id, size, false) // as the recorder does for each chunk
		}
		time.Sleep(time.Until(second.Add(time.Second)))
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	u.Written(id, size, true)
	// Wait for the last piece.
	for deadline := time.Now().Add(10 * time.Second); u.Status().QueuedBytes > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	wall := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	b.StopTimer()
	cancel()
	<-done

	var lags []time.Duration
	p.mu.Lock()
	for _, w := range writes {
		for _, s := range p.stored {
			if s.end >= w.end {
				lags = append(lags, s.at.Sub(w.at))
				break
			}
		}
	}
	p.mu.Unlock()
	if len(lags) != len(writes) {
		b.Fatalf("%d of %d chunks reached the replica", len(lags), len(writes))
	}
	slices.Sort(lags)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(lags[len(lags)/2].Seconds(), "lag-p50-s")
	b.ReportMetric(lags[len(lags)*99/100].Seconds(), "lag-p99-s")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%-of-core")
	b.ReportMetric(float64(len(lags)), "chunks")
}
