package rooms_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/evaltest"
)

// evaluationCommands are every command type of the evaluation room kind.
var evaluationCommands = []string{
	rooms.CmdCreateEvaluation, rooms.CmdFormCommittee, rooms.CmdStartEvaluation, rooms.CmdDeclare, rooms.CmdDecline,
	rooms.CmdVoteChair, rooms.CmdOpenScoring, rooms.CmdSubmitSheets, rooms.CmdReturnSheet, rooms.CmdSignReport,
	rooms.CmdRecordReportSignature, rooms.CmdAskClarification, rooms.CmdRecordClarification, rooms.CmdRecordMedia,
	rooms.CmdPublishCandidates, rooms.CmdRecordResultObjection, rooms.CmdAnswerResultObjection, rooms.CmdClosePublicity,
	rooms.CmdRecordNotices, rooms.CmdRateExpert, rooms.CmdRecordHostRating, rooms.CmdNoteExpertViolation, rooms.CmdRecordSanctions,
}

// FuzzEvaluationCommand sends arbitrary data, of every command type of the
// evaluation, from every kind of actor, to the room as it stood after each
// event of a whole evaluation (draw, scoring, report, publicity): nothing
// panics, a refusal is a *Refusal that changes nothing, and a command
// taken yields events that fold.
func FuzzEvaluationCommand(f *testing.F) {
	svc, _, clk := newService(&testing.T{})
	ev := evaltest.Run(f, svc, "ev1", "op1", map[string]string{"a": "1000000", "b": "980000", "c": "1010000"})
	ctx := context.Background()
	done, _, err := svc.CompletedReport(ctx, "ev1")
	if err != nil || done == nil {
		f.Fatalf("the completed report: %v", err)
	}
	msg, err := done.PlatformMessage("ev1")
	if err != nil {
		f.Fatal(err)
	}
	platform, _ := decrypt.GenerateKey()
	sig, _ := platform.Sign(msg)
	sum := sm3.Sm3Sum(msg)
	raw, _ := json.Marshal(rooms.PlatformSignature{Digest: hex.EncodeToString(sum), Signature: base64.StdEncoding.EncodeToString(sig), KeyID: "00"})
	if _, err := svc.Execute(ctx, "ev1", rooms.SystemActor, rooms.Command{ID: "platform", Type: rooms.CmdRecordReportSignature, Data: raw}); err != nil {
		f.Fatal(err)
	}
	raw, _ = json.Marshal(rooms.PublishRequest{Days: 3})
	if _, err := svc.Execute(ctx, "ev1", evaltest.Admin, rooms.Command{ID: "pub", Type: rooms.CmdPublishCandidates, Data: raw}); err != nil {
		f.Fatal(err)
	}
	events, err := svc.EventsAfter(ctx, "ev1", 0)
	if err != nil {
		f.Fatal(err)
	}
	actors := []rooms.Actor{evaltest.Admin, rooms.SystemActor, supervisor, bidderA, host, expertActor("nobody")}
	for _, m := range ev.Members {
		actors = append(actors, expertActor(m))
	}
	for i := range evaluationCommands {
		f.Add(uint8(i), uint8(i*7), uint8(i), []byte(`{}`))
	}
	f.Add(uint8(7), uint8(40), uint8(8), []byte(`{"sheets":"[{\"bidder\":\"a\",\"checks\":{},\"scores\":{\"t1\":\"1e9\"}}]","signature":"AA=="}`))
	f.Add(uint8(14), uint8(60), uint8(0), []byte(`{"days":2147483647,"note":"\u0000"}`))
	f.Add(uint8(19), uint8(60), uint8(2), []byte(`{"expert":"x","conduct":"poor","note":""}`))
	f.Add(uint8(21), uint8(30), uint8(2), []byte(`{"expert":"`+ev.Members[0]+`","points":-1,"suspend_days":99999,"reason":"x"}`))
	now := clk.now().Add(time.Hour)
	f.Fuzz(func(t *testing.T, cmdIdx, cut, actorIdx uint8, data []byte) {
		typ := evaluationCommands[int(cmdIdx)%len(evaluationCommands)]
		who := actors[int(actorIdx)%len(actors)]
		st, err := rooms.NewState("ev1", events[:1+int(cut)%len(events)])
		if err != nil {
			t.Fatal(err)
		}
		seq, hash := st.Head()
		if !json.Valid(data) {
			data = nil
		}
		drafts, err := st.Decide(who, rooms.Command{ID: "fuzz", Type: typ, Data: data}, now)
		if err != nil {
			if rooms.RefusalCode(err) == "" {
				t.Fatalf("%s by %s at #%d: %v is not a refusal", typ, who.Role, seq, err)
			}
			if s2, h2 := st.Head(); s2 != seq || h2 != hash || len(drafts) != 0 {
				t.Fatalf("%s refused but the state changed", typ)
			}
			return
		}
		prev := hash
		for i, d := range drafts {
			body, err := json.Marshal(d.Data)
			if err != nil {
				t.Fatalf("%s: draft %s does not encode: %v", typ, d.Type, err)
			}
			e := rooms.Event{Room: "ev1", Seq: seq + uint64(i) + 1, Time: now, Actor: who, Type: d.Type, CommandID: "fuzz", Vis: d.Vis, Data: body}
			e.Seal(prev)
			prev = e.Hash
			if err := st.Apply(e); err != nil {
				t.Fatalf("%s by %s at #%d: a taken command's event %s does not fold: %v", typ, who.Role, seq, d.Type, err)
			}
		}
		_ = fmt.Sprint(st.View(who))
	})
}
