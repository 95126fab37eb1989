package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// The unlock exchange (remote decryption, step 5 of the flow): the bidder's
// client fetches its wrapped data key, unwraps it locally with its private
// key (which never leaves the bidder's machine), and returns the data key
// encrypted to the platform key. The server then decrypts the bid
// streaming, verifies every chunk and the signature, keeps the plaintext
// content-addressed, and records the opening sheet as an event.

// unlockLocks serializes unlock attempts per bid on this instance, so
// concurrent clients do not decrypt the same bid twice; the log's
// record-once rule covers other instances.
type unlockLocks struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (u *unlockLocks) lock(key string) func() {
	u.mu.Lock()
	if u.locks == nil {
		u.locks = map[string]*sync.Mutex{}
	}
	m := u.locks[key]
	if m == nil {
		m = &sync.Mutex{}
		u.locks[key] = m
	}
	u.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// UnlockChallenge is what a bidder's client needs to unlock its bid.
type UnlockChallenge struct {
	WrappedKey  string `json:"wrapped_key"`  // base64 DER (GM/T 0009) of the data key wrapped to the bidder
	PlatformKey string `json:"platform_key"` // PEM: the session's platform key; encrypt the data key to this
	Digest      string `json:"digest"`       // SM3 of the sealed bid being unlocked
	Opened      bool   `json:"opened"`       // already unlocked: a POST returns the recorded result
}

func (a *handlers) unlockChallenge(c *gin.Context) {
	room, actor, ok := a.bidder(c)
	if !ok {
		return
	}
	bid, opened, err := a.Svc.BidOf(c.Request.Context(), room, actor.Sub)
	if err != nil {
		a.fail(c, err)
		return
	}
	if opened == nil { // after a success the challenge stays available, so a retrying client gets its answer
		if err := a.Svc.UnlockOpen(c.Request.Context(), room, actor.Sub); err != nil {
			a.fail(c, err)
			return
		}
	}
	digest, ok := a.unlockFile(c, room, actor, bid, c.Query("backup") == "1")
	if !ok {
		return
	}
	f, _, err := a.Blobs.Open(digest)
	if err != nil {
		a.fail(c, err)
		return
	}
	h, err := decrypt.ReadHeader(f)
	f.Close()
	if err != nil {
		a.fail(c, fmt.Errorf("read header of stored bid %s: %w", bid.Digest, err))
		return
	}
	sessionKey, err := a.Platform.Derive(room)
	if err != nil {
		a.fail(c, err)
		return
	}
	pemKey, err := sessionKey.Public().MarshalPEM()
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, UnlockChallenge{WrappedKey: base64.StdEncoding.EncodeToString(h.WrappedKey),
		PlatformKey: string(pemKey), Digest: digest, Opened: opened != nil})
}

// unlockFile picks the sealed file an unlock works on: the bid, or with
// backup its backup copy, which must be allowed now and uploaded already.
func (a *handlers) unlockFile(c *gin.Context, room string, actor rooms.Actor, bid *rooms.Bid, backup bool) (string, bool) {
	if !backup {
		return bid.Digest, true
	}
	if err := a.Svc.BackupOpen(c.Request.Context(), room, actor.Sub); err != nil {
		a.fail(c, err)
		return "", false
	}
	if f, _, err := a.Blobs.Open(bid.BackupDigest); err != nil {
		apiError(c, http.StatusConflict, "no_backup", "upload the backup file first")
		return "", false
	} else {
		f.Close()
	}
	return bid.BackupDigest, true
}

// unlockResult is the answer to an unlock: the opening sheet as sealed.
type unlockResult struct {
	Opened          bool              `json:"opened"`
	Duplicate       bool              `json:"duplicate,omitempty"`
	Sheet           map[string]string `json:"sheet"`
	PlaintextDigest string            `json:"plaintext_digest"`
	PlaintextSize   int64             `json:"plaintext_size"`
}

func (a *handlers) unlock(c *gin.Context) {
	room, actor, ok := a.bidder(c)
	if !ok {
		return
	}
	var req struct {
		EncryptedKey string `json:"encrypted_key"`
		Backup       bool   `json:"backup"` // unlock the uploaded backup copy (R10)
	}
	if !bind(c, &req) {
		return
	}
	// Once started, an attempt is finished and recorded even if the client
	// goes away: the outcome is evidence (R9).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 30*time.Minute)
	defer cancel()
	defer a.unlocks.lock(room + "/" + actor.Sub)()
	bid, opened, err := a.Svc.BidOf(ctx, room, actor.Sub)
	if err != nil {
		a.fail(c, err)
		return
	}
	if opened != nil { // a retry after success: the same answer, nothing done twice
		c.JSON(http.StatusOK, unlockResult{Opened: true, Duplicate: true, Sheet: opened.Sheet,
			PlaintextDigest: opened.PlaintextSHA, PlaintextSize: opened.PlaintextBytes})
		return
	}
	if err := a.Svc.UnlockOpen(ctx, room, actor.Sub); err != nil {
		a.fail(c, err)
		return
	}
	digest, ok := a.unlockFile(c, room, actor, bid, req.Backup)
	if !ok {
		return
	}
	outcome := a.decryptBid(ctx, room, actor.Sub, digest, req.EncryptedKey)
	outcome.Backup = req.Backup
	cmdID := "unlock:ok"
	if !outcome.OK {
		cmdID = "unlock:" + uuid.NewString()
	}
	data, _ := json.Marshal(outcome)
	if _, err := a.Svc.Execute(ctx, room, actor, rooms.Command{ID: cmdID, Type: rooms.CmdRecordUnlock, Data: data}); err != nil {
		a.fail(c, err)
		return
	}
	if !outcome.OK {
		status := http.StatusUnprocessableEntity
		if outcome.Code == "server_error" {
			status = http.StatusInternalServerError
		}
		apiError(c, status, outcome.Code, outcome.Message)
		return
	}
	c.JSON(http.StatusOK, unlockResult{Opened: true, Sheet: outcome.Sheet, PlaintextDigest: outcome.PlaintextSHA, PlaintextSize: outcome.PlaintextBytes})
}

