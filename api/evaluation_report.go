package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/record"
	"github.com/bidroom/bidroom/rooms"
)

// evaluationReportHTML answers the printable page of an evaluation's
// completed report (评标报告) to the committee's members and supervisors;
// the admin, who follows the committee's formation only, and everyone
// outside the room are refused. 409 before every member signed.
func (a *handlers) evaluationReportHTML(c *gin.Context) {
	v, ok := a.committeeView(c, c.Param("id"), "the evaluation report is read by the committee and the supervisors")
	if !ok {
		return
	}
	if v.Completed == nil {
		apiError(c, http.StatusConflict, rooms.CodeWrongState, "the report is printed once every member has signed it")
		return
	}
	names := map[string]string{}
	for _, cat := range Specialties {
		for _, s := range cat.Specialties {
			names[s.Code] = s.Name
		}
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", record.EvaluationReportHTML(v.Completed, v.PlatformSig, v.Bids, names))
}

// evaluationReportJSON answers the completed report (the report, its
// digest and every member's signature, as the platform signed it) and the
// platform's signature, to the committee and supervisors; 409 before every
// member signed. `bidroom verify --report` checks it against the log.
func (a *handlers) evaluationReportJSON(c *gin.Context) {
	v, ok := a.committeeView(c, c.Param("id"), "the evaluation report is read by the committee and the supervisors")
	if !ok {
		return
	}
	if v.Completed == nil {
		apiError(c, http.StatusConflict, rooms.CodeWrongState, "the report is complete once every member has signed it")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"completed_report": v.Completed, "platform_signature": v.PlatformSig})
}
