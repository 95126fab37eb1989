package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const examplePath = "bidroom.example.yaml"

// writeFile writes content to a config file in a fresh temporary directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bidroom.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// normalize makes an empty list and a nil list compare equal.
func normalize(c Config) Config {
	if len(c.Server.AllowedOrigins) == 0 {
		c.Server.AllowedOrigins = nil
	}
	return c
}

// assertConfig fails unless got equals want, ignoring nil-versus-empty lists.
func assertConfig(t *testing.T, got, want Config) {
	t.Helper()
	if got, want := normalize(got), normalize(want); !reflect.DeepEqual(got, want) {
		t.Errorf("config mismatch\ngot:  %+v\nwant: %+v", got, want)
	}
}

// assertErrContains fails unless err is non-nil and its message holds every part.
func assertErrContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want one containing %q", parts)
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("got error %q, want it to contain %q", err, part)
		}
	}
}

func TestDefaultValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
	got, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load(\"\", nil) error = %v, want nil", err)
	}
	assertConfig(t, got, Default())
}

func TestExampleMatchesDefault(t *testing.T) {
	got, err := Load(examplePath, nil)
	if err != nil {
		t.Fatalf("Load(%s) error = %v, want nil", examplePath, err)
	}
	assertConfig(t, got, Default())
	if got.DemoExplicit() {
		t.Errorf("example: DemoExplicit() = true, want false (copying the example must not force the demo on with redis)")
	}
}

func TestExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	ls, err := leaves()
	if err != nil {
		t.Fatalf("leaves() error = %v", err)
	}
	if len(ls) == 0 {
		t.Fatal("leaves() found no keys")
	}
	for _, l := range ls {
		if !hasPath(&doc, strings.Split(l.path, ".")) {
			t.Errorf("%s: key missing from %s", l.path, examplePath)
		}
	}
}

// hasPath reports whether the YAML document n has a mapping key at path.
func hasPath(n *yaml.Node, path []string) bool {
	if n.Kind == yaml.DocumentNode {
		return len(n.Content) == 1 && hasPath(n.Content[0], path)
	}
	if len(path) == 0 {
		return true
	}
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == path[0] {
			return hasPath(n.Content[i+1], path[1:])
		}
	}
	return false
}

func TestLeaves(t *testing.T) {
	ls, err := leaves()
	if err != nil {
		t.Fatalf("leaves() error = %v, want nil", err)
	}
	tests := []struct {
		path, env string
	}{
		{"server.listen", "BIDROOM_SERVER_LISTEN"},
		{"server.allowed_origins", "BIDROOM_SERVER_ALLOWED_ORIGINS"},
		{"data_dir", "BIDROOM_DATA_DIR"},
		{"store.backend", "BIDROOM_STORE_BACKEND"},
		{"signaling.ping_interval", "BIDROOM_SIGNALING_PING_INTERVAL"},
		{"demo.enabled", "BIDROOM_DEMO_ENABLED"},
		{"bond.token", "BIDROOM_BOND_TOKEN"},
	}
	for _, tt := range tests {
		found := false
		for _, l := range ls {
			if l.path == tt.path {
				found = true
				if l.env != tt.env {
					t.Errorf("%s: got env %s, want %s", tt.path, l.env, tt.env)
				}
			}
		}
		if !found {
			t.Errorf("%s: not among leaves", tt.path)
		}
	}
}

