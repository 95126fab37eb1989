package record_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/record"
	"github.com/bidroom/bidroom/record/recordtest"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T) (*rooms.Service, *clock) {
	t.Helper()
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	c := &clock{t: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}
	return rooms.NewService(log, c.now), c
}

// fixture is a finished opening: its log with the signed record appended.
type fixture struct {
	room      string
	events    []rooms.Event // the whole log, opening_record_signed included
	rec       *record.Record
	json, sig []byte
	platform  *decrypt.PrivateKey
	bidderKey *decrypt.PrivateKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	svc, c := newService(t)
	ctx := context.Background()
	op := recordtest.Run(t, svc, "s-1", c.advance)
	events, err := svc.EventsAfter(ctx, op.Room, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.Build(op.Room, events)
	if err != nil {
		t.Fatal(err)
	}
	platform, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	js, sig, err := record.Sign(rec, platform)
	if err != nil {
		t.Fatal(err)
	}
	kid := platform.Public().ID()
	data, _ := json.Marshal(rooms.OpeningRecord{Digest: record.Digest(js), Size: int64(len(js)), Signature: b64(sig), KeyID: hexs(kid[:]), Recordings: []string{strings.Repeat("9", 64)}})
	if _, err := svc.Execute(ctx, op.Room, recordtest.Host, rooms.Command{ID: "rec", Type: rooms.CmdRecordOpeningRec, Data: data}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Execute(ctx, op.Room, recordtest.Host, rooms.Command{ID: "close", Type: rooms.CmdCloseSession}); err != nil {
		t.Fatal(err)
	}
	all, err := svc.EventsAfter(ctx, op.Room, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{room: op.Room, events: clone(all), rec: rec, json: js, sig: sig, platform: platform, bidderKey: op.BidderKey}
}

func clone(evs []rooms.Event) []rooms.Event {
	out := make([]rooms.Event, len(evs))
	copy(out, evs)
	return out
}

// TestBuildFromARealOpening: the record holds every section, from the log.
func TestBuildFromARealOpening(t *testing.T) {
	f := newFixture(t)
	r := f.rec
	if r.Format != record.Format || r.Tender.Title != "城东污水处理厂提标改造工程施工" || r.Tender.Reserve != "880000" || r.Tender.DeviationPct != 20 {
		t.Fatalf("tender %+v", r.Tender)
	}
	var phases []string
	for _, p := range r.Phases {
		phases = append(phases, string(p.Phase))
	}
	if got, want := strings.Join(phases, ","), "scheduled,check_in,opened,decrypting,decryption_closed,reading_out,confirming"; got != want {
		t.Errorf("phases %s, want %s", got, want)
	}
	outcomes := map[string]string{}
	for _, b := range r.Bidders {
		outcomes[b.ID] = b.Outcome
	}
	if outcomes["a"] != "opened" || outcomes["b"] != rooms.OutcomeWithdrawn || outcomes["c"] != rooms.OutcomeRevoked || outcomes["d"] != "opened" {
		t.Errorf("outcomes %v", outcomes)
	}
	a, b, c, d := r.Bidders[0], r.Bidders[1], r.Bidders[2], r.Bidders[3]
	if a.SignIn == nil || a.SignIn.Method != rooms.SignInSM2 || a.KeyID == "" || a.SignIn.KeyID != a.KeyID {
		t.Errorf("a's sign-in %+v key %s", a.SignIn, a.KeyID)
	}
	if c.SignIn != nil {
		t.Errorf("c never signed in, record says %+v", c.SignIn)
	}
	if b.Reason == "" || b.DecidedBy != "host:h1" || len(b.Attempts) != 1 || b.Attempts[0].Code != "server_error" {
		t.Errorf("b %+v", b)
	}
	if !d.Backup || len(d.Attempts) != 2 || d.Attempts[0].OK || !d.Attempts[1].Backup || d.Bond == nil || d.Bond.Status != "unknown" {
		t.Errorf("d %+v", d)
	}
	if len(r.Pauses) != 1 || r.Pauses[0].Seconds != 600 || r.Pauses[0].Phase != rooms.PhaseDecrypting ||
		!r.Pauses[0].DecryptEndsAt.Equal(r.Decryption.EndsAt.Add(10*time.Minute)) {
		t.Errorf("pauses %+v", r.Pauses)
	}
	if r.Decryption == nil || r.Decryption.Extension == nil || r.Decryption.Extension.Minutes != 10 {
		t.Errorf("decryption %+v", r.Decryption)
	}
	if r.ReadOut == nil || len(r.ReadOut.Rows) != 4 || len(r.ReadOut.Rows[3].Flags) != 2 {
		t.Errorf("read-out %+v", r.ReadOut)
	}
	if len(r.Objections) != 1 || r.Objections[0].Answer == "" || r.Objections[0].AnsweredBy != "host:h1" {
		t.Errorf("objections %+v", r.Objections)
	}
	cf := r.Confirmation
	if cf == nil || len(cf.Confirmed) != 2 || cf.Confirmed[0].Method != rooms.SignInSM2 || cf.Confirmed[1].Method != rooms.SignInToken || strings.Join(cf.Silent, ",") != "c" {
		t.Errorf("confirmation %+v", cf)
	}
	if len(r.Recordings) != 1 || len(r.Announcements) != 1 || len(r.Staff) != 2 {
		t.Errorf("recordings %d announcements %d staff %d", len(r.Recordings), len(r.Announcements), len(r.Staff))
	}
	// log_head is the last event before the record; Build of the whole log stops there.
	if i := indexOf(f.events, rooms.EvOpeningRecordSigned); r.LogHead.Seq != uint64(i) || r.LogHead.Hash != f.events[i-1].Hash {
		t.Errorf("log head %+v, record event at index %d", r.LogHead, i)
	}
	again, err := record.Build(f.room, f.events)
	if err != nil {
		t.Fatal(err)
	}
	if js, _ := record.Encode(again); !bytes.Equal(js, f.json) {
		t.Error("building twice gives different bytes")
	}
	for _, secret := range []string{"请问", "secret", "violation"} {
		if bytes.Contains(f.json, []byte(secret)) {
			t.Errorf("the record contains %q", secret)
		}
	}
}

func indexOf(evs []rooms.Event, typ string) int {
	for i, e := range evs {
		if e.Type == typ {
			return i
		}
	}
	return -1
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	pub := f.platform.Public()
	rep, err := record.VerifyReport(f.json, f.sig, pub, f.events, nil)
	if err != nil {
		t.Fatalf("Verify of an untouched record: %v", err)
	}
	if len(rep.Checks) != 5 || len(rep.Warnings) != 0 {
		t.Errorf("checks %q warnings %q", rep.Checks, rep.Warnings)
	}
	if err := record.Verify(f.json, f.sig, pub, f.events, map[string]*decrypt.PublicKey{"a": f.bidderKey.Public()}); err != nil {
		t.Fatalf("Verify with a's key given: %v", err)
	}
	other, _ := decrypt.GenerateKey()
	head := f.rec.LogHead.Seq

	tamperedJSON := bytes.Replace(f.json, []byte("950000.00"), []byte("850000.00"), 1)
	tamperedEvents := clone(f.events)
	tampered := slices.IndexFunc(tamperedEvents, func(e rooms.Event) bool { return strings.Contains(string(e.Data), "乙市政") })
	tamperedEvents[tampered].Data = json.RawMessage(strings.Replace(string(tamperedEvents[tampered].Data), "乙市政", "戊市政", 1))
	tamperedSeq := tamperedEvents[tampered].Seq
	forged := forgeConfirmation(t, f, other)

	tests := []struct {
		name   string
		json   []byte
		sig    []byte
		key    *decrypt.PublicKey
		events []rooms.Event
		keys   map[string]*decrypt.PublicKey
		want   string
	}{
		{"tampered record byte", tamperedJSON, f.sig, pub, f.events, nil, "platform signature does not verify"},
		{"wrong platform key", f.json, f.sig, other.Public(), f.events, nil, "platform signature does not verify"},
		{"tampered log event", f.json, f.sig, pub, tamperedEvents, nil, fmt.Sprintf("hash chain is broken: bad event: s-1#%d hash mismatch", tamperedSeq)},
		{"log truncated before log_head", f.json, f.sig, pub, f.events[:head-3], nil, "the log is truncated"},
		{"forged bidder signature", forged.json, forged.sig, pub, forged.events, nil, "bidder a's confirmation signature does not verify"},
		{"another key given for the bidder", f.json, f.sig, pub, f.events, map[string]*decrypt.PublicKey{"a": other.Public()}, "bidder a's confirmation names key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := record.Verify(tt.json, tt.sig, tt.key, tt.events, tt.keys)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify = %v, want an error containing %q", err, tt.want)
			}
			t.Logf("%v", err)
		})
	}
}

