package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the name of every environment variable Load reads.
const EnvPrefix = "BIDROOM_"

// EnvConfigPath is the environment variable reserved for the config file path. Load does not read
// it (the caller resolves the path and passes it in) and does not reject it as unknown.
const EnvConfigPath = "BIDROOM_CONFIG"

// EnvTestPrefix marks variables reserved for the test suite (e.g.
// BIDROOM_TEST_REDIS_URL); Load ignores them rather than calling them typos.
const EnvTestPrefix = "BIDROOM_TEST_"

// Store backends accepted in store.backend.
const (
	BackendEmbedded = "embedded"
	BackendRedis    = "redis"
)

// Minimum lengths of secrets that are set in the configuration rather than generated.
const (
	MinTokenSecretBytes = 32
	MinAdminKeyBytes    = 16
	// MinMetricsTokenBytes is the shortest server.metrics_token accepted.
	MinMetricsTokenBytes = 16
)

// Limits checked by Validate.
const (
	maxTokenTTL     = 720 * time.Hour
	minMessageBytes = 1024
	maxMessageBytes = 16 << 20
	minSendQueue    = 8
	maxSendQueue    = 65536
	maxCheckInLead  = 24 * time.Hour
)

// Config is the whole server configuration.
type Config struct {
	Server    Server    `yaml:"server"`
	DataDir   string    `yaml:"data_dir"` // directory for the embedded store and generated secrets; default "./data"
	Store     Store     `yaml:"store"`
	Auth      Auth      `yaml:"auth"`
	Signaling Signaling `yaml:"signaling"`
	Rooms     Rooms     `yaml:"rooms"`
	Bids      Bids      `yaml:"bids"`
	Media     Media     `yaml:"media"`
	Cluster   Cluster   `yaml:"cluster"`
	Bond      Bond      `yaml:"bond"`
	Archive   Archive   `yaml:"archive"`
	Push      Push      `yaml:"push"`
	// Centers are the trading centers this server runs for (市县一体化), as "id=name": the first is
	// the main (city) center, which every room made before centers existed belongs to; the others
	// are its county sub-centers. Default ["city=市公共资源交易中心"]. See Config.CenterList.
	Centers []string `yaml:"centers"`
	Demo    Demo     `yaml:"demo"`
	Testing Testing  `yaml:"testing"`
	Log     Log      `yaml:"log"`

	// demoSet records that demo.enabled was given in the file or the environment; see DemoExplicit.
	demoSet bool
}

