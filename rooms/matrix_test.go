package rooms

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The opening's command matrix: every command, in every state of the
// opening, by every role. Each command names who may send it and the
// states it is taken in; everywhere else, and by anyone else, it must be
// refused and change nothing.

// matrixState builds one state of the opening (lawSpec, bidders a–d with
// bids, no keys) and returns the time it stands at.
type matrixState struct {
	name  string
	build func(t *testing.T) (*folder, time.Time)
}

func matrixStates() []matrixState {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	registered := func(t *testing.T) *folder {
		f := newFolder(t)
		f.must(admin, CmdCreateSession, lawSpec(), t0)
		for _, b := range []BidderSpec{{ID: "a", Name: "甲"}, {ID: "b", Name: "乙"}, {ID: "c", Name: "丙"}, {ID: "d", Name: "丁"}} {
			f.must(admin, CmdRegisterBidder, b, t0)
		}
		for _, a := range []Actor{bidderA, bidderB, bidderC, bidderD} {
			f.must(a, CmdSubmitBid, bid(a.Sub, 1), at(1))
		}
		return f
	}
	var states []matrixState
	add := func(name string, build func(t *testing.T) (*folder, time.Time)) {
		states = append(states, matrixState{name, build})
	}
	add("scheduled", func(t *testing.T) (*folder, time.Time) { return registered(t), at(2) })
	checkIn := func(t *testing.T) (*folder, time.Time) {
		f := registered(t)
		f.must(SystemActor, CmdOpenCheckIn, nil, at(10))
		return f, at(11)
	}
	add("check_in", checkIn)
	opened := func(t *testing.T) (*folder, time.Time) {
		f, _ := checkIn(t)
		f.must(SystemActor, CmdDeadline, nil, at(60))
		f.must(SystemActor, CmdRecordBonds, Bonds{}, at(60))
		return f, at(61)
	}
	add("opened", opened)
	decrypting := func(t *testing.T) (*folder, time.Time) {
		f, _ := opened(t)
		f.must(host, CmdStartDecryption, nil, at(61))
		f.must(bidderA, CmdRecordUnlock, Unlock{Bidder: "a", OK: true, Sheet: map[string]string{"price": "900000"}, PlaintextSHA: strings.Repeat("b", 64)}, at(62))
		return f, at(63)
	}
	add("decrypting", decrypting)
	add("paused", func(t *testing.T) (*folder, time.Time) {
		f, _ := decrypting(t)
		f.must(host, CmdPause, Pause{Reason: "核对"}, at(63))
		return f, at(64)
	})
	closed := func(t *testing.T) (*folder, time.Time) {
		f, _ := decrypting(t)
		f.must(SystemActor, CmdCloseDecryption, nil, f.o.DecryptEndsAt)
		return f, f.o.DecryptEndsAt.Add(time.Minute)
	}
	add("decryption_closed", closed)
	classified := func(t *testing.T) (*folder, time.Time) {
		f, now := closed(t)
		for _, b := range []string{"b", "c", "d"} {
			f.must(host, CmdClassify, Classification{Bidder: b, Outcome: OutcomeRevoked, Reason: "未解密"}, now)
		}
		return f, now
	}
	add("classified", classified)
	readingOut := func(t *testing.T) (*folder, time.Time) {
		f, now := classified(t)
		f.must(host, CmdStartReadOut, nil, now)
		return f, now.Add(time.Minute)
	}
	add("reading_out", readingOut)
	confirming := func(t *testing.T) (*folder, time.Time) {
		f, now := readingOut(t)
		f.must(host, CmdStartConfirmation, nil, now)
		return f, now.Add(time.Minute)
	}
	add("confirming", confirming)
	confirmed := func(t *testing.T) (*folder, time.Time) {
		f, _ := confirming(t)
		f.must(SystemActor, CmdCloseConfirmation, nil, f.o.ConfirmEndsAt)
		return f, f.o.ConfirmEndsAt.Add(time.Minute)
	}
	add("confirmation_closed", confirmed)
	record := func(t *testing.T) (*folder, time.Time) {
		f, now := confirmed(t)
		f.must(host, CmdRecordOpeningRec, matrixRecord(), now)
		return f, now.Add(time.Minute)
	}
	add("record", record)
	add("closed", func(t *testing.T) (*folder, time.Time) {
		f, now := record(t)
		f.must(host, CmdCloseSession, nil, now)
		return f, now.Add(time.Minute)
	})
	add("failed", func(t *testing.T) (*folder, time.Time) {
		f := newFolder(t)
		f.must(admin, CmdCreateSession, lawSpec(), t0)
		f.must(admin, CmdRegisterBidder, BidderSpec{ID: "a", Name: "甲"}, t0)
		f.must(bidderA, CmdSubmitBid, bid("a", 1), at(1))
		f.must(SystemActor, CmdDeadline, nil, at(60))
		f.must(SystemActor, CmdRecordBonds, Bonds{}, at(60))
		return f, at(61)
	})
	return states
}

func matrixRecord() OpeningRecord {
	return OpeningRecord{Digest: strings.Repeat("1", 64), Size: 10, Signature: "c2ln", KeyID: strings.Repeat("2", 64)}
}

// matrixCommand is one command: who may send it, with what, and where it
// is taken.
type matrixCommand struct {
	typ     string
	allowed []Actor // the first is used for the state sweep; any registered actor of these roles may send it (for themselves)
	data    func(f *folder) any
	late    bool     // sent at a time far past every window (the timers' commands)
	valid   []string // states where the first allowed actor's command is taken
}

var everyone = []Actor{bidderA, bidderB, stranger, host, sup, expert, admin, SystemActor}

