package sandbox

import (
	"bytes"
	"embed"
	"encoding/json"
	"net/http"
	"path"
)

// assets holds link.js and the Link iframe's page, script and style sheet.
//
//go:embed assets
var assets embed.FS

// iframeCSP is the Content-Security-Policy of the Link iframe: everything
// from its own origin only, no inline script or style, embeddable anywhere.
const iframeCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors *"

// serveLinkJS handles GET /link.js: the script defining window.Pinwheel,
// with the emulator's public base URL filled in.
func (e *Emulator) serveLinkJS(w http.ResponseWriter, r *http.Request) {
	src, err := assets.ReadFile("assets/link.js")
	if err != nil {
		e.linkFail(w, r, err)
		return
	}
	base, _ := json.Marshal(e.cfg.PublicURL)
	src = bytes.ReplaceAll(src, []byte(`"__PINWHEEL_EMULATOR_BASE__"`), base)
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(src)
}

// serveLinkPage handles GET /link/: the iframe page (the token travels in
// the query string and is read by app.js).
func (e *Emulator) serveLinkPage(w http.ResponseWriter, r *http.Request) {
	e.serveAsset(w, r, "index.html", "text/html; charset=utf-8")
}

// redirectLinkPage handles GET /link by redirecting to link/ with a relative
// Location, so it stays correct when the emulator is mounted under a prefix.
func (e *Emulator) redirectLinkPage(w http.ResponseWriter, r *http.Request) {
	loc := "link/"
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusMovedPermanently)
}

// serveLinkAsset handles GET /link/{file}: app.js and style.css.
func (e *Emulator) serveLinkAsset(w http.ResponseWriter, r *http.Request) {
	switch name := r.PathValue("file"); name {
	case "app.js":
		e.serveAsset(w, r, name, "text/javascript; charset=utf-8")
	case "style.css":
		e.serveAsset(w, r, name, "text/css; charset=utf-8")
	default:
		e.notFound(w, r)
	}
}

func (e *Emulator) serveAsset(w http.ResponseWriter, r *http.Request, name, contentType string) {
	b, err := assets.ReadFile(path.Join("assets", name))
	if err != nil {
		e.notFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Security-Policy", iframeCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
