package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"path"
	"strings"
	"time"
)

// docsFiles are the assets of /docs, embedded so the page works offline and
// loads nothing from a CDN. swagger-ui-bundle.js, swagger-ui.css and the
// license files are copied unchanged from the npm package swagger-ui-dist
// 5.35.0 (Apache-2.0; `npm pack swagger-ui-dist@5.35.0`); index.html and
// init.js are ours.
//
//go:embed docs
var docsFiles embed.FS

// docsAsset is one file of the docs site, ready to serve.
type docsAsset struct {
	body         []byte
	contentType  string
	etag         string
	cacheControl string
}

// docsSite serves the interactive API documentation: Swagger UI reading
// /openapi.json, with "try it" calls authorised by a bearer token.
type docsSite struct {
	index  docsAsset
	assets map[string]docsAsset // by file name under /docs/
}

// Assets are named in index.html with a version parameter that changes
// whenever their content does, so browsers may keep them for a year; the
// page itself is revalidated on every visit (cheaply, by ETag).
const (
	docsAssetCache = "public, max-age=31536000, immutable"
	docsIndexCache = "no-cache"
)

// newDocsSite loads the embedded assets. It panics only if the embedded
// files are broken, which the package's tests would already have shown.
func newDocsSite() *docsSite {
	s := &docsSite{assets: make(map[string]docsAsset)}
	for _, name := range []string{
		"swagger-ui-bundle.js", "swagger-ui.css", "init.js",
		"LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt",
	} {
		body, err := docsFiles.ReadFile("docs/" + name)
		if err != nil {
			panic("httpapi: embedded docs asset missing: " + err.Error())
		}
		s.assets[name] = newDocsAsset(name, body, docsAssetCache)
	}

	tmpl, err := template.ParseFS(docsFiles, "docs/index.html")
	if err != nil {
		panic("httpapi: embedded docs page broken: " + err.Error())
	}
	versioned := func(name string) string {
		return "/docs/" + name + "?v=" + strings.Trim(s.assets[name].etag, `"`)[:12]
	}
	var page bytes.Buffer
	err = tmpl.Execute(&page, struct{ CSS, Bundle, Init string }{
		CSS:    versioned("swagger-ui.css"),
		Bundle: versioned("swagger-ui-bundle.js"),
		Init:   versioned("init.js"),
	})
	if err != nil {
		panic("httpapi: embedded docs page broken: " + err.Error())
	}
	s.index = newDocsAsset("index.html", page.Bytes(), docsIndexCache)
	s.assets["index.html"] = s.index
	return s
}

func newDocsAsset(name string, body []byte, cacheControl string) docsAsset {
	sum := sha256.Sum256(body)
	return docsAsset{
		body:         body,
		contentType:  docsContentType(name),
		etag:         `"` + hex.EncodeToString(sum[:16]) + `"`,
		cacheControl: cacheControl,
	}
}

// docsContentType names the type of an asset; set explicitly because
// mime.TypeByExtension depends on the host's MIME tables.
func docsContentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	}
	return "text/plain; charset=utf-8"
}

// serveIndex serves the documentation page at /docs.
func (s *docsSite) serveIndex(w http.ResponseWriter, r *http.Request) {
	s.index.serve(w, r)
}

// serve serves /docs/ (the page) and the assets under it.
func (s *docsSite) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/docs/")
	if name == "" {
		s.index.serve(w, r)
		return
	}
	a, ok := s.assets[name]
	if !ok {
		writeOpsProblem(w, r, http.StatusNotFound, "no such documentation file")
		return
	}
	a.serve(w, r)
}

// serve writes the asset, answering If-None-Match with 304 and Range
// requests with the part asked for.
func (a docsAsset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", a.cacheControl)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
