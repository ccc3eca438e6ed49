package pairing

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"doorbell/crypto/members"
	"doorbell/internal/atomicfile"
)

// Files of the token store in the data directory.
const (
	// TokensFile lists the paired devices with the SHA-256 of each one's
	// token; never the tokens. It is replaced atomically by whoever
	// changes it (the daemon when a phone pairs, the CLI to revoke), under
	// an advisory lock on LockFile, and the daemon re-reads it when it
	// changes.
	TokensFile = "tokens.json"
	LockFile   = "tokens.lock"
	// UsedFile holds when each token was last used, to the minute. Only
	// the daemon writes it, at most once a minute.
	UsedFile = "tokens-used.json"
)

// MaxTokens is the most paired devices a doorbell keeps.
const MaxTokens = 200

// PollInterval is how often Watch re-reads the token file.
const PollInterval = 250 * time.Millisecond

// tokenBytes is the size of a token: 256 random bits.
const tokenBytes = 32

// Token is one paired device. It holds only the hash of the device's token.
type Token struct {
	ID     string `json:"id"`     // 16 hex digits; names the device in lists, logs and live sessions
	Member string `json:"member"` // the household member it was paired for
	// MemberID is that member's identity (members.Member.ID): the device
	// works only while a member with this ID is in the household. Tokens
	// made before it was recorded have none, and go by the name.
	MemberID string `json:"member_id,omitempty"`
	Device   string `json:"device"` // what the phone called itself, e.g. "iPhone (Safari)"
	SHA256   string `json:"sha256"` // hex SHA-256 of the token
	// Recipient is the device's own age public key, made on the phone at
	// pairing: clips are sealed to it too while the token lasts, so
	// revoking the device removes its key with it.
	Recipient string    `json:"recipient,omitempty"`
	Paired    time.Time `json:"paired"`

	LastUsed time.Time `json:"-"` // filled in by List; zero if never seen
}

type tokensFile struct {
	Version int     `json:"version"`
	Tokens  []Token `json:"tokens"`
}

// ErrNoMatch is returned by Revoke when nothing matches.
var ErrNoMatch = errors.New("no paired device matches")

// ParseTokens checks the contents of a token file, named path in errors.
func ParseTokens(path string, data []byte) ([]Token, error) {
	var f tokensFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s%s: %w; fix the file, or remove it (every phone must then pair again)", path, lineOf(data, err), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: text after the JSON object; fix the file, or remove it (every phone must then pair again)", path)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%s: version is %d, and this doorbell reads version 1; use the doorbell release that wrote it, or remove the file (every phone must then pair again)", path, f.Version)
	}
	ids, hashes := map[string]bool{}, map[string]bool{}
	for i, t := range f.Tokens {
		where := fmt.Sprintf("%s: token %d", path, i+1)
		if t.ID != "" {
			where += fmt.Sprintf(" (id %s)", t.ID)
		}
		var problem string
		switch {
		case len(t.ID) != 16 || !isHex(t.ID):
			problem = "the id is not 16 hex digits"
		case ids[t.ID]:
			problem = "the id appears twice"
		case len(t.SHA256) != 64 || !isHex(t.SHA256):
			problem = "sha256 is not 64 hex digits"
		case hashes[t.SHA256]:
			problem = "sha256 appears twice"
		case t.Paired.IsZero():
			problem = "paired time is missing"
		case t.MemberID != "" && (len(t.MemberID) != 16 || !isHex(t.MemberID)):
			problem = "member_id is not 16 hex digits"
		default:
			if err := members.CheckName(t.Member); err != nil {
				problem = err.Error()
			} else if CleanDevice(t.Device) != t.Device {
				problem = fmt.Sprintf("the device name %q is not clean", t.Device)
			}
		}
		if problem != "" {
			return nil, fmt.Errorf("%s: %s; fix it, or remove the entry (that phone must then pair again)", where, problem)
		}
		ids[t.ID], hashes[t.SHA256] = true, true
	}
	return f.Tokens, nil
}

func lineOf(data []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return ""
	}
	return fmt.Sprintf(":%d", 1+bytes.Count(data[:off], []byte("\n")))
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// readTokens reads the token file of dataDir; a missing file is no tokens.
func readTokens(dataDir string) ([]Token, error) {
	path := filepath.Join(dataDir, TokensFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w; run as the user that owns the data directory", path, err)
	}
	return ParseTokens(path, data)
}

