// Package pushtest is a push service for tests, written from RFC 8030
// (delivery), RFC 8291 (message encryption) and RFC 8292 (VAPID), and
// independent of the sending code: it checks each push request's VAPID
// signature, audience and expiry, and decrypts its payload with the
// subscription's private key, which only it holds.
package pushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one push request as the service saw it. Err says what was
// wrong with it; the service answered 400 then.
type Message struct {
	Endpoint  string
	Plaintext []byte // decrypted, padding removed
	BodyLen   int
	Urgency   string
	TTL       string
	Topic     string
	Claims    Claims
	VAPIDKey  string // the k= parameter: the sender's public key
	Received  time.Time
	Err       error
}

// Claims are the VAPID JWT's claims.
type Claims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// Subscription is what a browser's PushSubscription.toJSON() would give,
// plus the private key behind it.
type Subscription struct {
	Endpoint string
	P256dh   string // base64url
	Auth     string // base64url
	priv     *ecdh.PrivateKey
	auth     []byte
}

// JSON is the subscription as PushSubscription.toJSON() writes it.
func (s Subscription) JSON() string {
	b, _ := json.Marshal(map[string]any{"endpoint": s.Endpoint, "expirationTime": nil,
		"keys": map[string]string{"p256dh": s.P256dh, "auth": s.Auth}})
	return string(b)
}

// Service is a push service on loopback, over HTTPS.
type Service struct {
	srv      *httptest.Server
	messages chan Message

	mu     sync.Mutex
	subs   map[string]Subscription // by path
	answer map[string]int          // by path: status to answer; default 201
	n      int
}

// New starts a push service that closes at the test's end.
func New(t testing.TB) *Service {
	s := &Service{messages: make(chan Message, 1000), subs: map[string]Subscription{}, answer: map[string]int{}}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// Roots trust the service's certificate.
func (s *Service) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.srv.Certificate())
	return p
}

// Origin is the service's origin: what a VAPID "aud" must be.
func (s *Service) Origin() string { return s.srv.URL }

// Subscribe makes a subscription with fresh keys, as a browser would.
func (s *Service) Subscribe() Subscription {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	path := fmt.Sprintf("/push/%d", s.n)
	sub := Subscription{Endpoint: s.srv.URL + path, P256dh: b64(priv.PublicKey().Bytes()), Auth: b64(auth), priv: priv, auth: auth}
	s.subs[path] = sub
	return sub
}

// Answer makes the service answer code to pushes for sub from now on.
func (s *Service) Answer(sub Subscription, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer[strings.TrimPrefix(sub.Endpoint, s.srv.URL)] = code
}

// Next waits up to timeout for the next push request.
func (s *Service) Next(timeout time.Duration) (Message, bool) {
	select {
	case m := <-s.messages:
		return m, true
	case <-time.After(timeout):
		return Message{}, false
	}
}

// Messages is the channel of push requests, for benchmarks.
func (s *Service) Messages() <-chan Message { return s.messages }

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	m := Message{Endpoint: s.srv.URL + r.URL.Path, Urgency: r.Header.Get("Urgency"), TTL: r.Header.Get("TTL"),
		Topic: r.Header.Get("Topic"), Received: time.Now()}
	s.mu.Lock()
	sub, known := s.subs[r.URL.Path]
	code, set := s.answer[r.URL.Path]
	s.mu.Unlock()
	if !set {
		code = http.StatusCreated
	}
	body, err := io.ReadAll(r.Body)
	m.BodyLen = len(body)
	switch {
	case err != nil:
		m.Err = err
	case r.Method != http.MethodPost:
		m.Err = fmt.Errorf("method %s, want POST (RFC 8030 §5)", r.Method)
	case !known:
		m.Err = errors.New("no such subscription")
		code = http.StatusNotFound
	case r.Header.Get("TTL") == "":
		m.Err = errors.New("no TTL header (RFC 8030 §5.2 requires one)")
	case r.Header.Get("Content-Encoding") != "aes128gcm":
		m.Err = fmt.Errorf("Content-Encoding %q, want aes128gcm (RFC 8291 §4)", r.Header.Get("Content-Encoding"))
	}
	if m.Err == nil {
		m.Claims, m.VAPIDKey, m.Err = s.checkVAPID(r.Header.Get("Authorization"))
	}
	if m.Err == nil {
		m.Plaintext, m.Err = decrypt(sub, body)
	}
	if m.Err != nil && code < 400 {
		code = http.StatusBadRequest
	}
	s.messages <- m
	w.WriteHeader(code)
}

