package rooms

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tjfoc/gmsm/sm3"
)

// The Service's steps for an evaluation's results: what bidders of the
// opening read from their side, the notices the server signs, and the
// sanctions it carries over to the pool.

// existingRoom reports whether a room has events, without caching an
// empty room for an id nobody created (the publicity is served without a
// token, so any id may be asked for).
func (s *Service) existingRoom(ctx context.Context, id string) (bool, error) {
	if !ValidID(id) {
		return false, nil
	}
	s.mu.Lock()
	_, cached := s.rooms[id]
	s.mu.Unlock()
	if cached {
		return true, nil
	}
	events, err := s.log.Read(ctx, id, 0, 1)
	if err != nil {
		return false, err
	}
	return len(events) > 0, nil
}

// Publicity returns an evaluation's published candidates and whether the
// publicity has closed. Before it is published, for a room that is not an
// evaluation or does not exist, it answers the same not_found refusal.
func (s *Service) Publicity(ctx context.Context, evalRoom string) (Publicity, bool, error) {
	none := refuse(CodeNotFound, "no publicity for %s", evalRoom)
	if ok, err := s.existingRoom(ctx, evalRoom); err != nil || !ok {
		return Publicity{}, false, cmp.Or(err, none)
	}
	r, v, err := s.evaluation(ctx, evalRoom)
	if err != nil {
		return Publicity{}, false, none
	}
	defer r.mu.Unlock()
	if v.Results.Publicity == nil {
		return Publicity{}, false, none
	}
	return *v.Results.Publicity, !v.Results.ClosedAt.IsZero(), nil
}

// IssuedNotice is one notice as its bidder (or staff) fetches it.
type IssuedNotice struct {
	NoticeEntry
	IssuedAt time.Time `json:"issued_at"`
	KeyID    string    `json:"key_id"`
}

// OpeningResult is one evaluation of an opening as the opening's side
// sees its results: the publicity, the objections and the notices (a
// bidder: their own; supervisors and admins: all).
type OpeningResult struct {
	Evaluation string
	Publicity  Publicity
	Closed     bool
	Objections []ResultObjection
	Notices    []IssuedNotice
}

// ResultsFor returns the results of every evaluation of the opening that
// published its candidates, as viewer sees them: a bidder gets their own
// objections and notice, staff (supervisor, admin) every one. The caller
// has checked viewer's token for the opening.
func (s *Service) ResultsFor(ctx context.Context, opening string, viewer Actor) ([]OpeningResult, error) {
	ids, err := s.LinkedEvaluations(ctx, opening)
	if err != nil {
		return nil, err
	}
	all := viewer.Role == RoleSupervisor || viewer.Role == RoleAdmin || viewer.Role == RoleSystem
	out := []OpeningResult{}
	for _, id := range ids {
		r, err := s.current(ctx, id)
		if err != nil {
			return nil, err
		}
		if v, ok := r.state.(*Evaluation); ok && v.Spec.Opening == opening && v.Results.Publicity != nil {
			res := OpeningResult{Evaluation: id, Publicity: *v.Results.Publicity, Closed: !v.Results.ClosedAt.IsZero(), Objections: []ResultObjection{}}
			for _, o := range v.Results.Objections {
				if all || o.Bidder == viewer.Sub {
					res.Objections = append(res.Objections, o)
				}
			}
			if n := v.Results.Notices; n != nil {
				for _, e := range n.Notices {
					if all || e.Bidder == viewer.Sub {
						res.Notices = append(res.Notices, IssuedNotice{NoticeEntry: e, IssuedAt: n.IssuedAt, KeyID: n.KeyID})
					}
				}
			}
			out = append(out, res)
		}
		r.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b OpeningResult) int { return strings.Compare(a.Evaluation, b.Evaluation) })
	return out, nil
}

