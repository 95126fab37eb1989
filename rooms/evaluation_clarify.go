package rooms

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Clarification (澄清): the committee asks a bidder in writing, through
// the chair, with a deadline; the bidder answers from their own page. The
// question reaches the bidder without any member's name (the actor of
// the event is the room, not the chair), and both go into the log.

// Commands and events of a clarification.
const (
	CmdAskClarification    = "ask_clarification"
	CmdRecordClarification = "record_clarification_answer" // the server, for the bidder who answered over REST
	EvClarificationAsked   = "clarification_asked"
	EvClarificationAnswer  = "clarification_answered"
)

// Bounds of a clarification.
const (
	maxClarifications   = 100
	maxClarifyMinutes   = 7 * 24 * 60
	clarificationIDBase = "q"
)

// Clarification is one question to a bidder and, once given, the answer.
type Clarification struct {
	ID         string    `json:"id"`
	Bidder     string    `json:"bidder"`
	Question   string    `json:"question"`
	DueAt      time.Time `json:"due_at"`
	Answer     string    `json:"answer,omitempty"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
}

// ClarificationRequest is the data of ask_clarification.
type ClarificationRequest struct {
	Bidder   string `json:"bidder"`
	Question string `json:"question"`
	Minutes  int    `json:"minutes"` // the bidder has this long to answer
}

// ClarificationAnswer is the data of record_clarification_answer.
type ClarificationAnswer struct {
	ID     string `json:"id"`
	Bidder string `json:"bidder"`
	Answer string `json:"answer"`
}

func (v *Evaluation) askClarification(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	m, err := v.actingMember(actor, "ask a bidder for clarification")
	if err != nil {
		return nil, err
	}
	if !m.Chair {
		return nil, refuse(CodeForbidden, "the committee asks through its chair")
	}
	if v.Phase != EvalScoring && v.Phase != EvalTallied {
		return nil, refuse(CodeWrongState, "clarifications are asked during the scoring")
	}
	var q ClarificationRequest
	if err := decodeData(cmd.Data, &q); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(v.Spec.Bids, func(b EvalBid) bool { return b.Bidder == q.Bidder }) {
		return nil, refuse(CodeInvalid, "%q is not a bidder of this evaluation", q.Bidder)
	}
	if err := checkText("question", q.Question, 2000); err != nil {
		return nil, err
	}
	if q.Minutes < 10 || q.Minutes > maxClarifyMinutes {
		return nil, refuse(CodeInvalid, "minutes must be 10-%d, got %d", maxClarifyMinutes, q.Minutes)
	}
	if len(v.Clarifications) >= maxClarifications {
		return nil, refuse(CodeInvalid, "at most %d clarifications per evaluation", maxClarifications)
	}
	c := Clarification{ID: fmt.Sprintf("%s%d", clarificationIDBase, len(v.Clarifications)+1), Bidder: q.Bidder, Question: q.Question,
		DueAt: now.Add(time.Duration(q.Minutes) * time.Minute).UTC().Truncate(time.Second)}
	return []Draft{{Type: EvClarificationAsked, Vis: v.committeeVis(), Data: c}}, nil
}

func (v *Evaluation) recordClarification(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "record a bidder's answer", RoleSystem); err != nil {
		return nil, err
	}
	var a ClarificationAnswer
	if err := decodeData(cmd.Data, &a); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(v.Clarifications, func(c Clarification) bool { return c.ID == a.ID && c.Bidder == a.Bidder })
	if i < 0 {
		return nil, refuse(CodeNotFound, "no question %s to you", a.ID)
	}
	c := v.Clarifications[i]
	if c.Answer != "" {
		return nil, refuse(CodeWrongState, "question %s is answered already", a.ID)
	}
	if now.After(c.DueAt) {
		return nil, refuse(CodeWrongState, "the answer to %s was due at %s", a.ID, c.DueAt.Format(time.RFC3339))
	}
	if err := checkText("answer", a.Answer, 5000); err != nil {
		return nil, err
	}
	return []Draft{{Type: EvClarificationAnswer, Vis: v.committeeVis(), Data: a}}, nil
}

// applyClarification folds the clarification events.
func (v *Evaluation) applyClarification(e Event, data func(any) error) (bool, error) {
	switch e.Type {
	case EvClarificationAsked:
		var c Clarification
		if err := data(&c); err != nil {
			return true, err
		}
		v.Clarifications = append(v.Clarifications, c)
	case EvClarificationAnswer:
		var a ClarificationAnswer
		if err := data(&a); err != nil {
			return true, err
		}
		for i := range v.Clarifications {
			if v.Clarifications[i].ID == a.ID {
				v.Clarifications[i].Answer, v.Clarifications[i].AnsweredAt = a.Answer, e.Time
			}
		}
	default:
		return false, nil
	}
	return true, nil
}

// ClarificationsFor returns the questions every evaluation of the opening
// asked bidder, by evaluation room: what the bidder's own page shows.
// Nothing in them names a member.
func (s *Service) ClarificationsFor(ctx context.Context, opening, bidder string) (map[string][]Clarification, error) {
	ids, err := s.LinkedEvaluations(ctx, opening)
	if err != nil {
		return nil, err
	}
	out := map[string][]Clarification{}
	for _, id := range ids {
		r, err := s.current(ctx, id)
		if err != nil {
			return nil, err
		}
		if v, ok := r.state.(*Evaluation); ok && v.Spec.Opening == opening {
			for _, c := range v.Clarifications {
				if c.Bidder == bidder {
					out[id] = append(out[id], c)
				}
			}
		}
		r.mu.Unlock()
	}
	return out, nil
}