// checkVAPID verifies "vapid t=JWT, k=KEY" (RFC 8292 §3).
func (s *Service) checkVAPID(h string) (Claims, string, error) {
	var c Claims
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return c, "", fmt.Errorf("the Authorization header %q is not a vapid one (RFC 8292 §3)", h)
	}
	params := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = v
	}
	keyBytes, err := unb64(params["k"])
	if err != nil || len(keyBytes) != 65 || keyBytes[0] != 4 {
		return c, "", errors.New("k= is not an uncompressed P-256 key in base64url (RFC 8292 §3.2)")
	}
	parts := strings.Split(params["t"], ".")
	if len(parts) != 3 {
		return c, "", errors.New("t= is not a JWT")
	}
	var hdr struct{ Alg, Typ string }
	hb, err1 := unb64(parts[0])
	cb, err2 := unb64(parts[1])
	sig, err3 := unb64(parts[2])
	if err := errors.Join(err1, err2, err3, json.Unmarshal(hb, &hdr), json.Unmarshal(cb, &c)); err != nil {
		return c, "", fmt.Errorf("the JWT does not decode: %w", err)
	}
	if hdr.Alg != "ES256" || len(sig) != 64 {
		return c, "", fmt.Errorf("JWT alg %q with a %d-byte signature, want ES256 (RFC 8292 §2)", hdr.Alg, len(sig))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), keyBytes)
	if err != nil {
		return c, "", fmt.Errorf("k= is not a P-256 point: %w", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return c, "", errors.New("the JWT's signature does not verify with k=")
	}
	now := time.Now()
	switch exp := time.Unix(c.Exp, 0); {
	case c.Aud != s.srv.URL:
		return c, "", fmt.Errorf("aud %q, want the push service's origin %q (RFC 8292 §2)", c.Aud, s.srv.URL)
	case !exp.After(now):
		return c, "", fmt.Errorf("the JWT expired at %s", exp)
	case exp.After(now.Add(24 * time.Hour)):
		return c, "", fmt.Errorf("the JWT expires at %s, more than 24 h away (RFC 8292 §2)", exp)
	case !strings.HasPrefix(c.Sub, "mailto:") && !strings.HasPrefix(c.Sub, "https:"):
		return c, "", fmt.Errorf("sub %q is not a mailto: or https: URL", c.Sub)
	}
	return c, params["k"], nil
}

// decrypt opens an aes128gcm body (RFC 8188) with the keys of RFC 8291 §3.
func decrypt(sub Subscription, body []byte) ([]byte, error) {
	if len(body) < 86 {
		return nil, fmt.Errorf("body of %d bytes is shorter than the aes128gcm header", len(body))
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 {
		return nil, fmt.Errorf("keyid of %d bytes, want the sender's 65-byte public key (RFC 8291 §4)", idlen)
	}
	asPublic, ciphertext := body[21:86], body[86:]
	if uint32(len(ciphertext)) > rs {
		return nil, fmt.Errorf("more than one record (rs %d, %d bytes); RFC 8291 §4 allows one", rs, len(ciphertext))
	}
	as, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, fmt.Errorf("the sender's key: %w", err)
	}
	secret, err := sub.priv.ECDH(as)
	if err != nil {
		return nil, err
	}
	prkKey := mac(sub.auth, secret)
	keyInfo := append(append([]byte("WebPush: info\x00"), sub.priv.PublicKey().Bytes()...), asPublic...)
	ikm := mac(prkKey, append(keyInfo, 1))
	prk := mac(salt, ikm)
	cek := mac(prk, []byte("Content-Encoding: aes128gcm\x00\x01"))[:16]
	nonce := mac(prk, []byte("Content-Encoding: nonce\x00\x01"))[:12]
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("the payload does not decrypt with the subscription's key: %w", err)
	}
	end := len(plain)
	for end > 0 && plain[end-1] == 0 {
		end--
	}
	if end == 0 || plain[end-1] != 2 {
		return nil, errors.New("the last record lacks its 0x02 padding delimiter (RFC 8188 §2)")
	}
	return plain[:end-1], nil
}

func mac(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
