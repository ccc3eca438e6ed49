// Package web serves the phone app, embedded in the binary: live video over
// WHEP, pairing by link, the doorbell's state and events, notifications,
// and a service worker that keeps the app for when the doorbell is away.
// No CDN, no external fonts, nothing fetched from elsewhere.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

type file struct {
	data  []byte
	gz    []byte // gzip of data, for text; nil if it would not be smaller
	etag  string
	ctype string
}

var (
	// appFiles are the app's files ready to serve, made on first use rather
	// than at start: gzipping them costs 15-20 ms of CPU, which a doorbelld
	// that serves no page (motion-scan, -check-config) need not pay.
	appFiles = sync.OnceValue(load)
	// contentSecurityPolicy allows the app its own scripts, styles, images,
	// manifest, worker and requests, and nothing else; index.html's inline
	// script (which starts the call) and style by their hashes. WebRTC
	// media is not subject to it.
	contentSecurityPolicy = sync.OnceValue(func() string {
		index := appFiles()["index.html"].data
		return "default-src 'none'; script-src 'self' " + inlineHashes(inlineScript, index) +
			"; style-src 'self' " + inlineHashes(inlineStyle, index) + "; img-src 'self' data:; media-src 'self' blob: mediastream:; connect-src 'self'; " +
			"manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	})
)

func load() map[string]file {
	m := map[string]file{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		m[strings.TrimPrefix(p, "static/")] = file{data: data}
		return nil
	})
	if err != nil {
		panic(err)
	}
	m["index.html"] = file{data: inlineStyleSheet(m["index.html"].data, m["style.css"].data)}
	m["sw.js"] = file{data: worker(m)}
	for name, f := range m {
		m[name] = finish(name, f.data)
	}
	return m
}

func finish(name string, data []byte) file {
	sum := sha256.Sum256(data)
	f := file{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: mime.TypeByExtension(path.Ext(name))}
	switch path.Ext(name) { // not every system's MIME table knows these
	case ".js":
		f.ctype = "text/javascript; charset=utf-8"
	case ".css":
		f.ctype = "text/css; charset=utf-8"
	case ".html":
		f.ctype = "text/html; charset=utf-8"
	case ".svg":
		f.ctype = "image/svg+xml"
	case ".webmanifest":
		f.ctype = "application/manifest+json"
	}
	if !strings.HasPrefix(f.ctype, "image/png") {
		if gz := gzipped(data); len(gz) < len(data) {
			f.gz = gz
		}
	}
	return f
}

func gzipped(data []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = w.Write(data)
	_ = w.Close()
	return b.Bytes()
}

// shell is what the service worker keeps: the app and its assets, at the
// paths the app asks for. The pairing page is not in it: pairing needs
// the doorbell anyway.
func shell(m map[string]file) []string {
	urls := []string{"/", "/manifest.webmanifest"}
	for name := range m {
		switch name {
		case "index.html", "pair.html", "pair.js", "sw.js", "manifest.webmanifest":
		default:
			urls = append(urls, "/assets/"+name)
		}
	}
	slices.Sort(urls[2:])
	return urls
}

// worker fills in sw.js: the list of the shell's files, and a version
// that changes whenever any file of the app changes, so that browsers
// install the new app.
func worker(m map[string]file) []byte {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, name := range names {
		h.Write([]byte(name))
		h.Write(m[name].data)
	}
	list, _ := json.Marshal(shell(m))
	src := string(m["sw.js"].data)
	src = strings.Replace(src, "'{{VERSION}}'", "'"+hex.EncodeToString(h.Sum(nil)[:8])+"'", 1)
	src = strings.Replace(src, "{{SHELL}}", string(list), 1)
	return []byte(src)
}

var (
	inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	inlineStyle  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
)

// styleLink is how index.html names its style sheet; it is served inline
// instead, so that the first picture waits for no other file.
const styleLink = `<link rel="stylesheet" href="/assets/style.css">`

func inlineStyleSheet(page, css []byte) []byte {
	if !bytes.Contains(page, []byte(styleLink)) {
		panic("web: index.html does not link style.css as " + styleLink)
	}
	return bytes.Replace(page, []byte(styleLink), []byte("<style>"+string(css)+"</style>"), 1)
}

// inlineHashes are the CSP hash sources of the page's inline elements
// that re matches.
func inlineHashes(re *regexp.Regexp, page []byte) string {
	var hashes []string
	for _, m := range re.FindAllSubmatch(page, -1) {
		sum := sha256.Sum256(m[1])
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return strings.Join(hashes, " ")
}

// Register adds the app to mux: GET / (the app), GET /pair (pairing; the
// code travels in the URL fragment, which browsers never send), GET
// /sw.js (the service worker, at the root so that it covers the app), GET
// /manifest.webmanifest, and GET /assets/ (scripts, style, icons).
func Register(mux *http.ServeMux) {
	go appFiles() // ready before the first phone asks
	mux.Handle("GET /{$}", serve("index.html"))
	mux.Handle("GET /pair", serve("pair.html"))
	mux.Handle("GET /sw.js", serve("sw.js"))
	mux.Handle("GET /manifest.webmanifest", serve("manifest.webmanifest"))
	mux.HandleFunc("GET /assets/{name}", func(w http.ResponseWriter, r *http.Request) {
		switch name := r.PathValue("name"); name {
		case "sw.js", "index.html", "pair.html", "manifest.webmanifest": // served at their own paths only
			http.NotFound(w, r)
		default:
			serve(name).ServeHTTP(w, r)
		}
	})
}

// Size is the total size of the app's files, in bytes.
func Size() int {
	n := 0
	for _, f := range appFiles() {
		n += len(f.data)
	}
	return n
}

// CompressedSize is the total size of the app's files as they are sent to
// a browser that takes gzip, in bytes.
func CompressedSize() int {
	n := 0
	for _, f := range appFiles() {
		if f.gz != nil {
			n += len(f.gz)
		} else {
			n += len(f.data)
		}
	}
	return n
}

func serve(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := appFiles()[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ctype)
		h.Set("Content-Security-Policy", contentSecurityPolicy())
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache") // revalidate: an update shows at once
		data, etag := f.data, f.etag
		if f.gz != nil {
			h.Set("Vary", "Accept-Encoding")
			if acceptsGzip(r) {
				data, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
				h.Set("Content-Encoding", "gzip")
			}
		}
		h.Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	})
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}
