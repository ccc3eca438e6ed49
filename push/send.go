package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"doorbell/events"
)

// Sizes of every push. RFC 8030 has push services take bodies of at least
// 4096 bytes, and RFC 8291 leaves 3993 of them for the plaintext; every
// payload is padded to that, so its length says nothing.
const (
	BodySize    = 4096
	PayloadSize = BodySize - 86 - 16 - 1 // header, AEAD tag, padding delimiter
)

// Time to live at the push service: a ring is news for a minute or two;
// past that the phone should not buzz for it.
const (
	RingTTL   = 120 * time.Second
	MotionTTL = 600 * time.Second
)

// DefaultAllowHosts are the push services of Chrome and Android (Google),
// Safari (Apple), Firefox (Mozilla) and Edge (Microsoft).
var DefaultAllowHosts = []string{
	"fcm.googleapis.com",
	"android.googleapis.com",
	"web.push.apple.com",
	"updates.push.services.mozilla.com",
	"*.notify.windows.com",
}

// Options configure a Sender.
type Options struct {
	// Contact is the VAPID "sub": a mailto: or https: URL where the push
	// service can reach the owner.
	Contact string
	// AllowHosts are the push services' host names the doorbell may send
	// to; "*.example.com" allows every subdomain. Empty: DefaultAllowHosts.
	AllowHosts []string
	// RootCAs verify the push services' certificates; nil: the system's.
	RootCAs *x509.CertPool
	Log     *slog.Logger
	// Paired, if set, reports whether a device is still paired; the
	// subscriptions of others are deleted, not sent to, even in the
	// moment before the token store's revoke hook runs.
	Paired func(device string) bool
	// Timeout bounds one push request; 0: 10 s.
	Timeout time.Duration
}

// Sender sends events to the subscribed phones.
type Sender struct {
	key    Key
	store  *Store
	opts   Options
	client *http.Client
	log    *slog.Logger

	mu       sync.Mutex
	status   Status
	lastRing time.Time // the ring last pushed
}

// RepeatGap is the shortest time between two ring pushes for presses
// within the button's cooldown: a visitor pressing again after a while
// buzzes the phone again, one hammering the button does not.
const RepeatGap = 10 * time.Second

// Status is the push section of /healthz: counts and the last failure,
// never endpoints.
type Status struct {
	State         string    `json:"state"` // "on" or "off"
	Subscriptions int       `json:"subscriptions"`
	Sent          uint64    `json:"sent"`
	Failed        uint64    `json:"failed"`
	Gone          uint64    `json:"gone"` // subscriptions the push service said are gone, and were deleted
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
}