// Server configures the HTTP and websocket listener.
type Server struct {
	Listen          string        `yaml:"listen"`           // default "127.0.0.1:8080"
	PublicURL       string        `yaml:"public_url"`       // default "" (derived from request)
	AllowedOrigins  []string      `yaml:"allowed_origins"`  // default empty = same host as the request only; entries are origins like "https://hall.example.cn"
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"` // default 10s
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`   // default 1 MiB, REST JSON bodies
	MetricsListen   string        `yaml:"metrics_listen"`   // default "" = no separate listener; host:port serving only /metrics
	MetricsToken    string        `yaml:"metrics_token"`    // default "" = /metrics is not on server.listen; when set (>= 16 bytes) /metrics there needs it as a bearer token

	// DrainDelay is how long a shutting-down server keeps serving as before, GET /readyz already
	// answering 503, for load balancers to notice and send new clients elsewhere (a rolling
	// restart); part of shutdown_timeout. Default 0.
	DrainDelay time.Duration `yaml:"drain_delay"`
}

// Store selects and configures the event log store.
type Store struct {
	Backend     string `yaml:"backend"`      // "embedded" (default) or "redis"
	RedisURL    string `yaml:"redis_url"`    // default "redis://127.0.0.1:6379/0"; required, redis:// or rediss://, when backend=redis
	RedisPrefix string `yaml:"redis_prefix"` // default "bidroom"
	// RedisMode is how redis_url is read: "standalone" (default, one server), "cluster" (Redis
	// Cluster: redis://host:port?addr=host2:port2&addr=host3:port3) or "sentinel" (a primary
	// watched by Sentinels: redis://sentinel:26379?master_name=NAME&addr=sentinel2:26379).
	RedisMode string `yaml:"redis_mode"`
	// RedisMinReplicas is how many replicas must confirm an append (Redis WAIT) before it is
	// acknowledged; default 0 = don't wait. Redis replicates asynchronously, so without it an
	// append the primary acknowledged is lost if the primary dies before passing it on.
	RedisMinReplicas int `yaml:"redis_min_replicas"`
	// RedisReplicaTimeout bounds that wait; an append not confirmed within it fails (the client
	// retries with the same command id). Default 1s, between 1ms and 1m.
	RedisReplicaTimeout time.Duration `yaml:"redis_replica_timeout"`
}

// Auth configures session tokens and the administrator key.
type Auth struct {
	TokenSecret string        `yaml:"token_secret"` // default "" = generate and keep in <data_dir>/token.secret; when set must be >= 32 bytes
	AdminKey    string        `yaml:"admin_key"`    // default "" = generate and keep in <data_dir>/admin.key; when set must be >= 16 bytes
	TokenTTL    time.Duration `yaml:"token_ttl"`    // default 12h, must be > 0 and <= 720h
}

// Signaling configures websocket connections.
type Signaling struct {
	MaxMessageBytes int64         `yaml:"max_message_bytes"` // default 65536, range 1024..16 MiB
	SendQueue       int           `yaml:"send_queue"`        // default 256, range 8..65536
	PingInterval    time.Duration `yaml:"ping_interval"`     // default 20s
	PongTimeout     time.Duration `yaml:"pong_timeout"`      // default 45s, must be > ping_interval
	WriteTimeout    time.Duration `yaml:"write_timeout"`     // default 10s
	MaxReplay       int           `yaml:"max_replay"`        // default 1000: a resume further behind than this gets a fresh snapshot
	CommandRate     float64       `yaml:"command_rate"`      // default 20 commands/s per connection (burst twice that), range 1..10000
}

// Bids configures sealed-bid submission.
type Bids struct {
	MaxBytes        int64  `yaml:"max_bytes"`         // default 4 GiB: the largest sealed bid accepted; 1 KiB..1 TiB
	PlatformKeyFile string `yaml:"platform_key_file"` // default "" = <data_dir>/platform.key.pem, generated once; the SM2 key that signs receipts
	// UploadTTL is how long an upload nobody completed or aborted (a bidder who closed the
	// browser) stays after its last write before the garbage collection removes it; longer than
	// any pause of a resumable upload. Default 48h, 1h..8760h.
	UploadTTL time.Duration `yaml:"upload_ttl"`
	// OrphanGrace is how long a stored file that no room's log names (its bid refused, or left
	// after a prune) stays before the garbage collection removes it; it covers the moment between
	// an upload's completion and the command that names it. Default 24h, 1h..8760h.
	OrphanGrace time.Duration `yaml:"orphan_grace"`
	// GCInterval is how often the server runs the garbage collection of the blob store
	// (docs/operations.md); default 6h, 0 = never on its own (POST /api/v1/blobs/gc still
	// runs one), else 1m..720h.
	GCInterval time.Duration `yaml:"gc_interval"`
}

// Media configures the WebRTC SFU (WHIP/WHEP) and its embedded TURN server.
type Media struct {
	Enabled         bool          `yaml:"enabled"`          // default true
	UDPListen       string        `yaml:"udp_listen"`       // default "0.0.0.0:8189": one muxed UDP port for all media; "" = a port per connection from the range
	UDPPortMin      int           `yaml:"udp_port_min"`     // default 0; with udp_listen "", the range per-connection ports come from
	UDPPortMax      int           `yaml:"udp_port_max"`     // default 0
	UDPGSO          bool          `yaml:"udp_gso"`          // default true: on Linux, a frame's packets to one viewer leave as one segmented send
	PublicIPs       []string      `yaml:"public_ips"`       // default empty; addresses announced instead of the host's (1:1 NAT)
	Interfaces      []string      `yaml:"interfaces"`       // default empty = all; network interfaces ICE may use
	IncludeLoopback bool          `yaml:"include_loopback"` // default true: offer 127.0.0.1 (single machine, demo)
	MaxViewers      int           `yaml:"max_viewers"`      // default 1000 per session hall
	MaxSDPBytes     int           `yaml:"max_sdp_bytes"`    // default 65536
	MaxLag          time.Duration `yaml:"max_lag"`          // default 300ms: a viewer further behind skips to the next keyframe
	PLIInterval     time.Duration `yaml:"pli_interval"`     // default 500ms between keyframe requests to a publisher
	Record          bool          `yaml:"record"`           // default true: every published track is recorded and hashed into the log
	RecordDir       string        `yaml:"record_dir"`       // default "" = <data_dir>/recordings
	TURN            TURN          `yaml:"turn"`
}

// Cluster configures how instances sharing one Redis place each room's media on one of them
// (docs/media.md#several-instances-media-placement).
type Cluster struct {
	// InstanceID names this instance in the media leases: 1-64 of A-Z a-z 0-9 . _ -; default "" =
	// the host name and a random suffix, new at every start.
	InstanceID string `yaml:"instance_id"`
	// AdvertiseURL is the http(s)://host:port the other instances reach this one's server.listen
	// at, over the private network; default "" = one instance: every room's media is served here.
	// Set it (with store.backend redis) on every instance of a cluster.
	AdvertiseURL string `yaml:"advertise_url"`
	// MediaLease is how long a room's media stays placed on an instance that stopped renewing
	// (died); renewed every third of it. Default 10s, 1s..5m.
	MediaLease time.Duration `yaml:"media_lease"`
}

// TURN configures the embedded TURN server for clients behind NAT.
type TURN struct {
	Enabled bool          `yaml:"enabled"`  // default false
	Listen  string        `yaml:"listen"`   // default "0.0.0.0:3478"
	RelayIP string        `yaml:"relay_ip"` // required when enabled: the public address of relayed candidates
	Realm   string        `yaml:"realm"`    // default "bidroom"
	PortMin int           `yaml:"port_min"` // default 0 (any): relay port range
	PortMax int           `yaml:"port_max"` // default 0
	Secret  string        `yaml:"secret"`   // default "" = generate and keep in <data_dir>/turn.secret; else >= 32 bytes
	TTL     time.Duration `yaml:"ttl"`      // default 12h: lifetime of the credentials handed to clients
}

// Rooms configures bid-opening rooms.
type Rooms struct {
	CheckInLead time.Duration `yaml:"check_in_lead"` // default 60m: sign-in opens this long before the deadline; 0..24h
	// MaxCached bounds the rooms kept folded in memory (the least recently used go first and are
	// read again from the store when asked for); default 5000, 10..1,000,000.
	MaxCached int `yaml:"max_cached"`
}

// Bond configures where the opening looks up bidders' bid bonds (投标保证金) at the deadline.
type Bond struct {
	URL     string        `yaml:"url"`     // default "" = registration data only; else the bond system's http(s) endpoint
	Token   string        `yaml:"token"`   // default ""; bearer token for the bond system, required with url; best set as BIDROOM_BOND_TOKEN
	Timeout time.Duration `yaml:"timeout"` // default 5s per request, 100ms..1m
}

// Archive configures the electronic archive (电子档案, docs/archive.md) kept on the server and
// when a closed session's live files may be pruned.
type Archive struct {
	Dir string `yaml:"dir"` // default "" = <data_dir>/archive: one verified tar per archived session
	// Retention is how long a finished session's live files (sealed bids, decrypted files,
	// recordings) stay after its last event before POST /sessions/{id}/prune may remove them, and
	// only once its archive is written and verified; default 0 = never prune. At least 24h.
	Retention time.Duration `yaml:"retention"`
}

// Center is one trading center: its id (in tokens and rooms) and its name.
type Center struct {
	ID   string
	Name string
	Main bool // the city center; the others are its county sub-centers
}

// CenterList parses Centers ("id=name", the first the main center).
func (c Config) CenterList() ([]Center, error) {
	var out []Center
	seen := map[string]bool{}
	for i, s := range c.Centers {
		id, name, ok := strings.Cut(s, "=")
		id, name = strings.TrimSpace(id), strings.TrimSpace(name)
		switch {
		case !ok || id == "" || name == "":
			return nil, fmt.Errorf("centers[%d]: want id=name, got %q", i, s)
		case !centerID.MatchString(id):
			return nil, fmt.Errorf("centers[%d]: id %q must be 1-64 letters, digits, '.', '_' or '-'", i, id)
		case seen[id]:
			return nil, fmt.Errorf("centers[%d]: id %q given twice", i, id)
		}
		seen[id] = true
		out = append(out, Center{ID: id, Name: name, Main: i == 0})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("centers: at least the main center is needed")
	}
	return out, nil
}

var centerID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Demo configures the demo session created at start.
type Demo struct {
	// Enabled defaults to true; the demo runs with the embedded store, and with redis only when
	// demo.enabled is set explicitly. Use Config.DemoActive for the decision.
	Enabled bool `yaml:"enabled"`
}

// Testing holds switches for end-to-end tests only; never set them in production.
type Testing struct {
	// MovableClock lets the admin move the server's clock forward (POST /api/v1/testing/clock), so
	// a test can pass a deadline or a 3-day publicity; default false; embedded store only.
	MovableClock bool `yaml:"movable_clock"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug|info|warn|error, default info
	Format string `yaml:"format"` // text|json, default text
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Server: Server{
			Listen:          "127.0.0.1:8080",
			ShutdownTimeout: 10 * time.Second,
			MaxBodyBytes:    1 << 20,
		},
		DataDir: "./data",
		Store: Store{
			Backend:             BackendEmbedded,
			RedisURL:            "redis://127.0.0.1:6379/0",
			RedisPrefix:         "bidroom",
			RedisMode:           "standalone",
			RedisReplicaTimeout: time.Second,
		},
		Auth: Auth{TokenTTL: 12 * time.Hour},
		Signaling: Signaling{
			MaxMessageBytes: 65536,
			SendQueue:       256,
			PingInterval:    20 * time.Second,
			PongTimeout:     45 * time.Second,
			WriteTimeout:    10 * time.Second,
			MaxReplay:       1000,
			CommandRate:     20,
		},
		Rooms: Rooms{CheckInLead: 60 * time.Minute, MaxCached: 5000},
		Bids:  Bids{MaxBytes: 4 << 30, UploadTTL: 48 * time.Hour, OrphanGrace: 24 * time.Hour, GCInterval: 6 * time.Hour},
		Media: Media{
			Enabled: true, UDPListen: "0.0.0.0:8189", UDPGSO: true, PublicIPs: []string{}, Interfaces: []string{}, IncludeLoopback: true, MaxViewers: 1000, MaxSDPBytes: 65536,
			MaxLag: 300 * time.Millisecond, PLIInterval: 500 * time.Millisecond, Record: true,
			TURN: TURN{Listen: "0.0.0.0:3478", Realm: "bidroom", TTL: 12 * time.Hour},
		},
		Cluster: Cluster{MediaLease: 10 * time.Second},
		Bond:    Bond{Timeout: 5 * time.Second},
		Push:    defaultPush(),
		Centers: []string{"city=市公共资源交易中心"},
		Demo:    Demo{Enabled: true},
		Log:     Log{Level: "info", Format: "text"},
	}
}

