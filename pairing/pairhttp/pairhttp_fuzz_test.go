package pairhttp

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"doorbell/internal/testkit"
	"doorbell/pairing"
)

// FuzzPairRequest: POST /api/pair with any body answers with a status and
// never pairs without the code.
func FuzzPairRequest(f *testing.F) {
	f.Add([]byte(`{"code":"ABCD-EFGH","device":"Anna's phone"}`))
	f.Add([]byte(`{"code":""}`))
	f.Add([]byte(`{"code":"x"}}`))
	f.Add([]byte(`{"code":"x","extra":1}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	testkit.AddMember(f, dir, "anna")
	if _, err := pairing.NewCode(dir, "anna", time.Now()); err != nil {
		f.Fatal(err)
	}
	h := &Handler{Store: pairing.Open(dir, nil), Rate: 1e9, Burst: 1 << 30}
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
