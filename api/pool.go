package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/draw"
)

// The expert pool (专家库) over REST: the list with filters and paging,
// one expert with their history, changes, suspensions (暂停评标资格),
// reinstatements and credit steps, the import, and the specialty
// catalogue. Every change is a command of the pool room, so the pool's
// log stays its history; this file only reads that log and shapes it.

// maxImportBytes bounds an expert import (CSV or JSON).
const maxImportBytes = 16 << 20

// Bounds of the list.
const (
	defaultPageSize   = 50
	maxPageSize       = 200
	defaultDrawPeriod = 365 // days counted for an expert's recent draws
	maxRowErrors      = 100 // refused rows an import answer lists
)

// beijing is the time zone a bare date of a suspension is read in.
var beijing = time.FixedZone("CST", 8*3600)

// poolActor authenticates a request to the pool that supervisors may
// make too: the admin key, or a token for the pool room whose role is
// admin or supervisor. It answers the request itself when it refuses.
func (a *handlers) poolActor(c *gin.Context) (rooms.Actor, bool) {
	actor, claims, ok := a.bearerActor(c)
	if !ok || claims == nil {
		return actor, ok
	}
	if !claims.Allows(rooms.PoolRoom, rooms.SharedCenter) {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, "this token is not for the expert pool ("+rooms.PoolRoom+"): ask the center's admin for a supervisor token of the pool")
		return rooms.Actor{}, false
	}
	if actor.Role != rooms.RoleAdmin && actor.Role != rooms.RoleSupervisor {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, fmt.Sprintf("the expert pool is open to admins and supervisors only, not to a %s", actor.Role))
		return rooms.Actor{}, false
	}
	return actor, true
}

// poolView is the pool as actor sees it; an empty pool before the first import.
func (a *handlers) poolView(ctx context.Context, actor rooms.Actor) (rooms.PoolView, error) {
	snap, err := a.Svc.Snapshot(ctx, rooms.PoolRoom, actor)
	if rooms.RefusalCode(err) == rooms.CodeNotFound {
		return rooms.PoolView{Room: rooms.PoolRoom}, nil
	}
	if err != nil {
		return rooms.PoolView{}, err
	}
	v, ok := snap.View.(rooms.PoolView)
	if !ok {
		return rooms.PoolView{}, fmt.Errorf("room %s is a %s, not the expert pool", rooms.PoolRoom, snap.Kind)
	}
	return v, nil
}

// ExpertRow is one expert as the pool's list and detail show them.
type ExpertRow struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Employer       string    `json:"employer"`
	Specialties    []string  `json:"specialties"`
	Center         string    `json:"center"`
	Phone          string    `json:"phone"` // masked (138****1234) for supervisors
	Credit         int       `json:"credit"`
	Status         string    `json:"status"`                   // active or suspended, at server time
	SuspendedUntil time.Time `json:"suspended_until,omitzero"` // only while suspended
	SuspendReason  string    `json:"suspend_reason,omitempty"` // only while suspended
	Draws          int       `json:"draws"`                    // drawn as a member within period_days
	LastDrawn      time.Time `json:"last_drawn,omitzero"`      // the latest draw that seated them, ever
	KeyID          string    `json:"key_id"`                   // SM3 of the public key, hex
	PublicKey      string    `json:"public_key,omitempty"`     // the PEM: in the detail only
}

// maskPhone keeps the first 3 and last 4 characters of a phone number
// (138****1234); shorter numbers keep only their last 2.
func maskPhone(p string) string {
	r := []rune(strings.TrimSpace(p))
	switch {
	case len(r) == 0:
		return ""
	case len(r) >= 8:
		return string(r[:3]) + "****" + string(r[len(r)-4:])
	case len(r) > 2:
		return "****" + string(r[len(r)-2:])
	}
	return "****"
}

// keyID is the hex SM3 id of a PEM public key ("" if it does not parse).
func keyID(pemText string) string {
	k, err := decrypt.ParsePublicKeyPEM([]byte(pemText))
	if err != nil {
		return ""
	}
	id := k.ID()
	return hex.EncodeToString(id[:])
}

