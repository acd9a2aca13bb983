package mfahttp

import "net/http"

func (h *Handler) serveUI(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "the MFA UI is not built yet", http.StatusNotImplemented)
}