func matrixCommands() []matrixCommand {
	none := func(*folder) any { return nil }
	text := func(*folder) any { return Announcement{Text: "请各投标人注意"} }
	afterDeadline := []string{"opened", "decrypting", "paused", "decryption_closed", "classified", "reading_out", "confirming", "confirmation_closed", "record", "closed", "failed"}
	all := append([]string{"scheduled", "check_in"}, afterDeadline...)
	return []matrixCommand{
		{typ: CmdSignIn, allowed: []Actor{host, sup, bidderA}, data: none, valid: []string{"check_in", "opened"}},
		{typ: CmdAnnounce, allowed: []Actor{host}, data: text, valid: all},
		{typ: CmdWithdrawBid, allowed: []Actor{bidderA}, data: none, valid: []string{"scheduled", "check_in"}},
		{typ: CmdStartDecryption, allowed: []Actor{host}, data: none, valid: []string{"opened"}},
		{typ: CmdExtendDecryption, allowed: []Actor{host}, data: func(*folder) any { return Extension{Minutes: 5, Reason: "网络"} }, valid: []string{"decrypting"}},
		{typ: CmdCloseDecryption, allowed: []Actor{SystemActor, host}, data: none, late: true, valid: []string{"decrypting"}},
		{typ: CmdPause, allowed: []Actor{host}, data: func(*folder) any { return Pause{Reason: "核对"} }, valid: []string{"opened", "decrypting", "decryption_closed", "classified", "reading_out", "confirming", "confirmation_closed"}},
		{typ: CmdResume, allowed: []Actor{host}, data: none, valid: []string{"paused"}},
		{typ: CmdClassify, allowed: []Actor{host}, data: func(*folder) any {
			return Classification{Bidder: "d", Outcome: OutcomeWithdrawn, Reason: "平台故障"}
		}, valid: []string{"decryption_closed"}},
		{typ: CmdStartReadOut, allowed: []Actor{host}, data: none, valid: []string{"classified"}},
		{typ: CmdStartConfirmation, allowed: []Actor{host}, data: none, valid: []string{"reading_out"}},
		{typ: CmdConfirm, allowed: []Actor{bidderA}, data: func(f *folder) any {
			if f.o.ReadOut == nil {
				return Confirmation{}
			}
			return Confirmation{Digest: f.o.ReadOut.Digest}
		}, valid: []string{"confirming"}},
		{typ: CmdObject, allowed: []Actor{bidderA}, data: func(*folder) any { return Objection{Text: "有异议"} }, valid: []string{"reading_out", "confirming", "confirmation_closed"}},
		{typ: CmdCloseConfirmation, allowed: []Actor{SystemActor, host}, data: none, late: true, valid: []string{"confirming"}},
		{typ: CmdRecordOpeningRec, allowed: []Actor{host, admin, SystemActor}, data: func(*folder) any { return matrixRecord() }, valid: []string{"confirmation_closed", "failed"}},
		{typ: CmdCloseSession, allowed: []Actor{host, admin}, data: none, valid: []string{"record"}},
		{typ: CmdRecordBonds, allowed: []Actor{SystemActor}, data: func(*folder) any { return Bonds{} }, valid: afterDeadline},
		{typ: CmdChat, allowed: []Actor{bidderA, sup, host}, data: func(*folder) any { return ChatMessage{To: ChatToHost, Text: "请问"} }, valid: slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == "closed" })},
		{typ: CmdNoteViolation, allowed: []Actor{sup}, data: func(*folder) any { return ViolationNote{Subject: "a", Text: "违规"} }, valid: all},
	}
}

// TestCommandMatrix: each command is taken exactly in its states, and in
// its first valid state it is refused to every role not allowed it.
func TestCommandMatrix(t *testing.T) {
	states := matrixStates()
	far := t0.Add(48 * time.Hour)
	for _, c := range matrixCommands() {
		t.Run(c.typ, func(t *testing.T) {
			for _, st := range states {
				f, now := st.build(t)
				if c.late {
					now = far
				}
				before := f.o.Seq
				_, err := f.try(c.allowed[0], c.typ, c.data(f), now)
				want := slices.Contains(c.valid, st.name)
				switch {
				case want && err != nil:
					t.Errorf("%s by %s in %s: refused (%v), want taken", c.typ, c.allowed[0].Role, st.name, err)
				case !want && err == nil:
					t.Errorf("%s by %s in %s: taken, want refused", c.typ, c.allowed[0].Role, st.name)
				case !want && RefusalCode(err) == "":
					t.Errorf("%s in %s: %v is not a refusal", c.typ, st.name, err)
				case !want && f.o.Seq != before:
					t.Errorf("%s in %s: refused but the state changed", c.typ, st.name)
				}
			}
			// Roles: in the first valid state, everyone not allowed is refused.
			var build func(*testing.T) (*folder, time.Time)
			for _, st := range states {
				if st.name == c.valid[0] {
					build = st.build
				}
			}
			allowedRole := func(r Role) bool {
				return slices.ContainsFunc(c.allowed, func(a Actor) bool { return a.Role == r })
			}
			for _, who := range everyone {
				if who != stranger && allowedRole(who.Role) {
					continue
				}
				f, now := build(t)
				if c.late {
					now = far
				}
				before := f.o.Seq
				_, err := f.try(who, c.typ, c.data(f), now)
				code := RefusalCode(err)
				if code == "" || f.o.Seq != before {
					t.Errorf("%s by %s/%s in %s: %v, want refused with nothing changed", c.typ, who.Role, who.Sub, c.valid[0], err)
					continue
				}
				// A registered identity of the wrong role is told it is forbidden.
				if who != stranger && code != CodeForbidden {
					t.Errorf("%s by %s: refused with %q (%v), want forbidden", c.typ, who.Role, code, err)
				}
			}
		})
	}
}
