package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// maxClockAdvance bounds one move of a movable clock.
const maxClockAdvance = 400 * 24 * time.Hour

// advanceClock moves a test server's clock forward (testing.movable_clock):
// POST /api/v1/testing/clock {"advance": "72h"} with the admin key. A
// server without a movable clock answers 404, as for any unknown path.
func (a *handlers) advanceClock(c *gin.Context) {
	if a.AdvanceClock == nil {
		apiError(c, http.StatusNotFound, "not_found", "this server's clock cannot be moved (testing.movable_clock is off)")
		return
	}
	var body struct {
		Advance string `json:"advance"`
	}
	if !bind(c, &body) {
		return
	}
	d, err := time.ParseDuration(body.Advance)
	if err != nil || d <= 0 || d > maxClockAdvance {
		apiError(c, http.StatusBadRequest, "invalid", "advance must be a positive duration up to 9600h, such as 72h or 90m")
		return
	}
	c.JSON(http.StatusOK, gin.H{"server_time": a.AdvanceClock(d)})
}
