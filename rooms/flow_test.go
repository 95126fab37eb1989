package rooms

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	bidderC = Actor{Sub: "c", Role: RoleBidder}
	bidderD = Actor{Sub: "d", Role: RoleBidder}
	sup2    = Actor{Sub: "s2", Role: RoleSupervisor}
)

// lawSpec is a session by the rules' defaults: three bids needed, a budget
// with a 20 % flag, a 标底, read-out fields, backup files allowed.
func lawSpec() SessionSpec {
	return SessionSpec{
		Title: "城东污水处理厂提标改造工程施工", Section: "CD-1", Category: "construction",
		Deadline: t0.Add(time.Hour), CheckInAt: t0.Add(10 * time.Minute),
		ControlPrice: "1000000.00", SealedTerms: SealedTerms{Budget: "900000", BudgetDeviationPct: 20, ReservePrice: "880000"},
		ReadOutFields:        []ReadOutField{{Key: "price", Label: "投标报价（元）"}, {Key: "duration", Label: "工期（日历天）"}},
		DecryptWindowMinutes: 30, ConfirmWindowMinutes: 5, BackupAllowed: true,
	}
}

// fourBids is a session with bidders a–d, each with a bid (d's with a
// backup digest), at the deadline.
func fourBids(t *testing.T) *folder {
	f := newFolder(t)
	f.must(admin, CmdCreateSession, lawSpec(), t0)
	for _, b := range []BidderSpec{{ID: "a", Name: "甲公司"}, {ID: "b", Name: "乙公司"}, {ID: "c", Name: "丙公司"}, {ID: "d", Name: "丁公司"}} {
		f.must(admin, CmdRegisterBidder, b, t0)
	}
	f.must(SystemActor, CmdOpenCheckIn, nil, t0.Add(10*time.Minute))
	for _, a := range []Actor{bidderA, bidderB, bidderC} {
		f.must(a, CmdSubmitBid, bid(a.Sub, 1), t0.Add(20*time.Minute))
	}
	withBackup := bid("d", 1)
	withBackup.BackupDigest = strings.Repeat("e", 64)
	f.must(bidderD, CmdSubmitBid, withBackup, t0.Add(20*time.Minute))
	f.must(SystemActor, CmdDeadline, nil, t0.Add(time.Hour))
	return f
}

func opened(bidder, price string) Unlock {
	return Unlock{Bidder: bidder, OK: true, Sheet: map[string]string{"price": price, "duration": "365", "secret_note": "x"}, PlaintextSHA: strings.Repeat("b", 64)}
}

