// Package members keeps the household's member registry on the device: one
// file in the data directory naming each member and their age public key,
// replaced atomically and checked on every read. Clips are sealed to every
// member listed when they start.
package members

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"filippo.io/age"

	"doorbell/crypto/keys"
	"doorbell/internal/atomicfile"
)

// FileName is the registry's file in the data directory.
const FileName = "members.json"

// Path returns the registry's path in dataDir.
func Path(dataDir string) string { return filepath.Join(dataDir, FileName) }

// Member is one person in the household.
type Member struct {
	Name      string    `json:"name"`
	Recipient string    `json:"recipient"` // age1pq1… or age1…
	Added     time.Time `json:"added"`
}

// Registry is a checked list of members: unique names and keys, all of one kind.
type Registry struct {
	members    []Member
	recipients []age.Recipient
	kind       keys.Kind
	devices    []string // the device keys WithDeviceKeys added, normalised
}

type file struct {
	Members []Member `json:"members"`
}

// Members returns the members in the order they were added.
func (r *Registry) Members() []Member { return slices.Clone(r.members) }

// Len is the number of members.
func (r *Registry) Len() int { return len(r.members) }

// Recipients returns every member's parsed public key.
func (r *Registry) Recipients() []age.Recipient { return slices.Clone(r.recipients) }

// Kind is the kind of key the household uses, or 0 with no members.
func (r *Registry) Kind() keys.Kind { return r.kind }

// Names returns the members' names.
func (r *Registry) Names() []string {
	out := make([]string, len(r.members))
	for i, m := range r.members {
		out[i] = m.Name
	}
	return out
}

// ID names the member by identity rather than by name: the first 16 hex
// digits of the SHA-256 of their public key. Paired devices belong to a
// member's ID, so a device named like a member, or a new member given a
// removed member's name, is never taken for them.
func (m Member) ID() string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(m.Recipient))))
	return hex.EncodeToString(sum[:8])
}

// Find finds a member by name, ignoring case as names are unique so.
func (r *Registry) Find(name string) (Member, bool) {
	for _, m := range r.members {
		if strings.EqualFold(m.Name, name) {
			return m, true
		}
	}
	return Member{}, false
}

// ByID finds a member by ID.
func (r *Registry) ByID(id string) (Member, bool) {
	for _, m := range r.members {
		if m.ID() == id {
			return m, true
		}
	}
	return Member{}, false
}

// Lookup finds a member by name.
func (r *Registry) Lookup(name string) (Member, bool) {
	for _, m := range r.members {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// MaxNameLen is the longest member or device name, in characters.
const MaxNameLen = 64

// CheckName says what is wrong with a member's name, or nil. It is the one
// rule for members' names: the registry, pairing codes (doorbell member pair
// NAME), tokens and setup cards all check names with it.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("the member's name is empty; give a short name such as \"anna\"")
	case strings.HasPrefix(name, "-"):
		return fmt.Errorf("the member's name %q starts with '-'; put flags before the name, or choose a name that does not start with '-'", name)
	case !utf8.ValidString(name):
		return errors.New("the member's name is not valid UTF-8 text")
	case utf8.RuneCountInString(name) > MaxNameLen:
		return fmt.Errorf("the member's name is longer than %d characters; choose a shorter one", MaxNameLen)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("the member's name %q starts or ends with a space; remove it", name)
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0:
		return fmt.Errorf("the member's name %q has control or invisible characters; use letters, digits, spaces and punctuation", name)
	}
	return nil
}

// New checks ms and makes a registry of them.
func New(ms []Member) (*Registry, error) {
	r := &Registry{}
	names := map[string]bool{}
	seen := map[string]string{}
	for _, m := range ms {
		if err := CheckName(m.Name); err != nil {
			return nil, err
		}
		if names[strings.ToLower(m.Name)] {
			return nil, fmt.Errorf("there is already a member named %q; choose another name, or remove the old one first with doorbell member remove %s", m.Name, m.Name)
		}
		rec, kind, err := keys.ParseRecipient(m.Recipient)
		if err != nil {
			return nil, fmt.Errorf("member %q: %w", m.Name, err)
		}
		norm := strings.ToLower(strings.TrimSpace(m.Recipient))
		if other, dup := seen[norm]; dup {
			return nil, fmt.Errorf("member %q has the same public key as %q; each member needs a key of their own: make one with doorbell keygen", m.Name, other)
		}
		if r.kind != 0 && kind != r.kind {
			return nil, fmt.Errorf("member %q: %w", m.Name, keys.MixError(r.kind, kind))
		}
		r.kind = kind
		names[strings.ToLower(m.Name)] = true
		seen[norm] = m.Name
		m.Recipient = norm
		r.members = append(r.members, m)
		r.recipients = append(r.recipients, rec)
	}
	return r, nil
}

// Parse checks the registry file's contents; name is for messages.
func Parse(name string, data []byte) (*Registry, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return &Registry{}, nil
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w; fix it, or remove it and add the members again with doorbell member add", name, err)
	}
	r, err := New(f.Members)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// Load reads the registry in dataDir. A missing file is an empty household.