func TestLoadFile(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want func(*Config)
	}{
		{
			name: "empty file",
			yaml: "",
			want: func(*Config) {},
		},
		{
			name: "only comments",
			yaml: "# nothing here\n",
			want: func(*Config) {},
		},
		{
			name: "server section",
			yaml: `
server:
  listen: ":9000"
  public_url: https://bid.example.cn
  allowed_origins: ["https://hall.example.cn", "http://localhost:5173"]
  shutdown_timeout: 3s
  max_body_bytes: 4096
`,
			want: func(c *Config) {
				c.Server = Server{
					Listen:          ":9000",
					PublicURL:       "https://bid.example.cn",
					AllowedOrigins:  []string{"https://hall.example.cn", "http://localhost:5173"},
					ShutdownTimeout: 3 * time.Second,
					MaxBodyBytes:    4096,
				}
			},
		},
		{
			name: "partial section keeps other defaults",
			yaml: "signaling:\n  ping_interval: 5s\n  pong_timeout: 15s\n",
			want: func(c *Config) {
				c.Signaling.PingInterval = 5 * time.Second
				c.Signaling.PongTimeout = 15 * time.Second
			},
		},
		{
			name: "redis store, secrets, log",
			yaml: `
data_dir: /var/lib/bidroom
store:
  backend: redis
  redis_url: rediss://:pw@redis.internal:6380/2
  redis_prefix: hall1
auth:
  token_secret: 0123456789abcdef0123456789abcdef
  admin_key: 0123456789abcdef
  token_ttl: 1h
rooms:
  check_in_lead: 0s
log:
  level: debug
  format: json
`,
			want: func(c *Config) {
				c.DataDir = "/var/lib/bidroom"
				c.Store = Store{Backend: BackendRedis, RedisURL: "rediss://:pw@redis.internal:6380/2", RedisPrefix: "hall1", RedisMode: "standalone", RedisReplicaTimeout: time.Second}
				c.Auth = Auth{TokenSecret: "0123456789abcdef0123456789abcdef", AdminKey: "0123456789abcdef", TokenTTL: time.Hour}
				c.Rooms.CheckInLead = 0
				c.Log = Log{Level: "debug", Format: "json"}
			},
		},
		{
			name: "demo disabled explicitly",
			yaml: "demo:\n  enabled: false\n",
			want: func(c *Config) {
				c.Demo.Enabled = false
				c.demoSet = true
			},
		},
		{
			name: "anchors and merge keys",
			yaml: "rooms:\n  check_in_lead: &lead 30m\nauth:\n  token_ttl: *lead\nlog:\n  <<: {level: warn}\n  format: json\n",
			want: func(c *Config) {
				c.Rooms.CheckInLead = 30 * time.Minute
				c.Auth.TokenTTL = 30 * time.Minute
				c.Log = Log{Level: "warn", Format: "json"}
			},
		},
		{
			name: "null section keeps defaults",
			yaml: "server:\nstore: ~\n",
			want: func(*Config) {},
		},
		{
			name: "demo null keeps default and is not explicit",
			yaml: "demo:\n  enabled:\n",
			want: func(*Config) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(writeFile(t, tt.yaml), nil)
			if err != nil {
				t.Fatalf("Load error = %v, want nil", err)
			}
			want := Default()
			tt.want(&want)
			assertConfig(t, got, want)
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"unknown nested key", "server:\n  listen: \":80\"\n  listne: x\n", []string{"bidroom.yaml:3: server.listne: unknown key (did you mean server.listen?)"}},
		{"unknown top-level key", "log:\n  level: info\nlogging:\n  level: info\n", []string{"bidroom.yaml:3: logging: unknown key"}},
		{"unknown section key", "demo:\n  enable: true\n", []string{"bidroom.yaml:2: demo.enable: unknown key (did you mean demo.enabled?)"}},
		{"every unknown key", "foo: 1\nstore:\n  bar: 2\n", []string{"bidroom.yaml:1: foo: unknown key", "bidroom.yaml:3: store.bar: unknown key"}},
		{"unknown key inside merge", "server:\n  <<: {listne: x}\n", []string{"listne", "line 2"}},
		{"wrong type", "signaling:\n  send_queue: lots\n", []string{`bidroom.yaml:2: signaling.send_queue: want an integer, got "lots"`}},
		{"integer as duration", "server:\n  shutdown_timeout: 10\n", []string{"bidroom.yaml:2: server.shutdown_timeout: want a duration"}},
		{"scalar as list", "server:\n  allowed_origins: https://a.cn\n", []string{"bidroom.yaml:2: server.allowed_origins: want a list of strings"}},
		{"scalar as section", "server: 8080\n", []string{`bidroom.yaml:1: server: want a mapping of keys, got "8080"`}},
		{"list as document", "- a\n- b\n", []string{"bidroom.yaml:1: top level: want a mapping of keys, got a list"}},
		{"syntax error", "server: [\n", []string{"bidroom.yaml"}},
		{"two documents", "log:\n  level: info\n---\nlog:\n  level: debug\n", []string{"more than one YAML document"}},
		{"invalid value", "store:\n  backend: mysql\n", []string{`store.backend: must be "embedded" or "redis", got "mysql"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(writeFile(t, tt.yaml), nil)
			assertErrContains(t, err, tt.want...)
			if !reflect.DeepEqual(got, Config{}) {
				t.Errorf("got config %+v on error, want zero Config", got)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := Load(path, nil)
	assertErrContains(t, err, "missing.yaml")
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want func(*Config)
	}{
		{"string", []string{"BIDROOM_SERVER_LISTEN=0.0.0.0:80"}, func(c *Config) { c.Server.Listen = "0.0.0.0:80" }},
		{"top-level string", []string{"BIDROOM_DATA_DIR=/srv/bidroom"}, func(c *Config) { c.DataDir = "/srv/bidroom" }},
		{"string set empty", []string{"BIDROOM_SERVER_PUBLIC_URL="}, func(*Config) {}},
		{"duration", []string{"BIDROOM_SIGNALING_PING_INTERVAL=5s"}, func(c *Config) { c.Signaling.PingInterval = 5 * time.Second }},
		{"duration with spaces", []string{"BIDROOM_AUTH_TOKEN_TTL= 2h "}, func(c *Config) { c.Auth.TokenTTL = 2 * time.Hour }},
		{"int", []string{"BIDROOM_SIGNALING_SEND_QUEUE=64"}, func(c *Config) { c.Signaling.SendQueue = 64 }},
		{"int64", []string{"BIDROOM_SERVER_MAX_BODY_BYTES=2097152"}, func(c *Config) { c.Server.MaxBodyBytes = 2 << 20 }},
		{"bool", []string{"BIDROOM_DEMO_ENABLED=false"}, func(c *Config) { c.Demo.Enabled = false; c.demoSet = true }},
		{"bool true", []string{"BIDROOM_DEMO_ENABLED=1"}, func(c *Config) { c.demoSet = true }},
		{
			"list",
			[]string{"BIDROOM_SERVER_ALLOWED_ORIGINS=https://a.example.cn, https://b.example.cn,"},
			func(c *Config) { c.Server.AllowedOrigins = []string{"https://a.example.cn", "https://b.example.cn"} },
		},
		{"list empty", []string{"BIDROOM_SERVER_ALLOWED_ORIGINS="}, func(*Config) {}},
		{
			"redis backend",
			[]string{"BIDROOM_STORE_BACKEND=redis", "BIDROOM_STORE_REDIS_URL=redis://r:6379/1"},
			func(c *Config) { c.Store.Backend = BackendRedis; c.Store.RedisURL = "redis://r:6379/1" },
		},
		{
			"redis replicas",
			[]string{"BIDROOM_STORE_REDIS_MIN_REPLICAS=1", "BIDROOM_STORE_REDIS_REPLICA_TIMEOUT=250ms"},
			func(c *Config) { c.Store.RedisMinReplicas = 1; c.Store.RedisReplicaTimeout = 250 * time.Millisecond },
		},
		{
			"bond token from the environment",
			[]string{"BIDROOM_BOND_URL=https://bond.example.cn/api/bonds", "BIDROOM_BOND_TOKEN=tok-0123456789", "BIDROOM_BOND_TIMEOUT=2s"},
			func(c *Config) {
				c.Bond = Bond{URL: "https://bond.example.cn/api/bonds", Token: "tok-0123456789", Timeout: 2 * time.Second}
			},
		},
		{"last duplicate wins", []string{"BIDROOM_LOG_LEVEL=debug", "BIDROOM_LOG_LEVEL=warn"}, func(c *Config) { c.Log.Level = "warn" }},
		{
			"unrelated and reserved variables ignored",
			[]string{"PATH=/usr/bin", "BIDROOM_CONFIG=/etc/bidroom.yaml", "HOME=/root", "NOEQUALS", "bidroom_log_level=nonsense"},
			func(*Config) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load("", tt.env)
			if err != nil {
				t.Fatalf("Load error = %v, want nil", err)
			}
			want := Default()
			tt.want(&want)
			assertConfig(t, got, want)
		})
	}
}

func TestEnvOverridesFile(t *testing.T) {
	path := writeFile(t, "log:\n  level: debug\n  format: json\n")
	got, err := Load(path, []string{"BIDROOM_LOG_LEVEL=error"})
	if err != nil {
		t.Fatalf("Load error = %v, want nil", err)
	}
	want := Default()
	want.Log = Log{Level: "error", Format: "json"}
	assertConfig(t, got, want)
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"bad duration", []string{"BIDROOM_SIGNALING_PING_INTERVAL=5"}, []string{"BIDROOM_SIGNALING_PING_INTERVAL", `invalid duration "5"`}},
		{"bad int", []string{"BIDROOM_SIGNALING_SEND_QUEUE=many"}, []string{"BIDROOM_SIGNALING_SEND_QUEUE", `invalid integer "many"`}},
		{"int overflow", []string{"BIDROOM_SERVER_MAX_BODY_BYTES=99999999999999999999"}, []string{"BIDROOM_SERVER_MAX_BODY_BYTES", "out of range"}},
		{"bad bool", []string{"BIDROOM_DEMO_ENABLED=yes please"}, []string{"BIDROOM_DEMO_ENABLED", "invalid boolean"}},
		{"unknown with suggestion", []string{"BIDROOM_STORE_BACKEN=redis"}, []string{"BIDROOM_STORE_BACKEN", "unknown environment variable", "did you mean BIDROOM_STORE_BACKEND?"}},
		{"unknown far from any key", []string{"BIDROOM_FLUX_CAPACITOR=1"}, []string{"BIDROOM_FLUX_CAPACITOR", "unknown environment variable"}},
		{"section name alone", []string{"BIDROOM_SERVER=x"}, []string{"BIDROOM_SERVER:", "unknown environment variable"}},
		{
			"all problems reported",
			[]string{"BIDROOM_LOG_LEVL=debug", "BIDROOM_SIGNALING_WRITE_TIMEOUT=soon"},
			[]string{"BIDROOM_LOG_LEVL", "BIDROOM_SIGNALING_WRITE_TIMEOUT"},
		},
		{"valid parse, invalid value", []string{"BIDROOM_LOG_FORMAT=xml"}, []string{`log.format: must be "text" or "json", got "xml"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("", tt.env)
			assertErrContains(t, err, tt.want...)
		})
	}
}