// DemoExplicit reports whether demo.enabled was given in the config file or as
// BIDROOM_DEMO_ENABLED, as opposed to left at its default. A Config not made by Load reports false.
func (c Config) DemoExplicit() bool { return c.demoSet }

// DemoActive reports whether the server should create the demo session at start: demo.enabled is
// true and either the store is embedded or demo.enabled was set explicitly.
func (c Config) DemoActive() bool {
	return c.Demo.Enabled && (c.Store.Backend == BackendEmbedded || c.demoSet)
}

// Load returns Default() overlaid with the YAML file at path (skipped when path is ""), then with
// BIDROOM_* variables from environ (entries "NAME=value", as from os.Environ), then validated.
//
// The file is strict: an unknown key is an error naming it and its line. Each config key has a
// variable named EnvPrefix plus its upper-cased YAML path joined by "_", e.g. BIDROOM_STORE_BACKEND
// or BIDROOM_SIGNALING_PING_INTERVAL=5s; lists are comma-separated. An unknown BIDROOM_ variable
// other than EnvConfigPath is an error. On error Load returns the zero Config.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		if err := loadFile(&cfg, path); err != nil {
			return Config{}, err
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// loadFile decodes the YAML file at path over cfg.
func loadFile(cfg *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if errs := checkNode(path, &root, reflect.TypeOf(Config{}), ""); len(errs) > 0 {
		return errors.Join(errs...)
	}

	// The strict decode is the authority; checkNode above only words its errors better.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file or only comments
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return fmt.Errorf("config %s: more than one YAML document", path)
	case !errors.Is(err, io.EOF):
		return fmt.Errorf("config %s: %w", path, err)
	}

	// A null value leaves the default in place, so only a non-null demo.enabled counts as set.
	var probe struct {
		Demo struct {
			Enabled *bool `yaml:"enabled"`
		} `yaml:"demo"`
	}
	if err := yaml.Unmarshal(data, &probe); err == nil && probe.Demo.Enabled != nil {
		cfg.demoSet = true
	}
	return nil
}

