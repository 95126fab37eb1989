package redis

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"net"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store"
	"github.com/bidroom/bidroom/store/internal/watch"
)

// Key layout, for prefix P and room R. The braces make R the Redis Cluster
// hash tag, so one room's keys share a slot (P must not contain braces):
//
//	P:room:{R}:events  LIST of rooms.Event.Encode(); index i holds seq i+1
//	P:room:{R}:meta    HASH seq -> last seq, hash -> last hash; with WithMinReplicas
//	                   also confirmed -> the last seq readers see, probe (see confirm.go)
//	P:room:{R}:cmds    HASH command key -> "first:last"
//	P:rooms            SET of room ids with at least one event
//	P:notify:{R}       pub/sub channel; each message is the new last (confirmed) seq
//	P:media:{R}        media/placement's lease on the room's media (through Client)
//
// P:rooms lies in another slot than the room keys the append script
// writes, so on Redis Cluster the script cannot touch it: Append adds to it
// before the script, with a command of its own.

// appendSource is the conditional append: the dedup and compare-and-set
// checks and every write, atomically. It runs by EVALSHA (EVAL on NOSCRIPT).
//
//go:embed append.lua
var appendSource string

var appendScript = goredis.NewScript(appendSource)

// How Watch keeps up when pub/sub misses messages (it does across
// reconnects): every watched room's last seq is polled this often.
const pollEvery = time.Second

// idlePing is how long the pub/sub connection may be silent before it is
// pinged, so a dead connection is noticed and replaced.
const idlePing = 30 * time.Second

