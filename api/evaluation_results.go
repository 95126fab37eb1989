package api

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/rooms"
)

// The results of an evaluation over REST: the candidates' publicity, open
// to anyone once published; what the opening's bidders read and raise
// from their side with their opening token (they never enter the
// evaluation, R21); the notices the platform signs; the host's ratings of
// the committee. Each step the server records is a server command in the
// evaluation room.

// publicity answers an evaluation's published candidates, without a
// token. Before publication, and for any id that is not an evaluation,
// the answer is the same 404.
func (a *handlers) publicity(c *gin.Context) {
	p, closed, err := a.Svc.Publicity(c.Request.Context(), c.Param("id"))
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.JSON(http.StatusOK, gin.H{"publicity": p, "closed": closed})
}

// issueNotices has the server build every bid's notice, sign each with
// the platform key and record them all in one event (admin key). A second
// request answers the same notices.
func (a *handlers) issueNotices(c *gin.Context) {
	room := c.Param("id")
	ctx := c.Request.Context()
	at := a.Svc.Now().Truncate(time.Second)
	issued, drafts, err := a.Svc.NoticesToSign(ctx, room, at)
	if err != nil {
		a.fail(c, err)
		return
	}
	if issued != nil {
		c.JSON(http.StatusOK, issued)
		return
	}
	for i := range drafts {
		sig, err := a.Platform.Sign(rooms.NoticeMessage(room, drafts[i].JSON))
		if err != nil {
			a.fail(c, err)
			return
		}
		drafts[i].Signature = base64.StdEncoding.EncodeToString(sig)
	}
	kid := a.Platform.Public().ID()
	out := rooms.NoticesIssued{IssuedAt: at, Notices: drafts, KeyID: hex.EncodeToString(kid[:])}
	data, _ := json.Marshal(out)
	res, err := a.Svc.Execute(ctx, room, rooms.SystemActor, rooms.Command{ID: "notices", Type: rooms.CmdRecordNotices, Data: data})
	if err != nil || res.Duplicate {
		// Another request issued them first: answer those.
		if again, _, rerr := a.Svc.NoticesToSign(ctx, room, at); rerr == nil && again != nil {
			c.JSON(http.StatusOK, again)
			return
		}
		if err == nil {
			apiError(c, http.StatusConflict, rooms.CodeConflict, "the notices were being issued by another request; ask again")
			return
		}
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

// openingParty authenticates a token of the opening (the :id of the path)
// and checks its role is one of roles; anyone else is refused with 403.
func (a *handlers) openingParty(c *gin.Context, what string, roles ...rooms.Role) (string, rooms.Actor, bool) {
	opening := c.Param("id")
	actor, ok := a.actorFor(c, opening)
	if !ok {
		return "", rooms.Actor{}, false
	}
	allowed := false
	for _, r := range roles {
		allowed = allowed || actor.Role == r
	}
	if !allowed {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, what)
		return "", rooms.Actor{}, false
	}
	ctx := c.Request.Context()
	if err := a.Svc.Admit(ctx, opening, actor); err != nil {
		a.fail(c, err)
		return "", rooms.Actor{}, false
	}
	if sum, err := a.Svc.Summary(ctx, opening); err != nil || sum.Kind != rooms.KindOpening {
		apiError(c, http.StatusNotFound, rooms.CodeNotFound, opening+" is not an opening session")
		return "", rooms.Actor{}, false
	}
	return opening, actor, true
}

// bidderResult is one evaluation's results as a bidder of the opening reads them.
type bidderResult struct {
	Evaluation   string                  `json:"evaluation"`
	Publicity    rooms.Publicity         `json:"publicity"`
	Closed       bool                    `json:"closed"`
	MyObjections []rooms.ResultObjection `json:"my_objections"`
	Notice       *rooms.IssuedNotice     `json:"notice,omitempty"`
}

// staffResult is one evaluation's results as a supervisor or admin reads them.
type staffResult struct {
	Evaluation string                  `json:"evaluation"`
	Publicity  rooms.Publicity         `json:"publicity"`
	Closed     bool                    `json:"closed"`
	Objections []rooms.ResultObjection `json:"objections"`
	Notices    []rooms.IssuedNotice    `json:"notices"`
}

// openingResults answers the published results of the opening's
// evaluations: a bidder its own objections and notice, a supervisor or
// the admin every one.
func (a *handlers) openingResults(c *gin.Context) {
	opening, actor, ok := a.openingParty(c, "the results are read by the opening's bidders (their own) and its supervisors",
		rooms.RoleBidder, rooms.RoleSupervisor, rooms.RoleAdmin)
	if !ok {
		return
	}
	res, err := a.Svc.ResultsFor(c.Request.Context(), opening, actor)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	if actor.Role != rooms.RoleBidder {
		out := make([]staffResult, 0, len(res))
		for _, r := range res {
			out = append(out, staffResult{Evaluation: r.Evaluation, Publicity: r.Publicity, Closed: r.Closed, Objections: r.Objections, Notices: r.Notices})
		}
		c.JSON(http.StatusOK, gin.H{"evaluations": out})
		return
	}
	out := make([]bidderResult, 0, len(res))
	for _, r := range res {
		b := bidderResult{Evaluation: r.Evaluation, Publicity: r.Publicity, Closed: r.Closed, MyObjections: r.Objections}
		for i := range r.Notices {
			if r.Notices[i].Bidder == actor.Sub {
				b.Notice = &r.Notices[i]
			}
		}
		out = append(out, b)
	}
	c.JSON(http.StatusOK, gin.H{"evaluations": out})
}

// commandKey is a server command's id for one party's request: the
// Idempotency-Key header (or a fresh one) bound to who asked.
func commandKey(prefix, sub string, c *gin.Context) string {
	sum := sm3.Sm3Sum([]byte(sub + "\n" + idempotencyKey(c)))
	return prefix + hex.EncodeToString(sum[:16])
}

// raiseObjection records a bidder's objection to a published result,
// while the publicity runs.
func (a *handlers) raiseObjection(c *gin.Context) {
	opening, actor, ok := a.openingParty(c, "objections to the result are raised by the opening's bidders, with their own token", rooms.RoleBidder)
	if !ok {
		return
	}
	var body struct {
		Text string `json:"text"`
	}
	if !bind(c, &body) {
		return
	}
	ctx := c.Request.Context()
	room := c.Param("evaluation")
	if err := a.Svc.PublishedFor(ctx, room, opening); err != nil {
		a.fail(c, err)
		return
	}
	data, _ := json.Marshal(rooms.ObjectionRequest{Opening: opening, Bidder: actor.Sub, Text: body.Text})
	res, err := a.Svc.Execute(ctx, room, rooms.SystemActor, rooms.Command{ID: commandKey("objection:", actor.Sub, c), Type: rooms.CmdRecordResultObjection, Data: data})
	if err != nil {
		a.fail(c, err)
		return
	}
	o, found, err := a.Svc.ObjectionOf(ctx, room, res.First)
	if err != nil || !found {
		a.fail(c, err)
		return
	}
	c.JSON(takenStatus(res), gin.H{"objection": o})
}

// hostRatings answers the opening's host the committee of a completed
// evaluation and the host's own ratings of it.
func (a *handlers) hostRatings(c *gin.Context) {
	opening, actor, ok := a.openingParty(c, "the opening's host rates the committee here; supervisors rate in the evaluation room", rooms.RoleHost)
	if !ok {
		return
	}
	committee, mine, err := a.Svc.RatingsFor(c.Request.Context(), c.Param("evaluation"), opening, actor.Sub)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"committee": committee, "ratings": mine})
}

