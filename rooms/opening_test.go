package rooms

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var (
	t0       = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	admin    = Actor{Sub: "adm", Role: RoleAdmin}
	host     = Actor{Sub: "h1", Role: RoleHost}
	sup      = Actor{Sub: "s1", Role: RoleSupervisor}
	bidderA  = Actor{Sub: "a", Role: RoleBidder}
	bidderB  = Actor{Sub: "b", Role: RoleBidder}
	stranger = Actor{Sub: "x", Role: RoleBidder}
	expert   = Actor{Sub: "e1", Role: RoleExpert}
)

func raw(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fold runs commands through Decide and Apply like the Service does,
// failing the test on any refusal.
type folder struct {
	t      *testing.T
	o      *Opening
	events []Event
}

func newFolder(t *testing.T) *folder {
	return &folder{t: t, o: NewOpening("r1")}
}

func (f *folder) try(actor Actor, typ string, data any, now time.Time) ([]Draft, error) {
	f.t.Helper()
	var d json.RawMessage
	if data != nil {
		d = raw(f.t, data)
	}
	drafts, err := f.o.Decide(actor, Command{ID: "c", Type: typ, Data: d}, now)
	if err != nil {
		return nil, err
	}
	evs, err := seal("r1", actor, "c", f.o.Seq, f.o.Hash, now, drafts)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range evs {
		if err := f.o.Apply(e); err != nil {
			f.t.Fatal(err)
		}
		f.events = append(f.events, e)
	}
	return drafts, nil
}

func (f *folder) must(actor Actor, typ string, data any, now time.Time) []Draft {
	f.t.Helper()
	d, err := f.try(actor, typ, data, now)
	if err != nil {
		f.t.Fatalf("%s by %s: %v", typ, actor.Role, err)
	}
	return d
}

func spec() SessionSpec {
	// A re-tender (R7): the opening proceeds with fewer than three bids, so
	// the tests of single steps need only one or two bidders.
	return SessionSpec{Title: "道路工程", Section: "S-1", Category: "construction",
		Deadline: t0.Add(time.Hour), CheckInAt: t0.Add(10 * time.Minute), ControlPrice: "1000000.00", ProceedBelowMin: true}
}

// created is a session with bidders a and b registered.
func created(t *testing.T) *folder {
	f := newFolder(t)
	f.must(admin, CmdCreateSession, spec(), t0)
	f.must(admin, CmdRegisterBidder, BidderSpec{ID: "a", Name: "甲公司"}, t0)
	f.must(admin, CmdRegisterBidder, BidderSpec{ID: "b", Name: "乙公司"}, t0)
	return f
}

func checkIn(t *testing.T) *folder {
	f := created(t)
	f.must(SystemActor, CmdOpenCheckIn, nil, t0.Add(10*time.Minute))
	return f
}

// keyedCheckIn is sign-in time for a bidder a registered with a key.
func keyedCheckIn(t *testing.T) *folder {
	f := newFolder(t)
	f.must(admin, CmdCreateSession, spec(), t0)
	f.must(admin, CmdRegisterBidder, BidderSpec{ID: "a", Name: "甲公司", PublicKey: "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----\n"}, t0)
	f.must(SystemActor, CmdOpenCheckIn, nil, t0.Add(10*time.Minute))
	return f
}

// TestKeySignIn: a bidder with a registered key signs in only with it, and
// the event says how.
func TestKeySignIn(t *testing.T) {
	f := keyedCheckIn(t)
	key := strings.Repeat("ab", 32)
	f.must(bidderA, CmdKeySignIn, SignIn{KeyID: key}, t0.Add(20*time.Minute))
	p := f.o.participant("a", RoleBidder, false)
	if p == nil || !p.SignedIn {
		t.Fatal("bidder a is not signed in after a key sign-in")
	}
	var got SignIn
	last := f.events[len(f.events)-1]
	if err := json.Unmarshal(last.Data, &got); err != nil || got.Method != SignInSM2 || got.KeyID != key || got.Sub != "a" {
		t.Fatalf("signed_in data = %s (%v); want method sm2 and the key id", last.Data, err)
	}
}

func TestOpeningHappyPath(t *testing.T) {
	f := checkIn(t)
	if f.o.Phase != PhaseCheckIn {
		t.Fatalf("phase = %s, want check_in", f.o.Phase)
	}
	f.must(bidderA, CmdSignIn, nil, t0.Add(20*time.Minute))
	f.must(host, CmdSignIn, nil, t0.Add(20*time.Minute))
	if d := f.must(bidderA, CmdSignIn, nil, t0.Add(21*time.Minute)); len(d) != 0 {
		t.Errorf("second sign-in yielded %d events, want 0", len(d))
	}
	f.must(host, CmdAnnounce, Announcement{Text: "请准备"}, t0.Add(30*time.Minute))
	d := f.must(SystemActor, CmdDeadline, nil, t0.Add(time.Hour))
	if len(d) != 2 || d[0].Type != EvOpened || d[1].Type != EvBiddersRevealed {
		t.Fatalf("deadline drafts = %+v", d)
	}
	if got := d[0].Data.(Opened); got.Registered != 2 || got.SignedIn != 1 {
		t.Errorf("opened = %+v, want 2 registered, 1 signed in", got)
	}
	if f.o.Phase != PhaseOpened || !f.o.Revealed {
		t.Errorf("phase %s revealed %v", f.o.Phase, f.o.Revealed)
	}
	if err := VerifyChain(0, "", f.events); err != nil {
		t.Fatal(err)
	}
}

func TestOpeningRefusals(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name  string
		setup func(*testing.T) *folder
		actor Actor
		cmd   string
		data  any
		now   time.Time
		code  string
	}{
		{"create twice", created, admin, CmdCreateSession, spec(), t0, CodeWrongState},
		{"bidder creates", newFolder, bidderA, CmdCreateSession, spec(), t0, CodeForbidden},
		{"host creates", newFolder, host, CmdCreateSession, spec(), t0, CodeForbidden},
		{"deadline in past", newFolder, admin, CmdCreateSession, SessionSpec{Title: "x", Category: "construction", Deadline: t0, CheckInAt: t0}, at(1), CodeInvalid},
		{"bad category", newFolder, admin, CmdCreateSession, SessionSpec{Title: "x", Category: "food", Deadline: at(60), CheckInAt: t0}, t0, CodeInvalid},
		{"bad price", newFolder, admin, CmdCreateSession, SessionSpec{Title: "x", Category: "land", Deadline: at(60), CheckInAt: t0, ControlPrice: "1e9"}, t0, CodeInvalid},
		{"check-in after deadline", newFolder, admin, CmdCreateSession, SessionSpec{Title: "x", Category: "land", Deadline: at(60), CheckInAt: at(61)}, t0, CodeInvalid},
		{"empty title", newFolder, admin, CmdCreateSession, SessionSpec{Title: "  ", Category: "land", Deadline: at(60), CheckInAt: t0}, t0, CodeInvalid},
		{"unknown field", newFolder, admin, CmdCreateSession, map[string]any{"title": "x", "colour": "red"}, t0, CodeInvalid},
		{"command on missing session", newFolder, host, CmdAnnounce, Announcement{Text: "x"}, t0, CodeNotFound},
		{"unknown command", created, host, "drop_table", nil, t0, CodeUnknownCommand},
		{"duplicate bidder", created, admin, CmdRegisterBidder, BidderSpec{ID: "a", Name: "甲"}, t0, CodeInvalid},
		{"bad bidder id", created, admin, CmdRegisterBidder, BidderSpec{ID: "a b", Name: "甲"}, t0, CodeInvalid},
		{"host registers bidder", created, host, CmdRegisterBidder, BidderSpec{ID: "c", Name: "丙"}, t0, CodeForbidden},
		{"sign-in before check-in", created, bidderA, CmdSignIn, nil, at(5), CodeWrongState},
		{"check-in early", created, SystemActor, CmdOpenCheckIn, nil, at(9), CodeTooEarly},
		{"check-in by host", created, host, CmdOpenCheckIn, nil, at(10), CodeForbidden},
		{"unregistered bidder signs in", checkIn, stranger, CmdSignIn, nil, at(20), CodeForbidden},
		{"expert signs in to opening", checkIn, expert, CmdSignIn, nil, at(20), CodeForbidden},
		{"deadline early", checkIn, SystemActor, CmdDeadline, nil, at(59), CodeTooEarly},
		{"host forces deadline", checkIn, host, CmdDeadline, nil, at(60), CodeForbidden},
		{"bidder announces", checkIn, bidderA, CmdAnnounce, Announcement{Text: "x"}, at(20), CodeForbidden},
		{"supervisor announces", checkIn, sup, CmdAnnounce, Announcement{Text: "x"}, at(20), CodeForbidden},
		{"empty announcement", checkIn, host, CmdAnnounce, Announcement{Text: ""}, at(20), CodeInvalid},
		{"long announcement", checkIn, host, CmdAnnounce, Announcement{Text: strings.Repeat("字", 2001)}, at(20), CodeInvalid},
		{"keyed bidder signs in by token", keyedCheckIn, bidderA, CmdSignIn, nil, at(20), CodeForbidden},
		{"key sign-in without a key id", keyedCheckIn, bidderA, CmdKeySignIn, SignIn{}, at(20), CodeInvalid},
		{"key sign-in by the host", keyedCheckIn, host, CmdKeySignIn, SignIn{KeyID: strings.Repeat("a", 64)}, at(20), CodeForbidden},
		{"key sign-in with no registered key", checkIn, bidderA, CmdKeySignIn, SignIn{KeyID: strings.Repeat("a", 64)}, at(20), CodeWrongState},
		{"bidder fakes presence", checkIn, bidderA, CmdPresence, Presence{Sub: "b", Role: RoleBidder}, at(20), CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.setup(t)
			before := f.o.Seq
			_, err := f.try(tt.actor, tt.cmd, tt.data, tt.now)
			if got := RefusalCode(err); got != tt.code {
				t.Fatalf("refusal code = %q (%v), want %q", got, err, tt.code)
			}
			if f.o.Seq != before {
				t.Errorf("a refused command changed the state: seq %d -> %d", before, f.o.Seq)
			}
		})
	}
}

