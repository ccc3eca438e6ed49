package uploader

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"doorbell/crypto/clip"
	"doorbell/replica"
)

// store is an in-memory S3 that refuses overwrites, and can be "down".
type store struct {
	mu   sync.Mutex
	objs map[string][]byte
	down error
	puts int
}

func (s *store) Target() replica.Target {
	return replica.Target{Endpoint: "https://s3.test", Bucket: "house", Prefix: "door"}
}

func (s *store) Put(ctx context.Context, key string, r io.Reader, n int64) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down != nil {
		return s.down
	}
	if int64(len(data)) != n {
		return errors.New("short body")
	}
	if _, ok := s.objs[key]; ok {
		return replica.ErrExists
	}
	s.objs[key] = data
	s.puts++
	return nil
}

func (s *store) setDown(err error) { s.mu.Lock(); s.down = err; s.mu.Unlock() }

// reassemble is what a member pulls of clip id.
func (s *store) reassemble(t *testing.T, id string) ([]byte, [][]byte) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var objs []replica.Object
	for k, v := range s.objs {
		objs = append(objs, replica.Object{Key: k, Size: int64(len(v))})
	}
	var out []byte
	var recs [][]byte
	for _, c := range replica.Group("door", objs) {
		if c.ID != id {
			continue
		}
		for _, p := range c.Plan() {
			out = append(out, s.objs[p.Key][p.Offset:p.Offset+p.Length]...)
		}
		for _, r := range c.Records {
			recs = append(recs, s.objs[r.Key])
		}
	}
	return out, recs
}

// files is an in-memory clips directory.
type files struct {
	mu      sync.Mutex
	clips   map[string]*bytes.Buffer
	records map[string][]byte
	order   []string
}

func newFiles() *files {
	return &files{clips: map[string]*bytes.Buffer{}, records: map[string][]byte{}}
}

func (f *files) write(id string, p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.clips[id] == nil {
		f.clips[id] = &bytes.Buffer{}
		f.order = append(f.order, id)
	}
	f.clips[id].Write(p)
}

func (f *files) size(id string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(f.clips[id].Len())
}

func (f *files) bytes(id string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.clips[id].Bytes())
}

type reader struct{ *bytes.Reader }

func (reader) Close() error { return nil }

func (f *files) OpenClip(id string) (Sealed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.clips[id]
	if b == nil {
		return nil, fs.ErrNotExist
	}
	return reader{bytes.NewReader(bytes.Clone(b.Bytes()))}, nil
}

func (f *files) ReadRecord(id string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.records[id]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return r, nil
}

func (f *files) Clips() ([]Clip, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Clip
	for _, id := range f.order {
		if b := f.clips[id]; b != nil {
			out = append(out, Clip{ID: id, Size: int64(b.Len())})
		}
	}
	return out, nil
}

func (f *files) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.clips, id)
	delete(f.records, id)
}

var quiet = slog.New(slog.DiscardHandler)

// record simulates a recorder: a piece a second, a record at the start and the end.
func record(f *files, u *Uploader, id string, seconds int, piece int) {
	f.write(id, bytes.Repeat([]byte{byte(len(id))}, 100))
	u.Written(id, f.size(id), false)
	f.mu.Lock()
	f.records[id] = []byte("record recording " + id)
	f.mu.Unlock()
	u.RecordWritten(id)
	for i := range seconds {
		time.Sleep(time.Second)
		f.write(id, bytes.Repeat([]byte{byte(i)}, piece))
		u.Written(id, f.size(id), false)
	}
	f.mu.Lock()
	f.records[id] = []byte("record complete " + id)
	f.mu.Unlock()
	u.RecordWritten(id)
	u.Written(id, f.size(id), true)
}

func TestStreamsEachPieceAsItIsWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := &store{objs: map[string][]byte{}}, newFiles()
		u := New(s, f, Config{StateFile: filepath.Join(t.TempDir(), "state.json")}, quiet)
		var lags []time.Duration
		u.observeLag = func(d time.Duration) { lags = append(lags, d) }
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { u.Run(ctx); close(done) }()
		id := clip.NewID()
		f.write(id, []byte("header"))
		u.Written(id, f.size(id), false)
		synctest.Wait()
		// Each piece is stored as soon as it is synced: the replica holds
		// the whole prefix at every moment.
		for i := range 5 {
			f.write(id, bytes.Repeat([]byte{byte(i)}, 1000))
			u.Written(id, f.size(id), false)
			synctest.Wait()
			if got, _ := s.reassemble(t, id); !bytes.Equal(got, f.bytes(id)) {
				t.Fatalf("after piece %d the replica holds %d of %d bytes", i, len(got), f.size(id))
			}
			time.Sleep(time.Second)
		}
		u.Written(id, f.size(id), true)
		synctest.Wait()
		if st := u.Status(); st.State != "ok" || st.QueuedBytes != 0 || st.LastSuccess == nil {
			t.Errorf("status %+v", st)
		}
		for _, l := range lags {
			if l != 0 { // no time passes in the bubble while the fake stores
				t.Errorf("lag %v", l)
			}
		}
		if len(lags) != 6 {
			t.Errorf("%d lags observed, want 6", len(lags))
		}
		cancel()
		<-done
	})
}

func TestOutageQueuesAndCatchesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := &store{objs: map[string][]byte{}}, newFiles()
		u := New(s, f, Config{StateFile: filepath.Join(t.TempDir(), "state.json")}, quiet)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { u.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		first := clip.NewID()
		record(f, u, first, 3, 500)
		synctest.Wait()

		s.setDown(errors.New("connection refused"))
		// A visitor comes and goes while the storage is away: 60 s.
		second := clip.NewID()
		go record(f, u, second, 20, 500)
		time.Sleep(30 * time.Second)
		st := u.Status()
		if st.State != "failing" || st.QueuedBytes == 0 || st.LagSeconds < 20 || !strings.Contains(st.LastError, "connection refused") {
			t.Errorf("during the outage: %+v", st)
		}
		time.Sleep(30 * time.Second)
		s.setDown(nil)
		// Backoff is at most 10 s.
		time.Sleep(11 * time.Second)
		synctest.Wait()
		if st := u.Status(); st.State != "ok" || st.QueuedBytes != 0 || st.QueuedClips != 0 {
			t.Errorf("after the outage: %+v", st)
		}
		for _, id := range []string{first, second} {
			got, recs := s.reassemble(t, id)
			if !bytes.Equal(got, f.bytes(id)) {
				t.Errorf("clip %s: replica %d bytes, device %d", id, len(got), f.size(id))
			}
			if len(recs) != 2 && id == first {
				t.Errorf("clip %s: %d record versions, want 2", id, len(recs))
			}
			if !bytes.Contains(bytes.Join(recs, nil), []byte("complete")) {
				t.Errorf("clip %s: the complete record is missing", id)
			}
		}
	})
}

func TestFullQueueGivesUpTheOldestAndKeepsTheLiveClip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := &store{objs: map[string][]byte{}}, newFiles()
		s.setDown(errors.New("connection refused"))
		u := New(s, f, Config{MaxQueue: 3000}, quiet)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go u.Run(ctx)
		old := clip.NewID()
		record(f, u, old, 2, 1000) // 2100 bytes, final
		live := clip.NewID()
		f.write(live, make([]byte, 2000))
		u.Written(live, 2000, false) // 4100 > 3000: the old one goes
		st := u.Status()
		if st.QueuedBytes != 2000 || !strings.Contains(st.LastError, "queue is full") || !strings.Contains(st.LastError, old) {
			t.Fatalf("%+v", st)
		}
		s.setDown(nil)
		time.Sleep(11 * time.Second)
		synctest.Wait()
		if got, _ := s.reassemble(t, live); len(got) != 2000 {
			t.Errorf("the live clip: %d bytes on the replica", len(got))
		}
		if got, _ := s.reassemble(t, old); len(got) != 0 {
			t.Errorf("the given-up clip: %d bytes on the replica", len(got))
		}
	})
}

func TestRestartResumesFromTheStateFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := &store{objs: map[string][]byte{}}, newFiles()
		state := filepath.Join(t.TempDir(), "state.json")
		ctx, cancel := context.WithCancel(t.Context())
		u := New(s, f, Config{StateFile: state}, quiet)
		done := make(chan struct{})
		go func() { u.Run(ctx); close(done) }()
		a, gone := clip.NewID(), clip.NewID()
		record(f, u, a, 2, 700)
		record(f, u, gone, 1, 10)
		synctest.Wait()
		cancel()
		<-done
		puts := s.puts

		// Meanwhile (the replica was off): clip b, and retention removed one.
		b := clip.NewID()
		f.write(b, make([]byte, 900))
		f.records[b] = []byte("record b")
		f.remove(gone)
		u = New(s, f, Config{StateFile: state}, quiet)
		ctx, cancel = context.WithCancel(t.Context())
		done = make(chan struct{})
		go func() { u.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		synctest.Wait()
		if s.puts != puts+2 {
			t.Errorf("after a restart %d objects were sent, want 2 (clip b and its record)", s.puts-puts)
		}
		for _, id := range []string{a, b} {
			if got, _ := s.reassemble(t, id); !bytes.Equal(got, f.bytes(id)) {
				t.Errorf("clip %s: replica %d bytes, device %d", id, len(got), f.size(id))
			}
		}
	})
}
