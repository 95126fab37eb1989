package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
)

// Receipt is the platform's signed acknowledgement of a sealed bid (回执).
type Receipt struct {
	Session      string    `json:"session"`
	Bidder       string    `json:"bidder"`
	Digest       string    `json:"digest"`        // SM3 of the sealed file as received
	Size         int64     `json:"size"`          // its bytes
	HeaderDigest string    `json:"header_digest"` // SM3 of its header
	SignedDigest string    `json:"signed_digest"` // what the bidder's signature covers (SM3)
	ReceivedAt   time.Time `json:"received_at"`   // server time
}

// SignedReceipt is a receipt with the platform's SM2 signature (DER,
// base64). Signed is the exact JSON bytes signed, base64: what a verifier
// checks (JSON parsers do not keep bytes); Receipt is the same, to read.
type SignedReceipt struct {
	Receipt   Receipt `json:"receipt"`
	Signed    string  `json:"signed"`
	Signature string  `json:"signature"`
}

// uploadOwner ties an upload to one bidder of one session.
func uploadOwner(room, bidder string) string { return room + "/" + bidder }

// bidder authenticates a bidder of the room in the URL.
func (a *handlers) bidder(c *gin.Context) (string, rooms.Actor, bool) {
	room := c.Param("id")
	actor, ok := a.actorFor(c, room)
	if !ok {
		return "", actor, false
	}
	if actor.Role != rooms.RoleBidder {
		apiError(c, http.StatusForbidden, "forbidden", "only bidders submit bids")
		return "", actor, false
	}
	return room, actor, true
}

func (a *handlers) biddingOpen(c *gin.Context, room string) bool {
	if err := a.Svc.BiddingOpen(c.Request.Context(), room); err != nil {
		a.fail(c, err)
		return false
	}
	return true
}

// errNotRegistered: the bidder is not registered for the session.
var errNotRegistered = errors.New("not registered for this session")

// noKeyError: the bidder is registered but has no usable SM2 public key.
type noKeyError struct{ msg string }

func (e *noKeyError) Error() string { return e.msg }

// registeredKey returns the SM2 public key the bidder registered.
func (a *handlers) registeredKey(ctx context.Context, room, bidder string) (*decrypt.PublicKey, error) {
	pemKey, registered, err := a.Svc.BidderKey(ctx, room, bidder)
	switch {
	case err != nil:
		return nil, err
	case !registered:
		return nil, errNotRegistered
	case pemKey == "":
		return nil, &noKeyError{"no SM2 public key is registered for this bidder; ask the center to register it"}
	}
	key, err := decrypt.ParsePublicKeyPEM([]byte(pemKey))
	if err != nil {
		return nil, &noKeyError{"the registered public key cannot be read: " + err.Error()}
	}
	return key, nil
}

// bidderKey is registeredKey answering the request itself when there is
// no key.
func (a *handlers) bidderKey(c *gin.Context, room, bidder string) (*decrypt.PublicKey, bool) {
	key, err := a.registeredKey(c.Request.Context(), room, bidder)
	var noKey *noKeyError
	switch {
	case errors.Is(err, errNotRegistered):
		apiError(c, http.StatusNotFound, "not_found", "bidder "+bidder+" is not registered for this session")
	case errors.As(err, &noKey):
		apiError(c, http.StatusConflict, "no_key", noKey.msg)
	case err != nil:
		a.fail(c, err)
	}
	return key, err == nil
}

// ownUpload checks the upload id belongs to this bidder of this session.
func (a *handlers) ownUpload(c *gin.Context, room, bidder string) (string, bool) {
	return a.uploadOwnedBy(c, uploadOwner(room, bidder))
}

// uploadOwnedBy checks the upload id in the URL belongs to owner.
func (a *handlers) uploadOwnedBy(c *gin.Context, want string) (string, bool) {
	id := c.Param("upload")
	owner, err := a.Blobs.Owner(id)
	if err != nil || owner != want {
		apiError(c, http.StatusNotFound, "not_found", "no such upload")
		return "", false
	}
	return id, true
}