func TestEnvUnknownSuggestionOnlyWhenClose(t *testing.T) {
	_, err := Load("", []string{"BIDROOM_FLUX_CAPACITOR=1"})
	if err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("got error %v, want an unknown-variable error without a suggestion", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings of the error; nil means valid
	}{
		{"listen without port", func(c *Config) { c.Server.Listen = "localhost" }, []string{"server.listen", "host:port"}},
		{"listen bad port", func(c *Config) { c.Server.Listen = "localhost:http" }, []string{"server.listen", `"http"`}},
		{"listen all interfaces", func(c *Config) { c.Server.Listen = ":8080" }, nil},
		{"upload ttl too short", func(c *Config) { c.Bids.UploadTTL = 30 * time.Minute }, []string{"bids.upload_ttl", "30m0s", "pause"}},
		{"orphan grace zero", func(c *Config) { c.Bids.OrphanGrace = 0 }, []string{"bids.orphan_grace", "between 1h"}},
		{"gc interval too short", func(c *Config) { c.Bids.GCInterval = time.Second }, []string{"bids.gc_interval", "0 (no periodic collection)"}},
		{"gc off", func(c *Config) { c.Bids.GCInterval = 0 }, nil},
		{"public url relative", func(c *Config) { c.Server.PublicURL = "/bid" }, []string{"server.public_url"}},
		{"public url wrong scheme", func(c *Config) { c.Server.PublicURL = "ftp://x.cn" }, []string{"server.public_url"}},
		{"public url ok", func(c *Config) { c.Server.PublicURL = "https://bid.example.cn/base" }, nil},
		{"origin with path", func(c *Config) { c.Server.AllowedOrigins = []string{"https://hall.example.cn/"} }, []string{"server.allowed_origins", `"https://hall.example.cn/"`}},
		{"origin without scheme", func(c *Config) { c.Server.AllowedOrigins = []string{"hall.example.cn"} }, []string{"server.allowed_origins"}},
		{"origin wildcard", func(c *Config) { c.Server.AllowedOrigins = []string{"*"} }, []string{"server.allowed_origins"}},
		{"origin upper case", func(c *Config) { c.Server.AllowedOrigins = []string{"https://Hall.example.cn"} }, []string{"server.allowed_origins"}},
		{"origins ok", func(c *Config) { c.Server.AllowedOrigins = []string{"https://a.cn", "http://127.0.0.1:5173"} }, nil},
		{"shutdown timeout zero", func(c *Config) { c.Server.ShutdownTimeout = 0 }, []string{"server.shutdown_timeout"}},
		{"drain delay negative", func(c *Config) { c.Server.DrainDelay = -time.Second }, []string{"server.drain_delay"}},
		{"drain delay not within the shutdown", func(c *Config) { c.Server.DrainDelay = c.Server.ShutdownTimeout }, []string{"server.drain_delay"}},
		{"drain delay ok", func(c *Config) { c.Server.DrainDelay = 2 * time.Second }, nil},
		{"max body zero", func(c *Config) { c.Server.MaxBodyBytes = 0 }, []string{"server.max_body_bytes"}},
		{"data dir empty", func(c *Config) { c.DataDir = "" }, []string{"data_dir: must not be empty"}},
		{"backend unknown", func(c *Config) { c.Store.Backend = "mysql" }, []string{`store.backend: must be "embedded" or "redis", got "mysql"`}},
		{"redis url empty", func(c *Config) { c.Store.Backend = BackendRedis; c.Store.RedisURL = "" }, []string{"store.redis_url", "must not be empty"}},
		{"redis url scheme", func(c *Config) { c.Store.Backend = BackendRedis; c.Store.RedisURL = "http://127.0.0.1:6379" }, []string{"store.redis_url", `got "http"`}},
		{"redis url unparseable", func(c *Config) { c.Store.Backend = BackendRedis; c.Store.RedisURL = "redis://%zz" }, []string{"store.redis_url", "not a valid URL"}},
		{"redis url ignored when embedded", func(c *Config) { c.Store.RedisURL = "" }, nil},
		{"redis prefix empty", func(c *Config) { c.Store.Backend = BackendRedis; c.Store.RedisPrefix = "" }, []string{"store.redis_prefix"}},
		{"redis min replicas negative", func(c *Config) { c.Store.RedisMinReplicas = -1 }, []string{"store.redis_min_replicas", "got -1"}},
		{"redis min replicas set", func(c *Config) { c.Store.Backend = BackendRedis; c.Store.RedisMinReplicas = 2 }, nil},
		{"redis replica timeout zero", func(c *Config) { c.Store.RedisReplicaTimeout = 0 }, []string{"store.redis_replica_timeout", "between 1ms and 1m", "got 0s"}},
		{"redis replica timeout too long", func(c *Config) { c.Store.RedisReplicaTimeout = 2 * time.Minute }, []string{"store.redis_replica_timeout", "got 2m0s"}},
		{"movable clock with redis", func(c *Config) { c.Store.Backend = BackendRedis; c.Testing.MovableClock = true }, []string{"testing.movable_clock"}},
		{"token ttl zero", func(c *Config) { c.Auth.TokenTTL = 0 }, []string{"auth.token_ttl"}},
		{"token ttl too long", func(c *Config) { c.Auth.TokenTTL = 721 * time.Hour }, []string{"auth.token_ttl"}},
		{"token ttl max", func(c *Config) { c.Auth.TokenTTL = 720 * time.Hour }, nil},
		{"message bytes low", func(c *Config) { c.Signaling.MaxMessageBytes = 1023 }, []string{"signaling.max_message_bytes"}},
		{"message bytes high", func(c *Config) { c.Signaling.MaxMessageBytes = 16<<20 + 1 }, []string{"signaling.max_message_bytes"}},
		{"message bytes bounds", func(c *Config) { c.Signaling.MaxMessageBytes = 16 << 20 }, nil},
		{"send queue low", func(c *Config) { c.Signaling.SendQueue = 7 }, []string{"signaling.send_queue"}},
		{"send queue high", func(c *Config) { c.Signaling.SendQueue = 65537 }, []string{"signaling.send_queue"}},
		{"ping interval zero", func(c *Config) { c.Signaling.PingInterval = 0 }, []string{"signaling.ping_interval"}},
		{"pong equals ping", func(c *Config) { c.Signaling.PongTimeout = c.Signaling.PingInterval }, []string{"signaling.pong_timeout", "signaling.ping_interval"}},
		{"write timeout zero", func(c *Config) { c.Signaling.WriteTimeout = 0 }, []string{"signaling.write_timeout"}},
		{"max replay negative", func(c *Config) { c.Signaling.MaxReplay = -1 }, []string{"signaling.max_replay"}},
		{"max replay zero", func(c *Config) { c.Signaling.MaxReplay = 0 }, nil},
		{"command rate zero", func(c *Config) { c.Signaling.CommandRate = 0 }, []string{"signaling.command_rate"}},
		{"check in lead negative", func(c *Config) { c.Rooms.CheckInLead = -time.Minute }, []string{"rooms.check_in_lead"}},
		{"check in lead too long", func(c *Config) { c.Rooms.CheckInLead = 25 * time.Hour }, []string{"rooms.check_in_lead"}},
		{"bond url empty needs no token", func(c *Config) { c.Bond.URL = "" }, nil},
		{"bond url and token", func(c *Config) { c.Bond.URL = "http://10.1.2.3:8080/bonds"; c.Bond.Token = "t" }, nil},
		{"bond url without token", func(c *Config) { c.Bond.URL = "https://bond.example.cn" }, []string{"bond.token", "BIDROOM_BOND_TOKEN"}},
		{"bond url relative", func(c *Config) { c.Bond.URL = "bond.example.cn/api"; c.Bond.Token = "t" }, []string{"bond.url"}},
		{"bond url scheme", func(c *Config) { c.Bond.URL = "ftp://bond.example.cn"; c.Bond.Token = "t" }, []string{"bond.url", `"ftp"`}},
		{"bond url no host", func(c *Config) { c.Bond.URL = "https:///bonds"; c.Bond.Token = "t" }, []string{"bond.url", "host"}},
		{"bond timeout short", func(c *Config) { c.Bond.Timeout = 99 * time.Millisecond }, []string{"bond.timeout"}},
		{"bond timeout long", func(c *Config) { c.Bond.Timeout = 61 * time.Second }, []string{"bond.timeout"}},
		{"bond timeout bounds", func(c *Config) { c.Bond.Timeout = time.Minute }, nil},
		{"cluster ok", func(c *Config) {
			c.Store.Backend = BackendRedis
			c.Cluster = Cluster{InstanceID: "media-1", AdvertiseURL: "http://10.0.0.1:8080", MediaLease: 5 * time.Second}
		}, nil},
		{"cluster advertise needs redis", func(c *Config) { c.Cluster.AdvertiseURL = "http://10.0.0.1:8080" }, []string{"cluster.advertise_url", "store.backend"}},
		{"cluster advertise with path", func(c *Config) { c.Store.Backend = BackendRedis; c.Cluster.AdvertiseURL = "http://10.0.0.1:8080/x" }, []string{"cluster.advertise_url", "without user, path or query"}},
		{"cluster advertise relative", func(c *Config) { c.Store.Backend = BackendRedis; c.Cluster.AdvertiseURL = "10.0.0.1:8080" }, []string{"cluster.advertise_url"}},
		{"cluster advertise with password", func(c *Config) { c.Store.Backend = BackendRedis; c.Cluster.AdvertiseURL = "http://u:hunter2@10.0.0.1" }, []string{"cluster.advertise_url"}},
		{"cluster instance id", func(c *Config) { c.Cluster.InstanceID = "a b" }, []string{"cluster.instance_id"}},
		{"cluster lease short", func(c *Config) { c.Cluster.MediaLease = 999 * time.Millisecond }, []string{"cluster.media_lease"}},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, []string{`log.level: must be one of debug, info, warn, error, got "verbose"`}},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, []string{"log.format"}},
		{
			"several problems joined",
			func(c *Config) { c.Log.Level = ""; c.Store.Backend = ""; c.Signaling.SendQueue = 0 },
			[]string{"log.level", "store.backend", "signaling.send_queue"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			assertErrContains(t, err, tt.want...)
		})
	}
}

