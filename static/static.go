// Package static embeds Linkdesk's CSS, JavaScript and images and serves
// them under cache-busting names: /static/css/app.<hash>.css is cached for a
// year, and a new build changes the hash.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed css js img
var FS embed.FS

type asset struct {
	hashed string // css/app.1a2b3c4d5e.css
	file   string // css/app.css
}

var assets = sync.OnceValue(func() map[string]asset {
	m := map[string]asset{}
	fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".go") {
			return err
		}
		b, err := FS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ext := path.Ext(p)
		m[p] = asset{hashed: strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:5]) + ext, file: p}
		return nil
	})
	return m
})

var byHashed = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for _, a := range assets() {
		m[a.hashed] = a.file
	}
	return m
})

// Path returns the cache-busting URL of an embedded file, e.g.
// Path("css/app.css") = "/static/css/app.1a2b3c4d5e.css". An unknown name is
// returned unhashed so that a typo shows up as a 404, not a panic.
func Path(name string) string {
	if a, ok := assets()[name]; ok {
		return "/static/" + a.hashed
	}
	return "/static/" + name
}

// Handler serves /static/*: hashed names are immutable for a year, plain
// names are served with revalidation.
func Handler() http.Handler {
	files := http.FS(FS)
	modTime := time.Now()
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path
		if file, ok := byHashed()[name]; ok {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			name = file
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		f, err := files.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, path.Base(name), modTime, f)
	}))
}
