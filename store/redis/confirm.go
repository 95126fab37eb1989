package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Confirmed reads. With WithMinReplicas an append is acknowledged only
// once WAIT shows replicas hold it, but the primary has it, and a reader
// could see it, before that: an event that a failover then loses would be
// on screens yet not in the log, and the event appended at its seq after
// the failover would fork them. So a Log that waits for replicas keeps a
// second mark in the room's meta, "confirmed", which it raises only after
// WAIT, and reads, watches and notifications stop there:
//
//   - Append runs the append script without its PUBLISH, WAITs, then runs
//     the confirm script, which raises the mark and publishes it.
//   - Read, Watch and Command stop at the mark. Finding events past it, a
//     reader heals: it writes a probe to the room's meta and WAITs, which
//     shows replicas hold every event before the probe, and confirms them.
//     So events a Log appended but did not confirm (it crashed, or its WAIT
//     timed out and the replicas caught up later) become visible, and a
//     Log whose append conflicts with one still waiting for its WAIT reads
//     it as soon as replicas have it.
//   - The poll heals a watched room whose events past the mark stayed
//     there for a whole poll.
//
// The mark itself is written without a WAIT: a failover may lose it, never
// the events below it (a replica that has the mark's write has everything
// written before it), and the next heal raises it again. Every Log on a
// prefix must use the same min replicas: one that does not wait publishes
// its appends unconfirmed and leaves the mark behind.

// confirmSource raises the confirmed mark and publishes it.
//
//go:embed confirm.lua
var confirmSource string

var confirmScript = goredis.NewScript(confirmSource)

// probeSource is the heal's write: its WAIT covers the events before it.
//
//go:embed probe.lua
var probeSource string

var probeScript = goredis.NewScript(probeSource)

// errHealsPaused: a heal's WAIT failed within the last replica timeout, so
// readers serve the confirmed events without waiting for another.
var errHealsPaused = errors.New("heals paused: the last one found too few replicas")

// readEnd returns how far readers of room may read, given its meta's last
// seq and confirmed mark: the last seq when the Log does not wait for
// replicas, else the mark, raised first by a heal when events lie past it.
// A failed heal leaves the mark: what replicas do not confirm stays unseen.
func (l *Log) readEnd(ctx context.Context, room string, last, confirmed uint64) uint64 {
	if l.opts.minReplicas == 0 || confirmed >= last {
		return last
	}
	if c, err := l.heal(ctx, room); err == nil {
		confirmed = max(confirmed, c)
	}
	return min(last, confirmed)
}

// heal confirms the events of room that replicas hold: a probe written to
// the room's meta, a WAIT for it, then the confirm script. It returns the
// confirmed mark. While replicas are missing, each heal would block for the
// replica timeout, so after a failed one the Log's readers skip heals for
// that long.
func (l *Log) heal(ctx context.Context, room string) (uint64, error) {
	if time.Now().UnixNano() < l.healsPausedUntil.Load() {
		return 0, errHealsPaused
	}
	meta := l.key(room, "meta")
	res, err := l.scriptReplicated(ctx, probeScript, []string{meta})
	if err != nil {
		if errors.Is(err, ErrNotReplicated) {
			l.healsPausedUntil.Store(time.Now().Add(l.opts.replicaTimeout).UnixNano())
		}
		return 0, fmt.Errorf("confirm what replicas hold: %w", err)
	}
	seq, err := strconv.ParseUint(res, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("confirm what replicas hold: the probe answered %q", res)
	}
	return l.confirm(ctx, room, seq)
}

// confirm raises room's confirmed mark to seq, which WAIT showed replicas
// hold, publishing it if it rose, and returns the mark.
func (l *Log) confirm(ctx context.Context, room string, seq uint64) (uint64, error) {
	res, err := confirmScript.Run(ctx, l.client, []string{l.key(room, "meta")},
		strconv.FormatUint(seq, 10), l.channel(room)).Text()
	if err != nil {
		return 0, fmt.Errorf("confirm #%d: %w", seq, err)
	}
	c, err := strconv.ParseUint(res, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("confirm #%d: the script answered %q", seq, res)
	}
	return c, nil
}

// confirmAppend confirms an append's events once WAIT showed replicas hold
// them: res is the append script's answer, "OK" for the events up to last
// or "DUP:first:last" for a command appended before. The events are
// durable whatever happens here; a mark that fails to rise now is raised by
// the next reader's heal.
func (l *Log) confirmAppend(ctx context.Context, room, res string, last uint64) {
	if rec, ok := strings.CutPrefix(res, "DUP:"); ok {
		if _, last, ok = parseRecord(rec); !ok {
			return
		}
	}
	_, _ = l.confirm(ctx, room, last)
}

// scriptReplicated runs script (EVALSHA, then EVAL if the server lacks
// it, as after a failover: the script cache is not replicated) and waits
// for replicas (see replicated), returning the script's answer.
func (l *Log) scriptReplicated(ctx context.Context, script *goredis.Script, keys []string, args ...any) (string, error) {
	run := func(eval func(ctx context.Context, c goredis.Scripter, keys []string, args ...any) *goredis.Cmd) (string, error) {
		return l.replicated(ctx, keys[0], func(p goredis.Pipeliner) *goredis.Cmd {
			return eval(ctx, p, keys, args...)
		})
	}
	res, err := run(script.EvalSha)
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
		res, err = run(script.Eval)
	}
	return res, err
}

// metaEnds reads a meta HASH's last seq and confirmed mark, as HMGET
// answers them (a missing field, or meta, is 0).
func metaEnds(c *goredis.SliceCmd) (last, confirmed uint64, err error) {
	vals, err := c.Result()
	if err != nil {
		return 0, 0, err
	}
	var out [2]uint64
	for i, v := range vals {
		if i >= len(out) || v == nil {
			continue
		}
		s, ok := v.(string)
		n, perr := strconv.ParseUint(s, 10, 64)
		if !ok || perr != nil {
			return 0, 0, fmt.Errorf("the room's meta holds %v, not a seq", v)
		}
		out[i] = n
	}
	return out[0], out[1], nil
}