func TestOpeningRegistrationClosesAtDeadline(t *testing.T) {
	f := checkIn(t)
	f.must(SystemActor, CmdDeadline, nil, t0.Add(time.Hour))
	_, err := f.try(admin, CmdRegisterBidder, BidderSpec{ID: "c", Name: "丙"}, t0.Add(time.Hour))
	if RefusalCode(err) != CodeWrongState {
		t.Fatalf("register after deadline: %v, want wrong_state", err)
	}
	if _, err := f.try(SystemActor, CmdDeadline, nil, t0.Add(2*time.Hour)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("second deadline: %v, want wrong_state", err)
	}
}

// TestProjectionHidesBiddersBeforeDeadline is R6: before the deadline a
// bidder sees no other bidder's identity, their count, sign-in, bid or
// bond status.
func TestProjectionHidesBiddersBeforeDeadline(t *testing.T) {
	f := checkIn(t)
	f.must(bidderA, CmdSignIn, nil, t0.Add(20*time.Minute))
	f.must(bidderB, CmdSignIn, nil, t0.Add(20*time.Minute))
	f.must(bidderB, CmdSubmitBid, bid("b", 1), t0.Add(21*time.Minute))

	v := f.o.Project(bidderA)
	b, _ := json.Marshal(v)
	if strings.Contains(string(b), "乙公司") || strings.Contains(string(b), `"b"`) {
		t.Errorf("bidder a's view names bidder b: %s", b)
	}
	for _, leak := range []string{`"bond"`, `"submitted"`, `"bids"`, `"bid":`} {
		if strings.Contains(string(b), leak) {
			t.Errorf("bidder a's view before the deadline carries %s: %s", leak, b)
		}
	}
	if v.Registered != nil {
		t.Errorf("bidder a's view carries the registered count %d", *v.Registered)
	}
	if len(v.Bidders) != 1 || v.Bidders[0].Sub != "a" || v.You == nil || !v.You.SignedIn {
		t.Errorf("bidder a's view = %+v, want only itself, signed in", v.Bidders)
	}
	if len(v.Staff) != 0 {
		t.Errorf("bidder sees staff list %+v", v.Staff)
	}
	for _, e := range f.events {
		if e.Vis.VisibleTo(bidderA) && (strings.Contains(string(e.Data), "乙公司") || e.Type == EvBidSubmitted) {
			t.Errorf("event %s visible to a tells of bidder b: %s", e.Type, e.Data)
		}
	}

	hv := f.o.Project(host)
	if len(hv.Bidders) != 2 || hv.Registered == nil || *hv.Registered != 2 {
		t.Errorf("host view bidders=%d registered=%v, want 2", len(hv.Bidders), hv.Registered)
	}

	f.must(SystemActor, CmdDeadline, nil, t0.Add(time.Hour))
	v = f.o.Project(bidderA)
	if len(v.Bidders) != 2 || v.Bidders[1].Name != "乙公司" || v.Registered == nil {
		t.Errorf("after the deadline bidder a's view = %+v, want both names", v.Bidders)
	}
	if v.Bidders[1].SignedIn {
		t.Errorf("bidder a sees bidder b's sign-in status")
	}
}