// checkNode reports keys in the YAML node n that type t lacks, and values that do not fit their
// key's type, each as "file:line: key.path: problem". The strict decode in loadFile catches both
// as well, but names Go types and field names rather than key paths.
func checkNode(file string, n *yaml.Node, t reflect.Type, path string) []error {
	switch {
	case n.Kind == 0 || n.ShortTag() == "!!null":
		return nil // empty document or null value: defaults stay
	case n.Kind == yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return checkNode(file, n.Content[0], t, path)
	case n.Kind == yaml.AliasNode:
		return checkNode(file, n.Alias, t, path)
	case t.Kind() != reflect.Struct:
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return []error{fmt.Errorf("%s:%d: %s: want %s, got %s", file, n.Line, path, describeType(t), describeNode(n))}
		}
		return nil
	case n.Kind != yaml.MappingNode:
		where := path
		if where == "" {
			where = "top level"
		}
		return []error{fmt.Errorf("%s:%d: %s: want a mapping of keys, got %s", file, n.Line, where, describeNode(n))}
	}

	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		if name, ok := yamlName(t.Field(i)); ok && name != "" {
			fields[name] = t.Field(i).Type
			names = append(names, name)
		}
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" {
			continue // merge key: left to the strict decode
		}
		ft, ok := fields[k.Value]
		if !ok {
			msg := "unknown key"
			if s := suggest(k.Value, names); s != "" {
				msg = fmt.Sprintf("unknown key (did you mean %s?)", joinPath(path, s))
			}
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", file, k.Line, joinPath(path, k.Value), msg))
			continue
		}
		errs = append(errs, checkNode(file, v, ft, joinPath(path, k.Value))...)
	}
	return errs
}

