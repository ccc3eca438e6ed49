// Package replica lays out a doorbell's sealed clips as objects in
// S3-compatible storage and reads them back; the device writes with it and
// the household CLI reads with it, so it links nothing device-side.
//
// S3 objects are immutable and a multipart upload is invisible until it
// completes, so a clip that is still recording cannot be one object that
// grows. Each clip is instead a set of immutable objects, under
// PREFIX/clips/<id>/:
//
//	<start>-<end>.mp4.age.part  bytes [start, end) of the sealed file <id>.mp4.age
//	<sha256>.event.age          one version of its sealed event record
//
// start and end are 16-digit decimal byte offsets, so the names sort in file
// order. The device uploads each piece as soon as it is in the clip's file
// (each 64 KiB chunk age's streaming writer seals), each range starting
// where the last one ended, and never overwrites a key
// (If-None-Match: *). Whatever the cut, the objects present reassemble into
// a prefix of the sealed file, which opens and verifies up to its last
// checkpoint like a clip cut off on the device. A range uploaded twice (after
// a restart lost the device's note of it) only overlaps: the bytes at an
// offset of a sealed file never change. Records are named by the SHA-256 of
// their sealed bytes: the device writes one when a clip starts and another
// when it is complete, and retrying an upload is idempotent.
package replica

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"doorbell/crypto/clip"
)

const (
	clipsDir   = "clips/"
	partSuffix = clip.ClipSuffix + ".part"
	offsetLen  = 16
)

// cleanPrefix turns a configured prefix ("", "home", "/home/door/") into
// the start of every key ("", "home/", "home/door/").
func cleanPrefix(prefix string) string {
	p := strings.Trim(prefix, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// ClipPrefix is where clip id's objects are, or every clip's if id is "".
func ClipPrefix(prefix, id string) string {
	if id == "" {
		return cleanPrefix(prefix) + clipsDir
	}
	return cleanPrefix(prefix) + clipsDir + id + "/"
}

// PartKey names bytes [start, end) of clip id's sealed file.
func PartKey(prefix, id string, start, end int64) string {
	return fmt.Sprintf("%s%0*d-%0*d%s", ClipPrefix(prefix, id), offsetLen, start, offsetLen, end, partSuffix)
}

// RecordKey names one version of clip id's sealed event record.
func RecordKey(prefix, id string, sealed []byte) string {
	sum := sha256.Sum256(sealed)
	return ClipPrefix(prefix, id) + hex.EncodeToString(sum[:]) + clip.RecordSuffix
}

// Object is one stored object, as listed.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}

// Part is an object holding a range of a sealed clip.
type Part struct {
	Object
	Start, End int64
}

// Clip is what the replica holds of one clip.
type Clip struct {
	ID      string
	Parts   []Part   // by start
	Records []Object // oldest first
	// Size is how many bytes of the sealed file the parts give without a
	// gap, from byte 0; Gap says that more parts lie beyond a missing one.
	Size int64
	Gap  bool
	// Last is when its newest object was stored: when a cut-off recording stopped.
	Last time.Time
}

// Group sorts listed objects (keys under ClipPrefix(prefix, "")) into
// clips, ignoring any object not named as this package names them.
func Group(prefix string, objs []Object) []*Clip {
	base := ClipPrefix(prefix, "")
	byID := map[string]*Clip{}
	var out []*Clip
	for _, o := range objs {
		rest, ok := strings.CutPrefix(o.Key, base)
		if !ok {
			continue
		}
		id, name, ok := strings.Cut(rest, "/")
		if !ok || !clip.ValidID(id) {
			continue
		}
		var part *Part
		isRecord := false
		if span, ok := strings.CutSuffix(name, partSuffix); ok {
			p, ok := parseSpan(span)
			if !ok || p.End-p.Start != o.Size {
				continue
			}
			p.Object = o
			part = &p
		} else if sum, ok := strings.CutSuffix(name, clip.RecordSuffix); ok && len(sum) == 64 {
			isRecord = true
		} else {
			continue
		}
		c := byID[id]
		if c == nil {
			c = &Clip{ID: id}
			byID[id] = c
			out = append(out, c)
		}
		if part != nil {
			c.Parts = append(c.Parts, *part)
		}
		if isRecord {
			c.Records = append(c.Records, o)
		}
		if o.Modified.After(c.Last) {
			c.Last = o.Modified
		}
	}
	for _, c := range out {
		slices.SortFunc(c.Parts, func(a, b Part) int {
			return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End))
		})
		// The complete record is written after the first, and is larger
		// (it adds the thumbnail and the media's hash): that decides a tie
		// in a store that keeps times to the second.
		slices.SortStableFunc(c.Records, func(a, b Object) int {
			return cmp.Or(a.Modified.Compare(b.Modified), cmp.Compare(a.Size, b.Size))
		})
		c.Size, c.Gap = reach(c.Parts)
	}
	slices.SortFunc(out, func(a, b *Clip) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func parseSpan(s string) (Part, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok || len(a) != offsetLen || len(b) != offsetLen {
		return Part{}, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end <= start {
		return Part{}, false
	}
	return Part{Start: start, End: end}, true
}

// reach is how far parts (sorted by start) cover the file from byte 0.
func reach(parts []Part) (int64, bool) {
	var at int64
	for _, p := range parts {
		if p.Start > at {
			return at, true
		}
		at = max(at, p.End)
	}
	return at, false
}

// Piece is a range of one part to copy into the reassembled file.
type Piece struct {
	Part
	Offset, Length int64 // within the part's object
}

// Plan says which ranges of which parts make the first c.Size bytes: at
// each point, the part that reaches furthest.
func (c *Clip) Plan() []Piece {
	var out []Piece
	var at int64
	for at < c.Size {
		best := -1
		for i, p := range c.Parts {
			if p.Start <= at && p.End > at && (best < 0 || p.End > c.Parts[best].End) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		p := c.Parts[best]
		out = append(out, Piece{Part: p, Offset: at - p.Start, Length: p.End - at})
		at = p.End
	}
	return out
}

// Record is the record version a pull keeps: the newest stored.
func (c *Clip) Record() (Object, bool) {
	if len(c.Records) == 0 {
		return Object{}, false
	}
	return c.Records[len(c.Records)-1], true
}