// evaluationOf returns the room as an evaluation of opening, with r.mu
// held, or a not_found refusal.
func (s *Service) evaluationOf(ctx context.Context, evalRoom, opening string) (*room, *Evaluation, error) {
	none := refuse(CodeNotFound, "no evaluation %s of opening %s", evalRoom, opening)
	if ok, err := s.existingRoom(ctx, evalRoom); err != nil || !ok {
		return nil, nil, cmp.Or(err, none)
	}
	r, v, err := s.evaluation(ctx, evalRoom)
	if err != nil {
		return nil, nil, none
	}
	if v.Spec.Opening != opening {
		r.mu.Unlock()
		return nil, nil, none
	}
	return r, v, nil
}

// ObjectionOf returns the objection a command appended (by the seq of its
// event), for the answer to a bidder who raised it.
func (s *Service) ObjectionOf(ctx context.Context, evalRoom string, seq uint64) (ResultObjection, bool, error) {
	r, v, err := s.evaluation(ctx, evalRoom)
	if err != nil {
		return ResultObjection{}, false, err
	}
	defer r.mu.Unlock()
	for _, o := range v.Results.Objections {
		if o.Seq == seq {
			return o, true, nil
		}
	}
	return ResultObjection{}, false, nil
}

// PublishedFor checks that evalRoom is an evaluation of opening that has
// published its candidates: what a bidder may object to. Anything else is
// the same not_found refusal.
func (s *Service) PublishedFor(ctx context.Context, evalRoom, opening string) error {
	r, v, err := s.evaluationOf(ctx, evalRoom, opening)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if v.Results.Publicity == nil {
		return refuse(CodeNotFound, "no publicity of %s for opening %s", evalRoom, opening)
	}
	return nil
}

// RatingsFor returns, for the host of opening, the committee of evalRoom
// (once its report is complete) and the host's own latest ratings.
func (s *Service) RatingsFor(ctx context.Context, evalRoom, opening, host string) ([]ReportMember, []Rating, error) {
	r, v, err := s.evaluationOf(ctx, evalRoom, opening)
	if err != nil {
		return nil, nil, err
	}
	defer r.mu.Unlock()
	if v.Completed == nil {
		return nil, nil, refuse(CodeWrongState, "the committee is rated once its report is complete")
	}
	mine := []Rating{}
	for _, x := range v.latestRatings() {
		if x.ByRole == RoleHost && x.By == host {
			mine = append(mine, x)
		}
	}
	return v.Completed.Report.Committee, mine, nil
}

// NoticesToSign returns the notices already issued, or else the notices
// the room gives at issuedAt, for the server to sign and record with
// record_notices; a *Refusal before the publicity closed or while an
// objection is unanswered.
func (s *Service) NoticesToSign(ctx context.Context, evalRoom string, issuedAt time.Time) (*NoticesIssued, []NoticeEntry, error) {
	r, v, err := s.evaluation(ctx, evalRoom)
	if err != nil {
		return nil, nil, err
	}
	defer r.mu.Unlock()
	if n := v.Results.Notices; n != nil {
		return n, nil, nil
	}
	if err := v.NoticesReady(); err != nil {
		return nil, nil, err
	}
	drafts, err := v.BuildNotices(issuedAt)
	return nil, drafts, err
}

// ApplySanctions carries every violation and rating the evaluation noted,
// and the pool has not received yet, over to the pool, then records in
// the evaluation what the pool did. Every step is idempotent: a retry
// after a failure between them completes the same sanctions. It returns
// how many it recorded.
func (s *Service) ApplySanctions(ctx context.Context, evalRoom, poolRoom string) (int, error) {
	data, ids, err := s.sanctionsData(ctx, evalRoom, poolRoom)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	sum := sm3.Sm3Sum([]byte(strings.Join(ids, ",")))
	if _, err := s.Execute(ctx, evalRoom, SystemActor, Command{ID: "sanctions:" + hex.EncodeToString(sum[:16]), Type: CmdRecordSanctions, Data: data}); err != nil {
		return 0, err
	}
	return len(ids), nil
}

