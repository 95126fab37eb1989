package rooms

import "context"

// The Service's questions only an opening room answers: the transports
// ask them for the opening's own endpoints (bid upload, unlock, sign-in).

// opening returns the room as an opening, with r.mu held (the caller
// unlocks it), or a not_found refusal for a room of another kind.
func (s *Service) opening(ctx context.Context, roomID string) (*room, *Opening, error) {
	r, err := s.current(ctx, roomID)
	if err != nil {
		return nil, nil, err
	}
	o, ok := r.state.(*Opening)
	if !ok {
		kind := r.state.Kind()
		r.mu.Unlock()
		if kind == "" {
			return nil, nil, refuse(CodeNotFound, "session %s does not exist", roomID)
		}
		return nil, nil, refuse(CodeNotFound, "%s is a room of kind %s, not an opening", roomID, kind)
	}
	return r, o, nil
}

// SignedIn reports whether actor has signed in to the room (cached state).
func (s *Service) SignedIn(roomID string, actor Actor) bool {
	r := s.room(roomID)
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok := r.state.(interface{ SignedIn(Actor) bool })
	return ok && in.SignedIn(actor)
}

// SignedIn reports whether actor has signed in to the opening.
func (o *Opening) SignedIn(actor Actor) bool {
	p := o.participant(actor.Sub, actor.Role, false)
	return p != nil && p.SignedIn
}

// BidderKey returns the public key (PEM) a bidder registered, and whether
// the bidder is registered at all.
func (s *Service) BidderKey(ctx context.Context, roomID, bidder string) (string, bool, error) {
	r, o, err := s.opening(ctx, roomID)
	if err != nil {
		return "", false, err
	}
	defer r.mu.Unlock()
	p := o.Bidders[bidder]
	if p == nil {
		return "", false, nil
	}
	return p.PublicKey, true, nil
}

// BiddingOpen reports (as a *Refusal) whether bids may be submitted to the
// room now.
func (s *Service) BiddingOpen(ctx context.Context, roomID string) error {
	r, o, err := s.opening(ctx, roomID)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	return o.BiddingOpen(s.Now())
}

// UnlockOpen reports (as a *Refusal) whether bidder may unlock their bid now.
func (s *Service) UnlockOpen(ctx context.Context, roomID, bidder string) error {
	r, o, err := s.opening(ctx, roomID)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	return o.UnlockOpen(bidder, s.Now())
}

// BackupOpen reports (as a *Refusal) whether bidder may unlock from the
// backup file now (R10).
func (s *Service) BackupOpen(ctx context.Context, roomID, bidder string) error {
	r, o, err := s.opening(ctx, roomID)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if err := o.UnlockOpen(bidder, s.Now()); err != nil {
		return err
	}
	return o.BackupOpen(bidder)
}

// BidOf returns a copy of the bid a bidder holds and its unlock outcome, if any.
func (s *Service) BidOf(ctx context.Context, roomID, bidder string) (*Bid, *Unlock, error) {
	r, o, err := s.opening(ctx, roomID)
	if err != nil {
		return nil, nil, err
	}
	defer r.mu.Unlock()
	p := o.Bidders[bidder]
	if p == nil || p.Bid == nil {
		return nil, nil, refuse(CodeNotFound, "bidder %s has no bid in this session", bidder)
	}
	b := *p.Bid
	var u *Unlock
	if p.Opened != nil {
		cp := *p.Opened
		u = &cp
	}
	return &b, u, nil
}
