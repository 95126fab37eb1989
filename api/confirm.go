package api

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/rooms"
)

// Confirming the read-out with a signature (R14): the bidder's client signs
// rooms.ConfirmationMessage (session, bidder, the read-out's SM3 digest)
// with the key registered for them; the server verifies it and records the
// confirmation with the signature, so the record carries proof a bidder
// cannot later deny.

// ConfirmChallenge is what a bidder's client signs to confirm.
type ConfirmChallenge struct {
	Message string `json:"message"`
	Digest  string `json:"digest"` // the read-out's SM3
	KeyID   string `json:"key_id"` // the registered key's id: a client tells a wrong key before sending
}

// readOutDigest returns the digest of the room's read-out, or answers the
// request itself when there is none yet.
func (a *handlers) readOutDigest(c *gin.Context, room string, actor rooms.Actor) (string, bool) {
	v, ok := a.openingView(c, room, actor)
	if !ok {
		return "", false
	}
	if v.ReadOut == nil {
		apiError(c, http.StatusConflict, "wrong_state", "nothing to confirm yet: the read-out has not happened")
		return "", false
	}
	return v.ReadOut.Digest, true
}

func (a *handlers) confirmChallenge(c *gin.Context) {
	room, actor, ok := a.bidder(c)
	if !ok {
		return
	}
	key, ok := a.bidderKey(c, room, actor.Sub)
	if !ok {
		return
	}
	digest, ok := a.readOutDigest(c, room, actor)
	if !ok {
		return
	}
	id := key.ID()
	c.JSON(http.StatusOK, ConfirmChallenge{Message: rooms.ConfirmationMessage(room, actor.Sub, digest), Digest: digest, KeyID: hex.EncodeToString(id[:])})
}

// maxSignatureB64 bounds a base64 SM2 signature (DER, at most 72 bytes).
const maxSignatureB64 = 256

func (a *handlers) confirmSigned(c *gin.Context) {
	room, actor, ok := a.bidder(c)
	if !ok {
		return
	}
	var req struct {
		Signature string `json:"signature"`
	}
	if !bind(c, &req) {
		return
	}
	sig, err := base64.StdEncoding.DecodeString(req.Signature)
	if err != nil || len(req.Signature) > maxSignatureB64 || len(sig) == 0 {
		apiError(c, http.StatusBadRequest, "invalid", "signature must be a base64 SM2 signature (DER)")
		return
	}
	key, ok := a.bidderKey(c, room, actor.Sub)
	if !ok {
		return
	}
	digest, ok := a.readOutDigest(c, room, actor)
	if !ok {
		return
	}
	if err := key.Verify([]byte(rooms.ConfirmationMessage(room, actor.Sub, digest)), sig); err != nil {
		apiError(c, http.StatusForbidden, "bad_signature",
			"the signature does not verify with your registered key over the current read-out; sign again with your own key file")
		return
	}
	id := key.ID()
	data, _ := json.Marshal(rooms.Confirmation{Digest: digest, KeyID: hex.EncodeToString(id[:]), Signature: req.Signature})
	if _, err := a.Svc.Execute(c.Request.Context(), room, actor, rooms.Command{ID: "confirm:" + actor.Sub, Type: rooms.CmdRecordConfirmation, Data: data}); err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"confirmed": true, "digest": digest})
}