func TestNextTimer(t *testing.T) {
	f := created(t)
	at, cmd, ok := f.o.NextTimer()
	if !ok || cmd != CmdOpenCheckIn || !at.Equal(spec().CheckInAt) {
		t.Fatalf("scheduled timer = %v %s %v", at, cmd, ok)
	}
	f.must(SystemActor, CmdOpenCheckIn, nil, at)
	at, cmd, ok = f.o.NextTimer()
	if !ok || cmd != CmdDeadline || !at.Equal(spec().Deadline) {
		t.Fatalf("check-in timer = %v %s %v", at, cmd, ok)
	}
	f.must(SystemActor, CmdDeadline, nil, at)
	if next, cmd, ok := f.o.NextTimer(); !ok || cmd != CmdRecordBonds || !next.Equal(at) {
		t.Fatalf("after the deadline timer = %v %s %v; want the bond lookup at once", next, cmd, ok)
	}
	f.must(SystemActor, CmdRecordBonds, Bonds{}, at)
	if _, _, ok := f.o.NextTimer(); ok {
		t.Fatal("opened room still has a timer")
	}
}

func TestEventTamperDetected(t *testing.T) {
	f := checkIn(t)
	if err := VerifyChain(0, "", f.events); err != nil {
		t.Fatal(err)
	}
	tamper := []func(e []Event){
		func(e []Event) { e[1].Data = json.RawMessage(`{"id":"a","name":"假公司"}`) },
		func(e []Event) { e[2].Time = e[2].Time.Add(time.Second) },
		func(e []Event) { e[0].Actor.Role = RoleHost },
		func(e []Event) { e[1].Vis = Public() },
	}
	for i, mutate := range tamper {
		evs := append([]Event(nil), f.events...)
		mutate(evs)
		if err := VerifyChain(0, "", evs); err == nil {
			t.Errorf("tamper %d not detected", i)
		}
	}
	// Deleting an event breaks the sequence.
	evs := append(append([]Event(nil), f.events[:1]...), f.events[2:]...)
	if err := VerifyChain(0, "", evs); err == nil {
		t.Error("deleted event not detected")
	}
	// An encoded event round-trips and is checked on decode.
	b, err := f.events[1].Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeEvent(b); err != nil {
		t.Fatalf("decode: %v", err)
	}
	bad := strings.Replace(string(b), "甲公司", "乙公司", 1)
	if _, err := DecodeEvent([]byte(bad)); err == nil {
		t.Error("decode accepted an altered event")
	}
}