// openUpload authenticates the bidder for a step that changes their upload:
// only before the deadline, only on their own upload.
func (a *handlers) openUpload(c *gin.Context) (room string, actor rooms.Actor, id string, ok bool) {
	room, actor, ok = a.bidder(c)
	if !ok || !a.biddingOpen(c, room) {
		return "", actor, "", false
	}
	id, ok = a.ownUpload(c, room, actor.Sub)
	return room, actor, id, ok
}

func (a *handlers) createUpload(c *gin.Context) {
	room, actor, ok := a.bidder(c)
	if !ok || !a.biddingOpen(c, room) {
		return
	}
	if _, ok := a.bidderKey(c, room, actor.Sub); !ok {
		return
	}
	a.newUpload(c, uploadOwner(room, actor.Sub))
}

// newUpload answers a request {size} with a new resumable upload for owner.
func (a *handlers) newUpload(c *gin.Context, owner string) {
	var req struct {
		Size int64 `json:"size"`
	}
	if !bind(c, &req) {
		return
	}
	if req.Size <= 0 || req.Size > a.MaxBidBytes {
		apiError(c, http.StatusBadRequest, "invalid", fmt.Sprintf("size must be between 1 and %d bytes", a.MaxBidBytes))
		return
	}
	id, err := a.Blobs.CreateUpload(req.Size, owner)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"upload_id": id, "offset": 0, "size": req.Size})
}

func (a *handlers) uploadStatus(c *gin.Context) {
	room, actor, ok := a.bidder(c)
	if !ok {
		return
	}
	id, ok := a.ownUpload(c, room, actor.Sub)
	if !ok {
		return
	}
	off, err := a.Blobs.Offset(id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"upload_id": id, "offset": off})
}

// appendUpload streams the body into the upload at Upload-Offset; the body
// is never held in memory. An interrupted request keeps what arrived; the
// client asks for the offset and continues.
func (a *handlers) appendUpload(c *gin.Context) {
	room, actor, id, ok := a.openUpload(c)
	if !ok {
		return
	}
	a.appendTo(c, room, actor, id)
}

// appendTo streams the request body into upload id at Upload-Offset.
func (a *handlers) appendTo(c *gin.Context, room string, actor rooms.Actor, id string) {
	off, err := strconv.ParseInt(c.GetHeader("Upload-Offset"), 10, 64)
	if err != nil || off < 0 {
		apiError(c, http.StatusBadRequest, "invalid", "the Upload-Offset header must give the byte offset this part starts at")
		return
	}
	n, err := a.Blobs.Append(id, off, c.Request.Body)
	switch {
	case errors.Is(err, blobs.ErrOffsetMismatch):
		apiError(c, http.StatusConflict, "offset_mismatch", fmt.Sprintf("the server has %d bytes of this upload; continue from there", n))
	case errors.Is(err, blobs.ErrTooLarge):
		apiError(c, http.StatusRequestEntityTooLarge, "too_large", "the upload is larger than the size it was created with")
	case err != nil:
		a.Logger.Warn("bid upload interrupted", "room", room, "bidder", actor.Sub, "offset", n, "err", err)
		apiError(c, http.StatusBadRequest, "interrupted", fmt.Sprintf("the upload stopped at byte %d; continue from there", n))
	default:
		c.JSON(http.StatusOK, gin.H{"upload_id": id, "offset": n})
	}
}

