package passkey

import (
	"bytes"
	"encoding/json"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// The ceremony a session blob was made for.
const (
	ceremonyRegistration = "registration"
	ceremonyLogin        = "login"
)

// sessionVersion is the version of the session blob's layout. A blob of
// another version is refused with ErrSession; sessions live minutes, so a
// change of layout costs at most the ceremonies under way.
const sessionVersion = 1

// session is the blob Begin* return: go-webauthn's SessionData, which holds
// the challenge, the user handle, the allowed credential IDs and the user
// verification requirement, tagged with the ceremony it belongs to so that
// a registration's session cannot finish a login.
type session struct {
	Version  int                  `json:"v"`
	Ceremony string               `json:"ceremony"`
	Data     webauthn.SessionData `json:"data"`
}

func encodeSession(ceremony string, data *webauthn.SessionData) ([]byte, error) {
	return json.Marshal(session{Version: sessionVersion, Ceremony: ceremony, Data: *data})
}

// decodeSession parses a session blob and checks that it was made by
// Begin* of this ceremony, for this user and this relying party.
func (v *Verifier) decodeSession(blob []byte, ceremony string, user User) (webauthn.SessionData, error) {
	var s session
	if len(blob) == 0 {
		return s.Data, newError(ErrSession, "empty session")
	}
	if err := json.Unmarshal(blob, &s); err != nil {
		return s.Data, newError(ErrSession, "not a session blob")
	}
	switch {
	case s.Version != sessionVersion:
		return s.Data, newError(ErrSession, "session layout %d, not %d", s.Version, sessionVersion)
	case s.Ceremony != ceremony:
		return s.Data, newError(ErrSession, "a %s session, not a %s one", s.Ceremony, ceremony)
	case s.Data.Challenge == "":
		return s.Data, newError(ErrSession, "session without a challenge")
	case !bytes.Equal(s.Data.UserID, user.ID):
		return s.Data, newError(ErrSession, "session of another user")
	case s.Data.RelyingPartyID != v.wa.Config.RPID:
		return s.Data, newError(ErrSession, "session of another relying party ID")
	case s.Data.Origin != "":
		return s.Data, newError(ErrSession, "session bound to an origin")
	}
	// The requirement recorded in the session is the one the browser was
	// given; a configuration that requires user verification requires it
	// of sessions begun before it took effect too.
	if v.uv == protocol.VerificationRequired {
		s.Data.UserVerification = protocol.VerificationRequired
	}
	return s.Data, nil
}
