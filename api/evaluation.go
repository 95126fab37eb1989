package api

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/rooms"
)

// The evaluation's REST steps that are more than one room command:
// creating an evaluation from a finished opening and the draw (pool, then
// evaluation); the pool's own endpoints are in pool.go. Everything else
// an evaluation does goes through POST /sessions/{id}/commands and
// GET /sessions/{id}, like an opening.

// evaluationRequest is the body of POST /api/v1/evaluations: the spec
// without the bids, which come from the opening.
type evaluationRequest struct {
	ID string `json:"id"`
	rooms.EvaluationSpec
}

func (a *handlers) createEvaluation(c *gin.Context) {
	var req evaluationRequest
	if !bind(c, &req) {
		return
	}
	if !rooms.ValidID(req.ID) {
		apiError(c, http.StatusBadRequest, "invalid", "id must be 1-64 letters, digits, '.', '_' or '-'")
		return
	}
	if req.Bids != nil || req.OpeningHash != "" {
		apiError(c, http.StatusBadRequest, "invalid", "bids and opening_hash come from the opening; leave them out")
		return
	}
	for i, q := range req.Quotas {
		if err := checkSpecialties([]string{q.Specialty}); err != nil {
			apiError(c, http.StatusBadRequest, "invalid", fmt.Sprintf("quota %d: %v", i+1, err))
			return
		}
	}
	ctx := c.Request.Context()
	// The evaluation is the opening's center's; another center's opening
	// is answered as one that does not exist.
	if !rooms.ValidID(req.Opening) || !a.roomIn(ctx, adminScope(c), req.Opening) {
		apiError(c, http.StatusNotFound, rooms.CodeNotFound, "opening "+req.Opening+" does not exist in your center")
		return
	}
	if req.Center != "" {
		apiError(c, http.StatusBadRequest, "invalid", "center comes from the opening; leave it out")
		return
	}
	req.Center = a.Svc.CenterOf(ctx, req.Opening)
	bids, head, err := a.Svc.OpenedBids(ctx, req.Opening)
	if err != nil {
		a.fail(c, err)
		return
	}
	req.Bids, req.OpeningHash = bids, head
	if req.Title == "" {
		if sum, err := a.Svc.Summary(ctx, req.Opening); err == nil {
			req.Title = sum.Title + " 评标"
		}
	}
	spec, _ := json.Marshal(req.EvaluationSpec)
	actor := c.MustGet("actor").(rooms.Actor)
	if _, err := a.Svc.Execute(ctx, req.ID, actor, rooms.Command{ID: "create:" + idempotencyKey(c), Type: rooms.CmdCreateEvaluation, Data: spec}); err != nil {
		a.fail(c, err)
		return
	}
	// The opening lists its evaluations, for what its bidders and host ask
	// of them; a retried request (same Idempotency-Key) links it again.
	if err := a.Svc.LinkEvaluation(ctx, req.Opening, req.ID); err != nil {
		a.fail(c, err)
		return
	}
	a.respondSession(c, req.ID, actor, http.StatusCreated)
}

// drawCommittee draws the evaluation's committee from the pool.
func (a *handlers) drawCommittee(c *gin.Context) {
	rec, err := a.Svc.DrawCommittee(c.Request.Context(), c.Param("id"), rooms.PoolRoom)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"draw": rec})
}