// forgeConfirmation builds a log in which a's confirmation carries a
// signature by another key (the domain takes what the server checked; a
// forger with write access to the store would write this), signs a record
// of it with the platform key and appends the record event, so only the
// bidder-signature check can catch it.
func forgeConfirmation(t *testing.T, f *fixture, forger *decrypt.PrivateKey) *fixture {
	t.Helper()
	svc, c := newService(t)
	recordtest.Run(t, svc, f.room, c.advance)
	events, _ := svc.EventsAfter(context.Background(), f.room, 0)
	events = clone(events)
	prev := ""
	for i := range events {
		e := &events[i]
		if e.Type == rooms.EvConfirmed {
			var cf rooms.Confirmation
			_ = json.Unmarshal(e.Data, &cf)
			if cf.Method == rooms.SignInSM2 {
				sig, _ := forger.Sign([]byte(rooms.ConfirmationMessage(f.room, cf.Bidder, cf.Digest)))
				cf.Signature = b64(sig)
				e.Data, _ = json.Marshal(cf)
			}
		}
		e.Seal(prev)
		prev = e.Hash
	}
	rec, err := record.Build(f.room, events)
	if err != nil {
		t.Fatal(err)
	}
	js, sig, err := record.Sign(rec, f.platform)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{room: f.room, events: events, json: js, sig: sig}
}