func TestSecretsLength(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		secret string // must never appear in the error
		want   string // key in the error; "" means valid
	}{
		{"token secret short", func(c *Config) { c.Auth.TokenSecret = strings.Repeat("s", 31) }, strings.Repeat("s", 31), "auth.token_secret"},
		{"token secret long enough", func(c *Config) { c.Auth.TokenSecret = strings.Repeat("s", 32) }, "", ""},
		{"admin key short", func(c *Config) { c.Auth.AdminKey = "k-0123456789abc" }, "k-0123456789abc", "auth.admin_key"},
		{"admin key long enough", func(c *Config) { c.Auth.AdminKey = strings.Repeat("k", 16) }, "", ""},
		{"bond token with spaces", func(c *Config) { c.Bond.URL = "https://b.cn"; c.Bond.Token = "bond secret 42" }, "bond secret 42", "bond.token"},
		{"bond url password not echoed", func(c *Config) { c.Bond.URL = "https://u:hunter2@b.cn"; c.Bond.Token = "t" }, "hunter2", "bond.url"},
		{"bond url password not echoed when unparseable", func(c *Config) { c.Bond.URL = "https://u:hunter2@b.cn:%zz"; c.Bond.Token = "t" }, "hunter2", "bond.url"},
		{"redis password not echoed", func(c *Config) { c.Store.Backend = BackendRedis; c.Store.RedisURL = "http://u:hunter2@r" }, "hunter2", "store.redis_url"},
		{"redis password not echoed when unparseable", func(c *Config) { c.Store.Backend = BackendRedis; c.Store.RedisURL = "redis://u:hunter2@r:%zz" }, "hunter2", "store.redis_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			assertErrContains(t, err, tt.want)
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("got error %q, want it not to contain the secret", err)
			}
		})
	}
}

