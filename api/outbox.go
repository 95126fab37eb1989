package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/rooms"
)

// The outbox over REST (admin key): what the server pushed to the
// provincial platform and alerted to supervisors, and how each delivery
// went. The outbox room's log is the record (rooms/outbox.go); package
// push writes it.

// Bounds of GET /api/v1/outbox.
const (
	defaultOutboxItems = 50
	maxOutboxItems     = 200
)

// getOutbox answers the outbox's counts (documents; deliveries pending,
// delivered and failed) and its latest documents, newest first, with their
// targets and latest attempts; ?limit=1..200 (default 50). Before the
// first document (or with push off) the counts are zero.
func (a *handlers) getOutbox(c *gin.Context) {
	n := defaultOutboxItems
	if s := c.Query("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxOutboxItems {
			apiError(c, http.StatusBadRequest, rooms.CodeInvalid, "limit must be a number from 1 to 200")
			return
		}
		n = v
	}
	v, err := a.Svc.OutboxLatest(c.Request.Context(), rooms.OutboxRoom, adminActor, n)
	if rooms.RefusalCode(err) == rooms.CodeNotFound {
		v, err = rooms.OutboxView{Room: rooms.OutboxRoom, Items: []rooms.OutboxItem{}}, nil
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}