// Log is a rooms.Log stored in Redis under a key prefix. It is safe for
// concurrent use, and any number of Logs (in any number of processes) may
// share a prefix: Watch sees appends from all of them.
type Log struct {
	client goredis.UniversalClient // a single server, a Cluster or a Sentinel-watched primary
	owns   bool                    // Close closes client
	prefix string
	hub    *watch.Hub
	ps     *goredis.PubSub // the Log's one pub/sub connection; it connects on first Watch
	opts   options

	ctx    context.Context // the Log's lifetime, for its goroutines; Close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the receive and poll loops

	mu      sync.Mutex // guards started and closed
	started bool       // the loops are running
	closed  bool

	// subMu serializes SUBSCRIBE and UNSUBSCRIBE and is held across them on
	// purpose: each decides from the current watchers, so the commands for
	// one room can never reach Redis in the opposite order.
	subMu      sync.Mutex
	subscribed map[string]bool // guarded by subMu

	// healsPausedUntil (unix ns): readers skip heals until then, after one
	// found too few replicas (see confirm.go).
	healsPausedUntil atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

var _ rooms.Log = (*Log)(nil)

// The ways to reach Redis (store.redis_mode).
const (
	ModeStandalone = "standalone" // one server: redis://[user:pass@]host:port/db
	ModeCluster    = "cluster"    // Redis Cluster: redis://host:port?addr=host2:port2&addr=host3:port3
	ModeSentinel   = "sentinel"   // a primary watched by Sentinels: redis://sentinel:26379?master_name=NAME&addr=sentinel2:26379
)

// ErrNotReplicated: an append (or the record of a command already applied)
// reached fewer replicas than WithMinReplicas requires within its timeout.
// The events may or may not survive a failover: retry with the same command
// key, which the log answers with rooms.ErrDuplicateCommand once they are
// (or appends them again if they were lost).
var ErrNotReplicated = errors.New("not acknowledged by enough replicas")

// Option configures a Log (OpenMode, New).
type Option func(*options)

type options struct {
	minReplicas    int           // WAIT for this many replicas after each append; 0: don't
	replicaTimeout time.Duration // WAIT's timeout
}

// WithMinReplicas makes Append return nil only after at least n replicas
// have the events, confirmed by WAIT n timeout, and ErrNotReplicated when
// fewer confirm within timeout. Redis replicates asynchronously, so without
// it an event the primary acknowledged is lost if the primary dies before
// sending it on. n = 0 (the default) does not wait; timeout must be
// positive when n is not.
func WithMinReplicas(n int, timeout time.Duration) Option {
	return func(o *options) { o.minReplicas, o.replicaTimeout = n, timeout }
}

func (o options) check() error {
	switch {
	case o.minReplicas < 0:
		return fmt.Errorf("%w: min replicas must be 0 or more, got %d", store.ErrInvalid, o.minReplicas)
	case o.minReplicas > 0 && o.replicaTimeout < time.Millisecond:
		// WAIT's timeout is in milliseconds and 0 blocks for ever.
		return fmt.Errorf("%w: the replica timeout must be at least 1ms when waiting for replicas, got %v", store.ErrInvalid, o.replicaTimeout)
	}
	return nil
}

// readTimeout returns the socket read timeout a client needs to read a
// WAIT that blocks up to o.replicaTimeout: a pipeline's replies are read
// under the client's ReadTimeout, not the WAIT's own timeout. rt is the
// configured one (0: go-redis's default, 5s; negative: none).
func (o options) readTimeout(rt time.Duration) time.Duration {
	if o.minReplicas == 0 || rt < 0 {
		return rt
	}
	if rt == 0 {
		rt = 5 * time.Second
	}
	return max(rt, o.replicaTimeout+time.Second)
}

// Open connects to the Redis server at url (redis://[user:pass@]host:port/db
// or rediss:// for TLS), checks it answers, and returns a Log that closes
// the connection on Close. ctx bounds the connecting only.
func Open(ctx context.Context, url, prefix string, opts ...Option) (*Log, error) {
	return OpenMode(ctx, ModeStandalone, url, prefix, opts...)
}

// OpenMode is Open for a single server, a Redis Cluster or a Sentinel
// setup (see the Mode constants for each URL's form). Every key of a room
// carries the room in a hash tag, so a room's log, index and
// notifications live in one slot of a Cluster.
func OpenMode(ctx context.Context, mode, url, prefix string, opts ...Option) (*Log, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("redis event log: %w", err)
	}
	var client goredis.UniversalClient
	var err error
	switch mode {
	case ModeStandalone, "":
		var opt *goredis.Options
		if opt, err = goredis.ParseURL(url); err == nil {
			opt.ReadTimeout = o.readTimeout(opt.ReadTimeout)
			client = goredis.NewClient(opt)
		}
	case ModeCluster:
		var opt *goredis.ClusterOptions
		if opt, err = goredis.ParseClusterURL(url); err == nil {
			opt.ReadTimeout = o.readTimeout(opt.ReadTimeout)
			client = goredis.NewClusterClient(opt)
		}
	case ModeSentinel:
		var opt *goredis.FailoverOptions
		if opt, err = goredis.ParseFailoverURL(url); err == nil {
			opt.ReadTimeout = o.readTimeout(opt.ReadTimeout)
			client = goredis.NewFailoverClient(opt)
		}
	default:
		return nil, fmt.Errorf("redis event log: mode must be %s, %s or %s, got %q", ModeStandalone, ModeCluster, ModeSentinel, mode)
	}
	if err != nil {
		// net/url's errors quote the whole URL, password included.
		if ue := (*neturl.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redis event log: bad URL: %w", err)
	}
	l, err := New(ctx, client, prefix, opts...)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	l.owns = true
	return l, nil
}

// New returns a Log using client and keys under prefix (1 to 64 bytes of
// [A-Za-z0-9._:/-]). It pings the server and loads the append script; ctx
// bounds those only. Close does not close client. With WithMinReplicas,
// client must be a *goredis.Client (one server or a Sentinel-watched
// primary) or a *goredis.ClusterClient, and its read timeout must exceed
// the replica timeout (OpenMode sees to that).
func New(ctx context.Context, client goredis.UniversalClient, prefix string, opts ...Option) (*Log, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := cmp.Or(checkPrefix(prefix), o.check()); err != nil {
		return nil, fmt.Errorf("redis event log: %w", err)
	}
	if o.minReplicas > 0 {
		switch client.(type) {
		case *goredis.Client, *goredis.ClusterClient:
		default:
			return nil, fmt.Errorf("redis event log: %w: waiting for replicas needs a *redis.Client or *redis.ClusterClient, got %T", store.ErrInvalid, client)
		}
	}
	if err := client.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis event log at %s: %w", addrOf(client), err)
	}
	load := func(s *goredis.Script) error { return s.Load(ctx, client).Err() }
	if cc, ok := client.(*goredis.ClusterClient); ok {
		// Masters only: replicas run no scripts (a promoted one learns them
		// through the EVAL fallback), and one that hangs must not stop an
		// instance from starting.
		load = func(s *goredis.Script) error {
			return cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return s.Load(ctx, c).Err() })
		}
	}
	for _, script := range []*goredis.Script{appendScript, confirmScript, probeScript} {
		if err := load(script); err != nil {
			return nil, fmt.Errorf("redis event log at %s: load its scripts: %w", addrOf(client), err)
		}
	}
	l := &Log{client: client, prefix: prefix, opts: o, subscribed: make(map[string]bool)}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.hub = watch.New(l.idle)
	l.ps = client.Subscribe(l.ctx) // no channels yet: does not connect
	return l, nil
}