func FuzzDecodeEvent(f *testing.F) {
	fo := checkIn(&testing.T{})
	for _, e := range fo.events {
		b, _ := e.Encode()
		f.Add(b)
	}
	f.Add([]byte(`{"seq":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvent(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to the same hash.
		enc, err := e.Encode()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		e2, err := DecodeEvent(enc)
		if err != nil || e2.Hash != e.Hash {
			t.Fatalf("round trip changed the event: %v", err)
		}
	})
}

func bid(bidder string, n int) Bid {
	d := strings.Repeat(fmt.Sprintf("%x", n%16), 64)
	return Bid{Bidder: bidder, Digest: d, HeaderDigest: d, Size: 1000}
}

func TestBidSubmission(t *testing.T) {
	f := checkIn(t)
	at := t0.Add(30 * time.Minute)
	f.must(bidderA, CmdSubmitBid, bid("a", 1), at)
	f.must(bidderA, CmdSubmitBid, bid("a", 2), at) // a replacement
	if b := f.o.Bidders["a"].Bid; b == nil || b.Version != 2 || b.Digest != bid("a", 2).Digest || !b.ReceivedAt.Equal(at) {
		t.Fatalf("bid after replacement = %+v", b)
	}
	f.must(bidderB, CmdSubmitBid, bid("b", 3), at)
	f.must(bidderB, CmdWithdrawBid, nil, at)
	f.must(bidderB, CmdSubmitBid, bid("b", 4), at)
	if v := f.o.Bidders["b"].Bid.Version; v != 2 {
		t.Errorf("version after withdraw and resubmit = %d, want 2", v)
	}
	f.must(bidderB, CmdWithdrawBid, nil, at)

	// Who submitted is hidden from the host and from other bidders until the deadline.
	for _, e := range f.events {
		if (e.Type == EvBidSubmitted || e.Type == EvBidWithdrawn) && (e.Vis.VisibleTo(host) || e.Vis.VisibleTo(bidderB) && strings.Contains(string(e.Data), `"a"`)) {
			t.Errorf("%s visible to the host or another bidder: %+v", e.Type, e.Vis)
		}
	}
	for _, p := range f.o.Project(host).Bidders {
		if p.Bid != nil {
			t.Errorf("host sees %s's bid before the deadline", p.Sub)
		}
	}
	if sv := f.o.Project(sup); sv.Bidders[0].Bid == nil {
		t.Error("supervisor does not see bidder a's bid")
	}

	d := f.must(SystemActor, CmdDeadline, nil, t0.Add(time.Hour))
	if got := d[0].Data.(Opened).Submitted; got != 1 {
		t.Errorf("submitted at the deadline = %d, want 1 (b withdrew)", got)
	}
	hv := f.o.Project(host)
	if s := hv.Bidders[0].Submitted; s == nil || !*s || hv.Bidders[1].Submitted == nil || *hv.Bidders[1].Submitted {
		t.Error("host does not learn at the deadline who submitted (a) and who did not (b)")
	}
	if bv := f.o.Project(bidderB); bv.Bidders[0].Submitted == nil || !*bv.Bidders[0].Submitted {
		t.Error("bidder b does not learn at the deadline that a submitted")
	}
}

func TestBidRefusals(t *testing.T) {
	at := t0.Add(30 * time.Minute)
	tests := []struct {
		name  string
		actor Actor
		cmd   string
		data  any
		now   time.Time
		code  string
	}{
		{"host submits", host, CmdSubmitBid, bid("a", 1), at, CodeForbidden},
		{"for another bidder", bidderA, CmdSubmitBid, bid("b", 1), at, CodeForbidden},
		{"unregistered", stranger, CmdSubmitBid, bid("x", 1), at, CodeForbidden},
		{"bad digest", bidderA, CmdSubmitBid, Bid{Bidder: "a", Digest: "xyz", HeaderDigest: "xyz", Size: 1}, at, CodeInvalid},
		{"at the deadline", bidderA, CmdSubmitBid, bid("a", 1), t0.Add(time.Hour), CodeWrongState},
		{"withdraw nothing", bidderA, CmdWithdrawBid, nil, at, CodeNotFound},
		{"supervisor withdraws", sup, CmdWithdrawBid, nil, at, CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := checkIn(t)
			_, err := f.try(tt.actor, tt.cmd, tt.data, tt.now)
			if got := RefusalCode(err); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.code)
			}
		})
	}
	f := checkIn(t)
	f.must(bidderA, CmdSubmitBid, bid("a", 1), at)
	f.must(SystemActor, CmdDeadline, nil, t0.Add(time.Hour))
	if _, err := f.try(bidderA, CmdWithdrawBid, nil, t0.Add(time.Hour)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("withdraw after the deadline: %v", err)
	}
}

func TestDecryptionWindowAndUnlock(t *testing.T) {
	f := checkIn(t)
	f.must(bidderA, CmdSubmitBid, bid("a", 1), t0.Add(30*time.Minute))
	f.must(SystemActor, CmdDeadline, nil, t0.Add(time.Hour))
	opened := Unlock{Bidder: "a", OK: true, Sheet: map[string]string{"price": "100"}, PlaintextSHA: strings.Repeat("b", 64)}
	at := t0.Add(61 * time.Minute)
	if _, err := f.try(bidderA, CmdRecordUnlock, opened, at); RefusalCode(err) != CodeWrongState {
		t.Fatalf("unlock before the window: %v", err)
	}
	if _, err := f.try(bidderA, CmdStartDecryption, nil, at); RefusalCode(err) != CodeForbidden {
		t.Fatalf("bidder starts the window: %v", err)
	}
	f.must(host, CmdStartDecryption, nil, at)
	if want := at.Add(DefaultDecryptWindow); !f.o.DecryptEndsAt.Equal(want) {
		t.Fatalf("window ends %v, want %v", f.o.DecryptEndsAt, want)
	}
	if _, err := f.try(host, CmdStartDecryption, nil, at); RefusalCode(err) != CodeWrongState {
		t.Fatalf("second start: %v", err)
	}
	if _, err := f.try(bidderB, CmdRecordUnlock, Unlock{Bidder: "b", Code: "wrong_key"}, at); RefusalCode(err) != CodeNotFound {
		t.Fatalf("unlock without a bid: %v", err)
	}
	if _, err := f.try(bidderB, CmdRecordUnlock, opened, at); RefusalCode(err) != CodeForbidden {
		t.Fatalf("b unlocks a's bid: %v", err)
	}
	f.must(bidderA, CmdRecordUnlock, Unlock{Bidder: "a", Code: "wrong_key", Message: "wrong key"}, at)
	f.must(bidderA, CmdRecordUnlock, opened, at)
	if p := f.o.Bidders["a"]; p.Attempts != 2 || p.Opened == nil || p.Opened.Sheet["price"] != "100" {
		t.Fatalf("after unlock: %+v", p)
	}
	if _, err := f.try(bidderA, CmdRecordUnlock, opened, at); RefusalCode(err) != CodeWrongState {
		t.Fatalf("second opening: %v", err)
	}
	timerAt, cmd, ok := f.o.NextTimer()
	if !ok || cmd != CmdRecordBonds || !timerAt.Equal(f.o.OpenedAt) {
		t.Fatalf("first timer after the deadline = %v %s %v; want the bond lookup", timerAt, cmd, ok)
	}
	f.must(SystemActor, CmdRecordBonds, Bonds{}, at)
	timerAt, cmd, ok = f.o.NextTimer()
	if !ok || cmd != CmdCloseDecryption || !timerAt.Equal(f.o.DecryptEndsAt) {
		t.Fatalf("timer = %v %s %v", timerAt, cmd, ok)
	}
	if _, err := f.try(SystemActor, CmdCloseDecryption, nil, timerAt.Add(-time.Second)); RefusalCode(err) != CodeTooEarly {
		t.Fatalf("early close: %v", err)
	}
	f.must(SystemActor, CmdCloseDecryption, nil, timerAt)
	if f.o.Phase != PhaseDecryptionClosed {
		t.Fatalf("phase %s", f.o.Phase)
	}
	// The sheet is visible to staff and the bidder, not to other bidders (yet).
	for _, e := range f.events {
		if e.Type == EvBidOpened && e.Vis.VisibleTo(bidderB) {
			t.Error("bidder b sees bidder a's opening sheet")
		}
	}
}
