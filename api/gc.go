package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/blobgc"
	"github.com/bidroom/bidroom/rooms"
)

// gcProgressEvery is how often a garbage collection's answer says how far
// it got: often enough that a long one is seen to move, and that no proxy
// takes the connection for idle.
const gcProgressEvery = 2 * time.Second

// collectBlobs answers POST /api/v1/blobs/gc (the admin API key only): one
// garbage collection of the blob store now — the idle uploads and the
// blobs no room's log names (package blobgc) — or with ?dry_run=1 what
// one would remove. The answer streams JSON lines as the run goes:
// {"progress": …} at once and every 2 s, then {"report": …}, or
// {"error": …, "report": …} (what it did before) when the run failed
// after it started. A collection already
// running (the periodic one) is a 409 before anything is streamed.
// Closing the connection stops the run.
func (a *handlers) collectBlobs(c *gin.Context) {
	if !adminScope(c).Root {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, "the blob store is the platform's: only the admin API key collects its garbage")
		return
	}
	if a.GC == nil {
		apiError(c, http.StatusServiceUnavailable, "unavailable", "this server has no blob garbage collector")
		return
	}
	dry := false
	switch c.Query("dry_run") {
	case "", "0", "false":
	case "1", "true":
		dry = true
	default:
		apiError(c, http.StatusBadRequest, "invalid", "dry_run must be 1 or 0")
		return
	}
	w := c.Writer
	enc := json.NewEncoder(w)
	started := false
	start := func() {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
		}
	}
	var last time.Time
	report, err := a.GC.Run(c.Request.Context(), dry, func(p blobgc.Progress) {
		start()
		if now := time.Now(); now.Sub(last) >= gcProgressEvery {
			last = now
			_ = enc.Encode(gin.H{"progress": p})
			w.Flush()
		}
	})
	if errors.Is(err, blobgc.ErrBusy) && !started {
		apiError(c, http.StatusConflict, "busy", "a garbage collection is running already (the periodic one, or another admin's); try again when it ends")
		return
	}
	start()
	if err != nil {
		// The detail is in the server's log (Run logs it), as for any server error.
		_ = enc.Encode(gin.H{"error": gin.H{"code": "server_error", "message": "the garbage collection stopped: the reason is in the server's log"}, "report": report})
		return
	}
	_ = enc.Encode(gin.H{"report": report})
}
