package mfahttp

import (
	"context"
	"net/http"
)

// SessionFrom returns the session that a handler behind [Handler.RequireMFA]
// or [Handler.RequireMFAToken] was let through with.
func SessionFrom(ctx context.Context) (Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(Session)
	return s, ok
}

// RequireMFA lets a request through only when its session has completed
// MFA (account-based MFA): no session is 401 "unauthenticated", a session
// still holding mfa.ScopeRequiresAdditionalAuth is 401 "mfa_required".
func (h *Handler) RequireMFA(next http.Handler) http.Handler {
	return h.withSession(func(w http.ResponseWriter, r *http.Request, s Session) {
		if needsMFA(s) {
			h.writeError(w, r, errMFARequired)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RequireMFAToken guards a sensitive action (action-based MFA): when
// mfa.MFA.IsMFARequiredForAction says the action needs MFA, the request
// must carry a valid MFA token with the action's scope in the
// X-Mfa-Auth-Token header; a single-use token is consumed. Without one the
// answer is 403 with code mfa_token_required, mfa_token_invalid or
// mfa_token_expired. Cross-origin requests are refused too, since the
// action changes state.
func (h *Handler) RequireMFAToken(action string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return h.withSession(func(w http.ResponseWriter, r *http.Request, s Session) {
			if err := h.cop.Check(r); err != nil {
				h.writeError(w, r, errCrossOrigin)
				return
			}
			if needsMFA(s) {
				h.writeError(w, r, errMFARequired)
				return
			}
			required, err := h.m.IsMFARequiredForAction(r.Context(), s.UserID, action)
			if err != nil {
				h.writeError(w, r, err)
				return
			}
			if required {
				scope, _ := h.m.ActionScope(action)
				if _, err := h.m.ValidateMFAToken(r.Context(), s.UserID, r.Header.Get(TokenHeader), scope); err != nil {
					h.writeError(w, r, err)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