// drawStats counts, per expert, the draws that seated them as a member
// since `since`, and the time of their latest draw.
type drawStats struct {
	count map[string]int
	last  map[string]time.Time
}

func statsOf(draws []rooms.DrawRecord, since time.Time) drawStats {
	s := drawStats{count: map[string]int{}, last: map[string]time.Time{}}
	for _, d := range draws {
		for _, m := range d.Result.Members {
			if d.Rules.At.After(since) {
				s.count[m.Expert]++
			}
			if d.Rules.At.After(s.last[m.Expert]) {
				s.last[m.Expert] = d.Rules.At
			}
		}
	}
	return s
}

// row shapes x for actor at now.
func row(x rooms.PoolExpert, actor rooms.Actor, now time.Time, st drawStats) ExpertRow {
	r := ExpertRow{ID: x.ID, Name: x.Name, Employer: x.Employer, Specialties: x.Specialties, Center: x.Center,
		Phone: x.Phone, Credit: x.Credit, Status: "active", Draws: st.count[x.ID], LastDrawn: st.last[x.ID], KeyID: keyID(x.PublicKey)}
	if r.Specialties == nil {
		r.Specialties = []string{}
	}
	if actor.Role != rooms.RoleAdmin {
		r.Phone = maskPhone(x.Phone)
	}
	if x.SuspendedUntil.After(now) {
		r.Status, r.SuspendedUntil, r.SuspendReason = "suspended", x.SuspendedUntil, x.SuspendReason
	}
	return r
}

// listQuery is the parsed query of GET /pool/experts.
type listQuery struct {
	q, specialty, center, status string
	page, pageSize, periodDays   int
}

