package pairing

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzParseTokens: no token file crashes the parser.
func FuzzParseTokens(f *testing.F) {
	f.Add([]byte(`{"version":1,"tokens":[]}`))
	f.Add([]byte(`{"version":1,"tokens":[{"id":"a1b2c3d4","member":"anna","device":"Anna's phone","sha256":"` +
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" + `","paired":"2026-11-28T09:00:00Z"}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseTokens("tokens.json", data)
	})
}

// FuzzPairRequest: POST /api/pair with any body answers with a status and
// never pairs without the code.
func FuzzPairRequest(f *testing.F) {
	f.Add([]byte(`{"code":"ABCD-EFGH","device":"Anna's phone"}`))
	f.Add([]byte(`{"code":""}`))
	f.Add([]byte(`{"code":"x"}}`))
	f.Add([]byte(`{"code":"x","extra":1}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	if _, err := NewCode(dir, "anna", time.Now()); err != nil {
		f.Fatal(err)
	}
	h := &PairHandler{Store: Open(dir, nil), Rate: 1e9, Burst: 1 << 30}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/api/pair", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			t.Fatalf("paired with %q", body)
		}
	})
}
