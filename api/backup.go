package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/rooms"
)

// The backup channel (R10): when a session allows it, a bidder whose unlock
// failed may upload, inside the decryption window, the backup copy it sealed
// with its bid. The copy is accepted only if its SM3 is the backup digest
// committed with the bid before the deadline, so it cannot be a new bid; it
// is then unlocked like the bid itself (GET/POST .../unlock?backup=1).

// backupOwner ties a backup upload to one bidder of one session.
func backupOwner(room, bidder string) string { return uploadOwner(room, bidder) + "/backup" }

// backupBidder authenticates a bidder who may use the backup channel now.
func (a *handlers) backupBidder(c *gin.Context) (string, rooms.Actor, bool) {
	room, actor, ok := a.bidder(c)
	if !ok {
		return "", actor, false
	}
	if err := a.Svc.BackupOpen(c.Request.Context(), room, actor.Sub); err != nil {
		a.fail(c, err)
		return "", actor, false
	}
	return room, actor, true
}

func (a *handlers) createBackupUpload(c *gin.Context) {
	if room, actor, ok := a.backupBidder(c); ok {
		a.newUpload(c, backupOwner(room, actor.Sub))
	}
}

func (a *handlers) appendBackupUpload(c *gin.Context) {
	room, actor, ok := a.backupBidder(c)
	if !ok {
		return
	}
	if id, ok := a.uploadOwnedBy(c, backupOwner(room, actor.Sub)); ok {
		a.appendTo(c, room, actor, id)
	}
}

func (a *handlers) completeBackupUpload(c *gin.Context) {
	room, actor, ok := a.backupBidder(c)
	if !ok {
		return
	}
	id, ok := a.uploadOwnedBy(c, backupOwner(room, actor.Sub))
	if !ok {
		return
	}
	bid, _, err := a.Svc.BidOf(c.Request.Context(), room, actor.Sub)
	if err != nil {
		a.fail(c, err)
		return
	}
	digest, size, _, ok := a.completeSealed(c, room, actor, id)
	if !ok {
		return
	}
	if digest != bid.BackupDigest {
		apiError(c, http.StatusUnprocessableEntity, "backup_mismatch",
			"this file is not the backup committed with your bid before the deadline (its SM3 differs); upload the backup copy sealed with the bid")
		return
	}
	c.JSON(http.StatusOK, gin.H{"accepted": true, "digest": digest, "size": size})
}
