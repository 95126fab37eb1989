package rooms

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"
)

// Scheduler fires rooms' timers (sign-in opening, the deadline) as system
// commands. Every server instance may run one: a timer's command id is
// derived from the timer, so a second firing is a harmless duplicate.
type Scheduler struct {
	svc    *Service
	logger *slog.Logger
	tick   time.Duration // longest sleep between looks at the timer index

	// Rescan is how often the index is brought up to date with the log
	// (Service.RescanTimers: rooms other servers wrote); the first look
	// always rescans. Default 5 minutes.
	Rescan   time.Duration
	lastScan time.Time

	// Fill supplies the data of a timer's command where the server must
	// look something up first (record_bonds: the bond system). A timer
	// without one runs with no data.
	Fill map[string]func(ctx context.Context, room string) (json.RawMessage, error)
}

// NewScheduler returns a Scheduler over svc.
func NewScheduler(svc *Service, logger *slog.Logger) *Scheduler {
	return &Scheduler{svc: svc, logger: logger, tick: time.Second, Rescan: 5 * time.Minute}
}

// Run fires due timers until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	for {
		next := s.fireDue(ctx)
		wait := s.tick
		if d := time.Until(next); !next.IsZero() && d < wait {
			wait = max(d, time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// fireDue runs every due timer once and returns the earliest pending one.
// It looks only at the rooms the timer index says are due (not at every
// room), and rescans the log now and then for rooms other servers wrote.
func (s *Scheduler) fireDue(ctx context.Context) (earliest time.Time) {
	if s.lastScan.IsZero() || time.Since(s.lastScan) >= s.Rescan {
		if err := s.svc.RescanTimers(ctx); err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("scheduler: rescan the rooms' timers", "err", err)
			}
		} else {
			s.lastScan = time.Now()
		}
	}
	ids, next := s.svc.DueTimers(s.svc.Now())
	earliest = next
	for _, id := range ids {
		for range 4 { // a room may have several timers due at once
			at, cmdType, ok, err := s.svc.NextTimer(ctx, id)
			if err != nil || !ok {
				break
			}
			if s.svc.Now().Before(at) {
				if earliest.IsZero() || at.Before(earliest) {
					earliest = at
				}
				break
			}
			cmd := Command{ID: "timer:" + cmdType + ":" + at.UTC().Format(time.RFC3339Nano), Type: cmdType}
			if fill := s.Fill[cmdType]; fill != nil {
				if cmd.Data, err = fill(ctx, id); err != nil {
					s.logger.Warn("scheduler: timer data", "room", id, "timer", cmdType, "err", err)
					break
				}
			}
			if _, err := s.svc.Execute(ctx, id, SystemActor, cmd); err != nil {
				s.logger.Warn("scheduler: timer refused", "room", id, "timer", cmdType, "err", err)
				break
			}
			s.logger.Info("timer fired", "room", id, "timer", cmdType)
		}
	}
	return earliest
}