// joinPath appends key to a dotted YAML path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describeType says in words what a leaf of type t accepts.
func describeType(t reflect.Type) string {
	switch kindOf(t) {
	case "duration":
		return "a duration like 10s, 5m or 12h"
	case "boolean":
		return "true or false"
	case "integer":
		return "an integer"
	case "number":
		return "a number"
	case "list":
		return "a list of strings"
	}
	return "a " + kindOf(t)
}

// describeNode says in words what a YAML node holds; only scalars are quoted.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// applyEnv overlays BIDROOM_* variables from environ on cfg.
func applyEnv(cfg *Config, environ []string) error {
	ls, err := leaves()
	if err != nil {
		return err
	}
	byEnv := make(map[string]leaf, len(ls))
	for _, l := range ls {
		byEnv[l.env] = l
	}
	root := reflect.ValueOf(cfg).Elem()
	var errs []error
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || name == EnvConfigPath || strings.HasPrefix(name, EnvTestPrefix) {
			continue
		}
		l, ok := byEnv[name]
		if !ok {
			errs = append(errs, unknownEnv(name, ls))
			continue
		}
		if err := setString(root.FieldByIndex(l.index), value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if l.path == "demo.enabled" {
			cfg.demoSet = true
		}
	}
	return errors.Join(errs...)
}

// unknownEnv describes a BIDROOM_ variable that matches no key, suggesting the nearest one.
func unknownEnv(name string, ls []leaf) error {
	envs := make([]string, len(ls))
	for i, l := range ls {
		envs[i] = l.env
	}
	if best := suggest(name, envs); best != "" {
		return fmt.Errorf("%s: unknown environment variable (did you mean %s?)", name, best)
	}
	return fmt.Errorf("%s: unknown environment variable (no such config key)", name)
}

// suggest returns the candidate nearest to name when it is close enough to be a likely typo: within
// a third of name's length in edits, at most three.
func suggest(name string, candidates []string) string {
	best, bestDist := "", max(1, min(3, len(name)/3))+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// leaf is one settable config key.
type leaf struct {
	path  string // YAML path, e.g. "server.listen"
	env   string // environment variable, e.g. "BIDROOM_SERVER_LISTEN"
	index []int  // field index path from Config
}

var durationType = reflect.TypeOf(time.Duration(0))

// kindOf names the value kind of a leaf type, or "" when Load cannot set it from a string.
func kindOf(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "integer"
	case t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "list"
	}
	return ""
}