// parseListQuery reads the list's query, refusing unknown parameters and
// values out of range with a sentence that names them.
func parseListQuery(v url.Values) (listQuery, error) {
	known := []string{"q", "specialty", "center", "status", "page", "page_size", "period_days"}
	for k := range v {
		if !slices.Contains(known, k) {
			return listQuery{}, fmt.Errorf("unknown query parameter %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	lq := listQuery{q: strings.TrimSpace(v.Get("q")), specialty: strings.TrimSpace(v.Get("specialty")),
		center: strings.TrimSpace(v.Get("center")), status: v.Get("status"), page: 1, pageSize: defaultPageSize, periodDays: defaultDrawPeriod}
	if len([]rune(lq.q)) > 100 || len(lq.center) > 64 {
		return listQuery{}, errors.New("q must be at most 100 characters and center at most 64")
	}
	if lq.specialty != "" {
		if err := checkSpecialties([]string{lq.specialty}); err != nil {
			return listQuery{}, err
		}
	}
	if lq.status != "" && lq.status != "active" && lq.status != "suspended" {
		return listQuery{}, fmt.Errorf("status must be active or suspended, got %q", lq.status)
	}
	ints := []struct {
		name     string
		to       *int
		min, max int
	}{{"page", &lq.page, 1, 1 << 20}, {"page_size", &lq.pageSize, 1, maxPageSize}, {"period_days", &lq.periodDays, 1, 3660}}
	for _, f := range ints {
		s := v.Get(f.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < f.min || n > f.max {
			return listQuery{}, fmt.Errorf("%s must be a whole number from %d to %d, got %q", f.name, f.min, f.max, s)
		}
		*f.to = n
	}
	return lq, nil
}

// matches reports whether x passes the query's filters at now.
func (lq listQuery) matches(x *rooms.PoolExpert, now time.Time) bool {
	if lq.q != "" {
		q := strings.ToLower(lq.q)
		if !strings.Contains(strings.ToLower(x.ID), q) && !strings.Contains(strings.ToLower(x.Name), q) && !strings.Contains(strings.ToLower(x.Employer), q) {
			return false
		}
	}
	if lq.specialty != "" && !slices.Contains(x.Specialties, lq.specialty) {
		return false
	}
	if lq.center != "" && strings.TrimSpace(x.Center) != lq.center {
		return false
	}
	switch suspended := x.SuspendedUntil.After(now); lq.status {
	case "active":
		return !suspended
	case "suspended":
		return suspended
	}
	return true
}

// CenterCount is one home center of the pool with its number of experts.
type CenterCount struct {
	Center  string `json:"center"`
	Experts int    `json:"experts"`
}

// listExperts answers GET /api/v1/pool/experts: one page of the experts
// that pass the filters, sorted by id.
func (a *handlers) listExperts(c *gin.Context) {
	actor, ok := a.poolActor(c)
	if !ok {
		return
	}
	lq, err := parseListQuery(c.Request.URL.Query())
	if err != nil {
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, err.Error())
		return
	}
	v, err := a.poolView(c.Request.Context(), actor)
	if err != nil {
		a.fail(c, err)
		return
	}
	now := a.Svc.Now()
	var hits []*rooms.PoolExpert
	centers := map[string]int{}
	for i := range v.Experts {
		x := &v.Experts[i]
		centers[strings.TrimSpace(x.Center)]++
		if lq.matches(x, now) {
			hits = append(hits, x)
		}
	}
	slices.SortFunc(hits, func(p, q *rooms.PoolExpert) int { return strings.Compare(p.ID, q.ID) })
	st := statsOf(v.Draws, now.Add(-time.Duration(lq.periodDays)*24*time.Hour))
	rows := []ExpertRow{}
	from := min((lq.page-1)*lq.pageSize, len(hits))
	for _, x := range hits[from:min(from+lq.pageSize, len(hits))] {
		rows = append(rows, row(*x, actor, now, st))
	}
	cc := make([]CenterCount, 0, len(centers))
	for name, n := range centers {
		cc = append(cc, CenterCount{Center: name, Experts: n})
	}
	slices.SortFunc(cc, func(p, q CenterCount) int { return strings.Compare(p.Center, q.Center) })
	c.JSON(http.StatusOK, gin.H{
		"experts": rows, "total": len(hits), "page": lq.page, "page_size": lq.pageSize,
		"period_days": lq.periodDays, "pool_size": len(v.Experts), "centers": cc, "server_time": now,
	})
}

// findExpert returns the expert of the path's id from the pool, or
// answers 404 itself.
func (a *handlers) findExpert(c *gin.Context, actor rooms.Actor) (rooms.PoolView, *rooms.PoolExpert, bool) {
	v, err := a.poolView(c.Request.Context(), actor)
	if err != nil {
		a.fail(c, err)
		return v, nil, false
	}
	id := c.Param("id")
	for i := range v.Experts {
		if v.Experts[i].ID == id {
			return v, &v.Experts[i], true
		}
	}
	apiError(c, http.StatusNotFound, rooms.CodeNotFound, fmt.Sprintf("no expert %q in the pool", id))
	return v, nil, false
}

// Change is one field an update changed, as the history shows it.
type Change struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// HistoryEntry is one step of an expert's history in the pool's log.
type HistoryEntry struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Type       string    `json:"type"` // added, updated, suspended, reinstated, credit, drawn
	By         string    `json:"by"`   // the actor's role
	BySub      string    `json:"by_sub,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Until      time.Time `json:"until,omitzero"`
	Delta      int       `json:"delta,omitempty"`
	Credit     *int      `json:"credit,omitempty"` // the credit after the step (added, credit)
	Evaluation string    `json:"evaluation,omitempty"`
	Tenderer   string    `json:"tenderer,omitempty"`
	Specialty  string    `json:"specialty,omitempty"`
	Reserve    bool      `json:"reserve,omitempty"`
	Changes    []Change  `json:"changes,omitempty"`
}

// changes lists what an update changed, phones masked for a supervisor
// and keys by their id.
func changes(old, x rooms.PoolExpert, actor rooms.Actor) []Change {
	phone := func(p string) string {
		if actor.Role != rooms.RoleAdmin {
			return maskPhone(p)
		}
		return p
	}
	var out []Change
	add := func(field, from, to string) {
		if from != to {
			out = append(out, Change{field, from, to})
		}
	}
	add("name", old.Name, x.Name)
	add("employer", old.Employer, x.Employer)
	add("specialties", strings.Join(old.Specialties, ";"), strings.Join(x.Specialties, ";"))
	add("center", old.Center, x.Center)
	add("phone", phone(old.Phone), phone(x.Phone))
	add("key_id", keyID(old.PublicKey), keyID(x.PublicKey))
	return out
}

// history reads the pool's log for every step of expert id, newest
// first. Events are filtered on their bytes before decoding: an id is
// letters, digits and ".-_", so its JSON form has no escapes.
func (a *handlers) history(ctx context.Context, id string, actor rooms.Actor) ([]HistoryEntry, error) {
	events, err := a.Svc.EventsAfter(ctx, rooms.PoolRoom, 0)
	if err != nil {
		return nil, err
	}
	byID, byExpert := []byte(`"id":"`+id+`"`), []byte(`"expert":"`+id+`"`)
	var out []HistoryEntry
	var cur rooms.PoolExpert
	for _, e := range events {
		h := HistoryEntry{Seq: e.Seq, Time: e.Time, By: string(e.Actor.Role), BySub: e.Actor.Sub}
		switch e.Type {
		case rooms.EvExpertsAdded:
			if !bytes.Contains(e.Data, byID) {
				continue
			}
			var b rooms.ExpertBatch
			if err := json.Unmarshal(e.Data, &b); err != nil {
				return nil, err
			}
			i := slices.IndexFunc(b.Experts, func(x rooms.PoolExpert) bool { return x.ID == id })
			if i < 0 {
				continue
			}
			cur = b.Experts[i]
			h.Type, h.Credit = "added", &cur.Credit
		case rooms.EvExpertUpdated:
			if !bytes.Contains(e.Data, byID) {
				continue
			}
			var x rooms.PoolExpert
			if err := json.Unmarshal(e.Data, &x); err != nil {
				return nil, err
			}
			if x.ID != id {
				continue
			}
			h.Type, h.Changes = "updated", changes(cur, x, actor)
			cur.Name, cur.Employer, cur.Specialties, cur.Center, cur.Phone, cur.PublicKey = x.Name, x.Employer, x.Specialties, x.Center, x.Phone, x.PublicKey
		case rooms.EvExpertSuspended, rooms.EvExpertRestored:
			if !bytes.Contains(e.Data, byExpert) {
				continue
			}
			var s rooms.Suspension
			if err := json.Unmarshal(e.Data, &s); err != nil {
				return nil, err
			}
			if s.Expert != id {
				continue
			}
			h.Type, h.Reason, h.Until = "suspended", s.Reason, s.Until
			if e.Type == rooms.EvExpertRestored {
				h.Type, h.Until = "reinstated", time.Time{}
			}
		case rooms.EvCreditAdjusted:
			if !bytes.Contains(e.Data, byExpert) {
				continue
			}
			var cc rooms.CreditChange
			if err := json.Unmarshal(e.Data, &cc); err != nil {
				return nil, err
			}
			if cc.Expert != id {
				continue
			}
			cur.Credit = min(100, max(0, cur.Credit+cc.Delta))
			credit := cur.Credit
			h.Type, h.Delta, h.Reason, h.Evaluation, h.Credit = "credit", cc.Delta, cc.Reason, cc.Evaluation, &credit
		case rooms.EvExpertsDrawn:
			if !bytes.Contains(e.Data, byExpert) {
				continue
			}
			var d rooms.DrawRecord
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return nil, err
			}
			i := slices.IndexFunc(d.Drawn, func(s rooms.CommitteeSeat) bool { return s.Expert == id })
			if i < 0 {
				continue
			}
			h.Type, h.Evaluation, h.Tenderer, h.Specialty, h.Reserve = "drawn", d.Evaluation, d.Rules.Tenderer, d.Drawn[i].Specialty, d.Drawn[i].Reserve
		default:
			continue
		}
		out = append(out, h)
	}
	slices.Reverse(out)
	return out, nil
}

// getExpert answers GET /api/v1/pool/experts/{id}: the expert with their
// key and history.
func (a *handlers) getExpert(c *gin.Context) {
	actor, ok := a.poolActor(c)
	if !ok {
		return
	}
	v, x, ok := a.findExpert(c, actor)
	if !ok {
		return
	}
	hist, err := a.history(c.Request.Context(), x.ID, actor)
	if err != nil {
		a.fail(c, err)
		return
	}
	now := a.Svc.Now()
	r := row(*x, actor, now, statsOf(v.Draws, now.Add(-defaultDrawPeriod*24*time.Hour)))
	r.PublicKey = x.PublicKey
	c.JSON(http.StatusOK, gin.H{"expert": r, "history": hist, "period_days": defaultDrawPeriod, "server_time": now})
}

// respondExpert answers with the expert of the path's id as it stands.
func (a *handlers) respondExpert(c *gin.Context, actor rooms.Actor) {
	v, x, ok := a.findExpert(c, actor)
	if !ok {
		return
	}
	now := a.Svc.Now()
	r := row(*x, actor, now, statsOf(v.Draws, now.Add(-defaultDrawPeriod*24*time.Hour)))
	r.PublicKey = x.PublicKey
	c.JSON(http.StatusOK, gin.H{"expert": r})
}

// expertUpdate is the body of PUT /api/v1/pool/experts/{id}: the fields
// given change, the others stay. Credit and suspension are named only to
// refuse them with the step that changes them.
type expertUpdate struct {
	Name        *string   `json:"name"`
	Employer    *string   `json:"employer"`
	Specialties *[]string `json:"specialties"`
	Center      *string   `json:"center"`
	Phone       *string   `json:"phone"`
	PublicKey   *string   `json:"public_key"`

	ID             *string         `json:"id"`
	Credit         json.RawMessage `json:"credit"`
	SuspendedUntil json.RawMessage `json:"suspended_until"`
	SuspendReason  json.RawMessage `json:"suspend_reason"`
}

// updateExpert answers PUT /api/v1/pool/experts/{id} (admin key).
func (a *handlers) updateExpert(c *gin.Context) {
	actor := c.MustGet("actor").(rooms.Actor)
	var u expertUpdate
	if !bind(c, &u) {
		return
	}
	id := c.Param("id")
	switch {
	case u.ID != nil && *u.ID != id:
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, "an expert's id cannot change: leave id out or give "+id)
		return
	case u.Credit != nil:
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, "credit changes only by its own step with a reason: POST /api/v1/pool/experts/"+id+"/credit")
		return
	case u.SuspendedUntil != nil || u.SuspendReason != nil:
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, "a suspension is its own step with a reason: POST /api/v1/pool/experts/"+id+"/suspend or /reinstate")
		return
	case u.Name == nil && u.Employer == nil && u.Specialties == nil && u.Center == nil && u.Phone == nil && u.PublicKey == nil:
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, "nothing to change: give name, employer, specialties, center, phone or public_key")
		return
	}
	v, old, ok := a.findExpert(c, actor)
	if !ok {
		return
	}
	x := *old
	x.Specialties = slices.Clone(old.Specialties)
	for _, f := range []struct {
		from *string
		to   *string
	}{{u.Name, &x.Name}, {u.Employer, &x.Employer}, {u.Center, &x.Center}, {u.Phone, &x.Phone}, {u.PublicKey, &x.PublicKey}} {
		if f.from != nil {
			*f.to = strings.TrimSpace(*f.from)
		}
	}
	if u.Specialties != nil {
		x.Specialties = *u.Specialties
	}
	if err := rooms.CheckExpert(&x); err != nil {
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, fmt.Sprintf("expert %s: %v", id, err))
		return
	}
	if err := checkSpecialties(x.Specialties); err != nil {
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, fmt.Sprintf("expert %s: %v", id, err))
		return
	}
	if other := keyHolder(v.Experts, x.PublicKey, id); other != "" {
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, fmt.Sprintf("expert %s: the public key is expert %s's already; each expert signs with their own key", id, other))
		return
	}
	data, _ := json.Marshal(x)
	if _, err := a.Svc.Execute(c.Request.Context(), rooms.PoolRoom, actor, rooms.Command{ID: "update:" + id + ":" + idempotencyKey(c), Type: rooms.CmdUpdateExpert, Data: data}); err != nil {
		a.fail(c, err)
		return
	}
	a.respondExpert(c, actor)
}

// samePEM is a PEM text with its white space removed: two experts given
// the same key file compare equal without parsing every key of the pool.
func samePEM(pemText string) string {
	return strings.Join(strings.Fields(pemText), "")
}

// keyHolder returns the id of an expert other than self who holds the
// key of pemText ("" for none).
func keyHolder(experts []rooms.PoolExpert, pemText, self string) string {
	k := samePEM(pemText)
	for i := range experts {
		if experts[i].ID != self && samePEM(experts[i].PublicKey) == k {
			return experts[i].ID
		}
	}
	return ""
}

// parseUntil reads the end of a suspension: a date (YYYY-MM-DD, through
// the end of that day in Beijing time) or an RFC 3339 time.
func parseUntil(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("until is required: a date such as 2027-06-30 or an RFC 3339 time")
	}
	if d, err := time.ParseInLocation(time.DateOnly, s, beijing); err == nil {
		return d.Add(24*time.Hour - time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("until must be a date such as 2027-06-30 or an RFC 3339 time, got %q", s)
	}
	return t, nil
}

// poolStep runs one reasoned pool command (suspend, reinstate, credit)
// for the path's expert and answers with the expert as it then stands.
func (a *handlers) poolStep(c *gin.Context, actor rooms.Actor, typ string, data any) {
	raw, _ := json.Marshal(data)
	id := c.Param("id")
	if _, err := a.Svc.Execute(c.Request.Context(), rooms.PoolRoom, actor, rooms.Command{ID: typ + ":" + id + ":" + idempotencyKey(c), Type: typ, Data: raw}); err != nil {
		a.fail(c, err)
		return
	}
	a.respondExpert(c, actor)
}

// suspendExpert answers POST /api/v1/pool/experts/{id}/suspend {until, reason}.
func (a *handlers) suspendExpert(c *gin.Context) {
	actor, ok := a.poolActor(c)
	if !ok {
		return
	}
	var body struct {
		Until  string `json:"until"`
		Reason string `json:"reason"`
	}
	if !bind(c, &body) {
		return
	}
	until, err := parseUntil(body.Until)
	if err != nil {
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, err.Error())
		return
	}
	if now := a.Svc.Now(); !until.After(now) {
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, fmt.Sprintf("until %s is not after now (server time %s): a suspension ends in the future",
			until.In(beijing).Format("2006-01-02 15:04"), now.In(beijing).Format("2006-01-02 15:04")))
		return
	}
	if _, _, ok := a.findExpert(c, actor); !ok {
		return
	}
	a.poolStep(c, actor, rooms.CmdSuspendExpert, rooms.Suspension{Expert: c.Param("id"), Until: until, Reason: strings.TrimSpace(body.Reason)})
}

// reinstateExpert answers POST /api/v1/pool/experts/{id}/reinstate {reason}.
func (a *handlers) reinstateExpert(c *gin.Context) {
	actor, ok := a.poolActor(c)
	if !ok {
		return
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if !bind(c, &body) {
		return
	}
	_, x, ok := a.findExpert(c, actor)
	if !ok {
		return
	}
	if !x.SuspendedUntil.After(a.Svc.Now()) {
		apiError(c, http.StatusConflict, rooms.CodeWrongState, fmt.Sprintf("expert %s is not suspended", x.ID))
		return
	}
	a.poolStep(c, actor, rooms.CmdReinstate, rooms.Suspension{Expert: x.ID, Reason: strings.TrimSpace(body.Reason)})
}

// adjustCredit answers POST /api/v1/pool/experts/{id}/credit {delta, reason, evaluation}.
func (a *handlers) adjustCredit(c *gin.Context) {
	actor, ok := a.poolActor(c)
	if !ok {
		return
	}
	var body struct {
		Delta      int    `json:"delta"`
		Reason     string `json:"reason"`
		Evaluation string `json:"evaluation"`
	}
	if !bind(c, &body) {
		return
	}
	if body.Evaluation != "" && !rooms.ValidID(body.Evaluation) {
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, "evaluation must be the id of an evaluation room")
		return
	}
	if _, _, ok := a.findExpert(c, actor); !ok {
		return
	}
	a.poolStep(c, actor, rooms.CmdAdjustCredit, rooms.CreditChange{Expert: c.Param("id"), Delta: body.Delta, Reason: strings.TrimSpace(body.Reason), Evaluation: body.Evaluation})
}

// listSpecialties answers GET /api/v1/pool/specialties (no token: the
// catalogue is public).
func (a *handlers) listSpecialties(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"categories": Specialties})
}

// RowError is one refused row of an import.
type RowError struct {
	Row     int    `json:"row"`            // 1-based, the CSV header not counted
	Line    int    `json:"line,omitempty"` // CSV: the line the row starts on
	ID      string `json:"id,omitempty"`
	Message string `json:"message"`
}

// importExperts adds experts to the pool (creating it on first use) from
// a JSON body {"experts": [...]} or a CSV body (text/csv) with the header
// id,name,employer,specialties,center,phone,credit,public_key —
// specialties separated by ';', the key as PEM in a quoted field. Every
// row is checked before any is added: one bad row refuses the import and
// the answer lists each refused row. With ?dry_run=1 nothing is added
// either way.
func (a *handlers) importExperts(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxImportBytes)
	var dry bool
	switch c.Query("dry_run") {
	case "", "0", "false":
	case "1", "true":
		dry = true
	default:
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, "dry_run must be 1 or 0")
		return
	}
	var experts []rooms.PoolExpert
	var lines []int
	var bad []RowError // rows refused as they were read
	if strings.HasPrefix(c.ContentType(), "text/csv") {
		var err error
		if experts, lines, bad, err = parseExpertsCSV(c.Request.Body); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				apiError(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("an import is at most %d MiB", maxImportBytes>>20))
				return
			}
			apiError(c, http.StatusBadRequest, rooms.CodeInvalid, err.Error())
			return
		}
	} else {
		var body rooms.ExpertBatch
		if !bind(c, &body) {
			return
		}
		experts = body.Experts
	}
	if len(experts) == 0 {
		apiError(c, http.StatusBadRequest, rooms.CodeInvalid, "no experts in the import")
		return
	}
	ctx := c.Request.Context()
	actor := c.MustGet("actor").(rooms.Actor)
	v, err := a.poolView(ctx, actor)
	if err != nil {
		a.fail(c, err)
		return
	}
	bad = checkImport(experts, lines, v.Experts, bad)
	if len(bad) > 0 {
		first, refused := bad[0], len(bad)
		msg := fmt.Sprintf("nothing was added: %d of %d rows refused; expert %d (%s): %s", refused, len(experts), first.Row, first.ID, first.Message)
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": gin.H{"code": rooms.CodeInvalid, "message": msg,
			"rows": bad[:min(refused, maxRowErrors)], "refused": refused, "total": len(experts)}})
		return
	}
	if dry {
		c.JSON(http.StatusOK, gin.H{"dry_run": true, "valid": len(experts)})
		return
	}
	if ok, err := a.Svc.Exists(ctx, rooms.PoolRoom); err != nil {
		a.fail(c, err)
		return
	} else if !ok {
		spec, _ := json.Marshal(rooms.PoolSpec{Title: "专家库"})
		if _, err := a.Svc.Execute(ctx, rooms.PoolRoom, actor, rooms.Command{ID: "create-pool", Type: rooms.CmdCreatePool, Data: spec}); err != nil && rooms.RefusalCode(err) != rooms.CodeWrongState {
			a.fail(c, err)
			return
		}
	}
	key := idempotencyKey(c)
	for from := 0; from < len(experts); from += rooms.MaxExpertsPerAdd {
		to := min(from+rooms.MaxExpertsPerAdd, len(experts))
		data, _ := json.Marshal(rooms.ExpertBatch{Experts: experts[from:to]})
		_, err := a.Svc.Execute(ctx, rooms.PoolRoom, actor, rooms.Command{ID: fmt.Sprintf("import:%s:%d", key, from), Type: rooms.CmdAddExperts, Data: data})
		if err != nil {
			// Checked above, so only a change made meanwhile (the same id
			// imported by someone else) gets here: say what is in.
			a.fail(c, fmt.Errorf("rows %d-%d (%d experts before them were added): %w", from+1, to, from, err))
			return
		}
	}
	c.JSON(http.StatusCreated, gin.H{"added": len(experts)})
}

// checkImport checks every row as the pool would, against the
// catalogue, and for ids and keys taken within the file or in the pool.
// read holds the rows refused as they were read (not checked again); the
// answer is every refused row, in row order.
func checkImport(experts []rooms.PoolExpert, lines []int, pool []rooms.PoolExpert, read []RowError) []RowError {
	skip := map[int]bool{}
	for _, r := range read {
		skip[r.Row] = true
	}
	inPool, keyInPool := map[string]bool{}, map[string]string{}
	for i := range pool {
		inPool[pool[i].ID] = true
		keyInPool[samePEM(pool[i].PublicKey)] = pool[i].ID
	}
	rowOf, keyRow := map[string]int{}, map[string]int{}
	bad := read
	for i := range experts {
		if skip[i+1] {
			continue
		}
		x := &experts[i]
		r := RowError{Row: i + 1, ID: x.ID}
		if i < len(lines) {
			r.Line = lines[i]
		}
		refuse := func(format string, args ...any) {
			r.Message = fmt.Sprintf(format, args...)
			bad = append(bad, r)
		}
		k := samePEM(x.PublicKey)
		if err := rooms.CheckExpert(x); err != nil {
			refuse("%v", err)
		} else if err := checkSpecialties(x.Specialties); err != nil {
			refuse("%v", err)
		} else if inPool[x.ID] {
			refuse("id %s is already in the pool", x.ID)
		} else if j, dup := rowOf[x.ID]; dup {
			refuse("id %s is also on row %d", x.ID, j)
		} else if other, dup := keyInPool[k]; dup {
			refuse("the public key is expert %s's already; each expert signs with their own key", other)
		} else if j, dup := keyRow[k]; dup {
			refuse("the public key is also row %d's; each expert signs with their own key", j)
		} else {
			rowOf[x.ID], keyRow[k] = i+1, i+1
		}
	}
	slices.SortStableFunc(bad, func(p, q RowError) int { return p.Row - q.Row })
	return bad
}

// parseExpertsCSV reads the import's CSV. A row whose fields cannot be
// read (credit not a number) is returned among the refused rows; a
// broken file (a quote not closed) is an error naming the line.
func parseExpertsCSV(r io.Reader) (experts []rooms.PoolExpert, lines []int, bad []RowError, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, nil, err
		}
		return nil, nil, nil, fmt.Errorf("the CSV has no header line: %w", err)
	}
	want := []string{"id", "name", "employer", "specialties", "center", "phone", "credit", "public_key"}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	for _, w := range want {
		if _, ok := col[w]; !ok && w != "center" && w != "phone" && w != "credit" {
			return nil, nil, nil, fmt.Errorf("the CSV header lacks the column %q (want %s)", w, strings.Join(want, ","))
		}
	}
	for row := 1; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return experts, lines, bad, nil
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, nil, nil, err
			}
			return nil, nil, nil, fmt.Errorf("CSV row %d: %w", row, err)
		}
		line, _ := cr.FieldPos(0)
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		x := rooms.PoolExpert{Expert: draw.Expert{ID: get("id"), Name: get("name"), Employer: get("employer"), Center: get("center")},
			Phone: get("phone"), PublicKey: get("public_key")}
		for _, s := range strings.Split(get("specialties"), ";") {
			if s = strings.TrimSpace(s); s != "" {
				x.Specialties = append(x.Specialties, s)
			}
		}
		if v := get("credit"); v != "" {
			if x.Credit, err = strconv.Atoi(v); err != nil {
				// The row keeps its place, so later rows keep their numbers; it is refused.
				bad = append(bad, RowError{Row: row, Line: line, ID: x.ID, Message: fmt.Sprintf("credit %q is not a whole number", v)})
			}
		}
		experts = append(experts, x)
		lines = append(lines, line)
	}
}
