package bond_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/bond"
	"github.com/bidroom/bidroom/bond/bondtest"
	"github.com/bidroom/bidroom/configs"
)

// newChecker returns a checker for srv with cfg's changes applied to srv.Config().
func newChecker(t *testing.T, srv *bondtest.Server, change func(*bond.HTTPConfig)) *bond.HTTPChecker {
	t.Helper()
	cfg := srv.Config()
	cfg.Logger = slog.New(slog.DiscardHandler)
	if change != nil {
		change(&cfg)
	}
	c, err := bond.NewHTTPChecker(cfg)
	if err != nil {
		t.Fatalf("NewHTTPChecker error = %v, want nil", err)
	}
	return c
}

// check calls c.Check and fails the test on an error.
func check(t *testing.T, c bond.Checker, session string, bidders ...string) []bond.Record {
	t.Helper()
	got, err := c.Check(context.Background(), session, bidders)
	if err != nil {
		t.Fatalf("Check error = %v, want nil", err)
	}
	if len(got) != len(bidders) {
		t.Fatalf("Check returned %d records, want %d", len(got), len(bidders))
	}
	return got
}

// assertAllUnknown fails unless every record is Unknown with an error containing want.
func assertAllUnknown(t *testing.T, recs []bond.Record, want string) {
	t.Helper()
	for _, r := range recs {
		if r.Status != bond.Unknown || !strings.Contains(r.Error, want) {
			t.Errorf("%s: got status %q error %q, want unknown with an error containing %q", r.Bidder, r.Status, r.Error, want)
		}
	}
}

var table = map[string]map[string]bond.Record{
	"S1": {
		"paid":       {Status: bond.Paid, Amount: "20000.00", Reference: "PAY-20250301-0001"},
		"guaranteed": {Status: bond.Guaranteed, Amount: "20000", Guarantor: "中国银行股份有限公司", Reference: "BH-2025-77"},
		"missing":    {Status: bond.Missing},
		"unknown":    {Status: bond.Unknown},
		"lost":       {Status: "lost"},
		"half":       {Status: bond.Guaranteed, Guarantor: "人保财险"},
	},
}