// signReport has the platform sign the report every member signed (the
// admin key or a supervisor); a second request answers the same signature.
func (a *handlers) signReport(c *gin.Context) {
	room := c.Param("id")
	actor, ok := a.actorFor(c, room)
	if !ok {
		return
	}
	if actor.Role != rooms.RoleAdmin && actor.Role != rooms.RoleSupervisor {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, "the platform signs the report at the request of an admin or a supervisor")
		return
	}
	ctx := c.Request.Context()
	done, signed, err := a.Svc.CompletedReport(ctx, room)
	if err != nil {
		a.fail(c, err)
		return
	}
	if signed != nil {
		c.JSON(http.StatusOK, gin.H{"platform_signature": signed})
		return
	}
	if done == nil {
		apiError(c, http.StatusConflict, rooms.CodeWrongState, "the platform signs the report once every member signed it")
		return
	}
	msg, err := done.PlatformMessage(room)
	if err != nil {
		a.fail(c, err)
		return
	}
	sig, err := a.Platform.Sign(msg)
	if err != nil {
		a.fail(c, err)
		return
	}
	kid := a.Platform.Public().ID()
	ps := rooms.PlatformSignature{Digest: hex.EncodeToString(sm3.Sm3Sum(msg)), Signature: base64.StdEncoding.EncodeToString(sig), KeyID: hex.EncodeToString(kid[:])}
	data, _ := json.Marshal(ps)
	if _, err := a.Svc.Execute(ctx, room, rooms.SystemActor, rooms.Command{ID: "report-signature:" + ps.Digest, Type: rooms.CmdRecordReportSignature, Data: data}); err != nil {
		if _, again, rerr := a.Svc.CompletedReport(ctx, room); rerr == nil && again != nil {
			c.JSON(http.StatusOK, gin.H{"platform_signature": again}) // another request signed first
			return
		}
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"platform_signature": ps})
}

// clarificationOut is a question as the bidder's page receives it: no
// member's name, no evaluation detail beyond the room it came from.
type clarificationOut struct {
	Evaluation string `json:"evaluation"`
	rooms.Clarification
}

// bidderOfOpening authenticates a registered bidder of the opening.
func (a *handlers) bidderOfOpening(c *gin.Context) (string, rooms.Actor, bool) {
	opening := c.Param("id")
	actor, ok := a.actorFor(c, opening)
	if !ok {
		return "", rooms.Actor{}, false
	}
	if actor.Role != rooms.RoleBidder {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, "clarifications are the bidder's: use a bidder token of the opening")
		return "", rooms.Actor{}, false
	}
	if err := a.Svc.Admit(c.Request.Context(), opening, actor); err != nil {
		a.fail(c, err)
		return "", rooms.Actor{}, false
	}
	return opening, actor, true
}

// listClarifications answers the questions the evaluations of the opening
// asked the calling bidder.
func (a *handlers) listClarifications(c *gin.Context) {
	opening, actor, ok := a.bidderOfOpening(c)
	if !ok {
		return
	}
	byRoom, err := a.Svc.ClarificationsFor(c.Request.Context(), opening, actor.Sub)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := []clarificationOut{}
	for room, qs := range byRoom {
		for _, q := range qs {
			out = append(out, clarificationOut{Evaluation: room, Clarification: q})
		}
	}
	slices.SortFunc(out, func(x, y clarificationOut) int { return x.DueAt.Compare(y.DueAt) })
	c.JSON(http.StatusOK, gin.H{"clarifications": out})
}

// answerClarification records the calling bidder's written answer.
func (a *handlers) answerClarification(c *gin.Context) {
	opening, actor, ok := a.bidderOfOpening(c)
	if !ok {
		return
	}
	var body struct {
		Answer string `json:"answer"`
	}
	if !bind(c, &body) {
		return
	}
	ctx := c.Request.Context()
	room, qid := c.Param("evaluation"), c.Param("question")
	byRoom, err := a.Svc.ClarificationsFor(ctx, opening, actor.Sub)
	if err != nil {
		a.fail(c, err)
		return
	}
	if !slices.ContainsFunc(byRoom[room], func(q rooms.Clarification) bool { return q.ID == qid }) {
		apiError(c, http.StatusNotFound, rooms.CodeNotFound, "no question "+qid+" to you")
		return
	}
	data, _ := json.Marshal(rooms.ClarificationAnswer{ID: qid, Bidder: actor.Sub, Answer: body.Answer})
	if _, err := a.Svc.Execute(ctx, room, rooms.SystemActor, rooms.Command{ID: "clarify:" + actor.Sub + ":" + qid, Type: rooms.CmdRecordClarification, Data: data}); err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"answered": qid})
}
