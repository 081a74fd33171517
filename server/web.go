package server

import (
	_ "embed"
	"net/http"
)

// page is the chat page: it streams /v1/chat/completions and colours each
// token by the depth of the draft that produced it (the "s4c" field of
// each chunk), with τ live.
//
//go:embed web/index.html
var pageHTML []byte

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(pageHTML)
}
