package stream

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"doorbell/internal/bearer"
)

// Authorizer decides who may watch (bearer.Authorizer). A session whose
// token stops being authorized ends within a second; to end them sooner,
// call Hub.CloseWhere with the revoked id.
type Authorizer = bearer.Authorizer

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc = bearer.AuthorizerFunc

// MaxOfferBytes is the largest SDP offer accepted. Browsers' offers are a
// few kilobytes.
const MaxOfferBytes = 64 << 10

// WHEP serves live view by the WebRTC-HTTP Egress Protocol
// (draft-ietf-wish-whep), without trickle ICE:
//
//	POST   {Path}      Content-Type: application/sdp, body: the offer
//	                   → 201 Created, the SDP answer, Location: {Path}/{id}
//	DELETE {Path}/{id} → 200 OK: the session ends
//	OPTIONS            → 204 with CORS headers (no token: preflights carry none)
//	PATCH  {Path}/{id} → 405: no trickle ICE or ICE restart; the answer
//	                   carries all of the doorbell's candidates
//
// Every POST and DELETE needs "Authorization: Bearer TOKEN". A browser
// client, such as the phone page, does:
//
//	const pc = new RTCPeerConnection();
//	pc.addTransceiver('video', {direction: 'recvonly'});
//	await pc.setLocalDescription(await pc.createOffer());
//	const r = await fetch('/whep', {method: 'POST', body: pc.localDescription.sdp,
//	  headers: {'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + token}});
//	// r.status 201: r.headers.get('Location') is the session, for DELETE
//	await pc.setRemoteDescription({type: 'answer', sdp: await r.text()});
//
// The offer can be sent at once, without waiting for ICE gathering: the
// answer carries the doorbell's candidates, and the browser's checks
// reach it. Refusals: 401 (no or bad token), 413 (offer over 64 KiB), 415
// (not application/sdp), 400 (an offer that is not usable SDP; the body
// says why), 503 (too many viewers, or shutting down).
type WHEP struct {
	Viewers    Viewers
	Auth       Authorizer         // nil refuses everyone
	Path       string             // where it is mounted; "" means "/whep"
	ICEServers []webrtc.ICEServer // told to clients in Link headers of the 201 answer
	Log        *slog.Logger

	warnedNoAuth atomic.Bool
	responses    *prometheus.CounterVec
}

// RegisterMetrics adds a count of WHEP responses by status code to reg.
func (w *WHEP) RegisterMetrics(reg prometheus.Registerer) {
	w.responses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "doorbell_whep_responses_total", Help: "WHEP responses, by HTTP status code."}, []string{"code"})
	reg.MustRegister(w.responses)
}

func (w *WHEP) base() string {
	if w.Path == "" {
		return "/whep"
	}
	return strings.TrimSuffix(w.Path, "/")
}

func (w *WHEP) log() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Log
}

// Handle registers the handler on mux for its path and the sessions under it.
func (w *WHEP) Handle(mux *http.ServeMux) {
	mux.Handle(w.base(), w)
	mux.Handle(w.base()+"/", w)
}

// ServeHTTP implements http.Handler.
func (w *WHEP) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: rw}
	defer func() {
		if w.responses != nil {
			w.responses.WithLabelValues(strconv.Itoa(rec.code)).Inc()
		}
	}()
	h := rec.Header()
	// Bearer tokens, not cookies, grant access, so any origin may ask: a
	// page from elsewhere would need a token it cannot read.
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Location, Link, Accept-Post")
	h.Set("Cache-Control", "no-store")

	base := w.base()
	switch {
	case r.URL.Path == base:
		w.serveEndpoint(rec, r)
	case strings.HasPrefix(r.URL.Path, base+"/") && validID(r.URL.Path[len(base)+1:]):
		w.serveSession(rec, r, r.URL.Path[len(base)+1:])
	default:
		fail(rec, http.StatusNotFound, "no such WHEP session: it has ended or never existed; POST an offer to %s to start one", base)
	}
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// serveEndpoint answers requests to the WHEP endpoint itself.
func (w *WHEP) serveEndpoint(rw http.ResponseWriter, r *http.Request) {
	const allow = "POST, OPTIONS"
	switch r.Method {
	case http.MethodOptions:
		rw.Header().Set("Accept-Post", "application/sdp")
		preflight(rw, allow)
	case http.MethodPost:
		w.post(rw, r)
	default:
		rw.Header().Set("Allow", allow)
		fail(rw, http.StatusMethodNotAllowed, "%s is not supported here; POST an SDP offer to start watching", r.Method)
	}
}

