package mfahttp

import (
	"context"
	"fmt"
	"net/http"
)

// SessionFrom returns the session that a handler behind [Handler.RequireMFA]
// or [Handler.RequireMFAToken] was let through with.
func SessionFrom(ctx context.Context) (Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(Session)
	return s, ok
}

// sameOrigin refuses a cross-origin request that may change state with 403
// cross_origin, before anything looks at the session. Safe methods (GET,
// HEAD, OPTIONS) pass, as [http.CrossOriginProtection] lets them.
func (h *Handler) sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.cop.Check(r); err != nil {
			h.writeError(w, r, errCrossOrigin)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RequireMFA lets a request through only when its session has completed
// MFA (account-based MFA): no session is 401 "unauthenticated", a session
// still holding mfa.ScopeRequiresAdditionalAuth is 401 "mfa_required".
// Cross-origin requests with a method that may change state are refused
// with 403 "cross_origin".
func (h *Handler) RequireMFA(next http.Handler) http.Handler {
	return h.sameOrigin(h.withSession(func(w http.ResponseWriter, r *http.Request, s Session) {
		if needsMFA(s) {
			h.writeError(w, r, errMFARequired)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// RequireMFAToken guards a sensitive action (action-based MFA) with
// mfa.MFA.AuthorizeAction: when the action's policy needs MFA for the
// session's user, the request must carry an MFA token with the action's
// scope in the X-Mfa-Auth-Token header, younger than the policy's
// MaxTokenAge; the token is consumed unless the policy is Persistent.
// Without one the answer is 403 with code mfa_token_required,
// mfa_token_invalid or mfa_token_expired. Cross-origin requests are
// refused too, since the action changes state.
//
// The action must be named in mfa.Config.Actions or be built in;
// RequireMFAToken panics if it is neither, since a misspelt action would
// otherwise leave the route unprotected.
func (h *Handler) RequireMFAToken(action string) func(http.Handler) http.Handler {
	if _, ok := h.m.ActionScope(action); !ok {
		panic(fmt.Sprintf("mfahttp: RequireMFAToken(%q): action has no policy in mfa.Config.Actions", action))
	}
	return func(next http.Handler) http.Handler {
		return h.sameOrigin(h.withSession(func(w http.ResponseWriter, r *http.Request, s Session) {
			if needsMFA(s) {
				h.writeError(w, r, errMFARequired)
				return
			}
			if _, err := h.m.AuthorizeAction(r.Context(), s.UserID, action, r.Header.Get(TokenHeader)); err != nil {
				h.writeError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		}))
	}
}