// TestVerifyRecordNotFromLog: a record the platform signed that the log
// does not give (e.g. a silent bidder dropped) fails with the first field
// that differs.
func TestVerifyRecordNotFromLog(t *testing.T) {
	f := newFixture(t)
	rec := *f.rec
	cf := *rec.Confirmation
	cf.Silent = []string{}
	rec.Confirmation = &cf
	js, sig, err := record.Sign(&rec, f.platform)
	if err != nil {
		t.Fatal(err)
	}
	err = record.Verify(js, sig, f.platform.Public(), f.events, nil)
	if err == nil || !strings.Contains(err.Error(), `at confirmation.silent[0] the record says null, the log gives "c"`) {
		t.Fatalf("Verify = %v", err)
	}
	// Signed by the platform and rebuilt, but not the record the log's event holds.
	js2, sig2, _ := record.Sign(f.rec, f.platform)
	if !bytes.Equal(js2, f.json) {
		t.Fatal("signing again changed the bytes")
	}
	if err := record.Verify(js2, sig2, f.platform.Public(), f.events, nil); err == nil || !strings.Contains(err.Error(), "carries another signature") {
		t.Fatalf("Verify with a second signature = %v", err)
	}
	// Before the record event exists, verify passes with a warning.
	i := indexOf(f.events, rooms.EvOpeningRecordSigned)
	rep, err := record.VerifyReport(f.json, f.sig, f.platform.Public(), f.events[:i], nil)
	if err != nil || len(rep.Warnings) != 1 {
		t.Fatalf("VerifyReport before the record event: %v, warnings %q", err, rep.Warnings)
	}
}

