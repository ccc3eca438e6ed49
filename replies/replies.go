// Package replies keeps the spoken quick replies that the doorbell plays to
// a visitor: built-in ones, spoken by espeak-ng in English and German, and
// the owner's own recordings. They are the household's own words, not
// footage, and are stored unencrypted (Ogg Opus) in the data directory's
// replies folder, so that the doorbell can play them.
package replies

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"doorbell/internal/atomicfile"
)

// Reply is one quick reply.
type Reply struct {
	ID      string `json:"id"`
	Text    string `json:"text"` // what it says, or the owner's name for it
	Lang    string `json:"lang"` // "en", "de", or "" for the owner's
	Builtin bool   `json:"builtin"`
}

// Builtin are the replies made with espeak-ng.
var Builtin = []Reply{
	{ID: "parcel-en", Lang: "en", Text: "Please leave the parcel at the door.", Builtin: true},
	{ID: "coming-en", Lang: "en", Text: "We'll be right there.", Builtin: true},
	{ID: "away-en", Lang: "en", Text: "Sorry, nobody can come to the door right now.", Builtin: true},
	{ID: "parcel-de", Lang: "de", Text: "Bitte legen Sie das Paket vor die Tür.", Builtin: true},
	{ID: "coming-de", Lang: "de", Text: "Wir kommen gleich.", Builtin: true},
	{ID: "away-de", Lang: "de", Text: "Leider kann gerade niemand an die Tür kommen.", Builtin: true},
}

// MaxRecordingBytes bounds an owner's recording as uploaded: a minute of
// a browser's Opus is well under it.
const MaxRecordingBytes = 2 << 20

// MaxOwn is how many recordings of their own a household may keep.
const MaxOwn = 20

// Errors a caller may want to tell apart.
var (
	ErrUnknown  = errors.New("no such reply: list them with GET /api/replies")
	ErrBuiltin  = errors.New("a built-in reply cannot be removed; record your own instead")
	ErrTooMany  = fmt.Errorf("there are %d recordings already; remove one first", MaxOwn)
	ErrTooLarge = fmt.Errorf("the recording is over %d bytes; keep it under a minute", MaxRecordingBytes)
)

// Store is the replies folder.
type Store struct {
	dir    string
	ffmpeg string
	espeak string

	mu sync.Mutex // adding and removing
}

// Open opens (making it if need be) the replies folder in dataDir.
// ffmpeg and espeak name the programs ("" means the one on PATH).
func Open(dataDir, ffmpeg, espeak string) (*Store, error) {
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	if espeak == "" {
		espeak = "espeak-ng"
	}
	dir := filepath.Join(dataDir, "replies")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot make the replies folder: %w; check that the data directory is writable", err)
	}
	return &Store{dir: dir, ffmpeg: ffmpeg, espeak: espeak}, nil
}

// Dir is where the replies are stored.
func (s *Store) Dir() string { return s.dir }

func (s *Store) audioPath(id string) string { return filepath.Join(s.dir, id+".ogg") }
func (s *Store) metaPath(id string) string  { return filepath.Join(s.dir, id+".json") }

// MakeBuiltins speaks each built-in reply that is not there yet with
// espeak-ng and stores it as Ogg Opus. It is done once per data directory.
func (s *Store) MakeBuiltins(ctx context.Context) error {
	for _, r := range Builtin {
		if _, err := os.Stat(s.audioPath(r.ID)); err == nil {
			continue
		}
		speak := exec.CommandContext(ctx, s.espeak, "-v", r.Lang, "--stdout", r.Text)
		var speakErr bytes.Buffer
		speak.Stderr = &speakErr
		wav, err := speak.Output()
		if err != nil {
			return fmt.Errorf("speaking the built-in reply %q with %s: %w %s; install espeak-ng (apt-get install espeak-ng)", r.Text, s.espeak, err, strings.TrimSpace(speakErr.String()))
		}
		if err := s.encode(ctx, bytes.NewReader(wav), s.audioPath(r.ID)); err != nil {
			return err
		}
	}
	return nil
}