// update changes the token file under its lock.
func update(dataDir string, change func([]Token) ([]Token, error)) error {
	if _, err := os.Stat(dataDir); err != nil {
		return fmt.Errorf("cannot use the data directory: %w; give the daemon's data directory with -data DIR", err)
	}
	unlock, err := atomicfile.Lock(filepath.Join(dataDir, LockFile))
	if err != nil {
		return fmt.Errorf("cannot lock the token file: %w; run as the user that owns %s", err, dataDir)
	}
	defer unlock()
	tokens, err := readTokens(dataDir)
	if err != nil {
		return err
	}
	tokens, err = change(tokens)
	if err != nil {
		return err
	}
	if tokens == nil {
		tokens = []Token{}
	}
	data, err := json.MarshalIndent(tokensFile{Version: 1, Tokens: tokens}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dataDir, TokensFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("cannot save the token file in %s: %w; check that the data directory is writable", dataDir, err)
	}
	return nil
}

// List returns the paired devices of the data directory, with when each
// was last used as far as the daemon has recorded.
func List(dataDir string) ([]Token, error) {
	tokens, err := readTokens(dataDir)
	if err != nil {
		return nil, err
	}
	used := readUsed(dataDir)
	for i := range tokens {
		tokens[i].LastUsed = used[tokens[i].ID]
	}
	return tokens, nil
}

// AmbiguousError is returned by Revoke when a name matches the devices of
// more than one member, or a member and another member's device.
type AmbiguousError struct {
	Who     string
	Matches []Token
}

func (e *AmbiguousError) Error() string {
	ids := make([]string, len(e.Matches))
	for i, t := range e.Matches {
		ids[i] = fmt.Sprintf("%s (%s of %s)", t.ID, t.Device, t.Member)
	}
	return fmt.Sprintf("%q names devices of more than one member: %s; revoke one by its id, or a whole member by name", e.Who, strings.Join(ids, ", "))
}

// Revoke removes the tokens of the member named who (all of the member's
// devices), of the device named who, or with id who; names match without
// regard to case. The name of a current member means that member, by
// identity: a device that happens to be named like them is not touched. A
// revoked member's pending pairing codes are removed too. A running daemon
// refuses the tokens at once. It returns the tokens removed and the number
// of codes removed; ErrNoMatch if there was nothing to remove, or an
// *AmbiguousError.
func Revoke(dataDir, who string) ([]Token, int, error) {
	reg, err := members.Load(dataDir)
	if err != nil {
		return nil, 0, err
	}
	if m, ok := reg.Find(who); ok {
		gone, codes, err := RevokeMember(dataDir, m)
		if err == nil && len(gone) == 0 && codes == 0 {
			err = ErrNoMatch
		}
		return gone, codes, err
	}
	var gone []Token
	err = update(dataDir, func(tokens []Token) ([]Token, error) {
		var byID, byMember, byDevice []Token
		for _, t := range tokens {
			switch {
			case t.ID == who:
				byID = append(byID, t)
			case strings.EqualFold(t.Member, who): // a former member's leftovers
				byMember = append(byMember, t)
			case strings.EqualFold(t.Device, who):
				byDevice = append(byDevice, t)
			}
		}
		switch {
		case len(byID) > 0:
			gone = byID
		case len(byDevice) == 0:
			gone = byMember
		case len(byMember) > 0 || len(memberSet(byDevice)) > 1:
			return nil, &AmbiguousError{Who: who, Matches: append(byMember, byDevice...)}
		default:
			gone = byDevice
		}
		if len(gone) == 0 {
			return nil, ErrNoMatch
		}
		return removeTokens(tokens, gone), nil
	})
	codes := 0
	var amb *AmbiguousError
	if !errors.As(err, &amb) { // an ambiguous name revokes nothing
		codes = dropCodes(dataDir, who) // a revoked member's unused links die too
	}
	if errors.Is(err, ErrNoMatch) && codes > 0 {
		err = nil
	}
	return gone, codes, err
}

// RevokeMember removes every token of member m, by identity (and those
// made before identities were recorded, by name), and m's pending pairing
// codes. It returns the tokens and the number of codes removed.
func RevokeMember(dataDir string, m members.Member) ([]Token, int, error) {
	var gone []Token
	err := update(dataDir, func(tokens []Token) ([]Token, error) {
		for _, t := range tokens {
			if belongsTo(t, m) {
				gone = append(gone, t)
			}
		}
		return removeTokens(tokens, gone), nil
	})
	if err != nil {
		return nil, 0, err
	}
	return gone, dropCodes(dataDir, m.Name), nil
}