// leaves lists every key of Config by walking its yaml tags, so a new field gets its environment
// variable without further code. It fails on a field it cannot handle or on two keys sharing a
// variable name.
func leaves() ([]leaf, error) {
	var out []leaf
	byEnv := map[string]string{}
	var walk func(t reflect.Type, path []string, index []int) error
	walk = func(t reflect.Type, path []string, index []int) error {
		for i := range t.NumField() {
			f := t.Field(i)
			name, ok := yamlName(f)
			if !ok {
				continue
			}
			if name == "" {
				return fmt.Errorf("configs: field %s.%s has no yaml tag", t.Name(), f.Name)
			}
			p := append(slices.Clone(path), name)
			idx := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct {
				if err := walk(f.Type, p, idx); err != nil {
					return err
				}
				continue
			}
			key := strings.Join(p, ".")
			if kindOf(f.Type) == "" {
				return fmt.Errorf("configs: %s: unsupported type %s", key, f.Type)
			}
			env := EnvPrefix + strings.ToUpper(strings.Join(p, "_"))
			if env == EnvConfigPath {
				return fmt.Errorf("configs: %s: variable %s is reserved", key, env)
			}
			if other, dup := byEnv[env]; dup {
				return fmt.Errorf("configs: %s and %s both map to %s", other, key, env)
			}
			byEnv[env] = key
			out = append(out, leaf{path: key, env: env, index: idx})
		}
		return nil
	}
	if err := walk(reflect.TypeOf(Config{}), nil, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// yamlName returns the YAML key of a struct field from its tag ("" when untagged); ok is false for
// fields YAML skips (unexported or tagged "-").
func yamlName(f reflect.StructField) (name string, ok bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ = strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return "", false
	}
	return name, true
}

// setString parses s into v according to v's kind. Surrounding spaces are trimmed except for
// strings, which are taken as given.
func setString(v reflect.Value, s string) error {
	kind := kindOf(v.Type())
	if kind != "string" {
		s = strings.TrimSpace(s)
	}
	switch kind {
	case "duration":
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. 10s, 5m, 12h)", s)
		}
		v.SetInt(int64(d))
	case "string":
		v.SetString(s)
	case "boolean":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", s)
		}
		v.SetBool(b)
	case "integer":
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			if ne := (*strconv.NumError)(nil); errors.As(err, &ne) {
				err = ne.Err
			}
			return fmt.Errorf("invalid integer %q: %v", s, err)
		}
		v.SetInt(n)
	case "number":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("invalid number %q", s)
		}
		v.SetFloat(f)
	case "list":
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		v.Set(reflect.ValueOf(items).Convert(v.Type()))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// problems collects validation failures, each prefixed with the key's YAML path.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// Validate checks every setting and returns all problems joined with errors.Join, each message
// starting with the key's YAML path, e.g. `store.backend: must be "embedded" or "redis", got "mysql"`.
// Secret values are never echoed.
func (c Config) Validate() error {
	var p problems

	checkListen(&p, "server.listen", c.Server.Listen)
	if c.Server.MetricsListen != "" {
		checkListen(&p, "server.metrics_listen", c.Server.MetricsListen)
	}
	if n := len(c.Server.MetricsToken); n > 0 && n < MinMetricsTokenBytes {
		p.add("server.metrics_token", "must be at least %d bytes when set, got %d", MinMetricsTokenBytes, n)
	}
	if c.Bids.MaxBytes < 1<<10 || c.Bids.MaxBytes > 1<<40 {
		p.add("bids.max_bytes", "must be between 1024 and 1099511627776 bytes, got %d", c.Bids.MaxBytes)
	}
	if t := c.Bids.UploadTTL; t < time.Hour || t > 8760*time.Hour {
		p.add("bids.upload_ttl", "must be between 1h and 8760h, and longer than any pause of a resumable upload, got %s", t)
	}
	if g := c.Bids.OrphanGrace; g < time.Hour || g > 8760*time.Hour {
		p.add("bids.orphan_grace", "must be between 1h and 8760h, got %s", g)
	}
	if i := c.Bids.GCInterval; i != 0 && (i < time.Minute || i > 720*time.Hour) {
		p.add("bids.gc_interval", "must be 0 (no periodic collection) or between 1m and 720h, got %s", i)
	}
	if c.Server.PublicURL != "" {
		u, err := url.Parse(c.Server.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("server.public_url", "must be an absolute http or https URL, got %q", c.Server.PublicURL)
		}
	}
	for _, o := range c.Server.AllowedOrigins {
		if !isOrigin(o) {
			p.add("server.allowed_origins", `entry %q is not an origin like "https://hall.example.cn" (lower-case scheme://host[:port], no path)`, o)
		}
	}
	if c.Server.ShutdownTimeout <= 0 {
		p.add("server.shutdown_timeout", "must be > 0, got %s", c.Server.ShutdownTimeout)
	}
	if c.Server.DrainDelay < 0 || c.Server.ShutdownTimeout > 0 && c.Server.DrainDelay >= c.Server.ShutdownTimeout {
		p.add("server.drain_delay", "must be >= 0 and less than server.shutdown_timeout (%s), got %s", c.Server.ShutdownTimeout, c.Server.DrainDelay)
	}
	if c.Server.MaxBodyBytes <= 0 {
		p.add("server.max_body_bytes", "must be > 0, got %d", c.Server.MaxBodyBytes)
	}

	if strings.TrimSpace(c.DataDir) == "" {
		p.add("data_dir", "must not be empty")
	}

	switch c.Store.Backend {
	case BackendEmbedded:
	case BackendRedis:
		checkRedisURL(&p, c.Store.RedisURL)
		if c.Store.RedisPrefix == "" {
			p.add("store.redis_prefix", "must not be empty when store.backend is %q", BackendRedis)
		}
	default:
		p.add("store.backend", "must be %q or %q, got %q", BackendEmbedded, BackendRedis, c.Store.Backend)
	}
	if c.Testing.MovableClock && c.Store.Backend != BackendEmbedded {
		p.add("testing.movable_clock", "works with the embedded store only: instances sharing a store must share one clock")
	}

	if n := len(c.Auth.TokenSecret); n > 0 && n < MinTokenSecretBytes {
		p.add("auth.token_secret", "must be at least %d bytes when set, got %d (leave empty to generate one)", MinTokenSecretBytes, n)
	}
	if n := len(c.Auth.AdminKey); n > 0 && n < MinAdminKeyBytes {
		p.add("auth.admin_key", "must be at least %d bytes when set, got %d (leave empty to generate one)", MinAdminKeyBytes, n)
	}
	if c.Auth.TokenTTL <= 0 || c.Auth.TokenTTL > maxTokenTTL {
		p.add("auth.token_ttl", "must be > 0 and <= %s, got %s", maxTokenTTL, c.Auth.TokenTTL)
	}

	s := c.Signaling
	if s.MaxMessageBytes < minMessageBytes || s.MaxMessageBytes > maxMessageBytes {
		p.add("signaling.max_message_bytes", "must be between %d and %d, got %d", minMessageBytes, maxMessageBytes, s.MaxMessageBytes)
	}
	if s.SendQueue < minSendQueue || s.SendQueue > maxSendQueue {
		p.add("signaling.send_queue", "must be between %d and %d, got %d", minSendQueue, maxSendQueue, s.SendQueue)
	}
	if s.PingInterval <= 0 {
		p.add("signaling.ping_interval", "must be > 0, got %s", s.PingInterval)
	}
	if s.PongTimeout <= s.PingInterval {
		p.add("signaling.pong_timeout", "must be greater than signaling.ping_interval (%s), got %s", s.PingInterval, s.PongTimeout)
	}
	if s.WriteTimeout <= 0 {
		p.add("signaling.write_timeout", "must be > 0, got %s", s.WriteTimeout)
	}
	if s.CommandRate < 1 || s.CommandRate > 10000 {
		p.add("signaling.command_rate", "must be between 1 and 10000, got %g", s.CommandRate)
	}
	if s.MaxReplay < 0 {
		p.add("signaling.max_replay", "must be >= 0, got %d", s.MaxReplay)
	}

	switch c.Store.RedisMode {
	case "standalone", "cluster", "sentinel":
	default:
		p.add("store.redis_mode", "must be standalone, cluster or sentinel, got %q", c.Store.RedisMode)
	}
	if c.Store.RedisMinReplicas < 0 {
		p.add("store.redis_min_replicas", "must be >= 0 (0 = don't wait for replicas), got %d", c.Store.RedisMinReplicas)
	}
	// WAIT takes whole milliseconds, and 0 would block for ever.
	if t := c.Store.RedisReplicaTimeout; t < time.Millisecond || t > time.Minute {
		p.add("store.redis_replica_timeout", "must be between 1ms and 1m, got %s", t)
	}
	c.Media.validate(&p)
	c.Cluster.validate(&p, c.Store.Backend)
	c.Bond.validate(&p)
	c.Push.validate(&p)
	if r := c.Archive.Retention; r != 0 && (r < 24*time.Hour || r > 100*365*24*time.Hour) {
		p.add("archive.retention", "must be 0 (never prune) or between 24h and 100 years, got %s", r)
	}
	if _, err := c.CenterList(); err != nil {
		p.add("centers", "%v", err)
	}
	if c.Rooms.MaxCached < 10 || c.Rooms.MaxCached > 1_000_000 {
		p.add("rooms.max_cached", "must be between 10 and 1000000, got %d", c.Rooms.MaxCached)
	}
	if c.Rooms.CheckInLead < 0 || c.Rooms.CheckInLead > maxCheckInLead {
		p.add("rooms.check_in_lead", "must be between 0 and %s, got %s", maxCheckInLead, c.Rooms.CheckInLead)
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "must be one of debug, info, warn, error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		p.add("log.format", `must be "text" or "json", got %q`, c.Log.Format)
	}

	return errors.Join(p...)
}