func Load(dataDir string) (*Registry, error) {
	data, err := os.ReadFile(Path(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return &Registry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the member list: %w; run as the user that owns %s", err, dataDir)
	}
	return Parse(Path(dataDir), data)
}

func (r *Registry) encode() []byte {
	f := file{Members: r.members}
	if f.Members == nil {
		f.Members = []Member{}
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	return append(b, '\n')
}

// update changes the registry in dataDir under its lock and replaces the file.
func update(dataDir string, change func(ms []Member) ([]Member, error)) (*Registry, error) {
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("data directory %s does not exist; give the device's data directory with -data (e.g. /var/lib/doorbell)", dataDir)
	}
	unlock, err := atomicfile.Lock(Path(dataDir) + ".lock")
	if err != nil {
		return nil, fmt.Errorf("cannot lock the member list: %w; run as the user that owns %s", err, dataDir)
	}
	defer unlock()
	cur, err := Load(dataDir)
	if err != nil {
		return nil, err
	}
	ms, err := change(cur.Members())
	if err != nil {
		return nil, err
	}
	next, err := New(ms)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(Path(dataDir), next.encode(), 0o600); err != nil {
		return nil, fmt.Errorf("cannot save the member list: %w; check that %s is writable", err, dataDir)
	}
	return next, nil
}

// Add adds a member to the registry in dataDir.
func Add(dataDir, name, recipient string, now time.Time) (*Registry, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if _, _, err := keys.ParseRecipient(recipient); err != nil {
		return nil, err
	}
	return update(dataDir, func(ms []Member) ([]Member, error) {
		return append(ms, Member{Name: name, Recipient: strings.TrimSpace(recipient), Added: now.UTC().Truncate(time.Second)}), nil
	})
}

// Remove takes a member out of the registry in dataDir, in one atomic
// replacement of the file, and returns the registry left and the member
// removed. Clips sealed from now on are not sealed to them, and their paired
// devices are refused from then on (pairing.Store checks membership).
func Remove(dataDir, name string) (*Registry, Member, error) {
	var gone Member
	reg, err := update(dataDir, func(ms []Member) ([]Member, error) {
		// Names are unique ignoring case, and matched so, as in pairing.
		i := slices.IndexFunc(ms, func(m Member) bool { return strings.EqualFold(m.Name, name) })
		if i < 0 {
			names := make([]string, len(ms))
			for j, m := range ms {
				names[j] = m.Name
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("there is no member named %q: the household has no members yet", name)
			}
			return nil, fmt.Errorf("there is no member named %q; the members are: %s", name, strings.Join(names, ", "))
		}
		gone = ms[i]
		return slices.Delete(ms, i, i+1), nil
	})
	return reg, gone, err
}

// Watcher keeps the registry of a data directory current, reading the file
// again whenever it changes. A damaged file is reported and the last good
// registry kept.
type Watcher struct {
	dir      string
	interval time.Duration

	mu   sync.Mutex
	cur  *Registry
	raw  []byte
	err  error
	subs []func(*Registry)
}

// NewWatcher reads the registry in dataDir and returns a watcher that
// checks it for changes every interval once Run is called.
func NewWatcher(dataDir string, interval time.Duration) (*Watcher, error) {
	w := &Watcher{dir: dataDir, interval: interval, cur: &Registry{}}
	if _, err := w.poll(); err != nil {
		return w, err
	}
	return w, nil
}

// Current returns the latest good registry.
func (w *Watcher) Current() *Registry {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur
}

// Err is the problem with the file as it is now, if any.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// OnChange calls f with each new registry, on the watcher's goroutine.
func (w *Watcher) OnChange(f func(*Registry)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subs = append(w.subs, f)
}

// Run checks for changes until ctx ends. onError is called once for each
// new problem with the file.
func (w *Watcher) Run(ctx context.Context, onError func(error)) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := w.poll()
		if err != nil && changed && onError != nil {
			onError(err)
		}
	}
}

// poll reads the file; changed reports whether it (or the problem with it) changed.
func (w *Watcher) poll() (changed bool, err error) {
	data, err := os.ReadFile(Path(w.dir))
	if errors.Is(err, fs.ErrNotExist) {
		data, err = []byte{}, nil
	}
	var r *Registry
	if err != nil {
		err = fmt.Errorf("cannot read the member list: %w", err)
		data = nil
	}
	w.mu.Lock()
	if err != nil {
		changed = w.err == nil || w.err.Error() != err.Error()
		w.err, w.raw = err, nil
		w.mu.Unlock()
		return changed, err
	}
	if w.raw != nil && bytes.Equal(data, w.raw) {
		err = w.err
		w.mu.Unlock()
		return false, err
	}
	w.mu.Unlock()
	r, err = Parse(Path(w.dir), data)
	w.mu.Lock()
	w.raw, w.err = data, err
	if err != nil {
		w.mu.Unlock()
		return true, err
	}
	w.cur = r
	subs := slices.Clone(w.subs)
	w.mu.Unlock()
	for _, f := range subs {
		f(r)
	}
	return true, nil
}

// WithDeviceKeys returns the registry with the public keys of members'
// paired phones added to its recipients, so that clips are sealed to them
// too. Keys not of the household's kind, unreadable or already listed are
// left out: pairing refuses those, so none are expected.
func (r *Registry) WithDeviceKeys(recipients []string) *Registry {
	if len(recipients) == 0 || r.Len() == 0 {
		return r
	}
	out := &Registry{members: r.members, recipients: slices.Clone(r.recipients), kind: r.kind}
	seen := map[string]bool{}
	for _, m := range r.members {
		seen[m.Recipient] = true
	}
	for _, s := range recipients {
		norm := strings.ToLower(strings.TrimSpace(s))
		rec, kind, err := keys.ParseRecipient(norm)
		if err != nil || kind != r.kind || seen[norm] {
			continue
		}
		seen[norm] = true
		out.recipients = append(out.recipients, rec)
		out.devices = append(out.devices, norm)
	}
	return out
}

// DeviceKeys are the paired devices' own keys WithDeviceKeys added, as
// lower-case recipient strings.
func (r *Registry) DeviceKeys() []string { return slices.Clone(r.devices) }