// hostRatingsAll answers the opening's host every evaluation of the
// opening whose report is complete, with its committee and the host's own
// ratings: what the host's page offers to rate.
func (a *handlers) hostRatingsAll(c *gin.Context) {
	opening, actor, ok := a.openingParty(c, "the opening's host rates the committee here; supervisors rate in the evaluation room", rooms.RoleHost)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	ids, err := a.Svc.LinkedEvaluations(ctx, opening)
	if err != nil {
		a.fail(c, err)
		return
	}
	type rated struct {
		Evaluation string               `json:"evaluation"`
		Committee  []rooms.ReportMember `json:"committee"`
		Ratings    []rooms.Rating       `json:"ratings"`
	}
	out := []rated{}
	for _, id := range ids {
		committee, mine, err := a.Svc.RatingsFor(ctx, id, opening, actor.Sub)
		if rooms.RefusalCode(err) == rooms.CodeWrongState {
			continue // not complete yet: nothing to rate
		}
		if err != nil {
			a.fail(c, err)
			return
		}
		out = append(out, rated{Evaluation: id, Committee: committee, Ratings: mine})
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"evaluations": out})
}

// rateAsHost records the host's rating of a member; a "poor" one lowers
// the member's credit in the pool at once (or at the scheduler's next
// round, if the pool cannot be reached now).
func (a *handlers) rateAsHost(c *gin.Context) {
	opening, actor, ok := a.openingParty(c, "the opening's host rates the committee here; supervisors rate in the evaluation room", rooms.RoleHost)
	if !ok {
		return
	}
	var body rooms.RatingRequest
	if !bind(c, &body) {
		return
	}
	ctx := c.Request.Context()
	room := c.Param("evaluation")
	if _, _, err := a.Svc.RatingsFor(ctx, room, opening, actor.Sub); err != nil {
		a.fail(c, err)
		return
	}
	data, _ := json.Marshal(rooms.HostRating{Opening: opening, Host: actor.Sub, RatingRequest: body})
	res, err := a.Svc.Execute(ctx, room, rooms.SystemActor, rooms.Command{ID: commandKey("host-rating:", actor.Sub, c), Type: rooms.CmdRecordHostRating, Data: data})
	if err != nil {
		a.fail(c, err)
		return
	}
	if _, err := a.Svc.ApplySanctions(ctx, room, rooms.PoolRoom); err != nil {
		a.Logger.Warn("api: carry a rating to the pool (the scheduler retries)", "evaluation", room, "err", err)
	}
	_, mine, err := a.Svc.RatingsFor(ctx, room, opening, actor.Sub)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(takenStatus(res), gin.H{"ratings": mine})
}

// takenStatus is 201 for what a command made now, 200 for a retry of a
// command the room took before (the same answer again).
func takenStatus(res rooms.Result) int {
	if res.Duplicate {
		return http.StatusOK
	}
	return http.StatusCreated
}
