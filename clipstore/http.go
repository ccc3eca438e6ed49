package clipstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"doorbell/crypto/clip"
	"doorbell/internal/bearer"
	"doorbell/wire"
)

// Handler serves the sealed clips and records to paired members:
//
//	GET /api/clips                   {"device_key": …, "clips": [{"id", "bytes", "record_bytes", "hour", "sealed_before"}, …]}
//	GET /api/clips/<id>.mp4.age      the sealed clip (Range requests supported)
//	GET /api/clips/<id>.event.age    its sealed event record
//
// Every request needs "Authorization: Bearer TOKEN". Times are rounded down
// to the hour: the list says no more than the files themselves would.
type Handler struct {
	Store *Store
	// Auth is asked on every request; nil refuses everyone.
	Auth bearer.Authorizer
	// DeviceKey is the device's signing key (devicekey.PublicString), so
	// members can tell if it changed since they pinned it.
	DeviceKey string
	Log       *slog.Logger
	// Since, if set, says since when the asking device's keys are in the
	// household: its member's key, and the phone's own key (zero if it has
	// none). The list marks the clips finished before (SealedBefore).
	Since func(deviceID string) (member, phone time.Time, ok bool)

	warnedNoAuth atomic.Bool
}

// Register adds the handler's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/clips", h.serveList)
	mux.HandleFunc("GET /api/clips/{name}", h.serveFile)
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(wire.Error{Error: fmt.Sprintf(format, args...)})
}

// authorize checks the bearer token. It never logs the token.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) bool {
	_, ok := h.authorized(w, r)
	return ok
}

// authorized is authorize, also returning the device's id.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) (string, bool) {
	w.Header().Set("Cache-Control", "no-store")
	token, ok := bearer.Token(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", bearer.Challenge)
		fail(w, http.StatusUnauthorized, "no token: send Authorization: Bearer TOKEN, with the token this computer got from doorbell device add")
		return "", false
	}
	a := h.Auth
	if a == nil {
		if !h.warnedNoAuth.Swap(true) {
			h.log().Warn("clips are refused to everyone: no token store is wired to them")
		}
		fail(w, http.StatusServiceUnavailable, "the doorbell has no token store yet; try again in a moment")
		return "", false
	}
	device, ok := a.Authorize(token)
	if !ok {
		w.Header().Set("WWW-Authenticate", bearer.ChallengeInvalid)
		fail(w, http.StatusUnauthorized, "the token is unknown or was revoked; pair this computer again with doorbell device add URL CODE")
		return "", false
	}
	return device, true
}

func (h *Handler) serveList(w http.ResponseWriter, r *http.Request) {
	device, ok := h.authorized(w, r)
	if !ok {
		return
	}
	var member, phone time.Time
	if h.Since != nil {
		member, phone, _ = h.Since(device)
	}
	list, err := h.Store.List()
	if err != nil {
		h.log().Error("listing clips", "err", err)
		fail(w, http.StatusInternalServerError, "the doorbell cannot read its clips directory")
		return
	}
	body := wire.ClipList{DeviceKey: h.DeviceKey, Clips: make([]wire.ClipEntry, 0, len(list))}
	for _, e := range list {
		ce := wire.ClipEntry{ID: e.ID, Bytes: e.Bytes, RecordBytes: e.RecordBytes, Hour: e.Time.UTC().Truncate(time.Hour)}
		// A clip was sealed to the keys of when it started; key times are
		// kept in whole seconds, so a clip started in the second a key was
		// added counts as before it.
		switch {
		case !member.IsZero() && e.Started.Before(member.Add(time.Second)):
			ce.SealedBefore = wire.SealedBeforeMember
		case !phone.IsZero() && e.Started.Before(phone.Add(time.Second)):
			ce.SealedBefore = wire.SealedBeforePhone
		}
		body.Clips = append(body.Clips, ce)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request) {
	if !h.authorize(w, r) {
		return
	}
	name := r.PathValue("name")
	id, suffix, ok := clip.SplitName(name)
	if !ok {
		fail(w, http.StatusNotFound, "no such clip file %q; names are <id>.mp4.age and <id>.event.age, from GET /api/clips", name)
		return
	}
	path := h.Store.ClipPath(id)
	if suffix == clip.RecordSuffix {
		path = h.Store.RecordPath(id)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		fail(w, http.StatusNotFound, "clip %s is not on the doorbell (evicted, or never there); list the clips again", id)
		return
	}
	if err != nil {
		h.log().Error("opening clip", "id", id, "err", err)
		fail(w, http.StatusInternalServerError, "the doorbell cannot read that clip")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		fail(w, http.StatusInternalServerError, "the doorbell cannot read that clip")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	// Finished clips never change: the size names the version.
	w.Header().Set("ETag", fmt.Sprintf(`"%s-%d-%d"`, name, fi.Size(), fi.ModTime().UnixNano()))
	http.ServeContent(w, r, "", fi.ModTime(), f)
}