func TestHTTPAllStatuses(t *testing.T) {
	srv := bondtest.NewServer(t, table)
	c := newChecker(t, srv, nil)
	before := time.Now()
	got := check(t, c, "S1", "paid", "guaranteed", "missing", "unknown", "lost", "half", "absent", "paid", "")
	want := []struct {
		status  bond.Status
		wantErr string
	}{
		{bond.Paid, ""},
		{bond.Guaranteed, ""},
		{bond.Missing, ""},
		{bond.Unknown, "does not know"},
		{bond.Unknown, `"lost"`},
		{bond.Unknown, "issuer or number"},
		{bond.Unknown, "does not mention"},
		{bond.Paid, ""},
		{bond.Unknown, "empty bidder"},
	}
	asked := []string{"paid", "guaranteed", "missing", "unknown", "lost", "half", "absent", "paid", ""}
	for i, w := range want {
		r := got[i]
		if r.Bidder != asked[i] || r.Status != w.status || r.Source != bond.SourceAPI || r.CheckedAt.Before(before) {
			t.Errorf("record %d = %+v, want bidder %q status %s source api checked now", i, r, asked[i], w.status)
		}
		if (w.wantErr == "") != (r.Error == "") || !strings.Contains(r.Error, w.wantErr) {
			t.Errorf("record %d error = %q, want %q", i, r.Error, w.wantErr)
		}
	}
	if g := got[1]; g.Guarantor != "中国银行股份有限公司" || g.Reference != "BH-2025-77" || g.Amount != "20000" {
		t.Errorf("guarantee = %+v, want issuer, number and amount kept", g)
	}
	if p := got[0]; p.Reference != "PAY-20250301-0001" || p.Amount != "20000.00" {
		t.Errorf("payment = %+v, want serial and amount kept", p)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}

func TestHTTPBatches(t *testing.T) {
	srv := bondtest.NewServer(t, nil)
	bidders := make([]string, 250)
	for i := range bidders {
		bidders[i] = fmt.Sprintf("bidder-%03d", i)
		srv.Put("S1", bidders[i], bond.Record{Status: bond.Paid, Reference: "P" + bidders[i]})
	}
	got := check(t, newChecker(t, srv, nil), "S1", bidders...)
	for i, r := range got {
		if r.Bidder != bidders[i] || r.Status != bond.Paid || r.Reference != "P"+bidders[i] {
			t.Errorf("record %d = %+v, want %s paid", i, r, bidders[i])
		}
	}
	if n, m := srv.Requests(), srv.MaxBatch(); n != 3 || m != bond.BatchSize {
		t.Errorf("server got %d requests of at most %d bidders, want 3 of at most %d", n, m, bond.BatchSize)
	}
}

func TestHTTPFaults(t *testing.T) {
	tests := []struct {
		name         string
		setup        func(*bondtest.Server)
		change       func(*bond.HTTPConfig)
		wantErr      string // "" means a normal answer
		wantRequests int
	}{
		{"wrong token", nil, func(c *bond.HTTPConfig) { c.Token = "not-the-token" }, "authorization", 1},
		{"no token", nil, func(c *bond.HTTPConfig) { c.Token = "" }, "HTTP 401", 1},
		{"retry succeeds after one 500", func(s *bondtest.Server) { s.Fail(bondtest.Error500) }, nil, "", 2},
		{"retry succeeds after a slow answer", func(s *bondtest.Server) { s.Fail(bondtest.Slow) }, func(c *bond.HTTPConfig) { c.Timeout = 200 * time.Millisecond }, "", 2},
		{"500 every time", func(s *bondtest.Server) { s.Always(bondtest.Error500) }, nil, "HTTP 500 Internal Server Error", 3},
		{"no retries", func(s *bondtest.Server) { s.Always(bondtest.Error500) }, func(c *bond.HTTPConfig) { c.Retries = -1 }, "HTTP 500", 1},
		{"timeout", func(s *bondtest.Server) { s.Always(bondtest.Slow) }, func(c *bond.HTTPConfig) { c.Timeout = 100 * time.Millisecond }, "did not answer within 100ms", 3},
		{"oversized answer", func(s *bondtest.Server) { s.Always(bondtest.Oversized) }, nil, "larger than the 1 MiB limit", 1},
		{"smaller limit", nil, func(c *bond.HTTPConfig) { c.MaxResponseBytes = 64 }, "larger than the 64 bytes limit", 1},
		{"garbage", func(s *bondtest.Server) { s.Always(bondtest.Garbage) }, nil, "not the expected JSON", 1},
		{"url with its own query", nil, func(c *bond.HTTPConfig) { c.URL += "?x=1&session=ignored" }, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := bondtest.NewServer(t, table)
			if tt.setup != nil {
				tt.setup(srv)
			}
			c := newChecker(t, srv, tt.change)
			start := time.Now()
			got := check(t, c, "S1", "paid", "missing")
			if tt.wantErr != "" {
				assertAllUnknown(t, got, tt.wantErr)
			} else if got[0].Status != bond.Paid || got[1].Status != bond.Missing {
				t.Errorf("got %+v, want paid and missing", got)
			}
			if n := srv.Requests(); n != tt.wantRequests {
				t.Errorf("server got %d requests, want %d", n, tt.wantRequests)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Check took %s, want well under the server's %s delay", d, bondtest.DefaultDelay)
			}
		})
	}
}

func TestHTTPUnreachable(t *testing.T) {
	srv := bondtest.NewServer(t, table)
	c := newChecker(t, srv, func(c *bond.HTTPConfig) { c.Retries = 1 })
	srv.Close()
	got := check(t, c, "S1", "paid")
	assertAllUnknown(t, got, "could not reach the bond system at 127.0.0.1")
	if strings.Contains(got[0].Error, "session=") {
		t.Errorf("error %q quotes the request URL, want only the host", got[0].Error)
	}
}

