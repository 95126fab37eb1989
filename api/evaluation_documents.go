package api

import (
	"errors"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
)

// The bid documents of an evaluation: the decrypted file of each bid, the
// blob the opening stored when the bid was unlocked (its SM3 is the
// evaluation's plaintext_digest). The committee reads them in the page;
// nothing else of the evaluation is served this way.

// sniffBytes is how much of a document decides its type.
const sniffBytes = 512

// documentType names what the page may show in its viewer: a PDF, plain
// UTF-8 text, or anything else as bytes (which the page does not show).
func documentType(head []byte) (ctype, ext string) {
	if len(head) >= 5 && string(head[:5]) == "%PDF-" {
		return "application/pdf", "pdf"
	}
	if len(head) > 0 && utf8Prefix(head) {
		return "text/plain; charset=utf-8", "txt"
	}
	return "application/octet-stream", "bin"
}

// utf8Prefix reports whether b is UTF-8 text with no control characters
// but tabs and line breaks; a rune cut off at the end of b is allowed.
func utf8Prefix(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return !utf8.FullRune(b) && len(b) < utf8.UTFMax
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r == 0x7f {
			return false
		}
		b = b[n:]
	}
	return true
}

// committeeView is the evaluation room as a current committee member (once
// the evaluation started) or a supervisor sees it; anyone else — the admin
// who runs the draw, bidders, hosts, reserves, replaced members, other
// rooms' tokens — is refused without a name (what says what they asked).
func (a *handlers) committeeView(c *gin.Context, room, what string) (rooms.EvaluationView, bool) {
	actor, ok := a.actorFor(c, room)
	if !ok {
		return rooms.EvaluationView{}, false
	}
	if actor.Role != rooms.RoleExpert && actor.Role != rooms.RoleSupervisor {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, what)
		return rooms.EvaluationView{}, false
	}
	snap, err := a.Svc.Snapshot(c.Request.Context(), room, actor)
	if err != nil {
		a.fail(c, err)
		return rooms.EvaluationView{}, false
	}
	v, isEval := snap.View.(rooms.EvaluationView)
	if !isEval {
		apiError(c, http.StatusNotFound, rooms.CodeNotFound, room+" is not an evaluation")
		return rooms.EvaluationView{}, false
	}
	if actor.Role == rooms.RoleExpert && (v.You == nil || v.Phase == rooms.EvalDrawing || v.Phase == rooms.EvalFormed) {
		// Admits already refuses these; a second check where anything leaves.
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, actor.Sub+" is not a member of evaluation "+room+" (or it has not started)")
		return rooms.EvaluationView{}, false
	}
	return v, true
}

// evaluationDocument streams the decrypted bid file of bidder in
// evaluation id to a current committee member (once the evaluation
// started: the room admits no member before) or a supervisor. The admin
// who runs the draw, bidders, hosts, reserves, replaced members and other
// rooms' tokens are refused without a name; Range requests are served.
func (a *handlers) evaluationDocument(c *gin.Context) {
	room, bidder := c.Param("id"), c.Param("bidder")
	v, ok := a.committeeView(c, room, "the bid documents are for the evaluation committee and supervisors only (R21)")
	if !ok {
		return
	}
	var bid *rooms.EvalBid
	for i := range v.Bids {
		if v.Bids[i].Bidder == bidder {
			bid = &v.Bids[i]
		}
	}
	if bid == nil {
		apiError(c, http.StatusNotFound, rooms.CodeNotFound, "no bid of "+bidder+" in evaluation "+room)
		return
	}
	if bid.PlaintextDigest == "" {
		apiError(c, http.StatusNotFound, rooms.CodeNotFound, "the opening recorded no decrypted file for "+bidder)
		return
	}
	f, size, err := a.Blobs.Open(bid.PlaintextDigest)
	if errors.Is(err, blobs.ErrNotFound) {
		a.Logger.Error("evaluation document missing from the blob store", "room", room, "bidder", bidder, "digest", bid.PlaintextDigest)
		apiError(c, http.StatusNotFound, rooms.CodeNotFound, "the decrypted file of "+bidder+" is not in the store; ask the center's staff")
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	defer f.Close()
	head := make([]byte, min(size, sniffBytes))
	if _, err := io.ReadFull(f, head); err != nil {
		a.fail(c, err)
		return
	}
	ctype, ext := documentType(head)
	h := c.Writer.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", `inline; filename="`+bidder+`.`+ext+`"`) // bidder is a valid id: no quote
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Bid-Digest", bid.PlaintextDigest)
	// ServeContent seeks back to the start and answers Range requests.
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, f)
}