// completeUpload checks the finished file is a sealed bid for this session
// by this bidder, signed with the bidder's registered key (R3), records it
// and returns the platform's signed receipt.
func (a *handlers) completeUpload(c *gin.Context) {
	room, actor, id, ok := a.openUpload(c)
	if !ok {
		return
	}
	var req struct {
		BackupDigest string `json:"backup_digest"` // SM3 of the separately sealed backup copy (R10), optional
	}
	if c.Request.ContentLength != 0 && !bind(c, &req) {
		return
	}
	digest, size, sum, ok := a.completeSealed(c, room, actor, id)
	if !ok {
		return
	}
	hd := sum.Header.Digest()
	b := rooms.Bid{Bidder: actor.Sub, Digest: digest, Size: size, HeaderDigest: hex.EncodeToString(hd[:]), BackupDigest: req.BackupDigest}
	data, _ := json.Marshal(b)
	res, err := a.Svc.Execute(c.Request.Context(), room, actor, rooms.Command{ID: "bid:" + digest, Type: rooms.CmdSubmitBid, Data: data})
	if err != nil {
		a.fail(c, err)
		return
	}
	receipt := Receipt{Session: room, Bidder: actor.Sub, Digest: digest, Size: size, HeaderDigest: b.HeaderDigest,
		SignedDigest: hex.EncodeToString(sum.Digest[:]), ReceivedAt: a.Svc.Now()}
	if evs := a.Svc.CachedAfter(room, res.First-1); len(evs) > 0 && evs[0].Type == rooms.EvBidSubmitted {
		receipt.ReceivedAt = evs[0].Time // the time in the log, also on a retried completion
	}
	signed, err := a.signReceipt(receipt)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, signed)
}

// completeSealed finishes upload id and checks the file is a sealed bid for
// this session by this bidder, signed with the bidder's registered key (R3).
func (a *handlers) completeSealed(c *gin.Context, room string, actor rooms.Actor, id string) (string, int64, *decrypt.Summary, bool) {
	key, ok := a.bidderKey(c, room, actor.Sub)
	if !ok {
		return "", 0, nil, false
	}
	digest, size, err := a.Blobs.Complete(id)
	if err != nil {
		a.fail(c, err)
		return "", 0, nil, false
	}
	f, _, err := a.Blobs.Open(digest)
	if err != nil {
		a.fail(c, err)
		return "", 0, nil, false
	}
	sum, err := decrypt.Inspect(f, key)
	f.Close()
	if err != nil {
		apiError(c, http.StatusUnprocessableEntity, "bad_bid", badBidMessage(err))
		return "", 0, nil, false
	}
	if sum.Header.SessionID != room || sum.Header.BidderID != actor.Sub {
		apiError(c, http.StatusUnprocessableEntity, "bad_bid", fmt.Sprintf(
			"this bid was sealed for session %q and bidder %q, not for this session and you; seal it again", sum.Header.SessionID, sum.Header.BidderID))
		return "", 0, nil, false
	}
	return digest, size, sum, true
}

func (a *handlers) signReceipt(r Receipt) (SignedReceipt, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return SignedReceipt{}, err
	}
	sig, err := a.Platform.Sign(body)
	if err != nil {
		return SignedReceipt{}, fmt.Errorf("sign receipt: %w", err)
	}
	return SignedReceipt{Receipt: r, Signed: base64.StdEncoding.EncodeToString(body), Signature: base64.StdEncoding.EncodeToString(sig)}, nil
}

// badBidMessage turns a format error into advice for the bidder.
func badBidMessage(err error) string {
	switch {
	case errors.Is(err, decrypt.ErrSignature):
		return "the bid's signature does not match your registered key: seal it with the key registered for you"
	case errors.Is(err, decrypt.ErrVersion):
		return "the bid was sealed with an unsupported format version: update bidtool and seal it again"
	case errors.Is(err, decrypt.ErrTruncated):
		return "the file is incomplete: upload it again"
	case errors.Is(err, decrypt.ErrFormat), errors.Is(err, decrypt.ErrTampered):
		return "the file is not a sealed bid (unencrypted bids are refused): seal it with bidtool"
	}
	return "the file cannot be read as a sealed bid: " + err.Error()
}

func (a *handlers) withdrawBid(c *gin.Context) {
	room, actor, ok := a.bidder(c)
	if !ok {
		return
	}
	res, err := a.Svc.Execute(c.Request.Context(), room, actor, rooms.Command{ID: "withdraw:" + idempotencyKey(c), Type: rooms.CmdWithdrawBid})
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"withdrawn": true, "duplicate": res.Duplicate})
}

func (a *handlers) platformKey(c *gin.Context) {
	pemKey, err := a.Platform.Public().MarshalPEM()
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/x-pem-file", pemKey)
}