func TestHTTPContextCanceled(t *testing.T) {
	srv := bondtest.NewServer(t, table)
	c := newChecker(t, srv, nil)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := c.Check(ctx, "S1", []string{"paid"}); !errors.Is(err, context.Canceled) || got != nil {
		t.Errorf("Check(canceled) = %v, %v; want nil, context.Canceled", got, err)
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}

	srv.Always(bondtest.Slow)
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.Check(ctx, "S1", []string{"paid"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Check canceled while waiting: error = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Check returned %s after cancel, want promptly", d)
	}

	srv.Always(bondtest.Error500)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	c = newChecker(t, srv, func(c *bond.HTTPConfig) { c.Backoff = time.Hour })
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := c.Check(ctx, "S1", []string{"paid"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Check canceled during backoff: error = %v, want context.Canceled", err)
	}
}

func TestHTTPLogsHostNotToken(t *testing.T) {
	srv := bondtest.NewServer(t, table)
	srv.Always(bondtest.Error500)
	var buf bytes.Buffer
	c := newChecker(t, srv, func(c *bond.HTTPConfig) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	})
	got := check(t, c, "S1", "paid")
	u, _ := url.Parse(srv.URL)
	log := buf.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "host="+u.Host) {
		t.Errorf("log %q, want warnings naming host %s", log, u.Host)
	}
	for _, secret := range []string{srv.Token, "Bearer", "?session", "&bidder"} {
		if strings.Contains(log, secret) || strings.Contains(got[0].Error, secret) {
			t.Errorf("log %q or error %q contains %q, want neither to", log, got[0].Error, secret)
		}
	}
}

func TestNewHTTPCheckerErrors(t *testing.T) {
	for _, cfg := range []bond.HTTPConfig{
		{},
		{URL: "bond.example.cn/api"},
		{URL: "ftp://bond.example.cn"},
		{URL: "https://user:hunter2@bond.example.cn"},
		{URL: "https://bond.example.cn", Token: "two words"},
	} {
		_, err := bond.NewHTTPChecker(cfg)
		if err == nil {
			t.Errorf("NewHTTPChecker(%+v) error = nil, want one", cfg)
		} else if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "two words") {
			t.Errorf("error %q quotes a secret", err)
		}
	}
}

func TestFromConfig(t *testing.T) {
	reg := bond.Registered(func(string) map[string]bond.Record {
		return map[string]bond.Record{"paid": {Status: bond.Paid}}
	})
	c, err := bond.FromConfig(configs.Bond{Timeout: time.Second}, reg, nil)
	if err != nil {
		t.Fatalf("FromConfig(no url) error = %v", err)
	}
	got := check(t, c, "S1", "paid", "missing")
	if got[0].Status != bond.Paid || got[1].Status != bond.Missing || got[0].Source != bond.SourceRegistration {
		t.Errorf("registration checker: got %+v, want paid and missing from registration", got)
	}

	srv := bondtest.NewServer(t, table)
	c, err = bond.FromConfig(configs.Bond{URL: srv.URL + "/bonds", Token: srv.Token, Timeout: time.Second}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("FromConfig(url) error = %v", err)
	}
	if _, ok := c.(*bond.HTTPChecker); !ok {
		t.Fatalf("FromConfig(url) = %T, want *bond.HTTPChecker", c)
	}
	got = check(t, c, "S1", "guaranteed", "lost")
	if got[0].Status != bond.Guaranteed || got[1].Status != bond.Unknown || got[0].Source != bond.SourceAPI {
		t.Errorf("HTTP checker: got %+v, want guaranteed and unknown from the api", got)
	}

	if _, err := bond.FromConfig(configs.Bond{URL: "bond.example.cn"}, nil, nil); err == nil {
		t.Error("FromConfig(relative url) error = nil, want one")
	}
}
