package pairing

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"doorbell/crypto/members"
	"doorbell/internal/atomicfile"
)

// CodeTTL is how long a pairing code works.
const CodeTTL = 10 * time.Minute

// CodesDir is the directory, in the data directory, of the pending pairing
// codes: one file per code, named by the SHA-256 of the code, so the codes
// themselves are never stored. A redeemed code's file is renamed to end in
// ".used" (a rename succeeds once, also between processes) and is kept
// until an hour after it would have expired, so a second use is told apart
// from a wrong code.
const CodesDir = "pairing-codes"

// codeBytes is the entropy of a code: 160 bits, 32 base32 characters.
const codeBytes = 20

// keepUsed is how long after expiry the files of used and expired codes are
// kept, to answer "used" or "expired" rather than "unknown".
const keepUsed = time.Hour

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Errors from redeeming a code.
var (
	ErrCodeUnknown = errors.New("the pairing code is not valid; check that the whole link was opened, or make a new one with: doorbell member pair NAME")
	ErrCodeExpired = errors.New("the pairing code has expired (codes work for 10 minutes); make a new one with: doorbell member pair NAME")
	ErrCodeUsed    = errors.New("the pairing code was used already (a code works once); make a new one with: doorbell member pair NAME")
	ErrNotMember   = errors.New("the pairing code was made for someone who is no longer a member of the household; add them again with doorbell member add, then make a new code")
)

// Code is a new one-time pairing code. Code is the secret: it belongs in
// the link shown to the member, and in no log.
type Code struct {
	Code    string
	Member  string
	Expires time.Time
}