// belongsTo reports whether t is a device of member m.
func belongsTo(t Token, m members.Member) bool {
	if t.MemberID != "" {
		return t.MemberID == m.ID()
	}
	return strings.EqualFold(t.Member, m.Name)
}

// memberOf finds the current member a token belongs to.
func memberOf(reg *members.Registry, t Token) (members.Member, bool) {
	if t.MemberID != "" {
		return reg.ByID(t.MemberID)
	}
	return reg.Find(t.Member)
}

func removeTokens(tokens, gone []Token) []Token {
	return slices.DeleteFunc(tokens, func(t Token) bool {
		return slices.ContainsFunc(gone, func(g Token) bool { return g.ID == t.ID })
	})
}

func memberSet(tokens []Token) map[string]bool {
	m := map[string]bool{}
	for _, t := range tokens {
		m[strings.ToLower(t.Member)] = true
	}
	return m
}

// add makes a token for a device of member and saves its hash.
func add(dataDir string, member members.Member, device, recipient string, now time.Time) (string, Token, error) {
	raw := make([]byte, tokenBytes)
	id := make([]byte, 8)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, err
	}
	if _, err := rand.Read(id); err != nil {
		return "", Token{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(secret))
	t := Token{ID: hex.EncodeToString(id), Member: member.Name, MemberID: member.ID(), SHA256: hex.EncodeToString(sum[:]), Recipient: recipient, Paired: now.UTC().Truncate(time.Second)}
	err := update(dataDir, func(tokens []Token) ([]Token, error) {
		if len(tokens) >= MaxTokens {
			return nil, fmt.Errorf("the doorbell has %d paired devices, the most it keeps; revoke unused ones (doorbell member tokens, doorbell member revoke)", len(tokens))
		}
		t.Device = uniqueDevice(tokens, member.Name, CleanDevice(device))
		return append(tokens, t), nil
	})
	if err != nil {
		return "", Token{}, err
	}
	return secret, t, nil
}

// uniqueDevice numbers a member's second "iPhone (Safari)", so that each of
// the member's devices can be revoked by name.
func uniqueDevice(tokens []Token, member, device string) string {
	taken := func(name string) bool {
		return slices.ContainsFunc(tokens, func(t Token) bool {
			return strings.EqualFold(t.Member, member) && strings.EqualFold(t.Device, name)
		})
	}
	name := device
	for n := 2; taken(name); n++ {
		suffix := fmt.Sprintf(" %d", n)
		r := []rune(device)
		if len(r)+len(suffix) > members.MaxNameLen {
			r = r[:members.MaxNameLen-len(suffix)]
		}
		name = string(r) + suffix
	}
	return name
}

func readUsed(dataDir string) map[string]time.Time {
	used := map[string]time.Time{}
	data, err := os.ReadFile(filepath.Join(dataDir, UsedFile))
	if err == nil {
		_ = json.Unmarshal(data, &used)
	}
	if used == nil { // the file held null
		used = map[string]time.Time{}
	}
	return used
}

// Store is the daemon's view of the token file: it answers who a token
// belongs to, and sees the CLI's changes to the file at once.
type Store struct {
	dir, path string
	log       *slog.Logger
	now       func() time.Time

	reloadMu sync.Mutex // one reload at a time

	mu        sync.Mutex
	entries   []entry
	stat      os.FileInfo // the file as last loaded; nil if there was none
	sum       [32]byte    // SHA-256 of what was loaded
	err       error       // why the file could not be loaded: every token is refused
	used      map[string]time.Time
	usedDirty bool
	onRevoke  []func(Token)

	// The household, as last loaded: a token works only while its member
	// is in it. A member list that cannot be read refuses every token.
	members     *members.Registry
	membersStat os.FileInfo
	membersErr  error
}

type entry struct {
	Token
	hash [32]byte
}

// Open loads the token file of the data directory. A token file that cannot
// be read does not stop the store: it refuses every token until the file is
// fixed, and Err says why.
func Open(dataDir string, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{dir: dataDir, path: filepath.Join(dataDir, TokensFile), log: log, now: time.Now, used: readUsed(dataDir)}
	s.reloadMembers()
	s.reload(true)
	return s
}

// Err says why the token file or the member list could not be loaded, or
// is nil.
func (s *Store) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		return s.membersErr
	}
	return s.err
}