func TestDemo(t *testing.T) {
	tests := []struct {
		name         string
		yaml         string
		env          []string
		wantExplicit bool
		wantActive   bool
	}{
		{"default embedded", "", nil, false, true},
		{"default redis", "store:\n  backend: redis\n", nil, false, false},
		{"file true with redis", "store:\n  backend: redis\ndemo:\n  enabled: true\n", nil, true, true},
		{"file false embedded", "demo:\n  enabled: false\n", nil, true, false},
		{"file null with redis", "store:\n  backend: redis\ndemo:\n  enabled:\n", nil, false, false},
		{"env true with redis", "", []string{"BIDROOM_STORE_BACKEND=redis", "BIDROOM_DEMO_ENABLED=true"}, true, true},
		{"env false embedded", "", []string{"BIDROOM_DEMO_ENABLED=false"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, tt.yaml)
			}
			c, err := Load(path, tt.env)
			if err != nil {
				t.Fatalf("Load error = %v, want nil", err)
			}
			if got := c.DemoExplicit(); got != tt.wantExplicit {
				t.Errorf("DemoExplicit() = %v, want %v", got, tt.wantExplicit)
			}
			if got := c.DemoActive(); got != tt.wantActive {
				t.Errorf("DemoActive() = %v, want %v", got, tt.wantActive)
			}
		})
	}
}