// Close closes every Watch channel, stops the Log's goroutines and its
// pub/sub connection, and closes the client if Open made it. Later calls
// fail with store.ErrClosed; Close itself may be called again.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.cancel()
		l.hub.Close()
		err := l.ps.Close() // unblocks the receive loop
		l.wg.Wait()
		if l.owns {
			err = errors.Join(err, l.client.Close())
		}
		if err != nil {
			l.closeErr = fmt.Errorf("close redis event log: %w", err)
		}
	})
	return l.closeErr
}

// Client is the Log's Redis connection and Prefix its key prefix, for keys
// other packages keep beside the log's (the media placement leases,
// P:media:{R}), so an instance holds one connection pool. The client stays
// the Log's: closing the Log closes it.
func (l *Log) Client() goredis.UniversalClient { return l.client }

// Prefix is the key prefix the Log was opened with; see Client.
func (l *Log) Prefix() string { return l.prefix }

func (l *Log) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Append implements rooms.Log with one Lua script that checks for a
// duplicate cmdKey (first, so a retried command learns it was applied even
// if the room has moved on), then the expected seq and prev hash, then
// appends, records the command, updates the meta and the room index, and
// publishes the new last seq. A nil return means Redis applied it; whether
// it survives a Redis crash depends on the server's persistence (AOF with
// appendfsync always is needed for "durable"), and whether it survives a
// failover on WithMinReplicas. With it, the script does not publish: the
// events are confirmed, and published, once replicas hold them (see
// confirm.go).
func (l *Log) Append(ctx context.Context, room string, expected uint64, cmdKey string, events []rooms.Event) error {
	encoded, err := store.EncodeBatch(room, expected, cmdKey, events)
	if err == nil {
		err = l.usable(ctx)
	}
	if err != nil {
		return wrap("append to", room, err)
	}
	last := expected + uint64(len(events))
	if expected == 0 {
		// The room index is one key for every room, in another Cluster slot
		// than the room's: it is added to before the room's first append,
		// so a room with events is always listed (one listed without any,
		// after a failed append, has none to show).
		index := l.prefix + ":rooms"
		if _, err := l.replicated(ctx, index, func(p goredis.Pipeliner) *goredis.Cmd {
			return p.Do(ctx, "SADD", index, room)
		}); err != nil {
			return wrap("append to", room, err)
		}
	}
	keys := []string{l.key(room, "events"), l.key(room, "meta"), l.key(room, "cmds")}
	notify := l.channel(room)
	if l.opts.minReplicas > 0 {
		notify = "" // published by confirm, after WAIT
	}
	args := make([]any, 0, 8+len(encoded))
	args = append(args,
		room,
		strconv.FormatUint(expected, 10),
		events[0].Prev,
		cmdKey,
		strconv.FormatUint(expected+1, 10)+":"+strconv.FormatUint(last, 10),
		strconv.FormatUint(last, 10),
		events[len(events)-1].Hash,
		notify,
	)
	for _, b := range encoded {
		args = append(args, b)
	}
	var res string
	if l.opts.minReplicas == 0 {
		res, err = appendScript.Run(ctx, l.client, keys, args...).Text()
	} else {
		res, err = l.scriptReplicated(ctx, appendScript, keys, args...)
		if err == nil && res != "CONFLICT" {
			l.confirmAppend(ctx, room, res, last)
		}
	}
	if err != nil {
		return wrap("append to", room, err)
	}
	switch {
	case res == "OK":
		return nil
	case strings.HasPrefix(res, "DUP:"):
		return wrap("append to", room, rooms.ErrDuplicateCommand)
	case res == "CONFLICT":
		return wrap("append to", room, rooms.ErrConflict)
	}
	return wrap("append to", room, fmt.Errorf("append script answered %q", res))
}