// serveSession answers requests to one session's resource.
func (w *WHEP) serveSession(rw http.ResponseWriter, r *http.Request, id string) {
	const allow = "DELETE, OPTIONS"
	switch r.Method {
	case http.MethodOptions:
		preflight(rw, allow)
	case http.MethodDelete:
		viewer, ok := w.authorize(rw, r)
		if !ok {
			return
		}
		if !w.Viewers.End(id, viewer) {
			fail(rw, http.StatusNotFound, "no such WHEP session: it has ended already, or it is not yours")
			return
		}
		rw.WriteHeader(http.StatusOK)
	case http.MethodPatch:
		rw.Header().Set("Allow", allow)
		fail(rw, http.StatusMethodNotAllowed, "trickle ICE and ICE restarts are not supported: the answer has all of the doorbell's candidates; to reconnect, DELETE this session and POST a new offer")
	default:
		rw.Header().Set("Allow", allow)
		fail(rw, http.StatusMethodNotAllowed, "%s is not supported on a session; DELETE it to stop watching", r.Method)
	}
}

func preflight(rw http.ResponseWriter, allow string) {
	h := rw.Header()
	h.Set("Allow", allow)
	h.Set("Access-Control-Allow-Methods", allow)
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "86400")
	rw.WriteHeader(http.StatusNoContent)
}

// post starts a session for the SDP offer in the body.
func (w *WHEP) post(rw http.ResponseWriter, r *http.Request) {
	viewer, ok := w.authorize(rw, r)
	if !ok {
		return
	}
	token, _ := bearer.Token(r)
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/sdp" {
		rw.Header().Set("Accept-Post", "application/sdp")
		fail(rw, http.StatusUnsupportedMediaType, "the offer's content type is %q; send the SDP offer with Content-Type: application/sdp", r.Header.Get("Content-Type"))
		return
	}
	if r.ContentLength > MaxOfferBytes {
		fail(rw, http.StatusRequestEntityTooLarge, "the offer is %d bytes, over the limit of %d; send a browser's plain SDP offer", r.ContentLength, MaxOfferBytes)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxOfferBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		fail(rw, http.StatusRequestEntityTooLarge, "the offer is over the limit of %d bytes; send a browser's plain SDP offer", MaxOfferBytes)
		return
	case err != nil:
		fail(rw, http.StatusBadRequest, "cannot read the offer: %v; send it again", err)
		return
	case len(body) == 0:
		fail(rw, http.StatusBadRequest, "the body is empty; send the SDP offer in it")
		return
	}
	auth := w.Auth
	still := func() bool {
		v, ok := auth.Authorize(token)
		return ok && v == viewer
	}
	id, answer, err := w.Viewers.Open(r.Context(), string(body), viewer, still)
	var bad *OfferError
	switch {
	case errors.As(err, &bad):
		fail(rw, http.StatusBadRequest, "%s; send the offer of an RTCPeerConnection with a recvonly video transceiver", bad.Error())
		return
	case errors.Is(err, ErrHubFull), errors.Is(err, ErrViewerFull):
		rw.Header().Set("Retry-After", "10")
		fail(rw, http.StatusServiceUnavailable, "%v", err)
		return
	case errors.Is(err, ErrHubClosed):
		fail(rw, http.StatusServiceUnavailable, "%v", err)
		return
	case r.Context().Err() != nil: // the client went away
		if err == nil { // nobody will get the answer: end the session rather than hold a place for it
			w.Viewers.End(id, viewer)
		}
		fail(rw, http.StatusServiceUnavailable, "the request was cancelled; send the offer again")
		return
	case err != nil:
		w.log().Warn("could not start a live-view session", "err", err)
		fail(rw, http.StatusInternalServerError, "could not set up the connection: %v; try again", err)
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", w.base()+"/"+id)
	for _, s := range w.ICEServers {
		for _, u := range s.URLs {
			link := fmt.Sprintf("<%s>; rel=\"ice-server\"", u)
			if s.Username != "" {
				link += fmt.Sprintf("; username=%q; credential=%q; credential-type=\"password\"", s.Username, fmt.Sprint(s.Credential))
			}
			h.Add("Link", link)
		}
	}
	rw.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(rw, answer)
}

// authorize checks the request's bearer token, answering 401 if it is
// missing or not valid.
func (w *WHEP) authorize(rw http.ResponseWriter, r *http.Request) (string, bool) {
	token, ok := bearer.Token(r)
	if !ok {
		rw.Header().Set("WWW-Authenticate", bearer.Challenge)
		fail(rw, http.StatusUnauthorized, "no token: send Authorization: Bearer TOKEN, with the token this phone got when it was paired")
		return "", false
	}
	if w.Auth == nil {
		if !w.warnedNoAuth.Swap(true) {
			w.log().Warn("live view refuses every viewer: no token store is wired to it")
		}
	} else if viewer, ok := w.Auth.Authorize(token); ok {
		return viewer, true
	}
	rw.Header().Set("WWW-Authenticate", bearer.ChallengeInvalid)
	fail(rw, http.StatusUnauthorized, "the token is not valid: it is unknown or was revoked; pair this phone again (doorbell member pair)")
	return "", false
}

// fail answers with code and a one-line message: what is wrong, then what to do.
func fail(rw http.ResponseWriter, code int, format string, args ...any) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(code)
	fmt.Fprintf(rw, format+"\n", args...)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