// encode turns any audio ffmpeg reads into mono Ogg Opus at path, written
// whole or not at all.
func (s *Store) encode(ctx context.Context, in io.Reader, path string) error {
	cmd := exec.CommandContext(ctx, s.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", "pipe:0", "-vn",
		"-ac", "1", "-ar", "48000", "-c:a", "libopus", "-b:a", "32k", "-f", "ogg", "pipe:1")
	cmd.Stdin = in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("the recording is not audio ffmpeg can read (%v: %s); record it again", err, msg)
	}
	return atomicfile.WriteFile(path, out, 0o600)
}

// List returns the built-in replies that were made, then the owner's, by name.
func (s *Store) List() ([]Reply, error) {
	var out []Reply
	for _, r := range Builtin {
		if _, err := os.Stat(s.audioPath(r.ID)); err == nil {
			out = append(out, r)
		}
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read the replies folder: %w", err)
	}
	var own []Reply
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !ownID(id) {
			continue
		}
		r, err := s.readMeta(id)
		if err != nil {
			continue // a recording being removed, or a damaged one: not offered
		}
		own = append(own, r)
	}
	sort.Slice(own, func(i, j int) bool { return own[i].Text < own[j].Text })
	return append(out, own...), nil
}

func (s *Store) readMeta(id string) (Reply, error) {
	data, err := os.ReadFile(s.metaPath(id))
	if err != nil {
		return Reply{}, err
	}
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return Reply{}, err
	}
	if _, err := os.Stat(s.audioPath(id)); err != nil {
		return Reply{}, err
	}
	r.ID, r.Builtin = id, false
	return r, nil
}

// Path returns the audio file of reply id.
func (s *Store) Path(id string) (string, error) {
	for _, r := range Builtin {
		if r.ID == id {
			if _, err := os.Stat(s.audioPath(id)); err != nil {
				return "", fmt.Errorf("the built-in reply %q was not made: %w; install espeak-ng and restart the doorbell", r.Text, err)
			}
			return s.audioPath(id), nil
		}
	}
	if !ownID(id) {
		return "", ErrUnknown
	}
	if _, err := s.readMeta(id); err != nil {
		return "", ErrUnknown
	}
	return s.audioPath(id), nil
}

// Add stores the owner's recording (any audio ffmpeg reads: a browser's
// WebM or Ogg Opus) under name.
func (s *Store) Add(ctx context.Context, name string, audio io.Reader) (Reply, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 60 || !utf8.ValidString(name) || strings.ContainsAny(name, "\x00\n\r") {
		return Reply{}, errors.New("the reply needs a name of 1 to 60 characters on one line, e.g. \"Back in 5 minutes\"")
	}
	data, err := io.ReadAll(io.LimitReader(audio, MaxRecordingBytes+1))
	if err != nil {
		return Reply{}, fmt.Errorf("cannot read the recording: %w; send it again", err)
	}
	if len(data) > MaxRecordingBytes {
		return Reply{}, ErrTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list, err := s.List()
	if err != nil {
		return Reply{}, err
	}
	own := 0
	for _, r := range list {
		if !r.Builtin {
			own++
		}
	}
	if own >= MaxOwn {
		return Reply{}, ErrTooMany
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	r := Reply{ID: "own-" + hex.EncodeToString(b[:]), Text: name}
	if err := s.encode(ctx, bytes.NewReader(data), s.audioPath(r.ID)); err != nil {
		return Reply{}, err
	}
	meta, _ := json.Marshal(r)
	if err := atomicfile.WriteFile(s.metaPath(r.ID), meta, 0o600); err != nil {
		_ = os.Remove(s.audioPath(r.ID))
		return Reply{}, fmt.Errorf("cannot save the recording: %w", err)
	}
	return r, nil
}

// Remove deletes the owner's recording id.
func (s *Store) Remove(id string) error {
	for _, r := range Builtin {
		if r.ID == id {
			return ErrBuiltin
		}
	}
	if !ownID(id) {
		return ErrUnknown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := os.Remove(s.metaPath(id)) // first: a half-removed reply is no longer listed
	if errors.Is(err, fs.ErrNotExist) {
		return ErrUnknown
	}
	if err != nil {
		return fmt.Errorf("cannot remove the recording: %w", err)
	}
	_ = os.Remove(s.audioPath(id))
	return nil
}

// ownID reports whether id has the form of an owner's recording.
func ownID(id string) bool {
	h, ok := strings.CutPrefix(id, "own-")
	if !ok || len(h) != 16 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}