// TestFailedOpening: 流标 gets a record with its reason.
func TestFailedOpening(t *testing.T) {
	svc, c := newService(t)
	ctx := context.Background()
	exec := func(actor rooms.Actor, id, typ string, data any) {
		t.Helper()
		raw, _ := json.Marshal(data)
		if _, err := svc.Execute(ctx, "s-f", actor, rooms.Command{ID: id, Type: typ, Data: raw}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	now := svc.Now()
	exec(recordtest.Admin, "1", rooms.CmdCreateSession, rooms.SessionSpec{Title: "道路工程", Category: "construction", Deadline: now.Add(time.Hour), CheckInAt: now})
	exec(recordtest.Admin, "2", rooms.CmdRegisterBidder, rooms.BidderSpec{ID: "a", Name: "甲"})
	exec(recordtest.Admin, "3", rooms.CmdRegisterBidder, rooms.BidderSpec{ID: "b", Name: "乙"})
	exec(recordtest.Bidder("a"), "4", rooms.CmdSubmitBid, rooms.Bid{Bidder: "a", Digest: strings.Repeat("a", 64), HeaderDigest: strings.Repeat("a", 64), Size: 9})
	c.advance(time.Hour)
	exec(rooms.SystemActor, "5", rooms.CmdDeadline, nil)
	events, _ := svc.EventsAfter(ctx, "s-f", 0)
	rec, err := record.Build("s-f", events)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Failure == nil || rec.Failure.Submitted != 1 || rec.Failure.Min != 3 || !strings.Contains(rec.Failure.Text, "流标") {
		t.Fatalf("failure %+v", rec.Failure)
	}
	if html := record.HTML(rec); !bytes.Contains(html, []byte("流标")) {
		t.Error("the page of a failed opening does not say 流标")
	}
}

// TestOpenSSLVerifiesThePlatformSignature: the platform's signature over the
// record verifies with OpenSSL (SM2, SM3, the default user id).
func TestOpenSSLVerifiesThePlatformSignature(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not found on PATH")
	}
	f := newFixture(t)
	dir := t.TempDir()
	pubPEM, _ := f.platform.Public().MarshalPEM()
	for name, b := range map[string][]byte{"record.json": f.json, "record.sig": f.sig, "platform.pub.pem": pubPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(file string) (string, error) {
		cmd := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "platform.pub.pem", "-rawin", "-digest", "sm3",
			"-pkeyopt", "distid:1234567812345678", "-in", file, "-sigfile", "record.sig")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify("record.json"); err != nil || !strings.Contains(out, "Signature Verified Successfully") {
		t.Fatalf("openssl pkeyutl -verify: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "tampered.json"), bytes.Replace(f.json, []byte("张三"), []byte("张四"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := verify("tampered.json"); err == nil {
		t.Fatalf("openssl verified a tampered record:\n%s", out)
	}
	// The digest in the log is what `openssl dgst -sm3` prints.
	cmd := exec.Command(openssl, "dgst", "-sm3", "-r", "record.json")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(out), record.Digest(f.json)) {
		t.Fatalf("openssl dgst -sm3: %s (%v), want %s", out, err, record.Digest(f.json))
	}
}

func b64(b []byte) string  { return base64.StdEncoding.EncodeToString(b) }
func hexs(b []byte) string { return hex.EncodeToString(b) }

// TestHTML: the page has every section, in Chinese, with the digests.
func TestHTML(t *testing.T) {
	f := newFixture(t)
	kid := f.platform.Public().ID()
	page := string(record.HTMLSigned(f.rec, record.Digest(f.json), hexs(kid[:]), b64(f.sig)))
	for _, want := range []string{"开标记录表", "投标人", "解密情况", "唱标结果", "异议及答复", "确认情况", "暂停记录", "录像文件",
		"大屏显示与文件不一致", "撤销", "撤回", "超最高限价", "恢复后解密截止", "Noto Sans CJK SC", "@page", record.Digest(f.json), f.rec.ReadOut.Digest, strings.Repeat("9", 64)} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// A recording completed after its server stopped says so.
	const recovered = "服务中断后恢复"
	if strings.Contains(page, recovered) {
		t.Errorf("the page marks a recording %q that was not", recovered)
	}
	rec := *f.rec
	rec.Recordings = slices.Clone(rec.Recordings)
	rec.Recordings[0].Recovered = true
	if !strings.Contains(string(record.HTML(&rec)), recovered) {
		t.Errorf("the page does not mark a recovered recording %q", recovered)
	}
	// A real Chromium prints it to PDF (A4); set RECORD_HTML_OUT=DIR to keep
	// the page, the PDF and a screenshot to look at.
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not found on PATH")
	}
	dir := os.Getenv("RECORD_HTML_OUT")
	if dir == "" {
		dir = t.TempDir()
	}
	htmlPath := filepath.Join(dir, "record.html")
	if err := os.WriteFile(htmlPath, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"--print-to-pdf=" + filepath.Join(dir, "record.pdf"), "--screenshot=" + filepath.Join(dir, "record.png")} {
		cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", "--window-size=800,4200", arg, "file://"+htmlPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("chromium %s: %v\n%s", arg, err, out)
		}
	}
	pdf, err := os.ReadFile(filepath.Join(dir, "record.pdf"))
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF")) || len(pdf) < 10000 {
		t.Fatalf("chromium printed no PDF (%d bytes, %v)", len(pdf), err)
	}
}