// SanctionsFill is the scheduler's data for record_sanctions_applied:
// it carries the pending sanctions over to poolRoom and returns what the
// pool did (the scheduler then records it in the evaluation).
func (s *Service) SanctionsFill(poolRoom string) func(ctx context.Context, room string) (json.RawMessage, error) {
	return func(ctx context.Context, room string) (json.RawMessage, error) {
		data, ids, err := s.sanctionsData(ctx, room, poolRoom)
		if err == nil && len(ids) == 0 {
			err = errors.New("no sanction is pending")
		}
		return data, err
	}
}

// sanctionsData runs the pool commands of every pending sanction of
// evalRoom and returns the record_sanctions_applied data. A pool refusal
// (the expert is not in the pool, the suspension has ended already) is
// recorded as a note, not retried; any other error is returned.
func (s *Service) sanctionsData(ctx context.Context, evalRoom, poolRoom string) (json.RawMessage, []string, error) {
	r, v, err := s.evaluation(ctx, evalRoom)
	if err != nil {
		return nil, nil, err
	}
	pending := v.PendingSanctions()
	r.mu.Unlock()
	if len(pending) == 0 {
		return nil, nil, nil
	}
	out := SanctionsApplied{Pool: poolRoom}
	var ids []string
	for _, p := range pending {
		res := SanctionResult{ID: p.ID, Expert: p.Expert}
		var notes []string
		if p.Credit != 0 {
			data, _ := json.Marshal(CreditChange{Expert: p.Expert, Delta: p.Credit, Reason: p.Reason, Evaluation: evalRoom})
			_, err := s.Execute(ctx, poolRoom, SystemActor, Command{ID: "sanction:" + evalRoom + ":" + p.ID + ":credit", Type: CmdAdjustCredit, Data: data})
			switch {
			case err == nil:
				res.Credit = p.Credit
			case RefusalCode(err) != "":
				notes = append(notes, "credit not changed: "+err.Error())
			default:
				return nil, nil, err
			}
		}
		if !p.Until.IsZero() {
			until, err := s.suspend(ctx, poolRoom, evalRoom, p)
			switch {
			case err == nil:
				res.SuspendedUntil = until
				if until.After(p.Until) {
					notes = append(notes, "already suspended until "+until.Format(time.RFC3339))
				}
			case RefusalCode(err) != "":
				notes = append(notes, "not suspended: "+err.Error())
			default:
				return nil, nil, err
			}
		}
		res.Note = clip(strings.Join(notes, "; "), 500)
		out.Results = append(out.Results, res)
		ids = append(ids, p.ID)
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, nil, err
	}
	return data, ids, nil
}

// suspend suspends the expert in the pool until p.Until, unless a longer
// suspension is in force (a sanction never shortens one); it returns the
// date the expert is suspended until.
func (s *Service) suspend(ctx context.Context, poolRoom, evalRoom string, p Sanction) (time.Time, error) {
	r, err := s.current(ctx, poolRoom)
	if err != nil {
		return time.Time{}, err
	}
	pool, ok := r.state.(*Pool)
	var current time.Time
	if ok && pool.Experts[p.Expert] != nil {
		current = pool.Experts[p.Expert].SuspendedUntil
	}
	r.mu.Unlock()
	if !ok {
		return time.Time{}, refuse(CodeNotFound, "expert pool %s does not exist", poolRoom)
	}
	if current.After(p.Until) {
		return current, nil
	}
	data, _ := json.Marshal(Suspension{Expert: p.Expert, Until: p.Until, Reason: p.Reason})
	if _, err := s.Execute(ctx, poolRoom, SystemActor, Command{ID: "sanction:" + evalRoom + ":" + p.ID + ":suspend", Type: CmdSuspendExpert, Data: data}); err != nil {
		return time.Time{}, err
	}
	return p.Until, nil
}