// Authorize returns the id of the paired device that token belongs to. It
// implements stream.Authorizer, and sees a revocation at once: it checks
// the token file's identity first (one stat). Hashes are compared in
// constant time, all of them.
func (s *Store) Authorize(token string) (string, bool) {
	if token == "" || len(token) > 256 {
		return "", false
	}
	s.refresh()
	h := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	found := -1
	for i := range s.entries {
		if subtle.ConstantTimeCompare(h[:], s.entries[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 || !s.isMember(s.entries[found].Token) {
		return "", false
	}
	id := s.entries[found].ID
	// To the day: tokens-used.json is on the SD card, and a thief must not
	// learn from it when each phone last looked (issue 13, item 7).
	if now := s.now().UTC().Truncate(24 * time.Hour); !s.used[id].Equal(now) {
		s.used[id] = now
		s.usedDirty = true
	}
	return id, true
}

// isMember reports whether t's member is in the household. s.mu is held.
func (s *Store) isMember(t Token) bool {
	if s.members == nil {
		return false
	}
	_, ok := memberOf(s.members, t)
	return ok
}

// Tokens returns the paired devices as last loaded.
func (s *Store) Tokens() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Token, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.Token
		out[i].LastUsed = s.used[e.ID]
	}
	return out
}

// OnRevoke calls f, on a goroutine of its own, with every token that
// disappears from the file (revoked) from now on. The daemon uses it to end
// the device's live sessions at once.
func (s *Store) OnRevoke(f func(Token)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRevoke = append(s.onRevoke, f)
}

// Pair redeems a pairing code for device and returns the new token: the
// secret the phone keeps. The code cannot be used again.
//
// The code's member must still be in the household: a code made for a
// member who was removed since is refused (ErrNotMember), and used up.
//
// recipients are the device's own public keys, if it made any: the one of
// the household's kind is kept in the token (Token.Recipient). Keys that
// are not age public keys, or none of the household's kind, are refused
// before the code is used.
func (s *Store) Pair(code, device string, recipients ...string) (string, Token, error) {
	reg, err := members.Load(s.dir)
	if err != nil {
		return "", Token{}, err
	}
	recipient, err := pickRecipient(reg.Kind(), recipients)
	if err != nil {
		return "", Token{}, err
	}
	now := s.now()
	name, err := redeemCode(s.dir, code, now)
	if err != nil {
		return "", Token{}, err
	}
	member, ok := reg.Find(name)
	if !ok {
		return "", Token{}, ErrNotMember
	}
	secret, t, err := add(s.dir, member, device, recipient, now)
	if err != nil {
		unredeemCode(s.dir, code)
		return "", Token{}, err
	}
	s.reload(false)
	return secret, t, nil
}

// Status is the pairing section of /healthz: counts only, no names.
type Status struct {
	PairedDevices int    `json:"paired_devices"`
	PendingCodes  int    `json:"pending_codes"`
	Error         string `json:"error,omitempty"`
}

// Status reports the store's state.
func (s *Store) Status() Status {
	s.mu.Lock()
	st := Status{PairedDevices: len(s.entries)}
	if s.err != nil {
		st.Error = s.err.Error()
	}
	s.mu.Unlock()
	st.PendingCodes = PendingCodes(s.dir, s.now())
	return st
}

// Watch re-reads the token file every PollInterval (Authorize also sees a
// replaced file at once; this catches the rest and fires OnRevoke without
// waiting for a request), and saves when tokens were last used, at most
// once a minute, until ctx ends. It writes nothing once ctx has ended, so
// the data directory is left alone after the daemon stops (the last
// minute of last-use times is lost then; SaveUsed saves them).
func (s *Store) Watch(ctx context.Context) {
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	lastSave := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if mfi, err := os.Stat(members.Path(s.dir)); !sameFile(s.loadedMembers(), mfi, err) {
			s.reloadMembers()
		}
		s.reload(false)
		if time.Since(lastSave) >= time.Minute && ctx.Err() == nil {
			s.SaveUsed()
			lastSave = time.Now()
		}
	}
}

// refresh reloads the token file and the member list if either is not the
// one last loaded.
func (s *Store) refresh() {
	if mfi, err := os.Stat(members.Path(s.dir)); !sameFile(s.loadedMembers(), mfi, err) {
		s.reloadMembers()
	}
	fi, err := os.Stat(s.path)
	s.mu.Lock()
	same := sameFile(s.stat, fi, err)
	s.mu.Unlock()
	if !same {
		s.reload(false)
	}
}

// sameFile reports whether a stat (fi, err) finds the file loaded as
// loaded (nil: there was none).
func sameFile(loaded, fi os.FileInfo, err error) bool {
	return loaded == nil && errors.Is(err, fs.ErrNotExist) ||
		loaded != nil && err == nil && os.SameFile(loaded, fi) && loaded.Size() == fi.Size() && loaded.ModTime().Equal(fi.ModTime())
}

