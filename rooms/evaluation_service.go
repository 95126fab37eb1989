package rooms

import (
	"context"
	"encoding/json"
	"fmt"
)

// The Service's steps that join an evaluation to the rooms around it: the
// closed opening it scores and the pool it draws from. The transport calls
// them; each room's own rules stay in its kind.

// OpenedBids returns the bids an evaluation of the opening scores: every
// bid opened and read out, with its price and digests by reference, and
// the opening's log head. The opening must have its signed record.
func (s *Service) OpenedBids(ctx context.Context, openingRoom string) (bids []EvalBid, head string, err error) {
	r, o, err := s.opening(ctx, openingRoom)
	if err != nil {
		return nil, "", err
	}
	defer r.mu.Unlock()
	if o.Phase != PhaseRecord && o.Phase != PhaseClosed {
		return nil, "", refuse(CodeWrongState, "opening %s has no signed record yet (it is %s): evaluate a finished opening", openingRoom, o.Phase)
	}
	if o.ReadOut == nil {
		return nil, "", refuse(CodeWrongState, "opening %s read out nothing", openingRoom)
	}
	for _, row := range o.ReadOut.Rows {
		if row.Outcome != "opened" {
			continue
		}
		b := EvalBid{Bidder: row.Bidder, Name: row.Name, Price: row.Sheet["price"]}
		if p := o.Bidders[row.Bidder]; p != nil {
			if p.Bid != nil {
				b.BidDigest = p.Bid.Digest
			}
			if p.Opened != nil {
				b.PlaintextDigest = p.Opened.PlaintextSHA
			}
		}
		bids = append(bids, b)
	}
	if len(bids) == 0 {
		return nil, "", refuse(CodeWrongState, "opening %s has no opened bid to evaluate", openingRoom)
	}
	return bids, o.Hash, nil
}

// evaluation returns the room as an evaluation, with r.mu held.
func (s *Service) evaluation(ctx context.Context, roomID string) (*room, *Evaluation, error) {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return nil, nil, err
	}
	v, ok := r.state.(*Evaluation)
	if !ok {
		r.mu.Unlock()
		return nil, nil, refuse(CodeNotFound, "evaluation %s does not exist", roomID)
	}
	return r, v, nil
}

// DrawCommittee draws the evaluation's committee from the pool and seats
// it: the pool records the draw (seed, eligible digest, result), then the
// evaluation receives the record. Both steps are idempotent, so a retry
// after a failure between them completes the same draw.
func (s *Service) DrawCommittee(ctx context.Context, evalRoom, poolRoom string) (DrawRecord, error) {
	r, v, err := s.evaluation(ctx, evalRoom)
	if err != nil {
		return DrawRecord{}, err
	}
	req, phase := v.DrawRequest(), v.Phase
	r.mu.Unlock()
	if phase != EvalDrawing {
		rec, err := s.drawRecord(ctx, poolRoom, evalRoom)
		if err != nil {
			return DrawRecord{}, err
		}
		return rec, refuse(CodeWrongState, "the committee of %s is drawn already", evalRoom)
	}
	data, err := json.Marshal(req)
	if err != nil {
		return DrawRecord{}, fmt.Errorf("encode draw request: %w", err)
	}
	if _, err := s.Execute(ctx, poolRoom, SystemActor, Command{ID: "draw:" + evalRoom, Type: CmdDrawExperts, Data: data}); err != nil {
		return DrawRecord{}, err
	}
	rec, err := s.drawRecord(ctx, poolRoom, evalRoom)
	if err != nil {
		return DrawRecord{}, err
	}
	if data, err = json.Marshal(rec); err != nil {
		return DrawRecord{}, fmt.Errorf("encode draw record: %w", err)
	}
	if _, err := s.Execute(ctx, evalRoom, SystemActor, Command{ID: "form:" + poolRoom, Type: CmdFormCommittee, Data: data}); err != nil {
		return DrawRecord{}, err
	}
	return rec, nil
}

// drawRecord finds the pool's record of the draw for evalRoom.
func (s *Service) drawRecord(ctx context.Context, poolRoom, evalRoom string) (DrawRecord, error) {
	r, err := s.current(ctx, poolRoom)
	if err != nil {
		return DrawRecord{}, err
	}
	defer r.mu.Unlock()
	p, ok := r.state.(*Pool)
	if !ok {
		return DrawRecord{}, refuse(CodeNotFound, "expert pool %s does not exist", poolRoom)
	}
	for _, d := range p.Draws {
		if d.Evaluation == evalRoom {
			return d, nil
		}
	}
	return DrawRecord{}, refuse(CodeNotFound, "the pool has no draw for %s", evalRoom)
}

// CompletedReport returns the evaluation's report signed by every member
// (nil before) and the platform's signature over it (nil before).
func (s *Service) CompletedReport(ctx context.Context, evalRoom string) (*CompletedReport, *PlatformSignature, error) {
	r, v, err := s.evaluation(ctx, evalRoom)
	if err != nil {
		return nil, nil, err
	}
	defer r.mu.Unlock()
	return v.Completed, v.PlatformSig, nil
}