// NewSender returns a Sender that signs with key and sends to the
// subscriptions in store.
func NewSender(key Key, store *Store, o Options) *Sender {
	if len(o.AllowHosts) == 0 {
		o.AllowHosts = DefaultAllowHosts
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	s := &Sender{key: key, store: store, opts: o, log: o.Log}
	tr := &http.Transport{
		Proxy:               nil, // straight to the push service, as the owner configured
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 5 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	s.client = &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		// A redirect could lead off the allow-list.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

// Allowed says why the doorbell will not send to endpoint, or nil: it must
// be an https URL on a host of the allow-list, or any paired device could
// make the doorbell POST anywhere.
func (s *Sender) Allowed(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return errors.New("the push endpoint is not an https:// URL; send the PushSubscription the browser made")
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	for _, a := range s.opts.AllowHosts {
		a = strings.ToLower(a)
		if host == a || (strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:])) {
			return nil
		}
	}
	return fmt.Errorf("the push service %s is not in push.allow_hosts; the owner can add it there", host)
}

// Payload is what a phone's service worker gets, as JSON padded with
// spaces to PayloadSize.
type Payload struct {
	Kind     string    `json:"kind"` // "ring" or "motion"
	Time     time.Time `json:"time"`
	ID       string    `json:"id"`
	Snapshot string    `json:"snapshot,omitempty"` // data:image/jpeg;base64,…
}

// encode pads p to PayloadSize; a snapshot that does not fit is left out.
func (p Payload) encode() []byte {
	for {
		b, err := json.Marshal(p)
		if err != nil {
			panic(err) // only strings and a time
		}
		if len(b) <= PayloadSize {
			out := make([]byte, PayloadSize)
			copy(out, b)
			for i := len(b); i < PayloadSize; i++ {
				out[i] = ' ' // JSON allows trailing white space
			}
			return out
		}
		p.Snapshot = ""
	}
}

// MaxSnapshot is the largest JPEG that fits a payload beside the event.
const MaxSnapshot = (PayloadSize - 160) / 4 * 3

// Notify sends e to the phones that want it: a ring to every subscription,
// motion only to those that asked. snapshot, if not nil, is called once
// for a JPEG of at most MaxSnapshot bytes, for the phones that asked for
// one. It returns when every push has been answered or has failed.
func (s *Sender) Notify(ctx context.Context, e events.Event, snapshot func() []byte) {
	var kind string
	opts := webpush.Options{
		HTTPClient:      s.client,
		RecordSize:      BodySize,
		Subscriber:      strings.TrimPrefix(s.opts.Contact, "mailto:"), // webpush-go adds mailto: to all but https:
		VAPIDPublicKey:  s.key.PublicString(),
		VAPIDPrivateKey: s.key.privateString(),
	}
	switch {
	case e.Kind == events.Ring:
		s.mu.Lock()
		soon := e.Repeat && e.Time.Sub(s.lastRing) < RepeatGap
		if !soon {
			s.lastRing = e.Time
		}
		s.mu.Unlock()
		if soon {
			return
		}
		kind, opts.Urgency, opts.TTL, opts.Topic = "ring", webpush.UrgencyHigh, int(RingTTL.Seconds()), "ring"
	case e.Kind == events.MotionStart:
		kind, opts.Urgency, opts.TTL, opts.Topic = "motion", webpush.UrgencyNormal, int(MotionTTL.Seconds()), "motion"
	default:
		return
	}
	var subs []Subscription
	wantSnapshot := false
	for _, sub := range s.store.All() {
		if s.opts.Paired != nil && !s.opts.Paired(sub.Device) {
			if _, err := s.store.RemoveDevice(sub.Device); err != nil {
				s.log.Warn("cannot delete a revoked device's push subscription", "device", sub.Device, "err", err)
			}
			continue
		}
		if kind == "ring" || sub.Motion {
			subs = append(subs, sub)
			wantSnapshot = wantSnapshot || sub.Snapshot
		}
	}
	if len(subs) == 0 {
		return
	}
	p := Payload{Kind: kind, Time: e.Time.UTC(), ID: strconv.FormatUint(e.ID, 10)}
	plain := p.encode()
	var wg sync.WaitGroup
	// Phones without a picture are not kept waiting for one.
	for _, sub := range subs {
		if !sub.Snapshot || snapshot == nil {
			wg.Go(func() { s.sendOne(ctx, sub, plain, opts) })
		}
	}
	if wantSnapshot && snapshot != nil {
		msg := plain
		if jpg := snapshot(); len(jpg) > 0 && len(jpg) <= MaxSnapshot {
			p.Snapshot = "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(jpg)
			msg = p.encode()
		}
		for _, sub := range subs {
			if sub.Snapshot {
				wg.Go(func() { s.sendOne(ctx, sub, msg, opts) })
			}
		}
	}
	wg.Wait()
}

func (s *Sender) sendOne(ctx context.Context, sub Subscription, msg []byte, opts webpush.Options) {
	log := s.log.With("subscription", sub.ID(), "device", sub.Device)
	if err := s.Allowed(sub.Endpoint); err != nil {
		// The allow-list changed since the phone subscribed.
		s.failed(log, fmt.Errorf("not sent: %w", err))
		return
	}
	resp, err := webpush.SendNotificationWithContext(ctx, msg, &webpush.Subscription{
		Endpoint: sub.Endpoint, Keys: webpush.Keys{Auth: sub.Auth, P256dh: sub.P256dh}}, &opts)
	if err != nil {
		s.failed(log, fmt.Errorf("cannot reach the push service %s: %w", hostOf(sub.Endpoint), scrub(err, sub.Endpoint)))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		s.mu.Lock()
		s.status.Sent++
		s.mu.Unlock()
		log.Debug("push sent", "status", resp.StatusCode)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		// The phone unsubscribed or the browser was reset: forget it.
		if _, err := s.store.RemoveEndpoint(sub.Endpoint); err != nil {
			s.failed(log, err)
			return
		}
		s.mu.Lock()
		s.status.Gone++
		s.mu.Unlock()
		log.Info("push subscription gone; deleted", "status", resp.StatusCode)
	default:
		s.failed(log, fmt.Errorf("the push service %s answered %s", hostOf(sub.Endpoint), resp.Status))
	}
}

func (s *Sender) failed(log *slog.Logger, err error) {
	s.mu.Lock()
	s.status.Failed++
	s.status.LastError, s.status.LastErrorAt = err.Error(), time.Now().UTC()
	s.mu.Unlock()
	log.Warn("push failed", "err", err)
}

// Status reports what the sender has done.
func (s *Sender) Status() Status {
	s.mu.Lock()
	st := s.status
	s.mu.Unlock()
	st.State = "on"
	st.Subscriptions = len(s.store.All())
	return st
}

func hostOf(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil {
		return u.Host
	}
	return "?"
}

// scrub keeps the endpoint, a capability, out of an error that is logged.
func scrub(err error, endpoint string) error {
	if msg := err.Error(); strings.Contains(msg, endpoint) {
		return errors.New(strings.ReplaceAll(msg, endpoint, "https://"+hostOf(endpoint)+"/…"))
	}
	return err
}