// checkListen requires host:port with a numeric port; the host may be empty (all interfaces).
func checkListen(p *problems, key, listen string) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		p.add(key, "must be host:port, got %q", listen)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.add(key, "port must be a number from 0 to 65535, got %q", port)
	}
}

// checkRedisURL requires a redis:// or rediss:// URL. The URL may hold a password, so only its
// scheme is ever quoted back.
func checkRedisURL(p *problems, raw string) {
	if raw == "" {
		p.add("store.redis_url", "must not be empty when store.backend is %q", BackendRedis)
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		p.add("store.redis_url", "is not a valid URL")
		return
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		p.add("store.redis_url", `scheme must be "redis" or "rediss", got %q`, u.Scheme)
	}
}

// isOrigin reports whether s is a browser origin as sent in the Origin header: lower-case
// http or https scheme, a host and optional port, nothing else.
func isOrigin(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	if strings.HasSuffix(u.Host, ":") || s != strings.ToLower(s) {
		return false
	}
	return s == u.Scheme+"://"+u.Host
}

func (m Media) validate(p *problems) {
	if m.UDPListen != "" {
		if _, _, err := net.SplitHostPort(m.UDPListen); err != nil {
			p.add("media.udp_listen", "must be host:port, got %q", m.UDPListen)
		}
	}
	if m.UDPPortMin < 0 || m.UDPPortMax > 65535 || m.UDPPortMin > m.UDPPortMax {
		p.add("media.udp_port_min", "udp_port_min..udp_port_max must be a range within 0..65535, got %d..%d", m.UDPPortMin, m.UDPPortMax)
	}
	for _, ip := range m.PublicIPs {
		if net.ParseIP(ip) == nil {
			p.add("media.public_ips", "entry %q is not an IP address", ip)
		}
	}
	if m.MaxViewers < 1 || m.MaxViewers > 100000 {
		p.add("media.max_viewers", "must be between 1 and 100000, got %d", m.MaxViewers)
	}
	if m.MaxSDPBytes < 1024 || m.MaxSDPBytes > 1<<20 {
		p.add("media.max_sdp_bytes", "must be between 1024 and 1048576, got %d", m.MaxSDPBytes)
	}
	if m.MaxLag < 50*time.Millisecond || m.MaxLag > 10*time.Second {
		p.add("media.max_lag", "must be between 50ms and 10s, got %s", m.MaxLag)
	}
	if m.PLIInterval < 0 || m.PLIInterval > time.Minute {
		p.add("media.pli_interval", "must be between 0 and 1m, got %s", m.PLIInterval)
	}
	t := m.TURN
	if !t.Enabled {
		return
	}
	if _, _, err := net.SplitHostPort(t.Listen); err != nil {
		p.add("media.turn.listen", "must be host:port, got %q", t.Listen)
	}
	if net.ParseIP(t.RelayIP) == nil {
		p.add("media.turn.relay_ip", "must be the public IP address relayed candidates use when turn is enabled, got %q", t.RelayIP)
	}
	if t.Realm == "" {
		p.add("media.turn.realm", "must not be empty")
	}
	if t.PortMin < 0 || t.PortMax > 65535 || t.PortMin > t.PortMax {
		p.add("media.turn.port_min", "port_min..port_max must be a range within 0..65535, got %d..%d", t.PortMin, t.PortMax)
	}
	if t.Secret != "" && len(t.Secret) < 32 {
		p.add("media.turn.secret", "must be at least 32 bytes when set")
	}
	if t.TTL < time.Minute || t.TTL > 7*24*time.Hour {
		p.add("media.turn.ttl", "must be between 1m and 168h, got %s", t.TTL)
	}
}