// replicated runs the write cmd queues, then WAIT, in one pipeline on the
// primary that owns key, and returns the write's reply. WAIT counts the
// replicas that have the last write made on its own connection, so it must
// follow the write on the same connection: one pipeline on one
// *goredis.Client runs on one connection, while a Cluster pipeline would
// send WAIT, which has no key, to any node. So on a Cluster the pipeline
// goes straight to the slot's master, and a MOVED or ASK redirect (after a
// failover, during resharding) comes back as an error for the caller to
// retry instead of being followed. A CONFLICT answer wrote nothing, so how
// many replicas confirmed does not matter to it; OK and DUP (whose script
// re-writes the command's record for this reason) need
// l.opts.minReplicas, else ErrNotReplicated.
func (l *Log) replicated(ctx context.Context, key string, cmd func(p goredis.Pipeliner) *goredis.Cmd) (string, error) {
	c, ok := l.client.(*goredis.Client)
	cluster, _ := l.client.(*goredis.ClusterClient)
	where := "the primary"
	if !ok {
		var err error
		if c, err = cluster.MasterForKey(ctx, key); err != nil {
			return "", err
		}
		where = c.Options().Addr
	}
	var write, wait *goredis.Cmd
	_, _ = c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		write = cmd(p)
		wait = p.Do(ctx, "WAIT", l.opts.minReplicas, l.opts.replicaTimeout.Milliseconds())
		return nil
	})
	if err := cmp.Or(write.Err(), wait.Err()); err != nil {
		if cluster != nil {
			// The slot may have moved (a failover, resharding): ask the
			// cluster again, so the caller's retry goes to the new owner.
			cluster.ReloadState(ctx)
		}
		if write.Err() == nil {
			// The write happened; only the confirmation is missing.
			return "", fmt.Errorf("%w: WAIT on %s: %w", ErrNotReplicated, where, err)
		}
		return "", err
	}
	res := fmt.Sprint(write.Val())
	n, err := wait.Int64()
	if err != nil {
		return "", fmt.Errorf("%w: WAIT on %s: %w", ErrNotReplicated, where, err)
	}
	if res != "CONFLICT" && n < int64(l.opts.minReplicas) {
		return "", fmt.Errorf("%w: %d of the %d replicas required confirmed the write on %s within %v; it may or may not survive a failover: retry with the same command key",
			ErrNotReplicated, n, l.opts.minReplicas, where, l.opts.replicaTimeout)
	}
	return res, nil
}

