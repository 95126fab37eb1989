// Package web serves Bidroom's browser UI: static pages embedded in the
// binary, so the server needs no build step and no files beside it.
package web

// The in-browser unlock (cmd/bidwasm) is compiled to WebAssembly and
// committed, so running the server needs no extra toolchain step; a test
// checks the committed file matches the code. Rebuild with go generate ./web.
//go:generate sh -c "GOOS=js GOARCH=wasm go build -trimpath -ldflags='-s -w' -o static/unlock.wasm ../cmd/bidwasm && cp \"$(go env GOROOT)/lib/wasm/wasm_exec.js\" static/wasm_exec.js"

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// Handler serves the UI's files; unknown paths get index.html so pages can
// be linked to directly. styles are CSP sources ('sha256-…') of the inline
// styles of pages the UI opens from blobs it made of fetched HTML (the
// printable opening record and evaluation report): such a document keeps
// the UI's policy, so these styles, and no others, are allowed.
func Handler(styles ...string) http.Handler {
	styleSrc := strings.Join(append([]string{"'self'"}, styles...), " ")
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		// frame-src blob: lets the evaluation page (eval.js) show a bid
		// document it fetched with the member's token — a PDF or text blob it
		// made itself — in its viewer frame; no other origin is ever framed.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src "+styleSrc+"; script-src 'self' 'wasm-unsafe-eval'; frame-src 'self' blob:")
		if _, err := fs.Stat(sub, trim(r.URL.Path)); err != nil {
			r.URL.Path = "/"
		}
		files.ServeHTTP(w, r)
	})
}

func trim(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	if p == "" {
		return "."
	}
	return p
}
