package rooms

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"
)

// outboxFolder decides and folds outbox commands.
type outboxFolder struct {
	t *testing.T
	o *Outbox
}

func (f *outboxFolder) try(actor Actor, typ string, data any, now time.Time) ([]Draft, error) {
	f.t.Helper()
	raw, _ := json.Marshal(data)
	drafts, err := f.o.Decide(actor, Command{ID: "c", Type: typ, Data: raw}, now)
	if err != nil {
		return nil, err
	}
	evs, err := seal(OutboxRoom, actor, "c", f.o.Seq, f.o.Hash, now, drafts)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range evs {
		if err := f.o.Apply(e); err != nil {
			f.t.Fatal(err)
		}
	}
	return drafts, nil
}

func outboxDoc(id, js string, targets ...string) OutboxDocument {
	return OutboxDocument{ID: id, SourceRoom: "op-1", SourceSeq: 40, Kind: DocOpeningRecord, JSON: js,
		Digest: hex.EncodeToString(sm3.Sm3Sum([]byte(js))), Signature: "MEUCIQ==", KeyID: strings.Repeat("f", 64), Targets: targets}
}

// TestOutboxDeliveries: a document queued once; attempts recorded; a
// delivered target is done; another abandoned after its final attempt;
// only the server writes; the view leaves the JSON out.
func TestOutboxDeliveries(t *testing.T) {
	f := &outboxFolder{t: t, o: NewOutbox(OutboxRoom)}
	sys := SystemActor
	if _, err := f.try(admin, CmdCreateOutbox, struct{}{}, t0); RefusalCode(err) != CodeForbidden {
		t.Fatalf("admin creates the outbox: %v", err)
	}
	if _, err := f.try(sys, CmdCreateOutbox, struct{}{}, t0); err != nil {
		t.Fatal(err)
	}
	id := OutboxDocumentID("op-1", 40, DocOpeningRecord, "")
	if id != OutboxDocumentID("op-1", 40, DocOpeningRecord, "") || id == OutboxDocumentID("op-1", 41, DocOpeningRecord, "") || !ValidID(id) {
		t.Fatalf("document id %q not stable, distinct and a valid id", id)
	}
	doc := outboxDoc(id, `{"a":1}`, "https://p.example.cn/a", "https://p.example.cn/b")
	if _, err := f.try(sys, CmdQueueDocument, doc, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.try(sys, CmdQueueDocument, doc, t0); RefusalCode(err) != CodeWrongState {
		t.Fatalf("queued twice: %v", err)
	}
	for name, bad := range map[string]OutboxDocument{
		"digest": func() OutboxDocument {
			d := outboxDoc("x1", `{"a":1}`, "t")
			d.Digest = strings.Repeat("0", 64)
			return d
		}(),
		"not json":  outboxDoc("x2", `{"a":`, "t"),
		"too large": outboxDoc("x3", `"`+strings.Repeat("x", MaxDocumentBytes)+`"`, "t"),
		"no target": outboxDoc("x4", `{}`),
		"twice":     outboxDoc("x5", `{}`, "t", "t"),
		"kind":      func() OutboxDocument { d := outboxDoc("x6", `{}`, "t"); d.Kind = "gossip"; return d }(),
	} {
		if _, err := f.try(sys, CmdQueueDocument, bad, t0); RefusalCode(err) != CodeInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	at := t0.Add(time.Minute)
	fail := DeliveryAttempt{ID: id, Target: "https://p.example.cn/a", At: at, Status: 500, Error: "HTTP 500", NextAt: at.Add(10 * time.Second)}
	if _, err := f.try(sys, CmdRecordAttempt, fail, at); err != nil {
		t.Fatal(err)
	}
	if due, next := f.o.Due(at, 10); len(due) != 1 || due[0].Target != "https://p.example.cn/b" || !next.Equal(fail.NextAt) {
		t.Fatalf("due %+v next %v", due, next)
	}
	ok := DeliveryAttempt{ID: id, Target: "https://p.example.cn/a", At: at.Add(10 * time.Second), OK: true, Status: 200}
	if d, err := f.try(sys, CmdRecordAttempt, ok, at); err != nil || len(d) != 2 || d[1].Type != EvDelivered {
		t.Fatalf("delivered: %v %v", d, err)
	}
	if _, err := f.try(sys, CmdRecordAttempt, ok, at); RefusalCode(err) != CodeWrongState {
		t.Fatalf("attempt after delivery: %v", err)
	}
	final := DeliveryAttempt{ID: id, Target: "https://p.example.cn/b", At: at, Error: "connection refused", Final: true}
	if d, err := f.try(sys, CmdRecordAttempt, final, at); err != nil || d[1].Type != EvDeliveryAbandoned {
		t.Fatalf("abandoned: %v %v", d, err)
	}
	if c := f.o.Counts(); c != (OutboxCounts{Documents: 1, Delivered: 1, Failed: 1}) {
		t.Fatalf("counts %+v", c)
	}
	if f.o.Items[id].JSON != "" {
		t.Error("a finished document keeps its JSON in the state")
	}
	v := f.o.Latest(10)
	if len(v.Items) != 1 || v.Items[0].States[0].Attempts != 2 || len(v.Items[0].States[0].Latest) != 2 || v.Items[0].Size != 7 {
		t.Fatalf("view %+v", v.Items)
	}
	if f.o.Cursors["op-1"] != 40 {
		t.Errorf("cursor %d, want 40 (the queued document's source)", f.o.Cursors["op-1"])
	}
	if _, err := f.try(sys, CmdRecordScan, OutboxScan{Cursors: map[string]uint64{"op-2": 9, "op-1": 3}}, at); err != nil {
		t.Fatal(err)
	}
	if f.o.Cursors["op-1"] != 40 || f.o.Cursors["op-2"] != 9 {
		t.Errorf("cursors %v: never moved back", f.o.Cursors)
	}
	if err := f.o.Admits(Actor{Role: RoleHost}); RefusalCode(err) != CodeForbidden {
		t.Errorf("host admitted: %v", err)
	}
	for _, c := range []string{CmdCreateOutbox, CmdQueueDocument, CmdRecordAttempt, CmdRecordScan} {
		if RefusalCode(CheckClientCommand(c)) != CodeForbidden {
			t.Errorf("%s is a client command", c)
		}
	}
}
