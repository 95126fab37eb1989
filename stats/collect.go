package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bidroom/bidroom/rooms"
)

// Source is where the figures come from: the ids of every room and each
// room's events. *rooms.Service is one.
type Source interface {
	Rooms(ctx context.Context) ([]string, error)
	EventsAfter(ctx context.Context, room string, after uint64) ([]rooms.Event, error)
}

// Collect reads every room of src into a new Collector, one room at a
// time. A room that fails to read fails the whole collection.
func Collect(ctx context.Context, src Source) (*Collector, error) {
	ids, err := src.Rooms(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats: list rooms: %w", err)
	}
	c := NewCollector()
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		events, err := src.EventsAfter(ctx, id, 0)
		if err != nil {
			return nil, fmt.Errorf("stats: read room %s: %w", id, err)
		}
		c.Add(events)
	}
	return c, nil
}

// Collector reduces room logs to the few facts the statistics need: one
// small record per opening and per auction, and what each evaluation
// adds to its opening. It is not safe for concurrent use.
type Collector struct {
	openings map[string]*openingRec
	evals    map[string][]*evalRec // by opening room
	auctions []*auctionRec
}

// NewCollector returns an empty Collector.
func NewCollector() *Collector {
	return &Collector{openings: map[string]*openingRec{}, evals: map[string][]*evalRec{}}
}

// openingRec is what the statistics keep of an opening room.
type openingRec struct {
	center, category string
	deadline         time.Time
	budget           Amount // SealedTerms.Budget, else the control price
	hasBudget        bool
	budgetIsControl  bool
	due              bool // the deadline passed: the opened event
	submitted        int  // bids held at the deadline
	failed           bool // 流标
	decrypting       bool // the decryption window opened
	unlockFailures   int  // unlock_failed events
	bidsFailed       int  // bids with at least one unlock_failed
	notOpened        int  // bids classified revoked or withdrawn
	completed        bool // read out
}

// evalRec is what an evaluation adds to its opening.
type evalRec struct {
	drawn        bool
	experts      int // members the draw seated
	reserves     int
	replacements int
	award        Amount
	awarded      bool
	awardAt      time.Time // when the notices were issued
}

// auctionRec is what the statistics keep of an auction room.
type auctionRec struct {
	center, category string
	at               time.Time // the end: when it ended, else the listing's end
	ended, sold      bool
	price, start     Amount
}

// Add reduces one room's log (its events in order, from seq 1). Rooms of
// other kinds (the expert pool), and logs that do not start with a
// creating event, are ignored; so are events whose data cannot be read.
func (c *Collector) Add(events []rooms.Event) {
	if len(events) == 0 {
		return
	}
	switch events[0].Type {
	case rooms.EvSessionCreated:
		c.addOpening(events)
	case rooms.EvEvaluationCreated:
		c.addEvaluation(events)
	case rooms.EvAuctionCreated:
		c.addAuction(events)
	}
}

func (c *Collector) addOpening(events []rooms.Event) {
	var spec rooms.SessionSpec
	if json.Unmarshal(events[0].Data, &spec) != nil {
		return
	}
	r := &openingRec{center: spec.Center, category: spec.Category, deadline: spec.Deadline}
	var terms rooms.SealedTerms
	failedBids := map[string]bool{}
	for _, e := range events[1:] {
		switch e.Type {
		case rooms.EvSessionTerms:
			_ = json.Unmarshal(e.Data, &terms)
		case rooms.EvOpened:
			var o rooms.Opened
			if json.Unmarshal(e.Data, &o) == nil {
				r.due, r.submitted = true, o.Submitted
			}
		case rooms.EvFailed:
			var f rooms.Failure
			if json.Unmarshal(e.Data, &f) == nil && f.Reason == rooms.FailureFewerThanMinBids {
				r.failed = true
			}
		case rooms.EvDecryptionStarted:
			r.decrypting = true
		case rooms.EvUnlockFailed:
			var u rooms.Unlock
			if json.Unmarshal(e.Data, &u) == nil {
				r.unlockFailures++
				failedBids[u.Bidder] = true
			}
		case rooms.EvClassified:
			var cl rooms.Classification
			if json.Unmarshal(e.Data, &cl) == nil && (cl.Outcome == rooms.OutcomeRevoked || cl.Outcome == rooms.OutcomeWithdrawn) {
				r.notOpened++
			}
		case rooms.EvReadOut:
			r.completed = true
		}
	}
	r.bidsFailed = len(failedBids)
	if b, ok := ParseAmount(terms.Budget); ok {
		r.budget, r.hasBudget = b, true
	} else if b, ok := ParseAmount(spec.ControlPrice); ok {
		r.budget, r.hasBudget, r.budgetIsControl = b, true, true
	}
	c.openings[events[0].Room] = r
}

func (c *Collector) addEvaluation(events []rooms.Event) {
	var spec rooms.EvaluationSpec
	if json.Unmarshal(events[0].Data, &spec) != nil || spec.Opening == "" {
		return
	}
	r := &evalRec{}
	for _, e := range events[1:] {
		switch e.Type {
		case rooms.EvCommitteeFormed:
			var d rooms.DrawRecord
			if json.Unmarshal(e.Data, &d) != nil {
				continue
			}
			r.drawn = true
			for _, s := range d.Drawn {
				if s.Reserve {
					r.reserves++
				} else {
					r.experts++
				}
			}
		case rooms.EvMemberReplaced:
			r.replacements++
		case rooms.EvNoticesIssued:
			var n rooms.NoticesIssued
			if json.Unmarshal(e.Data, &n) != nil {
				continue
			}
			for _, entry := range n.Notices {
				if entry.Kind != rooms.NoticeAward {
					continue
				}
				var doc rooms.Notice
				if json.Unmarshal([]byte(entry.JSON), &doc) != nil {
					continue
				}
				if p, ok := ParseAmount(doc.Price); ok {
					r.award, r.awarded, r.awardAt = p, true, n.IssuedAt
				}
			}
		}
	}
	c.evals[spec.Opening] = append(c.evals[spec.Opening], r)
}

func (c *Collector) addAuction(events []rooms.Event) {
	var spec rooms.AuctionSpec
	if json.Unmarshal(events[0].Data, &spec) != nil {
		return
	}
	r := &auctionRec{center: spec.Center, category: spec.Category, at: spec.ListingEnd}
	r.start, _ = ParseAmount(spec.StartPrice)
	for _, e := range events[1:] {
		if e.Type != rooms.EvAuctionEnded {
			continue
		}
		var res rooms.AuctionResult
		if json.Unmarshal(e.Data, &res) != nil {
			continue
		}
		r.ended, r.at = true, res.EndedAt
		if res.Result == rooms.AuctionSold {
			if p, ok := ParseAmount(res.Price); ok {
				r.sold, r.price = true, p
			}
		}
	}
	c.auctions = append(c.auctions, r)
}