func (s *Store) loadedMembers() os.FileInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.membersStat
}

// reloadMembers reads the member list and ends the access of the devices
// of members no longer in it: OnRevoke is told of each.
func (s *Store) reloadMembers() {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	fi, statErr := os.Stat(members.Path(s.dir))
	if statErr != nil {
		fi = nil
	}
	reg, err := members.Load(s.dir)
	s.mu.Lock()
	var gone []Token
	prevErr := s.membersErr
	for _, e := range s.entries {
		if s.isMember(e.Token) && (err != nil || !func() bool { _, ok := memberOf(reg, e.Token); return ok }()) {
			gone = append(gone, e.Token)
		}
	}
	if err != nil {
		s.members = nil // fail closed: the file may be hiding a removal
	} else {
		s.members = reg
	}
	s.membersStat, s.membersErr = fi, err
	fns := slices.Clone(s.onRevoke)
	s.mu.Unlock()
	switch {
	case err != nil && (prevErr == nil || prevErr.Error() != err.Error()):
		s.log.Error("live view and events refuse every phone until the member list is fixed", "err", err)
	case err == nil && prevErr != nil:
		s.log.Info("member list readable again")
	}
	for _, t := range gone {
		s.log.Info("paired device refused: its member left the household", "id", t.ID, "device", t.Device)
	}
	notify(fns, gone)
}

// notify tells each of fns, on a goroutine, of the tokens revoked.
func notify(fns []func(Token), revoked []Token) {
	if len(revoked) == 0 || len(fns) == 0 {
		return
	}
	go func() {
		for _, t := range revoked {
			for _, f := range fns {
				f(t)
			}
		}
	}()
}

// reload reads the file and, if its contents changed, takes them in.
func (s *Store) reload(first bool) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	fi, statErr := os.Stat(s.path)
	var tokens []Token
	var sum [32]byte
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fi, err = nil, nil
		sum = sha256.Sum256(nil)
	case err != nil:
		err = fmt.Errorf("cannot read %s: %w; run the daemon as the user that owns the data directory", s.path, err)
	default:
		if statErr != nil {
			fi = nil
		}
		sum = sha256.Sum256(data)
		s.mu.Lock()
		unchanged := !first && s.err == nil && sum == s.sum
		if unchanged {
			s.stat = fi
		}
		s.mu.Unlock()
		if unchanged {
			return
		}
		tokens, err = ParseTokens(s.path, data)
	}

	s.mu.Lock()
	prevErr := s.err
	var revoked []Token
	if err != nil {
		// Fail closed: a damaged file may be hiding a revocation.
		for _, e := range s.entries {
			revoked = append(revoked, e.Token)
		}
		s.entries, s.err, s.stat, s.sum = nil, err, fi, [32]byte{}
	} else {
		next := make([]entry, 0, len(tokens))
		keep := map[[32]byte]bool{}
		for _, t := range tokens {
			e := entry{Token: t}
			hex.Decode(e.hash[:], []byte(t.SHA256))
			next = append(next, e)
			keep[e.hash] = true
		}
		for _, e := range s.entries {
			if !keep[e.hash] { // gone, or its hash replaced
				revoked = append(revoked, e.Token)
			}
		}
		s.entries, s.err, s.stat, s.sum = next, nil, fi, sum
	}
	fns := slices.Clone(s.onRevoke)
	s.mu.Unlock()

	switch {
	case err != nil && (prevErr == nil || prevErr.Error() != err.Error()):
		s.log.Error("live view and events refuse every phone until the token file is fixed", "err", err)
	case err == nil && prevErr != nil:
		s.log.Info("token file readable again", "paired_devices", len(tokens))
	}
	for _, t := range revoked {
		s.log.Info("paired device revoked", "id", t.ID, "device", t.Device)
	}
	notify(fns, revoked)
}

// SaveUsed writes when tokens were last used, if that changed.
func (s *Store) SaveUsed() {
	s.mu.Lock()
	if !s.usedDirty {
		s.mu.Unlock()
		return
	}
	used := map[string]time.Time{}
	for _, e := range s.entries {
		if t, ok := s.used[e.ID]; ok {
			used[e.ID] = t
		}
	}
	s.used = used
	s.usedDirty = false
	s.mu.Unlock()
	data, _ := json.MarshalIndent(used, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(s.dir, UsedFile), data, 0o600); err != nil {
		s.log.Warn("cannot save when paired devices were last used", "err", err)
	}
}
