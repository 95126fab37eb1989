package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/rooms"
)

// Credit records (信用记录): the violations supervisors noted at openings
// (不良行为记录, note_violation) and in evaluations (expert violations with
// their points and suspensions, carried to the pool for the next draw),
// one entry each, read from the rooms' logs. A center's admins see their
// center's, the oversight and the admin key every center's.

// CreditEntry is one credit record.
type CreditEntry struct {
	Kind        string    `json:"kind"` // bidder | expert | other (an agent, a representative…)
	Subject     string    `json:"subject"`
	Name        string    `json:"name,omitempty"`
	Text        string    `json:"text"`
	Points      int       `json:"points,omitempty"`       // credit points deducted (experts)
	SuspendDays int       `json:"suspend_days,omitempty"` // experts
	Room        string    `json:"room"`
	RoomKind    string    `json:"room_kind"`
	Title       string    `json:"title"`
	Center      string    `json:"center"`
	By          string    `json:"by,omitempty"`
	At          time.Time `json:"at"`
}

// maxCreditEntries bounds one answer; narrower filters find the rest.
const maxCreditEntries = 2000

// creditRecords answers GET /api/v1/credit?subject=&kind=&center=&from=&to=:
// the entries newest first.
func (a *handlers) creditRecords(c *gin.Context) {
	sc, ok := a.scope(c)
	if !ok {
		return
	}
	if sc.ReadOnly && !sc.All {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, "credit records are for center admins and the oversight")
		return
	}
	q := c.Request.URL.Query()
	var from, to time.Time
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				apiError(c, http.StatusBadRequest, "invalid", f.name+" must be a date such as 2026-01-31")
				return
			}
			*f.t = t.Add(-8 * time.Hour) // the day in China time
		}
	}
	if !to.IsZero() {
		to = to.Add(24 * time.Hour)
	}
	kind, subject := q.Get("kind"), strings.TrimSpace(q.Get("subject"))
	if kind != "" && kind != "bidder" && kind != "expert" && kind != "other" {
		apiError(c, http.StatusBadRequest, "invalid", "kind must be bidder, expert or other")
		return
	}
	var onlyCenter *string
	if id := q.Get("center"); id != "" {
		key, err := a.centerKey(id)
		if err != nil {
			a.fail(c, err)
			return
		}
		onlyCenter = &key
	}
	ctx := c.Request.Context()
	ids, err := a.Svc.Rooms(ctx)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := []CreditEntry{}
	for _, id := range ids {
		sum, err := a.Svc.Summary(ctx, id)
		if err != nil || !sc.Sees(sum.Center) || sum.Center == rooms.SharedCenter || onlyCenter != nil && *onlyCenter != sum.Center {
			continue
		}
		if sum.Kind != rooms.KindOpening && sum.Kind != rooms.KindEvaluation {
			continue
		}
		entries, err := a.roomCredit(ctx, id, sum)
		if err != nil {
			a.fail(c, err)
			return
		}
		for _, e := range entries {
			if kind != "" && e.Kind != kind || subject != "" && e.Subject != subject && !strings.Contains(e.Name, subject) ||
				!from.IsZero() && e.At.Before(from) || !to.IsZero() && !e.At.Before(to) {
				continue
			}
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	truncated := len(out) > maxCreditEntries
	if truncated {
		out = out[:maxCreditEntries]
	}
	c.JSON(http.StatusOK, gin.H{"entries": out, "truncated": truncated})
}

// roomCredit reads one room's credit entries from its log.
func (a *handlers) roomCredit(ctx context.Context, room string, sum rooms.Summary) ([]CreditEntry, error) {
	events, err := a.Svc.EventsAfter(ctx, room, 0)
	if err != nil {
		return nil, err
	}
	names := map[string]string{} // bidders and experts of the room
	var out []CreditEntry
	base := CreditEntry{Room: room, RoomKind: sum.Kind, Title: sum.Title, Center: a.centerID(sum.Center)}
	for _, e := range events {
		switch e.Type {
		case rooms.EvBidderRegistered:
			var b rooms.BidderSpec
			if json.Unmarshal(e.Data, &b) == nil {
				names[b.ID] = b.Name
			}
		case rooms.EvViolationNoted:
			var n rooms.ViolationNote
			if json.Unmarshal(e.Data, &n) != nil {
				continue
			}
			x := base
			x.Subject, x.Text, x.By, x.At = n.Subject, n.Text, n.By, e.Time
			x.Kind = "other"
			if name, ok := names[n.Subject]; ok {
				x.Kind, x.Name = "bidder", name
			}
			out = append(out, x)
		case rooms.EvExpertViolationNoted:
			var v rooms.Violation
			if json.Unmarshal(e.Data, &v) != nil {
				continue
			}
			x := base
			x.Subject, x.Text, x.By, x.At, x.Points, x.SuspendDays = v.Expert, v.Reason, v.By, e.Time, v.Points, v.SuspendDays
			x.Kind = "expert"
			if !v.Pool {
				x.Kind = "other" // a tenderer's representative on the committee: recorded, not the pool's
			}
			out = append(out, x)
		}
	}
	if sum.Kind == rooms.KindEvaluation && len(out) > 0 {
		if snap, err := a.Svc.Snapshot(ctx, room, rooms.SystemActor); err == nil {
			if v, ok := snap.View.(rooms.EvaluationView); ok {
				for _, m := range v.Committee {
					names[m.Expert] = m.Name
				}
			}
		}
		for i := range out {
			out[i].Name = names[out[i].Subject]
		}
	}
	return out, nil
}