// TestOpeningFlowByTheRules walks an opening from the deadline to closed:
// bonds, the window with a pause and an extension, one bid never unlocked
// (撤销), one failing on a server fault (撤回 suggested), one opened from its
// backup file, the read-out with a flagged row, a confirmation, an
// objection answered, a silent bidder, the record and the close.
func TestOpeningFlowByTheRules(t *testing.T) {
	f := fourBids(t)
	at := func(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }
	if f.o.Phase != PhaseOpened {
		t.Fatalf("phase %s after the deadline with four bids", f.o.Phase)
	}
	f.must(SystemActor, CmdRecordBonds, Bonds{Bonds: []BondStatus{
		{Bidder: "a", Status: "paid", Amount: "20000"}, {Bidder: "b", Status: "guaranteed", Guarantor: "某银行", Reference: "BH-1"},
		{Bidder: "c", Status: "missing"}, {Bidder: "d", Status: "unknown", Error: "bond system timed out"},
	}}, at(60.1))

	f.must(host, CmdStartDecryption, nil, at(61))
	ends := f.o.DecryptEndsAt
	f.must(bidderA, CmdRecordUnlock, opened("a", "950000"), at(62))
	f.must(bidderB, CmdRecordUnlock, Unlock{Bidder: "b", Code: "server_error", Message: "storage unavailable"}, at(63))

	// Pause at 64: 27 minutes left freeze; nothing unlocks; no timer fires.
	f.must(host, CmdPause, Pause{Reason: "大屏显示与文件不一致，核对中"}, at(64))
	if _, err := f.try(bidderC, CmdRecordUnlock, opened("c", "1"), at(65)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("unlock while paused: %v", err)
	}
	if _, _, ok := f.o.NextTimer(); ok {
		t.Fatal("a timer is armed while paused")
	}
	if _, err := f.try(host, CmdPause, Pause{Reason: "again"}, at(65)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("second pause: %v", err)
	}
	f.must(bidderC, CmdChat, ChatMessage{To: ChatToHost, Text: "请问何时恢复？"}, at(66))
	f.must(host, CmdResume, nil, at(74))
	if want := ends.Add(10 * time.Minute); !f.o.DecryptEndsAt.Equal(want) {
		t.Fatalf("after a 10-minute pause the window ends %v, want %v (the time left is kept)", f.o.DecryptEndsAt, want)
	}
	f.must(host, CmdExtendDecryption, Extension{Minutes: 10, Reason: "投标人网络故障"}, at(75))
	if _, err := f.try(host, CmdExtendDecryption, Extension{Minutes: 5, Reason: "again"}, at(76)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("second extension: %v", err)
	}
	f.must(bidderC, CmdRecordUnlock, Unlock{Bidder: "c", Code: "wrong_key"}, at(77))
	// d: the bid fails, then its backup file opens it (R10); c may not use a backup (none committed).
	if _, err := f.try(bidderD, CmdRecordUnlock, Unlock{Bidder: "d", Backup: true, OK: true, Sheet: map[string]string{"price": "1"}, PlaintextSHA: strings.Repeat("b", 64)}, at(78)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("backup before a failed unlock: %v", err)
	}
	f.must(bidderD, CmdRecordUnlock, Unlock{Bidder: "d", Code: "corrupted"}, at(78))
	backup := opened("d", "1200000")
	backup.Backup = true
	f.must(bidderD, CmdRecordUnlock, backup, at(79))
	if _, err := f.try(bidderC, CmdRecordUnlock, Unlock{Bidder: "c", Backup: true, Code: "wrong_key"}, at(79)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("backup without a committed digest: %v", err)
	}
	if _, err := f.try(host, CmdCloseDecryption, nil, at(80)); RefusalCode(err) != CodeTooEarly {
		t.Fatalf("host closes early with bids locked: %v", err)
	}
	f.must(SystemActor, CmdCloseDecryption, nil, f.o.DecryptEndsAt)

	// Classification: b's log shows a server fault → 撤回 suggested; c's → 撤销.
	hv := f.o.Project(host)
	suggested := map[string]string{}
	for _, p := range hv.Bidders {
		suggested[p.Sub] = p.Suggested
	}
	if suggested["b"] != OutcomeWithdrawn || suggested["c"] != OutcomeRevoked || suggested["a"] != "" {
		t.Fatalf("suggested outcomes %v", suggested)
	}
	if _, err := f.try(host, CmdStartReadOut, nil, at(111)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("read-out before classification: %v", err)
	}
	if _, err := f.try(host, CmdClassify, Classification{Bidder: "c", Outcome: OutcomeRevoked}, at(111)); RefusalCode(err) != CodeInvalid {
		t.Fatalf("classification without a reason: %v", err)
	}
	if _, err := f.try(host, CmdClassify, Classification{Bidder: "a", Outcome: OutcomeRevoked, Reason: "x"}, at(111)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("classifying an opened bid: %v", err)
	}
	f.must(host, CmdClassify, Classification{Bidder: "b", Outcome: OutcomeWithdrawn, Reason: "平台存储故障，见解密记录 server_error"}, at(111))
	f.must(host, CmdClassify, Classification{Bidder: "c", Outcome: OutcomeRevoked, Reason: "投标人使用错误的密钥，窗口内未能解密"}, at(111))

	// Read-out: stable order, only the named fields, d flagged twice (above the ceiling, 33 % off the budget).
	drafts := f.must(host, CmdStartReadOut, nil, at(112))
	r := f.o.ReadOut
	if f.o.Phase != PhaseReadingOut || r == nil || r.Reserve != "880000" || r.ControlPrice != "1000000.00" {
		t.Fatalf("read-out %+v in phase %s", r, f.o.Phase)
	}
	var order, outcomes []string
	for _, row := range r.Rows {
		order, outcomes = append(order, row.Bidder), append(outcomes, row.Outcome)
		if _, leaked := row.Sheet["secret_note"]; leaked {
			t.Error("a field the session does not name was read out")
		}
	}
	if !slices.Equal(order, []string{"a", "b", "c", "d"}) || !slices.Equal(outcomes, []string{"opened", "withdrawn", "revoked", "opened"}) {
		t.Fatalf("rows %v outcomes %v", order, outcomes)
	}
	if !slices.Equal(r.Rows[3].Flags, []string{FlagAboveControlPrice, FlagOffBudget}) || len(r.Rows[0].Flags) != 0 {
		t.Fatalf("flags a=%v d=%v", r.Rows[0].Flags, r.Rows[3].Flags)
	}
	if r.Digest != r.ComputeDigest() || len(r.Digest) != 64 {
		t.Fatal("read-out digest does not match its content")
	}
	alerts := 0
	for _, d := range drafts {
		if d.Type == EvPriceAlert {
			alerts++
			if d.Vis.VisibleTo(host) || d.Vis.VisibleTo(bidderA) || !d.Vis.VisibleTo(sup) {
				t.Errorf("price alert visibility %+v: supervisors only", d.Vis)
			}
		}
	}
	if alerts != 2 {
		t.Fatalf("%d price alerts, want 2", alerts)
	}

	// Confirmation: a confirms, b objects and is answered, c stays silent, d confirms late → refused.
	f.must(bidderB, CmdObject, Objection{Text: "我公司投标文件未能解密系平台原因，要求记录在案"}, at(113))
	f.must(host, CmdStartConfirmation, nil, at(114))
	if _, err := f.try(bidderA, CmdConfirm, Confirmation{Digest: strings.Repeat("0", 64)}, at(115)); RefusalCode(err) != CodeConflict {
		t.Fatalf("confirming another digest: %v", err)
	}
	f.must(bidderA, CmdConfirm, Confirmation{Digest: r.Digest}, at(115))
	if _, err := f.try(host, CmdCloseConfirmation, nil, at(116)); RefusalCode(err) != CodeTooEarly {
		t.Fatalf("host closes the window early with bidders silent: %v", err)
	}
	if at, cmd, ok := f.o.NextTimer(); !ok || cmd != CmdCloseConfirmation || !at.Equal(f.o.ConfirmEndsAt) {
		t.Fatalf("confirmation timer %v %s %v", at, cmd, ok)
	}
	f.must(SystemActor, CmdCloseConfirmation, nil, f.o.ConfirmEndsAt)
	if _, err := f.try(bidderD, CmdConfirm, Confirmation{Digest: r.Digest}, f.o.ConfirmEndsAt.Add(time.Second)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("confirming after the window: %v", err)
	}
	silent := []string{}
	for _, id := range f.o.BidderOrder {
		if f.o.Bidders[id].Silent {
			silent = append(silent, id)
		}
	}
	if !slices.Equal(silent, []string{"c", "d"}) {
		t.Fatalf("silent bidders %v, want c and d (b objected, a confirmed)", silent)
	}
	rec := OpeningRecord{Digest: strings.Repeat("1", 64), Size: 100, Signature: "MEUC", KeyID: strings.Repeat("2", 64)}
	if _, err := f.try(host, CmdRecordOpeningRec, rec, at(121)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("record with an unanswered objection: %v", err)
	}
	f.must(host, CmdAnswerObjection, ObjectionAnswer{ID: f.o.Objections[0].ID, Text: "已记录，解密失败原因经核实为平台存储故障，按撤回处理"}, at(121))
	if _, err := f.try(host, CmdAnswerObjection, ObjectionAnswer{ID: f.o.Objections[0].ID, Text: "again"}, at(121)); RefusalCode(err) != CodeWrongState {
		t.Fatalf("second answer: %v", err)
	}
	f.must(host, CmdRecordOpeningRec, rec, at(122))
	if f.o.Phase != PhaseRecord {
		t.Fatalf("phase %s after the record", f.o.Phase)
	}
	f.must(host, CmdCloseSession, nil, at(123))
	if f.o.Phase != PhaseClosed {
		t.Fatalf("phase %s after close", f.o.Phase)
	}
	// Replaying the log gives the same state.
	g := NewOpening("r1")
	for _, e := range f.events {
		if err := g.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := json.Marshal(f.o.Project(sup))
	b, _ := json.Marshal(g.Project(sup))
	if string(a) != string(b) {
		t.Fatal("replayed state differs")
	}
}

// TestFewerThanThreeBidsFails: two bids at the deadline is 流标 (R7), unless
// the session is a re-tender that proceeds.
func TestFewerThanThreeBidsFails(t *testing.T) {
	for _, proceed := range []bool{false, true} {
		f := newFolder(t)
		s := lawSpec()
		s.ProceedBelowMin = proceed
		f.must(admin, CmdCreateSession, s, t0)
		f.must(admin, CmdRegisterBidder, BidderSpec{ID: "a", Name: "甲"}, t0)
		f.must(admin, CmdRegisterBidder, BidderSpec{ID: "b", Name: "乙"}, t0)
		f.must(admin, CmdRegisterBidder, BidderSpec{ID: "c", Name: "丙"}, t0)
		f.must(bidderA, CmdSubmitBid, bid("a", 1), t0.Add(time.Minute))
		f.must(bidderB, CmdSubmitBid, bid("b", 1), t0.Add(time.Minute))
		f.must(SystemActor, CmdDeadline, nil, t0.Add(time.Hour))
		if proceed {
			if f.o.Phase != PhaseOpened || f.o.Failure != nil {
				t.Fatalf("re-tender: phase %s failure %+v", f.o.Phase, f.o.Failure)
			}
			continue
		}
		if f.o.Phase != PhaseFailed || f.o.Failure == nil || f.o.Failure.Submitted != 2 || f.o.Failure.Min != 3 {
			t.Fatalf("phase %s failure %+v; want failed with 2 of 3", f.o.Phase, f.o.Failure)
		}
		if _, err := f.try(host, CmdStartDecryption, nil, t0.Add(61*time.Minute)); RefusalCode(err) != CodeWrongState {
			t.Fatalf("decryption after 流标: %v", err)
		}
		// The failed opening still gets its signed record, then closes.
		f.must(host, CmdRecordOpeningRec, OpeningRecord{Digest: strings.Repeat("1", 64), Size: 10, Signature: "x", KeyID: strings.Repeat("2", 64)}, t0.Add(62*time.Minute))
		f.must(host, CmdCloseSession, nil, t0.Add(63*time.Minute))
	}
}

// TestFlowRefusals: every later-step command refused for a wrong role or
// in a wrong state, and nothing changes when it is.
func TestFlowRefusals(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	decrypting := func(t *testing.T) *folder {
		f := fourBids(t)
		f.must(host, CmdStartDecryption, nil, at(61))
		return f
	}
	closed := func(t *testing.T) *folder {
		f := decrypting(t)
		for _, a := range []Actor{bidderA, bidderB, bidderC} { // d never unlocks
			f.must(a, CmdRecordUnlock, opened(a.Sub, "900000"), at(62))
		}
		f.must(SystemActor, CmdCloseDecryption, nil, f.o.DecryptEndsAt)
		return f
	}
	readOut := func(t *testing.T) *folder {
		f := closed(t)
		f.must(host, CmdClassify, Classification{Bidder: "d", Outcome: OutcomeRevoked, Reason: "未解密"}, at(64))
		f.must(host, CmdStartReadOut, nil, at(64))
		return f
	}
	confirming := func(t *testing.T) *folder {
		f := readOut(t)
		f.must(host, CmdStartConfirmation, nil, at(65))
		return f
	}
	paused := func(t *testing.T) *folder {
		f := decrypting(t)
		f.must(host, CmdPause, Pause{Reason: "核对"}, at(62))
		return f
	}
	rec := OpeningRecord{Digest: strings.Repeat("1", 64), Size: 1, Signature: "x", KeyID: strings.Repeat("2", 64)}
	tests := []struct {
		name  string
		setup func(*testing.T) *folder
		actor Actor
		cmd   string
		data  any
		now   time.Time
		code  string
	}{
		{"bidder pauses", decrypting, bidderA, CmdPause, Pause{Reason: "x"}, at(62), CodeForbidden},
		{"supervisor pauses", decrypting, sup, CmdPause, Pause{Reason: "x"}, at(62), CodeForbidden},
		{"admin pauses (not suspends)", decrypting, admin, CmdPause, Pause{Reason: "x"}, at(62), CodeForbidden},
		{"pause without reason", decrypting, host, CmdPause, Pause{}, at(62), CodeInvalid},
		{"pause of unknown kind", decrypting, host, CmdPause, Pause{Kind: "nap", Reason: "x"}, at(62), CodeInvalid},
		{"pause before the deadline", checkIn, host, CmdPause, Pause{Reason: "x"}, at(20), CodeWrongState},
		{"resume when not paused", decrypting, host, CmdResume, nil, at(62), CodeWrongState},
		{"bidder resumes", paused, bidderA, CmdResume, nil, at(63), CodeForbidden},
		{"admin resumes a pause", paused, admin, CmdResume, nil, at(63), CodeForbidden},
		{"start read-out while paused", paused, host, CmdStartReadOut, nil, at(63), CodeWrongState},
		{"close decryption while paused", paused, SystemActor, CmdCloseDecryption, nil, at(200), CodeWrongState},
		{"bidder extends", decrypting, bidderA, CmdExtendDecryption, Extension{Minutes: 5, Reason: "x"}, at(62), CodeForbidden},
		{"extend by 0", decrypting, host, CmdExtendDecryption, Extension{Minutes: 0, Reason: "x"}, at(62), CodeInvalid},
		{"extend by a day", decrypting, host, CmdExtendDecryption, Extension{Minutes: 1440, Reason: "x"}, at(62), CodeInvalid},
		{"extend without reason", decrypting, host, CmdExtendDecryption, Extension{Minutes: 5}, at(62), CodeInvalid},
		{"extend after close", closed, host, CmdExtendDecryption, Extension{Minutes: 5, Reason: "x"}, at(64), CodeWrongState},
		{"supervisor closes decryption", decrypting, sup, CmdCloseDecryption, nil, at(200), CodeForbidden},
		{"classify during the window", decrypting, host, CmdClassify, Classification{Bidder: "a", Outcome: OutcomeRevoked, Reason: "x"}, at(62), CodeWrongState},
		{"bidder classifies", closed, bidderA, CmdClassify, Classification{Bidder: "b", Outcome: OutcomeRevoked, Reason: "x"}, at(64), CodeForbidden},
		{"classify an unknown bidder", closed, host, CmdClassify, Classification{Bidder: "zz", Outcome: OutcomeRevoked, Reason: "x"}, at(64), CodeNotFound},
		{"bad outcome", closed, host, CmdClassify, Classification{Bidder: "d", Outcome: "lost", Reason: "x"}, at(64), CodeInvalid},
		{"read-out with a bid unclassified", closed, host, CmdStartReadOut, nil, at(64), CodeWrongState},
		{"read-out during the window", decrypting, host, CmdStartReadOut, nil, at(62), CodeWrongState},
		{"supervisor reads out", closed, sup, CmdStartReadOut, nil, at(64), CodeForbidden},
		{"second read-out", readOut, host, CmdStartReadOut, nil, at(65), CodeWrongState},
		{"confirmation before read-out", closed, host, CmdStartConfirmation, nil, at(64), CodeWrongState},
		{"bidder opens confirmation", readOut, bidderA, CmdStartConfirmation, nil, at(65), CodeForbidden},
		{"confirm before the window", readOut, bidderA, CmdConfirm, Confirmation{}, at(65), CodeWrongState},
		{"host confirms", confirming, host, CmdConfirm, Confirmation{}, at(66), CodeForbidden},
		{"unregistered bidder confirms", confirming, stranger, CmdConfirm, Confirmation{}, at(66), CodeForbidden},
		{"signed confirmation without signature", confirming, bidderA, CmdRecordConfirmation, Confirmation{}, at(66), CodeConflict},
		{"object before read-out", closed, bidderA, CmdObject, Objection{Text: "x"}, at(64), CodeWrongState},
		{"host objects", readOut, host, CmdObject, Objection{Text: "x"}, at(65), CodeForbidden},
		{"empty objection", readOut, bidderA, CmdObject, Objection{}, at(65), CodeInvalid},
		{"bidder answers", readOut, bidderA, CmdAnswerObjection, ObjectionAnswer{ID: "obj-1", Text: "x"}, at(65), CodeForbidden},
		{"answer unknown objection", readOut, host, CmdAnswerObjection, ObjectionAnswer{ID: "obj-999", Text: "x"}, at(65), CodeNotFound},
		{"bidder closes confirmation", confirming, bidderA, CmdCloseConfirmation, nil, at(200), CodeForbidden},
		{"timer closes confirmation early", confirming, SystemActor, CmdCloseConfirmation, nil, at(66), CodeTooEarly},
		{"bidder records bonds", decrypting, bidderA, CmdRecordBonds, Bonds{}, at(62), CodeForbidden},
		{"bonds before the deadline", checkIn, SystemActor, CmdRecordBonds, Bonds{}, at(20), CodeWrongState},
		{"bad bond status", decrypting, SystemActor, CmdRecordBonds, Bonds{Bonds: []BondStatus{{Bidder: "a", Status: "maybe"}}}, at(62), CodeInvalid},
		{"record during the window", decrypting, host, CmdRecordOpeningRec, rec, at(62), CodeWrongState},
		{"record with the window open", confirming, host, CmdRecordOpeningRec, rec, at(66), CodeWrongState},
		{"bidder records the record", confirming, bidderA, CmdRecordOpeningRec, rec, at(66), CodeForbidden},
		{"close before the record", confirming, host, CmdCloseSession, nil, at(66), CodeWrongState},
		{"bidder closes the session", confirming, bidderA, CmdCloseSession, nil, at(66), CodeForbidden},
		{"bidder chats with another bidder", decrypting, bidderA, CmdChat, ChatMessage{To: "b", Text: "x"}, at(62), CodeForbidden},
		{"bidder chats with supervisors", decrypting, bidderA, CmdChat, ChatMessage{To: ChatToSupervisors, Text: "x"}, at(62), CodeForbidden},
		{"host chats to everyone", decrypting, host, CmdChat, ChatMessage{To: "all", Text: "x"}, at(62), CodeInvalid},
		{"expert chats", decrypting, expert, CmdChat, ChatMessage{To: ChatToHost, Text: "x"}, at(62), CodeForbidden},
		{"empty chat", decrypting, bidderA, CmdChat, ChatMessage{To: ChatToHost}, at(62), CodeInvalid},
		{"long chat", decrypting, bidderA, CmdChat, ChatMessage{To: ChatToHost, Text: strings.Repeat("字", 2001)}, at(62), CodeInvalid},
		{"host notes a violation", decrypting, host, CmdNoteViolation, ViolationNote{Subject: "a", Text: "x"}, at(62), CodeForbidden},
		{"bidder notes a violation", decrypting, bidderA, CmdNoteViolation, ViolationNote{Subject: "b", Text: "x"}, at(62), CodeForbidden},
		{"note without text", decrypting, sup, CmdNoteViolation, ViolationNote{Subject: "a"}, at(62), CodeInvalid},
		{"bad min bids", newFolder, admin, CmdCreateSession, func() SessionSpec { s := lawSpec(); s.MinimumBids = -1; return s }(), t0, CodeInvalid},
		{"bad budget", newFolder, admin, CmdCreateSession, func() SessionSpec { s := lawSpec(); s.Budget = "lots"; return s }(), t0, CodeInvalid},
		{"bad deviation", newFolder, admin, CmdCreateSession, func() SessionSpec { s := lawSpec(); s.BudgetDeviationPct = 500; return s }(), t0, CodeInvalid},
		{"duplicate read-out field", newFolder, admin, CmdCreateSession, func() SessionSpec {
			s := lawSpec()
			s.ReadOutFields = append(s.ReadOutFields, ReadOutField{Key: "price", Label: "x"})
			return s
		}(), t0, CodeInvalid},
		{"bad backup digest", checkIn, bidderA, CmdSubmitBid, func() Bid { b := bid("a", 1); b.BackupDigest = "xyz"; return b }(), at(20), CodeInvalid},
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

// TestFlowVisibility: chat reaches only its parties, supervisors' notes and
// alerts only supervisors, and before the deadline a bidder's projection
// names no other bidder, no count and no bond (R6).
func TestFlowVisibility(t *testing.T) {
	f := newFolder(t)
	f.must(admin, CmdCreateSession, lawSpec(), t0)
	for _, b := range []BidderSpec{{ID: "a", Name: "甲公司"}, {ID: "b", Name: "乙公司"}, {ID: "c", Name: "丙公司"}} {
		f.must(admin, CmdRegisterBidder, b, t0)
	}
	f.must(SystemActor, CmdOpenCheckIn, nil, t0.Add(10*time.Minute))
	f.must(bidderA, CmdSignIn, nil, t0.Add(11*time.Minute))
	f.must(bidderB, CmdSignIn, nil, t0.Add(11*time.Minute))
	f.must(bidderB, CmdSubmitBid, bid("b", 1), t0.Add(12*time.Minute))
	f.must(bidderA, CmdChat, ChatMessage{To: ChatToHost, Text: "甲公司提问：保证金如何缴纳？"}, t0.Add(13*time.Minute))
	f.must(host, CmdChat, ChatMessage{To: "a", Text: "请见招标文件第三章"}, t0.Add(14*time.Minute))
	f.must(sup, CmdChat, ChatMessage{To: ChatToHost, Text: "请注意开标时间"}, t0.Add(15*time.Minute))
	f.must(sup, CmdNoteViolation, ViolationNote{Subject: "a", Text: "甲公司代表在签到时使用他人证书"}, t0.Add(16*time.Minute))

	bv := f.o.Project(bidderB)
	blob, _ := json.Marshal(bv)
	for _, leak := range []string{"甲公司", "丙公司", `"a"`, "保证金", "请注意开标时间", "他人证书", "registered"} {
		if strings.Contains(string(blob), leak) {
			t.Errorf("bidder b's projection before the deadline contains %q: %s", leak, blob)
		}
	}
	if len(bv.Bidders) != 1 || bv.Bidders[0].Sub != "b" {
		t.Fatalf("bidder b sees bidders %+v", bv.Bidders)
	}
	av := f.o.Project(bidderA)
	if len(av.Chat) != 2 || av.Chat[0].Text != "甲公司提问：保证金如何缴纳？" || av.Chat[1].From != "h1" {
		t.Fatalf("bidder a's chat %+v; want its question and the host's answer", av.Chat)
	}
	if len(av.Notes) != 0 {
		t.Fatal("a bidder sees violation notes")
	}
	hv := f.o.Project(host)
	if len(hv.Chat) != 3 || len(hv.Notes) != 0 {
		t.Fatalf("host sees %d messages and %d notes; want 3 and 0 (notes are the supervisors')", len(hv.Chat), len(hv.Notes))
	}
	sv := f.o.Project(sup2)
	if len(sv.Chat) != 3 || len(sv.Notes) != 1 || sv.Notes[0].By != "s1" {
		t.Fatalf("another supervisor sees %d messages, notes %+v", len(sv.Chat), sv.Notes)
	}
	for _, e := range f.events {
		if e.Type == EvChat && strings.Contains(string(e.Data), "保证金") && e.Vis.VisibleTo(bidderB) {
			t.Error("bidder a's message is visible to bidder b")
		}
	}
}

func TestParseConfirmationMessage(t *testing.T) {
	d := strings.Repeat("ab", 32)
	room, bidder, digest, err := ParseConfirmationMessage(ConfirmationMessage("CD-1", "b-7", d))
	if err != nil || room != "CD-1" || bidder != "b-7" || digest != d {
		t.Fatalf("round trip: %q %q %q %v", room, bidder, digest, err)
	}
	for _, bad := range []string{
		"",
		"bidroom sign-in\nsession: CD-1\nbidder: b-7\nnonce: 00\ntime: 2026-01-01T00:00:00Z\n",
		ConfirmationMessage("CD-1", "b-7", d) + "and pay 1 yuan\n",
		ConfirmationMessage("CD-1", "b-7", "xyz"),
		strings.Replace(ConfirmationMessage("CD-1", "b-7", d), "read-out", "readout", 1),
	} {
		if _, _, _, err := ParseConfirmationMessage(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
