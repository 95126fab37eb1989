package rooms

import (
	"context"
	"encoding/json"
	"slices"
)

// An opening knows the evaluations made of it: when the server creates an
// evaluation from a finished opening it links it here, so what the
// opening's side asks of its evaluations (the bidders' clarifications and
// results, the host's ratings) reads those rooms only, not every room of
// the store.

// The link between an opening and its evaluations.
const (
	CmdLinkEvaluation  = "link_evaluation"   // the server, after create_evaluation
	EvEvaluationLinked = "evaluation_linked" // staff only: bidders learn of an evaluation by what it asks them
)

// EvaluationLink is the data of link_evaluation and evaluation_linked.
type EvaluationLink struct {
	Evaluation string `json:"evaluation"`
}

// maxLinkedEvaluations bounds an opening's evaluations (a re-evaluation
// after an upheld objection is a new one).
const maxLinkedEvaluations = 20

// linkEvaluation records an evaluation made of the opening. The server
// links one only after creating it from the opening's signed record
// (Service.OpenedBids checks that); the link itself asks nothing more.
func (o *Opening) linkEvaluation(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "link an evaluation", RoleSystem); err != nil {
		return nil, err
	}
	var l EvaluationLink
	if err := decodeData(cmd.Data, &l); err != nil {
		return nil, err
	}
	if !ValidID(l.Evaluation) || l.Evaluation == o.Room {
		return nil, refuse(CodeInvalid, "evaluation must be the id of another room")
	}
	if slices.Contains(o.Evaluations, l.Evaluation) {
		return nil, refuse(CodeWrongState, "evaluation %s is linked already", l.Evaluation)
	}
	if len(o.Evaluations) >= maxLinkedEvaluations {
		return nil, refuse(CodeWrongState, "opening %s has %d evaluations, the most it may have", o.Room, maxLinkedEvaluations)
	}
	return []Draft{{Type: EvEvaluationLinked, Vis: Staff(), Data: l}}, nil
}

func (o *Opening) applyEvaluationLink(e Event) error {
	var l EvaluationLink
	if err := json.Unmarshal(e.Data, &l); err != nil {
		return err
	}
	o.Evaluations = append(o.Evaluations, l.Evaluation)
	return nil
}

// LinkEvaluation links evaluation to the opening it was made of (the
// server's step after create_evaluation; linking twice is no error).
func (s *Service) LinkEvaluation(ctx context.Context, opening, evaluation string) error {
	data, _ := json.Marshal(EvaluationLink{Evaluation: evaluation})
	_, err := s.Execute(ctx, opening, SystemActor, Command{ID: "link:" + evaluation, Type: CmdLinkEvaluation, Data: data})
	if RefusalCode(err) == CodeWrongState {
		if ids, lerr := s.LinkedEvaluations(ctx, opening); lerr == nil && slices.Contains(ids, evaluation) {
			return nil
		}
	}
	return err
}

// LinkedEvaluations lists the evaluations made of an opening, in order;
// none for a room that is not an opening.
func (s *Service) LinkedEvaluations(ctx context.Context, opening string) ([]string, error) {
	r, err := s.current(ctx, opening)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	if o, ok := r.state.(*Opening); ok {
		return slices.Clone(o.Evaluations), nil
	}
	return nil, nil
}
