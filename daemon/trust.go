package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"doorbell/household"
	"doorbell/internal/bearer"
	"doorbell/pairing"
	"doorbell/tlscert"
	"doorbell/tlscert/ca"
)

// Where phones fetch the household root to install it.
const (
	RootCRTPath          = "/household-root.crt"          // Android, desktop browsers: DER
	RootMobileConfigPath = "/household-root.mobileconfig" // iOS: a configuration profile
)

// TrustInfo is the body of GET /api/tls: how browsers can trust the
// doorbell. It is public, as the certificate itself is: the app shows it
// before pairing, to say whether notifications and installing can work.
type TrustInfo struct {
	tlscert.Status
	// RootCRT and RootMobileConfig are the paths of the household root,
	// when there is one.
	RootCRT          string `json:"root_crt,omitempty"`
	RootMobileConfig string `json:"root_mobileconfig,omitempty"`
}

// trustPart is how browsers trust the doorbell: the certificate served,
// the household root offered for installation, and the household
// certificate's installation by the owner's CLI.
type trustPart struct {
	srv    *tlscert.Server
	tokens *pairing.Store
	name   string // device.name, for the iOS profile
	log    *slog.Logger
}

func newTrust(srv *tlscert.Server, tokens *pairing.Store, deviceName string, log *slog.Logger) *trustPart {
	return &trustPart{srv: srv, tokens: tokens, name: deviceName, log: log.With("part", "tls")}
}

// start serves:
//
//	GET /api/tls                      TrustInfo (public)
//	GET /household-root.crt           the household root, DER (public)
//	GET /household-root.mobileconfig  the same as an iOS profile (public)
//	GET /api/tls/request              a certificate request for the device's key (paired devices)
//	PUT /api/tls/household            {"cert","root"}: install the signed certificate (paired devices)
//
// and the "tls" section of /healthz.
func (p *trustPart) start(_ context.Context, h *host) error {
	t := p.srv
	h.AddHealth("tls", func() any { return t.Status() })
	h.mux.HandleFunc("GET /api/tls", func(w http.ResponseWriter, r *http.Request) {
		info := TrustInfo{Status: t.Status()}
		if t.Root() != nil {
			info.RootCRT, info.RootMobileConfig = RootCRTPath, RootMobileConfigPath
		}
		writeJSON(w, http.StatusOK, info)
	})
	h.mux.HandleFunc("GET "+RootCRTPath, func(w http.ResponseWriter, r *http.Request) {
		root := t.Root()
		if root == nil {
			noRoot(w)
			return
		}
		w.Header().Set("Content-Type", "application/x-x509-ca-cert")
		w.Header().Set("Content-Disposition", `attachment; filename="doorbell-household-root.crt"`)
		_, _ = w.Write(root.Raw)
	})
	h.mux.HandleFunc("GET "+RootMobileConfigPath, func(w http.ResponseWriter, r *http.Request) {
		root := t.Root()
		if root == nil {
			noRoot(w)
			return
		}
		w.Header().Set("Content-Type", "application/x-apple-aspen-config")
		w.Header().Set("Content-Disposition", `attachment; filename="doorbell-household-root.mobileconfig"`)
		_, _ = w.Write(ca.MobileConfig(root, p.name))
	})
	h.mux.HandleFunc("GET /api/tls/request", pairedOnly(p.tokens, func(w http.ResponseWriter, r *http.Request, device string) {
		csr, err := t.Request()
		if err != nil {
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, household.TLSRequest{CSR: string(csr)})
	}))
	h.mux.HandleFunc("PUT /api/tls/household", pairedOnly(p.tokens, func(w http.ResponseWriter, r *http.Request, device string) {
		var body household.HouseholdCert
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil || json.Unmarshal(data, &body) != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body is not {\"cert\": PEM, \"root\": PEM}; use doorbell ca sign"})
			return
		}
		if err := t.InstallHousehold([]byte(body.Cert), []byte(body.Root)); err != nil {
			p.log.Warn("household certificate refused", "device", device, "err", err)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		st := t.Status()
		p.log.Info("household certificate installed", "device", device, "root_sha256", st.RootSHA256, "not_after", st.NotAfter)
		w.WriteHeader(http.StatusNoContent)
	}))
	return nil
}

func noRoot(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "this doorbell has no household root yet; the owner makes one with doorbell ca sign"})
}

// pairedOnly answers 401 to requests without a paired device's token.
func pairedOnly(tokens bearer.Authorizer, h func(w http.ResponseWriter, r *http.Request, device string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer.Token(r)
		var device string
		if ok {
			device, ok = tokens.Authorize(token)
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", bearer.Challenge)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": errors.New("this needs a paired device's token (Authorization: Bearer TOKEN); pair with doorbell device add").Error()})
			return
		}
		h(w, r, device)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
