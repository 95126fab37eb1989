package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/bidroom/bidroom/bond"
	"github.com/bidroom/bidroom/configs"
	"github.com/bidroom/bidroom/rooms"
)

// demoBonds is the demo's registration data: one bidder paid in cash, one
// with an electronic guarantee, one paid.
var demoBonds = map[string]bond.Record{
	"bidder-a": {Status: bond.Paid, Amount: "256000.00", Reference: "BZJ-2026-0001"},
	"bidder-b": {Status: bond.Guaranteed, Amount: "256000.00", Guarantor: "中国银行南京分行", Reference: "DZBH-2026-0815"},
	"bidder-c": {Status: bond.Paid, Amount: "256000.00", Reference: "BZJ-2026-0002"},
}

// newBondChecker returns how the opening looks bonds up at the deadline:
// the center's bond system when bond.url is set; otherwise the demo's
// registration data for the demo session, and for any other session an
// "unknown" that says no bond system is configured (never a guess).
func newBondChecker(cfg configs.Config, demoRoom func() string, logger *slog.Logger) (bond.Checker, error) {
	if cfg.Bond.URL != "" {
		return bond.FromConfig(cfg.Bond, nil, logger)
	}
	return noBondSystem{demoRoom: demoRoom}, nil
}

// depositBonds is where the auction's deposits are looked up: the bond
// system when one is configured, else none — the admin enters them by
// hand rather than the auction taking noBondSystem's "unknown".
func depositBonds(cfg configs.Config, bonds bond.Checker) bond.Checker {
	if cfg.Bond.URL == "" {
		return nil
	}
	return bonds
}

// noBondSystem answers when no bond system is configured.
type noBondSystem struct{ demoRoom func() string }

// Check implements bond.Checker.
func (n noBondSystem) Check(ctx context.Context, session string, bidders []string) ([]bond.Record, error) {
	if n.demoRoom != nil && session == n.demoRoom() {
		return bond.Static(demoBonds).Check(ctx, session, bidders)
	}
	out := make([]bond.Record, len(bidders))
	for i, b := range bidders {
		out[i] = bond.Record{Bidder: b, Status: bond.Unknown, Source: bond.SourceRegistration,
			Error: "no bond system is configured (bond.url); check the bonds by hand"}
	}
	return out, nil
}

// bondFill is the scheduler's data for record_bonds: the bonds of the
// bidders whose bids were held at the deadline.
func bondFill(svc *rooms.Service, checker bond.Checker) func(ctx context.Context, room string) (json.RawMessage, error) {
	return func(ctx context.Context, room string) (json.RawMessage, error) {
		snap, err := svc.Snapshot(ctx, room, rooms.SystemActor)
		if err != nil {
			return nil, err
		}
		v, ok := snap.Opening()
		if !ok {
			return nil, fmt.Errorf("room %s is not an opening", room)
		}
		var bidders []string
		for _, p := range v.Bidders {
			if p.Submitted != nil && *p.Submitted {
				bidders = append(bidders, p.Sub)
			}
		}
		recs, err := checker.Check(ctx, room, bidders)
		if err != nil {
			return nil, fmt.Errorf("check bonds of %s: %w", room, err)
		}
		out := rooms.Bonds{Bonds: make([]rooms.BondStatus, 0, len(recs))}
		for _, r := range recs {
			out.Bonds = append(out.Bonds, rooms.BondStatus{
				Bidder: r.Bidder, Status: string(r.Status), Amount: r.Amount, Guarantor: r.Guarantor,
				Reference: r.Reference, Source: r.Source, Error: r.Error, CheckedAt: r.CheckedAt,
			})
		}
		return json.Marshal(out)
	}
}
