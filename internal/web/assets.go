package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// static holds the files the page loads; pages holds the HTML templates.
//
//go:embed static
var static embed.FS

//go:embed pages
var pages embed.FS

// asset is one embedded file with its validator.
type asset struct {
	data  []byte
	etag  string // quoted
	hash  string // short content hash, the ?v= of versioned URLs
	ctype string
}

// assets serves the embedded static files. Index pages link them as
// name?v=<hash>: such a URL never changes content, so it may be cached
// for good; any other request is revalidated by ETag.
type assets struct {
	files map[string]*asset
}

func loadAssets() (*assets, error) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("web assets: %w", err)
	}
	as := &assets{files: make(map[string]*asset)}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:8])
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = http.DetectContentType(b)
		}
		as.files[p] = &asset{data: b, etag: `"` + h + `"`, hash: h, ctype: ct}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web assets: %w", err)
	}
	return as, nil
}

// url returns the versioned URL of an embedded file, for templates.
func (as *assets) url(name string) (string, error) {
	a := as.files[name]
	if a == nil {
		return "", fmt.Errorf("no asset %q", name)
	}
	return Prefix + "/assets/" + name + "?v=" + a.hash, nil
}

func (h *Handler) handleAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("path")
	a := h.assets.files[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	if r.URL.Query().Get("v") == a.hash {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
}
