package placement

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Instance is a server instance as the others see it.
type Instance struct {
	// ID names the instance (cluster.instance_id): 1-64 of A-Z a-z 0-9 . _ -.
	ID string
	// URL is the base URL the other instances reach it at
	// (cluster.advertise_url), http or https, no path.
	URL string
}

var instanceID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// maxURL bounds an advertised URL (it is stored in every lease).
const maxURL = 512

// Check reports what is wrong with an instance's identity, if anything.
func (in Instance) Check() error {
	if !instanceID.MatchString(in.ID) {
		return fmt.Errorf("instance id %q must be 1-64 of A-Z a-z 0-9 . _ -", in.ID)
	}
	u, err := url.Parse(in.URL)
	switch {
	case err != nil || len(in.URL) > maxURL:
		return fmt.Errorf("advertised URL is not a URL of at most %d bytes", maxURL)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("advertised URL %q must be http(s)://host:port", in.URL)
	case u.User != nil, strings.Trim(u.Path, "/") != "", u.RawQuery != "", u.Fragment != "":
		return fmt.Errorf("advertised URL %q must be scheme://host:port only, no user, path or query", in.URL)
	}
	return nil
}

// encode is the lease's value: the instance's id and URL, neither of which
// holds a space.
func (in Instance) encode() string { return in.ID + " " + in.URL }

func decodeInstance(v string) (Instance, error) {
	id, u, ok := strings.Cut(v, " ")
	if !ok || id == "" || u == "" {
		return Instance{}, fmt.Errorf("placement: malformed lease value %q", v)
	}
	return Instance{ID: id, URL: u}, nil
}

// Lease is who holds a room's media, and for how much longer unless renewed.
type Lease struct {
	Holder Instance
	TTL    time.Duration
}

// Registry records which instance holds each room's media. Every method is
// about this instance (the one the Registry was made for) and safe for
// concurrent use.
type Registry interface {
	// Acquire takes the room's lease for this instance if nobody holds it
	// (or a former run of this instance, at the same URL, did), renews it
	// if this instance holds it, and returns the lease as it then stands:
	// another instance's when that one holds it.
	Acquire(ctx context.Context, room string) (Lease, error)
	// Lookup returns the room's lease; false when nobody holds it.
	Lookup(ctx context.Context, room string) (Lease, bool, error)
	// Renew extends this instance's lease of the room, or takes it again
	// if it lapsed with nobody taking it meanwhile; false when another
	// instance holds it now (it is never renewed for this one then).
	Renew(ctx context.Context, room string) (bool, error)
	// Release gives the lease up if this instance holds it.
	Release(ctx context.Context, room string) error
}

// Redis is a Registry in Redis: key P:media:{R} (the room as the hash tag,
// so it works on a Redis Cluster) holds "<id> <url>" of the holder with a
// PX expiry; every change is one Lua script, so a check and its write are
// atomic.
type Redis struct {
	client goredis.UniversalClient
	prefix string
	self   Instance
	value  string
	lease  string // milliseconds, as the scripts take it
}

// NewRedis returns the Registry of self in Redis, with keys under prefix
// (1-64 bytes, no braces) and leases good for lease unless renewed.
func NewRedis(client goredis.UniversalClient, prefix string, self Instance, lease time.Duration) (*Redis, error) {
	self.URL = strings.TrimSuffix(self.URL, "/") // one spelling, compared in the scripts
	if err := self.Check(); err != nil {
		return nil, fmt.Errorf("placement: %w", err)
	}
	if prefix == "" || len(prefix) > 64 || strings.ContainsAny(prefix, "{} ") {
		return nil, fmt.Errorf("placement: key prefix %q must be 1-64 bytes without braces or spaces", prefix)
	}
	if lease < 100*time.Millisecond {
		return nil, fmt.Errorf("placement: lease %s is shorter than 100ms", lease)
	}
	return &Redis{client: client, prefix: prefix, self: self, value: self.encode(), lease: fmt.Sprint(lease.Milliseconds())}, nil
}

// Key is the Redis key of a room's lease.
func (r *Redis) Key(room string) string { return r.prefix + ":media:{" + room + "}" }

// acquireScript: KEYS[1] the lease, ARGV[1] this instance's value, ARGV[2]
// the lease in ms, ARGV[3] " " .. this instance's URL. Free, ours, or held
// by a former run of this instance at the same address (it died: we are
// alive there): take it. Returns the holder's value and the ms left.
var acquireScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] or string.sub(cur, -string.len(ARGV[3])) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {ARGV[1], tonumber(ARGV[2])}
end
return {cur, redis.call('PTTL', KEYS[1])}`)

// lookupScript returns the holder's value and the ms left, or nil.
var lookupScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return false end
return {cur, redis.call('PTTL', KEYS[1])}`)

// renewScript extends (or, lapsed and free, retakes) a lease this instance
// holds; it never touches another instance's. 1 renewed, 0 not ours.
var renewScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

// releaseScript deletes the lease if it is this instance's.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Acquire implements Registry.
func (r *Redis) Acquire(ctx context.Context, room string) (Lease, error) {
	v, err := acquireScript.Run(ctx, r.client, []string{r.Key(room)}, r.value, r.lease, " "+r.self.URL).Slice()
	if err != nil {
		return Lease{}, fmt.Errorf("placement: take the media lease of %s: %w", room, err)
	}
	return leaseOf(v)
}

// Lookup implements Registry.
func (r *Redis) Lookup(ctx context.Context, room string) (Lease, bool, error) {
	v, err := lookupScript.Run(ctx, r.client, []string{r.Key(room)}).Slice()
	if errors.Is(err, goredis.Nil) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, fmt.Errorf("placement: look up the media lease of %s: %w", room, err)
	}
	l, err := leaseOf(v)
	return l, err == nil, err
}

// Renew implements Registry.
func (r *Redis) Renew(ctx context.Context, room string) (bool, error) {
	n, err := renewScript.Run(ctx, r.client, []string{r.Key(room)}, r.value, r.lease).Int()
	if err != nil {
		return false, fmt.Errorf("placement: renew the media lease of %s: %w", room, err)
	}
	return n == 1, nil
}

// Release implements Registry.
func (r *Redis) Release(ctx context.Context, room string) error {
	if err := releaseScript.Run(ctx, r.client, []string{r.Key(room)}, r.value).Err(); err != nil {
		return fmt.Errorf("placement: release the media lease of %s: %w", room, err)
	}
	return nil
}

// leaseOf reads a script's {value, ms left} reply.
func leaseOf(v []any) (Lease, error) {
	if len(v) != 2 {
		return Lease{}, fmt.Errorf("placement: unexpected lease reply %v", v)
	}
	s, _ := v[0].(string)
	ms, _ := v[1].(int64)
	in, err := decodeInstance(s)
	if err != nil {
		return Lease{}, err
	}
	return Lease{Holder: in, TTL: time.Duration(max(ms, 0)) * time.Millisecond}, nil
}
