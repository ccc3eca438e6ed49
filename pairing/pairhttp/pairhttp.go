// Package pairhttp serves POST /api/pair: a one-time pairing code in, a
// paired device's token out, with attempts rate-limited per client address.
package pairhttp

import (
	"bytes"
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"doorbell/pairing"
	"doorbell/wire"
)

// MaxPairBody is the largest POST /api/pair body accepted.
const MaxPairBody = 4 << 10

// Default pairing rate per client address: 5 attempts at once, then one
// every 6 seconds. Codes have 160 bits, so this is not what keeps them
// safe; it keeps a misbehaving client from busying the device's disk.
const (
	DefaultPairRate  = rate.Limit(1.0 / 6)
	DefaultPairBurst = 5
)

// Results reported to Handler.OnResult.
const (
	ResultPaired     = "paired"
	ResultUnknown    = "unknown_code"
	ResultExpired    = "expired_code"
	ResultUsed       = "used_code"
	ResultNotMember  = "not_member"
	ResultLimited    = "rate_limited"
	ResultBadRequest = "bad_request"
	ResultError      = "error"
)

// Handler serves POST /api/pair: {"code":…,"device":…} → {"token":…}.
//
// Refusals, each with {"error": "what is wrong; what to do"}: 405 (not
// POST), 429 (too many attempts from this address; Retry-After), 415 (not
// application/json), 413 (body over MaxPairBody), 400 (not the expected
// JSON), 401 (unknown code), 410 (expired or used code), 403 (the code's
// member has left the household).
type Handler struct {
	Store     *pairing.Store
	DeviceKey string // see wire.PairResponse.DeviceKey
	Log       *slog.Logger
	Rate      rate.Limit // attempts per second per client address; 0: DefaultPairRate
	Burst     int        // 0: DefaultPairBurst
	// OnResult, if set, is called with one of the Result constants for
	// every request (for metrics).
	OnResult func(result string)

	mu       sync.Mutex
	limiters map[netip.Prefix]*list.Element // of *limiter; the list is most recently seen first
	recent   list.List
}

// MaxClients is how many client addresses (or IPv6 /64s) the rate limit
// remembers. Past it, the one seen longest ago is forgotten: in constant
// time, whatever the number of clients.
const MaxClients = 1024

type limiter struct {
	*rate.Limiter
	key netip.Prefix
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, ResultBadRequest, "%s is not supported; POST {\"code\":…,\"device\":…} to pair", r.Method)
		return
	}
	if wait, ok := h.allow(clientKey(r.RemoteAddr)); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		h.fail(w, http.StatusTooManyRequests, ResultLimited, "too many pairing attempts from this address; wait %d s and try again", int(math.Ceil(wait.Seconds())))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.fail(w, http.StatusUnsupportedMediaType, ResultBadRequest, "the content type is %q; send the request as application/json", r.Header.Get("Content-Type"))
		return
	}
	if r.ContentLength > MaxPairBody {
		h.fail(w, http.StatusRequestEntityTooLarge, ResultBadRequest, "the request is %d bytes, over the limit of %d; send only {\"code\":…,\"device\":…}", r.ContentLength, MaxPairBody)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPairBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		h.fail(w, http.StatusRequestEntityTooLarge, ResultBadRequest, "the request is over the limit of %d bytes; send only {\"code\":…,\"device\":…}", MaxPairBody)
		return
	case err != nil:
		h.fail(w, http.StatusBadRequest, ResultBadRequest, "cannot read the request: %v; send it again", err)
		return
	}
	var req wire.PairRequest
	if err := strictJSON(body, &req); err != nil {
		h.fail(w, http.StatusBadRequest, ResultBadRequest, "the request is not {\"code\":…,\"device\":…}: %v", err)
		return
	}
	if req.Code == "" {
		h.fail(w, http.StatusBadRequest, ResultBadRequest, "the request has no code; open the whole pairing link, including the part after #")
		return
	}
	token, t, err := h.Store.Pair(req.Code, req.Device, req.Recipients...)
	switch {
	case errors.Is(err, pairing.ErrRecipient):
		h.fail(w, http.StatusBadRequest, ResultBadRequest, "%v", err)
		return
	case errors.Is(err, pairing.ErrCodeUnknown):
		w.Header().Set("WWW-Authenticate", `Bearer realm="doorbell pairing"`)
		h.fail(w, http.StatusUnauthorized, ResultUnknown, "%v", err)
		return
	case errors.Is(err, pairing.ErrCodeExpired):
		h.fail(w, http.StatusGone, ResultExpired, "%v", err)
		return
	case errors.Is(err, pairing.ErrCodeUsed):
		h.fail(w, http.StatusGone, ResultUsed, "%v", err)
		return
	case errors.Is(err, pairing.ErrNotMember):
		h.fail(w, http.StatusForbidden, ResultNotMember, "%v", err)
		return
	case err != nil:
		h.log().Error("pairing failed", "err", err)
		h.fail(w, http.StatusInternalServerError, ResultError, "the doorbell could not save the pairing: %v", err)
		return
	}
	h.log().Info("device paired", "id", t.ID, "member", t.Member, "device", t.Device, "own_key", t.Recipient != "", "client", clientKey(r.RemoteAddr))
	h.result(ResultPaired)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(wire.PairResponse{Token: token, ID: t.ID, Member: t.Member, Device: t.Device, DeviceKey: h.DeviceKey, Recipient: t.Recipient})
}

func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// More would miss a stray '}' or ']': only the end of the body may follow.
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("text after the JSON object")
	}
	return nil
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

func (h *Handler) result(r string) {
	if h.OnResult != nil {
		h.OnResult(r)
	}
}

func (h *Handler) fail(w http.ResponseWriter, code int, result, format string, args ...any) {
	h.result(result)
	switch result {
	case ResultUnknown, ResultExpired, ResultUsed, ResultNotMember:
		h.log().Info("pairing refused", "status", code, "reason", result)
	default: // malformed or rate-limited: not worth a line each at the default level
		h.log().Debug("pairing refused", "status", code, "reason", result)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(wire.Error{Error: fmt.Sprintf(format, args...)})
}

// allow takes one attempt from key's budget, or says how long to wait.
func (h *Handler) allow(key netip.Prefix) (time.Duration, bool) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.limiters == nil {
		h.limiters = map[netip.Prefix]*list.Element{}
	}
	var l *limiter
	if el, ok := h.limiters[key]; ok {
		h.recent.MoveToFront(el)
		l = el.Value.(*limiter)
	} else {
		if h.recent.Len() >= MaxClients {
			oldest := h.recent.Back()
			h.recent.Remove(oldest)
			delete(h.limiters, oldest.Value.(*limiter).key)
		}
		lim, burst := h.Rate, h.Burst
		if lim == 0 {
			lim = DefaultPairRate
		}
		if burst == 0 {
			burst = DefaultPairBurst
		}
		l = &limiter{Limiter: rate.NewLimiter(lim, burst), key: key}
		h.limiters[key] = h.recent.PushFront(l)
	}
	res := l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// clientKey is whom a request is counted against: the client's IPv4
// address, or the /64 of an IPv6 one (a host may take any address within
// its prefix at will), zone left out: every link-local address of every
// interface is one fe80::/64. No proxy headers: the doorbell is reached
// directly. An address that does not parse (never from net/http) counts
// as one unknown client.
func clientKey(remoteAddr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	addr := ap.Addr()
	if err != nil {
		if addr, err = netip.ParseAddr(remoteAddr); err != nil {
			return netip.Prefix{}
		}
	}
	addr = addr.WithZone("").Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits)
	return p
}