// Read implements rooms.Log. The last seq and the events are read in one
// MULTI, so a page never runs past the committed end (nor, with
// WithMinReplicas, past the confirmed one); every event's hash,
// position and link to the one before it in the page are checked, and a
// mismatch wraps rooms.ErrBadEvent.
func (l *Log) Read(ctx context.Context, room string, after uint64, limit int) ([]rooms.Event, error) {
	if err := cmp.Or(store.CheckRoom(room), l.usable(ctx)); err != nil {
		return nil, wrap("read", room, err)
	}
	limit = store.ReadLimit(limit)
	if after > math.MaxInt64/2 { // no Redis list is that long
		return nil, nil
	}
	var endsCmd *goredis.SliceCmd
	var rangeCmd *goredis.StringSliceCmd
	_, err := l.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		endsCmd = l.readEnds(ctx, p, room)
		rangeCmd = p.LRange(ctx, l.key(room, "events"), int64(after), int64(after)+int64(limit)-1)
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, wrap("read", room, err)
	}
	if err := rangeCmd.Err(); err != nil {
		return nil, wrap("read", room, err)
	}
	last, confirmed, err := metaEnds(endsCmd)
	if err != nil {
		return nil, wrap("read", room, err)
	}
	// The page holds the events up to the last seq as of the MULTI; a heal
	// may only confirm as far.
	last = l.readEnd(ctx, room, last, confirmed)
	if after >= last {
		return nil, nil
	}
	vals := rangeCmd.Val()
	n := min(uint64(limit), last-after)
	out := make([]rooms.Event, 0, n)
	for i := range n {
		seq := after + 1 + i
		if i >= uint64(len(vals)) {
			return nil, wrap("read", room, fmt.Errorf("%w: event #%d is missing (last is #%d)", rooms.ErrBadEvent, seq, last))
		}
		var before *rooms.Event
		if i > 0 {
			before = &out[i-1]
		}
		e, err := store.DecodeAt(room, seq, []byte(vals[i]), before)
		if err != nil {
			return nil, wrap("read", room, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Command implements rooms.Log. The empty key is never recorded. With
// WithMinReplicas a command whose events are not confirmed is not found
// yet: readers could not see them.
func (l *Log) Command(ctx context.Context, room, cmdKey string) (first, last uint64, ok bool, err error) {
	if err := cmp.Or(store.CheckRoom(room), store.CheckCommandKey(cmdKey), l.usable(ctx)); err != nil {
		return 0, 0, false, wrap("look up a command in", room, err)
	}
	if cmdKey == "" {
		return 0, 0, false, nil
	}
	var recCmd *goredis.StringCmd
	var endsCmd *goredis.SliceCmd
	_, err = l.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		recCmd = p.HGet(ctx, l.key(room, "cmds"), cmdKey)
		endsCmd = l.readEnds(ctx, p, room)
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return 0, 0, false, wrap("look up a command in", room, err)
	}
	v, err := recCmd.Result()
	if errors.Is(err, goredis.Nil) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, wrap("look up a command in", room, err)
	}
	seq, confirmed, err := metaEnds(endsCmd)
	if err != nil {
		return 0, 0, false, wrap("look up a command in", room, err)
	}
	first, last, ok = parseRecord(v)
	if !ok {
		return 0, 0, false, wrap("look up a command in", room, fmt.Errorf("%w: command record %q", rooms.ErrBadEvent, v))
	}
	if last > l.readEnd(ctx, room, seq, confirmed) {
		return 0, 0, false, nil
	}
	return first, last, true, nil
}

// Rooms implements rooms.Log; the ids come sorted.
func (l *Log) Rooms(ctx context.Context) ([]string, error) {
	if err := l.usable(ctx); err != nil {
		return nil, fmt.Errorf("redis list rooms: %w", err)
	}
	ids, err := l.client.SMembers(ctx, l.prefix+":rooms").Result()
	if err != nil {
		return nil, fmt.Errorf("redis list rooms: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// Watch implements rooms.Log. The channel first receives the room's current
// last seq if it has events, so a caller that reads after watching misses
// nothing; then the last seq after appends by any Log on this prefix, from
// pub/sub or, should a message be lost, from polling within a second. With
// WithMinReplicas the seqs are the confirmed ones (see confirm.go).
func (l *Log) Watch(ctx context.Context, room string) (<-chan uint64, error) {
	if err := store.CheckRoom(room); err != nil {
		return nil, wrap("watch", room, err)
	}
	sub, err := l.hub.Watch(ctx, room)
	if err != nil {
		return nil, wrap("watch", room, err)
	}
	l.start()
	// A failed SUBSCRIBE is retried when the connection is remade (go-redis
	// keeps the channel), and polling covers the gap, so it is no error;
	// the HMGET below fails too if Redis is really unreachable.
	l.sync(ctx, room)
	last, confirmed, err := metaEnds(l.readEnds(ctx, l.client, room))
	if err != nil {
		sub.Stop()
		return nil, wrap("watch", room, err)
	}
	last = l.readEnd(ctx, room, last, confirmed)
	if last > 0 {
		sub.Offer(last)
	}
	return sub.C, nil
}

// start starts the receive and poll loops once, unless the Log is closed.
func (l *Log) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.closed {
		return
	}
	l.started = true
	l.wg.Add(2)
	go l.receive()
	go l.poll()
}

// idle is the hub's callback for a room that lost its last watcher.
func (l *Log) idle(room string) { l.sync(l.ctx, room) }

// sync makes the pub/sub subscription to room match whether it has
// watchers.
func (l *Log) sync(ctx context.Context, room string) {
	l.subMu.Lock()
	defer l.subMu.Unlock()
	want := l.hub.Watched(room)
	if want == l.subscribed[room] {
		return
	}
	if want {
		l.subscribed[room] = true
		_ = l.ps.Subscribe(ctx, l.channel(room))
	} else {
		delete(l.subscribed, room)
		_ = l.ps.Unsubscribe(ctx, l.channel(room)) // go-redis forgets it even on error
	}
}

// receive hands pub/sub messages to the hub until Close.
func (l *Log) receive() {
	defer l.wg.Done()
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	for {
		msg, err := l.ps.ReceiveTimeout(l.ctx, idlePing)
		if l.ctx.Err() != nil {
			return
		}
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			_ = l.ps.Ping(l.ctx) // a dead connection fails here and is remade
			continue
		case err != nil:
			// go-redis reconnects and resubscribes on the next call; until
			// then poll covers the watched rooms.
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		m, ok := msg.(*goredis.Message)
		if !ok {
			continue // subscription confirmations and pongs
		}
		room, ok := strings.CutPrefix(m.Channel, l.prefix+":notify:{")
		room, ok2 := strings.CutSuffix(room, "}")
		seq, err := strconv.ParseUint(m.Payload, 10, 64)
		if ok && ok2 && err == nil {
			l.hub.Publish(room, seq)
		}
	}
}

// poll reads every watched room's last seq each pollEvery until Close, so
// a notification pub/sub lost arrives late rather than never. With
// WithMinReplicas it hands on the confirmed seq, and heals a room whose
// events past it were there, unchanged, at the poll before: their appender
// did not confirm them (it died, or its WAIT timed out).
func (l *Log) poll() {
	defer l.wg.Done()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	unconfirmed := map[string]uint64{} // room -> last seq past its confirmed mark at the poll before
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-tick.C:
		}
		watched := l.hub.Rooms()
		if len(watched) == 0 {
			clear(unconfirmed)
			continue
		}
		cmds := make([]*goredis.SliceCmd, len(watched))
		_, _ = l.client.Pipelined(l.ctx, func(p goredis.Pipeliner) error {
			for i, room := range watched {
				cmds[i] = l.readEnds(l.ctx, p, room)
			}
			return nil
		})
		seen := make(map[string]uint64, len(unconfirmed))
		for i, c := range cmds {
			room := watched[i]
			last, confirmed, err := metaEnds(c)
			if err != nil {
				continue
			}
			if l.opts.minReplicas > 0 && confirmed < last {
				if unconfirmed[room] == last {
					if c, err := l.heal(l.ctx, room); err == nil {
						confirmed = max(confirmed, c)
					}
				}
				if confirmed < last {
					seen[room] = last
				}
				last = confirmed
			}
			if last > 0 {
				l.hub.Publish(room, last)
			}
		}
		unconfirmed = seen
	}
}

// parseRecord parses a command's record, "first:last" (P:room:{R}:cmds).
func parseRecord(v string) (first, last uint64, ok bool) {
	f, la, found := strings.Cut(v, ":")
	first, err1 := strconv.ParseUint(f, 10, 64)
	last, err2 := strconv.ParseUint(la, 10, 64)
	return first, last, found && err1 == nil && err2 == nil
}

// readEnds queues, on c (the client or a pipeline), the read of room's
// last seq and confirmed mark that metaEnds parses.
func (l *Log) readEnds(ctx context.Context, c goredis.Cmdable, room string) *goredis.SliceCmd {
	return c.HMGet(ctx, l.key(room, "meta"), "seq", "confirmed")
}

// usable reports ctx's error, or store.ErrClosed after Close.
func (l *Log) usable(ctx context.Context) error {
	if l.isClosed() {
		return store.ErrClosed
	}
	return ctx.Err()
}

func (l *Log) key(room, kind string) string { return l.prefix + ":room:{" + room + "}:" + kind }

func (l *Log) channel(room string) string { return l.prefix + ":notify:{" + room + "}" }

// addrOf names where client connects, for errors (never a password).
func addrOf(client goredis.UniversalClient) string {
	switch c := client.(type) {
	case *goredis.Client:
		return c.Options().Addr
	case *goredis.ClusterClient:
		return "cluster " + strings.Join(c.Options().Addrs, ",")
	}
	return "redis"
}

func wrap(op, room string, err error) error {
	return fmt.Errorf("redis %s room %q: %w", op, room, err)
}

func checkPrefix(p string) error {
	if p == "" || len(p) > 64 {
		return fmt.Errorf("%w: key prefix %q must be 1 to 64 bytes", store.ErrInvalid, p)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._:/-", c) >= 0) {
			return fmt.Errorf("%w: key prefix %q has %q (allowed: A-Z a-z 0-9 . _ : / -)", store.ErrInvalid, p, c)
		}
	}
	return nil
}