// validate checks the cluster settings; an advertised URL needs the Redis store, where the
// instances find each other's leases.
func (c Cluster) validate(p *problems, backend string) {
	if c.InstanceID != "" && !instanceID.MatchString(c.InstanceID) {
		p.add("cluster.instance_id", "must be 1-64 of A-Z a-z 0-9 . _ -, got %q", c.InstanceID)
	}
	if c.MediaLease < time.Second || c.MediaLease > 5*time.Minute {
		p.add("cluster.media_lease", "must be between 1s and 5m, got %s", c.MediaLease)
	}
	if c.AdvertiseURL == "" {
		return
	}
	u, err := url.Parse(c.AdvertiseURL)
	switch {
	case err != nil || len(c.AdvertiseURL) > 512:
		p.add("cluster.advertise_url", "is not a URL of at most 512 bytes")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		p.add("cluster.advertise_url", "must be http(s)://host:port, the address the other instances reach this one at")
	case u.User != nil, strings.Trim(u.Path, "/") != "", u.RawQuery != "", u.Fragment != "":
		p.add("cluster.advertise_url", "must be scheme://host:port only, without user, path or query")
	}
	if backend != BackendRedis {
		p.add("cluster.advertise_url", "needs store.backend %q: the instances find where each room's media is in Redis", BackendRedis)
	}
}

var instanceID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// validate checks the bond settings. The URL may hold a password and the token is a secret, so
// neither is quoted back.
func (b Bond) validate(p *problems) {
	if b.Timeout < 100*time.Millisecond || b.Timeout > time.Minute {
		p.add("bond.timeout", "must be between 100ms and 1m, got %s", b.Timeout)
	}
	if b.URL == "" {
		return
	}
	u, err := url.Parse(b.URL)
	switch {
	case err != nil:
		p.add("bond.url", "is not a valid URL")
		return
	case u.Scheme != "http" && u.Scheme != "https":
		p.add("bond.url", `scheme must be "http" or "https", got %q`, u.Scheme)
	case u.Host == "":
		p.add("bond.url", "must be an absolute URL with a host")
	case u.User != nil:
		p.add("bond.url", "must not hold a user or password (set bond.token instead)")
	}
	switch {
	case b.Token == "":
		p.add("bond.token", "must be set when bond.url is set (e.g. as BIDROOM_BOND_TOKEN)")
	case strings.ContainsFunc(b.Token, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		p.add("bond.token", "must be printable ASCII without spaces")
	}
}
