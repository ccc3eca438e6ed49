package push

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"doorbell/internal/bearer"
)

// MaxBody is the largest POST /api/push body accepted; a subscription is
// a few hundred bytes.
const MaxBody = 4 << 10

// Authorizer returns the paired device a token belongs to
// (pairing.Store implements it).
type Authorizer interface {
	Authorize(token string) (device string, ok bool)
}

// Handler serves /api/push for paired devices:
//
//	GET    → {"public_key":"<VAPID key, base64url>","subscribed":bool,"motion":bool,"snapshot":bool}
//	POST   PushSubscription.toJSON(), optionally with "motion" and "snapshot" → 201 and the same as GET
//	DELETE → 204; the caller's subscription is gone
//
// Refusals are {"error": code, "message": what to do}: 401 unpaired, 404
// push_off (the owner has not turned notifications on), 400 a
// subscription that is not one or whose endpoint is not allowed, 413, 415,
// 405.
type Handler struct {
	Auth   Authorizer
	Store  *Store
	Sender *Sender // nil: push is off
	Log    *slog.Logger
	Now    func() time.Time // nil: time.Now
}

// SubscribeRequest is the body of POST /api/push.
type SubscribeRequest struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
	ExpirationTime *float64 `json:"expirationTime,omitempty"` // sent by toJSON(); unused
	Motion         bool     `json:"motion"`                   // also notify of motion
	Snapshot       bool     `json:"snapshot"`                 // include a small picture
}

// State is the answer to GET and POST /api/push.
type State struct {
	PublicKey  string `json:"public_key"`
	Subscribed bool   `json:"subscribed"`
	Motion     bool   `json:"motion"`
	Snapshot   bool   `json:"snapshot"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := bearer.Token(r)
	device := ""
	if ok {
		device, ok = h.Auth.Authorize(token)
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="doorbell"`)
		refuse(w, http.StatusUnauthorized, "unpaired", "this device is not paired with the doorbell (or was revoked); pair it again with a link from doorbell member pair")
		return
	}
	if h.Sender == nil {
		refuse(w, http.StatusNotFound, "push_off", "notifications are off on this doorbell; the owner turns them on with [push] enabled = true in its config")
		return
	}
	switch r.Method {
	case http.MethodGet:
		h.answer(w, http.StatusOK, device)
	case http.MethodPost:
		h.subscribe(w, r, device)
	case http.MethodDelete:
		if _, err := h.Store.RemoveDevice(device); err != nil {
			h.log().Error("cannot delete a push subscription", "device", device, "err", err)
			refuse(w, http.StatusInternalServerError, "storage", "the doorbell could not save the change; try again, and tell the owner if it persists")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		refuse(w, http.StatusMethodNotAllowed, "method", "use GET, POST or DELETE")
	}
}

func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request, device string) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		refuse(w, http.StatusUnsupportedMediaType, "content_type", "send the subscription as application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		refuse(w, http.StatusRequestEntityTooLarge, "too_large", "a push subscription is a few hundred bytes; send PushSubscription.toJSON()")
		return
	}
	var req SubscribeRequest
	if err != nil || json.Unmarshal(body, &req) != nil {
		refuse(w, http.StatusBadRequest, "bad_subscription", "the body is not a JSON push subscription; send PushSubscription.toJSON()")
		return
	}
	sub := Subscription{Device: device, Endpoint: req.Endpoint, P256dh: req.Keys.P256dh, Auth: req.Keys.Auth,
		Motion: req.Motion, Snapshot: req.Snapshot, Added: h.now().UTC()}
	if err := sub.Check(); err != nil {
		refuse(w, http.StatusBadRequest, "bad_subscription", err.Error())
		return
	}
	if err := h.Sender.Allowed(sub.Endpoint); err != nil {
		refuse(w, http.StatusBadRequest, "endpoint_not_allowed", err.Error())
		return
	}
	if err := h.Store.Put(sub); err != nil {
		h.log().Error("cannot save a push subscription", "device", device, "err", err)
		refuse(w, http.StatusInternalServerError, "storage", "the doorbell could not save the subscription; try again, and tell the owner if it persists")
		return
	}
	h.log().Info("push subscription added", "device", device, "subscription", sub.ID(), "motion", sub.Motion, "snapshot", sub.Snapshot)
	h.answer(w, http.StatusCreated, device)
}

func (h *Handler) answer(w http.ResponseWriter, code int, device string) {
	sub, ok := h.Store.Device(device)
	writeJSON(w, code, State{PublicKey: h.Sender.key.PublicString(), Subscribed: ok, Motion: sub.Motion, Snapshot: sub.Snapshot})
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

func refuse(w http.ResponseWriter, code int, errCode, msg string) {
	writeJSON(w, code, map[string]string{"error": errCode, "message": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
