package api

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/stats"
)

// The statistics of the trading centers (issue 15): GET /api/v1/stats and
// GET /api/v1/stats/export, for the caller's scope. Definitions:
// docs/stats.md.

// categoryNames are the export's names of the categories.
var categoryNames = map[string][2]string{
	"construction": {"建设工程", "Construction"}, "procurement": {"政府采购", "Government procurement"},
	"land": {"土地", "Land"}, "mining": {"矿业权", "Mining rights"}, "state_property": {"国有产权", "State property"},
}

// statsRequest is a parsed statistics request.
type statsRequest struct {
	from, to time.Time
	center   string // a center id; "" = every center the scope sees
	format   string // export: csv or xlsx
	lang     string // export: zh or en
}

// statsParams are the query parameters each endpoint takes.
var statsParams = map[string]bool{"from": true, "to": true, "center": true}

// parseStatsDate reads a period bound: a date (Beijing time; to is the
// end of that day, so to=2026-12-31 covers December 31) or an RFC 3339
// time (taken as it is).
func parseStatsDate(s string, end bool) (time.Time, error) {
	if d, err := time.ParseInLocation("2006-01-02", s, stats.Beijing); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	return time.Parse(time.RFC3339, s)
}

// statsQuery parses the request, or answers 400/403 itself.
func (a *handlers) statsQuery(c *gin.Context, sc Scope, export bool) (statsRequest, bool) {
	for k := range c.Request.URL.Query() {
		if !statsParams[k] && !(export && (k == "format" || k == "lang")) {
			apiError(c, http.StatusBadRequest, "invalid", fmt.Sprintf("unknown parameter %q", k))
			return statsRequest{}, false
		}
	}
	now := a.Svc.Now().In(stats.Beijing)
	req := statsRequest{
		from: time.Date(now.Year(), 1, 1, 0, 0, 0, 0, stats.Beijing),
		to:   time.Date(now.Year()+1, 1, 1, 0, 0, 0, 0, stats.Beijing),
	}
	var err error
	if s := c.Query("from"); s != "" {
		if req.from, err = parseStatsDate(s, false); err != nil {
			apiError(c, http.StatusBadRequest, "invalid", "from must be a date (2026-01-01) or an RFC 3339 time")
			return req, false
		}
	}
	if s := c.Query("to"); s != "" {
		if req.to, err = parseStatsDate(s, true); err != nil {
			apiError(c, http.StatusBadRequest, "invalid", "to must be a date (2026-12-31, included) or an RFC 3339 time (excluded)")
			return req, false
		}
	}
	if _, err := stats.Months(req.from, req.to); err != nil {
		apiError(c, http.StatusBadRequest, "invalid", fmt.Sprintf("the period must be from before to, at most %d months: %v", stats.MaxMonths, err))
		return req, false
	}
	if req.center = c.Query("center"); req.center != "" {
		key, err := a.centerKey(req.center)
		if err != nil {
			a.fail(c, err)
			return req, false
		}
		if !sc.Sees(key) {
			apiError(c, http.StatusForbidden, "forbidden", "center "+req.center+" is outside what you may see")
			return req, false
		}
	}
	if export {
		switch req.format = c.DefaultQuery("format", "csv"); req.format {
		case "csv", "xlsx":
		default:
			apiError(c, http.StatusBadRequest, "invalid", "format must be csv or xlsx")
			return req, false
		}
		switch req.lang = c.DefaultQuery("lang", "zh"); req.lang {
		case "zh", "en":
		default:
			apiError(c, http.StatusBadRequest, "invalid", "lang must be zh or en")
			return req, false
		}
	}
	return req, true
}

// statsCenters are the centers the scope sees, the main one first.
func (a *handlers) statsCenters(sc Scope) []Center {
	all := a.Centers
	if len(all) == 0 {
		all = []Center{a.mainCenter()}
	}
	out := []Center{}
	for _, ctr := range all {
		if key, err := a.centerKey(ctr.ID); err == nil && sc.Sees(key) {
			out = append(out, ctr)
		}
	}
	return out
}

// statsReport reads every room and computes the report the request and
// the scope cover. Rooms are counted under their center's id (the main
// center's for a room stored without one).
func (a *handlers) statsReport(c *gin.Context, sc Scope, req statsRequest) (stats.Report, bool) {
	col, err := stats.Collect(c.Request.Context(), a.Svc)
	if err != nil {
		a.fail(c, err)
		return stats.Report{}, false
	}
	main := a.mainCenter().ID
	include := func(id string) bool {
		key := id
		if id == main {
			key = ""
		}
		return sc.Sees(key) && (req.center == "" || id == req.center)
	}
	rep, err := col.Report(stats.Query{From: req.from, To: req.to, MainCenter: main, Include: include})
	if err != nil {
		apiError(c, http.StatusBadRequest, "invalid", err.Error())
		return stats.Report{}, false
	}
	return rep, true
}

// stats answers GET /api/v1/stats?from=&to=&center=.
func (a *handlers) stats(c *gin.Context) {
	sc, ok := a.scope(c)
	if !ok {
		return
	}
	req, ok := a.statsQuery(c, sc, false)
	if !ok {
		return
	}
	rep, ok := a.statsReport(c, sc, req)
	if !ok {
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"stats": rep, "center": req.center, "centers": a.statsCenters(sc), "all": sc.All,
		"server_time": a.Svc.Now()})
}

// statsExport answers GET /api/v1/stats/export?format=csv|xlsx&lang=zh|en
// with the same figures as a download.
func (a *handlers) statsExport(c *gin.Context) {
	sc, ok := a.scope(c)
	if !ok {
		return
	}
	req, ok := a.statsQuery(c, sc, true)
	if !ok {
		return
	}
	rep, ok := a.statsReport(c, sc, req)
	if !ok {
		return
	}
	names := map[string]string{}
	pick := 0
	if req.lang == "en" {
		pick = 1
	}
	for k, v := range categoryNames {
		names[k] = v[pick]
	}
	for _, ctr := range a.statsCenters(sc) {
		names[ctr.ID] = ctr.Name
	}
	table := stats.MakeTable(rep, req.lang, names)
	last := req.to.Add(-time.Nanosecond).In(stats.Beijing)
	name := "bidroom-stats-" + req.from.In(stats.Beijing).Format("2006-01-02") + "-" + last.Format("2006-01-02")
	if req.center != "" {
		name += "-" + req.center
	}
	var buf bytes.Buffer
	var ctype string
	if req.format == "xlsx" {
		sheet := "统计"
		if req.lang == "en" {
			sheet = "Statistics"
		}
		err := stats.WriteXLSX(&buf, table, sheet, a.Svc.Now())
		if err != nil {
			a.fail(c, err)
			return
		}
		ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	} else {
		if err := stats.WriteCSV(&buf, table); err != nil {
			a.fail(c, err)
			return
		}
		ctype = "text/csv; charset=utf-8"
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(name, `"`, "")+"."+req.format+`"`)
	c.Data(http.StatusOK, ctype, buf.Bytes())
}