// codeRecord is a pending code's file.
type codeRecord struct {
	Member  string    `json:"member"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// NewCode makes a one-time pairing code for member, valid for CodeTTL from
// now, and saves its hash in the data directory, where the running daemon
// finds it.
func NewCode(dataDir, member string, now time.Time) (Code, error) {
	if err := checkMember(dataDir, member); err != nil {
		return Code{}, err
	}
	dir, err := codesDir(dataDir)
	if err != nil {
		return Code{}, err
	}
	sweepCodes(dir, now)
	b := make([]byte, codeBytes)
	if _, err := rand.Read(b); err != nil {
		return Code{}, err
	}
	code := strings.ToLower(codeEncoding.EncodeToString(b))
	rec := codeRecord{Member: member, Created: now.UTC(), Expires: now.Add(CodeTTL).UTC().Truncate(time.Second)}
	data, _ := json.Marshal(rec)
	if err := atomicfile.CreateExclusive(filepath.Join(dir, codeHash(code)+".json"), data, 0o600); err != nil {
		return Code{}, fmt.Errorf("cannot save the pairing code in %s: %w; run as the user that owns the data directory", dir, err)
	}
	return Code{Code: code, Member: member, Expires: rec.Expires}, nil
}

// checkMember says why codes cannot be made for name: it is not a valid
// name, or not a member of the household in dataDir.
func checkMember(dataDir, name string) error {
	if err := members.CheckName(name); err != nil {
		return err
	}
	reg, err := members.Load(dataDir)
	if err != nil {
		return err
	}
	if _, ok := reg.Find(name); !ok {
		if reg.Len() == 0 {
			return fmt.Errorf("there is no member named %q: the household has no members yet; add them first with doorbell member add NAME PUBLIC-KEY", name)
		}
		return fmt.Errorf("there is no member named %q; add them first with doorbell member add NAME PUBLIC-KEY (the members are: %s)", name, strings.Join(reg.Names(), ", "))
	}
	return nil
}

// MinCodeChars is the shortest code accepted, in base32 characters (100
// bits): the setup card's codes, made to be read out, have 20.
const MinCodeChars = 20

// AcceptCode makes a pairing code made elsewhere, such as the one on a
// first-time setup card, work once for member, until expires (zero: no time
// limit). Only its hash is stored. Accepting a code again is harmless, and
// does not revive a code that was used.
func AcceptCode(dataDir, code, member string, expires time.Time) error {
	if err := checkMember(dataDir, member); err != nil {
		return err
	}
	if !validCode(code) {
		return fmt.Errorf("the pairing code is not %d to 64 base32 characters; make a new one", MinCodeChars)
	}
	dir, err := codesDir(dataDir)
	if err != nil {
		return err
	}
	base := filepath.Join(dir, codeHash(code))
	if _, err := os.Stat(base + ".used"); err == nil {
		return nil
	}
	rec := codeRecord{Member: member, Created: time.Now().UTC().Truncate(time.Second), Expires: expires.UTC()}
	data, _ := json.Marshal(rec)
	err = atomicfile.CreateExclusive(base+".json", data, 0o600)
	if errors.Is(err, fs.ErrExist) {
		if old, rerr := readCode(base + ".json"); rerr == nil && old.Member == member {
			return nil
		}
		return fmt.Errorf("that pairing code is already pending for another member; make a new one")
	}
	if err != nil {
		return fmt.Errorf("cannot save the pairing code in %s: %w; check that the data directory is writable", dir, err)
	}
	return nil
}

// codeHash names a code's file. A code is 160 random bits, so a fast hash
// is enough: nobody can search the space.
func codeHash(code string) string {
	sum := sha256.Sum256([]byte(normalizeCode(code)))
	return hex.EncodeToString(sum[:])
}

// normalizeCode lets a code typed by hand in upper case, or with spaces
// and dashes, work.
func normalizeCode(code string) string {
	code = strings.ToLower(code)
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
}

// validCode reports whether code looks like a code at all.
func validCode(code string) bool {
	code = strings.ToUpper(normalizeCode(code))
	if len(code) < MinCodeChars || len(code) > 64 {
		return false
	}
	return strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == ""
}

func codesDir(dataDir string) (string, error) {
	dir := filepath.Join(dataDir, CodesDir)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("cannot make %s: %w; check that the data directory %s exists and is writable (doorbell member ... -data DIR)", dir, err, dataDir)
	} else if err == nil {
		if err := atomicfile.MatchOwner(dir, dataDir); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// redeemCode uses up code and returns the member it was made for.
func redeemCode(dataDir, code string, now time.Time) (member string, err error) {
	if !validCode(code) {
		return "", ErrCodeUnknown
	}
	dir, err := codesDir(dataDir)
	if err != nil {
		return "", err
	}
	base := filepath.Join(dir, codeHash(code))
	rec, err := readCode(base + ".json")
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(base + ".used"); err == nil {
			return "", ErrCodeUsed
		}
		return "", ErrCodeUnknown
	}
	if err != nil {
		return "", err
	}
	if !rec.Expires.IsZero() && !now.Before(rec.Expires) {
		return "", ErrCodeExpired
	}
	if err := os.Rename(base+".json", base+".used"); errors.Is(err, fs.ErrNotExist) {
		return "", ErrCodeUsed // redeemed meanwhile by someone else
	} else if err != nil {
		return "", fmt.Errorf("cannot mark the pairing code used: %w; check that the data directory is writable", err)
	}
	_ = os.Chtimes(base+".used", now, now) // when it was used, for the sweep
	_ = atomicfile.SyncDir(dir)
	return rec.Member, nil
}

// unredeemCode gives a code back when pairing failed after redeeming it.
func unredeemCode(dataDir, code string) {
	base := filepath.Join(dataDir, CodesDir, codeHash(code))
	_ = os.Rename(base+".used", base+".json")
}

func readCode(path string) (codeRecord, error) {
	var rec codeRecord
	data, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil || rec.Member == "" {
		return rec, fmt.Errorf("the pairing code file %s is damaged; remove it and make a new code", path)
	}
	return rec, nil
}

// PendingCodes counts the codes that can still be redeemed.
func PendingCodes(dataDir string, now time.Time) int {
	entries, _ := os.ReadDir(filepath.Join(dataDir, CodesDir))
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			if rec, err := readCode(filepath.Join(dataDir, CodesDir, e.Name())); err == nil && (rec.Expires.IsZero() || now.Before(rec.Expires)) {
				n++
			}
		}
	}
	return n
}

// dropCodes removes the pending codes of member and returns how many.
func dropCodes(dataDir, member string) int {
	dir := filepath.Join(dataDir, CodesDir)
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if strings.HasSuffix(e.Name(), ".json") {
			if rec, err := readCode(path); err == nil && strings.EqualFold(rec.Member, member) && os.Remove(path) == nil {
				n++
			}
		}
	}
	return n
}

// sweepCodes removes the files of codes that expired more than keepUsed ago,
// and stray temporary files.
func sweepCodes(dir string, now time.Time) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil {
			continue
		}
		switch {
		case strings.HasSuffix(e.Name(), ".json") || strings.HasSuffix(e.Name(), ".used"):
			rec, err := readCode(path)
			switch {
			case err != nil:
				os.Remove(path)
			case !rec.Expires.IsZero() && now.After(rec.Expires.Add(keepUsed)):
				os.Remove(path)
			case rec.Expires.IsZero() && strings.HasSuffix(e.Name(), ".used") && now.After(info.ModTime().Add(keepUsed)):
				os.Remove(path) // a code without expiry, used over keepUsed ago
			}
		case strings.HasPrefix(e.Name(), "."):
			if now.Sub(info.ModTime()) > time.Hour {
				os.Remove(path)
			}
		}
	}
}