// decryptBid runs the server side of one attempt and says how it went, in
// the words recorded as evidence (R9: whose fault a failure is).
func (a *handlers) decryptBid(ctx context.Context, room, bidder, digest, encryptedKey string) rooms.Unlock {
	fail := func(code, msg string) rooms.Unlock {
		return rooms.Unlock{Bidder: bidder, Code: code, Message: msg}
	}
	ct, err := base64.StdEncoding.DecodeString(encryptedKey)
	if err != nil || len(ct) == 0 || len(ct) > 1024 {
		return fail("bad_exchange", "encrypted_key must be the base64 SM2 ciphertext of the data key")
	}
	sessionKey, err := a.Platform.Derive(room)
	if err != nil {
		return fail("server_error", "the session key cannot be derived")
	}
	raw, err := sessionKey.Decrypt(ct)
	if err != nil || len(raw) != len(decrypt.DataKey{}) {
		return fail("bad_exchange", "encrypted_key is not the data key encrypted to this session's platform key")
	}
	var dk decrypt.DataKey
	copy(dk[:], raw)
	key, err := a.registeredKey(ctx, room, bidder)
	if err != nil {
		return fail("server_error", "the bidder's registered key cannot be read")
	}
	f, _, err := a.Blobs.Open(digest)
	if err != nil {
		a.Logger.Error("unlock: open stored bid", "room", room, "bidder", bidder, "err", err)
		return fail("server_error", "the stored bid cannot be read")
	}
	defer f.Close()
	h, err := decrypt.ReadHeader(f)
	if err != nil {
		return fail("corrupted", "the stored bid's header cannot be read: "+err.Error())
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail("server_error", "the stored bid cannot be read")
	}
	upload, err := a.Blobs.CreateUpload(max(h.Size, 1), "plaintext/"+room+"/"+bidder)
	if err != nil {
		return fail("server_error", "no room to store the decrypted bid")
	}
	// Decrypt into the blob store through a pipe: constant memory, any size.
	pr, pw := io.Pipe()
	stored := make(chan error, 1)
	go func() {
		_, err := a.Blobs.Append(upload, 0, pr)
		_ = pr.CloseWithError(err)
		stored <- err
	}()
	sheet, _, openErr := decrypt.OpenWithDataKey(pw, f, dk, key)
	_ = pw.CloseWithError(openErr)
	storeErr := <-stored
	if openErr != nil {
		_ = a.Blobs.Abort(upload)
		switch {
		case errors.Is(openErr, decrypt.ErrWrongKey):
			return fail("wrong_key", "the data key does not open this bid: unwrap it with the key the bid was sealed to")
		case errors.Is(openErr, decrypt.ErrTampered), errors.Is(openErr, decrypt.ErrTruncated),
			errors.Is(openErr, decrypt.ErrFormat), errors.Is(openErr, decrypt.ErrSignature):
			a.Logger.Error("unlock: stored bid fails verification", "room", room, "bidder", bidder, "err", openErr)
			return fail("corrupted", "the stored bid fails verification: "+openErr.Error())
		}
		a.Logger.Error("unlock: decrypt", "room", room, "bidder", bidder, "err", openErr)
		return fail("server_error", "the server could not decrypt the bid")
	}
	if storeErr != nil {
		_ = a.Blobs.Abort(upload)
		a.Logger.Error("unlock: store plaintext", "room", room, "bidder", bidder, "err", storeErr)
		return fail("server_error", "the server could not store the decrypted bid")
	}
	digest, size, err := a.Blobs.Complete(upload)
	if err != nil {
		return fail("server_error", "the server could not store the decrypted bid")
	}
	var fields map[string]string
	sb, _ := json.Marshal(sheet)
	_ = json.Unmarshal(sb, &fields)
	return rooms.Unlock{Bidder: bidder, OK: true, Sheet: fields, PlaintextSHA: digest, PlaintextBytes: size}
}

// reportUnlockFailure records a failure that happened in the bidder's own
// client before anything reached the server (the key does not unwrap the
// bid's data key, the key file is not a key, a wrong password): it is
// evidence for classifying a bid that was never unlocked (R9).
func (a *handlers) reportUnlockFailure(c *gin.Context) {
	room, actor, ok := a.bidder(c)
	if !ok {
		return
	}
	var req struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if !bind(c, &req) {
		return
	}
	if !rooms.ClientUnlockCodes[req.Code] {
		apiError(c, http.StatusBadRequest, "invalid", "code must be one of wrong_key, bad_key, wrong_password, timeout, client_error")
		return
	}
	msg := []rune(req.Message)
	if len(msg) > 300 {
		msg = msg[:300]
	}
	data, _ := json.Marshal(rooms.Unlock{Bidder: actor.Sub, Code: req.Code, Message: "reported by the bidder's client: " + string(msg), Reported: true})
	if _, err := a.Svc.Execute(c.Request.Context(), room, actor, rooms.Command{ID: "unlock-report:" + uuid.NewString(), Type: rooms.CmdRecordUnlock, Data: data}); err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"recorded": true})
}
