package replies

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"doorbell/internal/bearer"
)

// Handler serves the quick replies to paired devices:
//
//	GET    /api/replies               the replies, as JSON
//	POST   /api/replies?name=NAME     a recording of the owner's (audio in the body) → 201 and the reply
//	POST   /api/replies/{id}/play     plays it on the doorbell's speaker → 202
//	DELETE /api/replies/{id}          removes the owner's recording
type Handler struct {
	Store *Store
	// Authorized reports whether token belongs to a paired device.
	Authorized func(token string) bool
	// Play starts playing the file at path on the speaker and returns at
	// once; an error says why it cannot (no speaker).
	Play func(path string) error
	Log  *slog.Logger
}

// Register adds the handler's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/replies", h.guard(h.list))
	mux.HandleFunc("POST /api/replies", h.guard(h.add))
	mux.HandleFunc("POST /api/replies/{id}/play", h.guard(h.play))
	mux.HandleFunc("DELETE /api/replies/{id}", h.guard(h.remove))
}

func (h *Handler) guard(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer.Token(r)
		if !ok || h.Authorized == nil || !h.Authorized(token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="doorbell"`)
			fail(w, http.StatusUnauthorized, "quick replies need a paired device's token (Authorization: Bearer TOKEN); pair this phone with doorbell member pair")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		f(w, r)
	}
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	list, err := h.Store.List()
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"replies": list})
}

func (h *Handler) add(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxRecordingBytes {
		fail(w, http.StatusRequestEntityTooLarge, "%v", ErrTooLarge)
		return
	}
	reply, err := h.Store.Add(r.Context(), r.URL.Query().Get("name"), http.MaxBytesReader(w, r.Body, MaxRecordingBytes+1))
	switch {
	case errors.Is(err, ErrTooLarge):
		fail(w, http.StatusRequestEntityTooLarge, "%v", err)
	case errors.Is(err, ErrTooMany):
		fail(w, http.StatusConflict, "%v", err)
	case err != nil:
		fail(w, http.StatusBadRequest, "%v", err)
	default:
		writeJSON(w, http.StatusCreated, reply)
	}
}

func (h *Handler) play(w http.ResponseWriter, r *http.Request) {
	path, err := h.Store.Path(r.PathValue("id"))
	if errors.Is(err, ErrUnknown) {
		fail(w, http.StatusNotFound, "%v", err)
		return
	} else if err != nil {
		fail(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	if err := h.Play(path); err != nil {
		fail(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (h *Handler) remove(w http.ResponseWriter, r *http.Request) {
	err := h.Store.Remove(r.PathValue("id"))
	switch {
	case errors.Is(err, ErrUnknown):
		fail(w, http.StatusNotFound, "%v", err)
	case errors.Is(err, ErrBuiltin):
		fail(w, http.StatusConflict, "%v", err)
	case err != nil:
		fail(w, http.StatusInternalServerError, "%v", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintf(w, format+"\n", args...)
}
