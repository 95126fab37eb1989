package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/record/recordtest"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/evaltest"
)

// TestCreditRecords: violations noted at an opening (a bidder, an agent)
// and an expert's in its evaluation become credit entries, newest first,
// filtered by kind, subject and center; the county's admin sees none of
// the city's.
func TestCreditRecords(t *testing.T) {
	e := newEnvFor(t, func(d *api.Deps) { d.Centers = testCenters })
	recordtest.Run(t, e.svc, "op1", e.advance)
	ev := evaltest.Run(t, e.svc, "ev1", "op1", map[string]string{"a": "1000000", "d": "960000"})
	ctx := context.Background()
	sup := rooms.Actor{Sub: "s1", Role: rooms.RoleSupervisor}
	n := 0
	note := func(room, typ string, data any) {
		t.Helper()
		raw, _ := json.Marshal(data)
		n++
		if _, err := e.svc.Execute(ctx, room, sup, rooms.Command{ID: fmt.Sprint("note-", n), Type: typ, Data: raw}); err != nil {
			t.Fatal(err)
		}
	}
	note("op1", rooms.CmdNoteViolation, rooms.ViolationNote{Subject: "a", Text: "开标现场提交的授权委托书与投标文件不一致"})
	e.advance(1e9)
	note("op1", rooms.CmdNoteViolation, rooms.ViolationNote{Subject: "某招标代理有限公司", Text: "未按时公布开标记录"})
	e.advance(1e9)
	note("ev1", rooms.CmdNoteExpertViolation, rooms.ViolationRequest{Expert: ev.Members[1], Points: 5, SuspendDays: 90, Reason: "评标期间私自接打电话"})

	get := func(tok, query string) []api.CreditEntry {
		t.Helper()
		st, body := e.do("GET", "/api/v1/credit"+query, tok, nil)
		if st != http.StatusOK {
			t.Fatalf("credit%s: %d %v", query, st, body)
		}
		raw, _ := json.Marshal(body["entries"])
		var out []api.CreditEntry
		_ = json.Unmarshal(raw, &out)
		return out
	}
	all := get(adminKey, "")
	if len(all) != 3 {
		t.Fatalf("entries %+v", all)
	}
	if x := all[0]; x.Kind != "expert" || x.Subject != ev.Members[1] || x.Name == "" || x.Points != 5 || x.SuspendDays != 90 || x.Room != "ev1" || x.Center != "city" {
		t.Fatalf("the expert's entry %+v", x)
	}
	if x := all[1]; x.Kind != "other" || x.Subject != "某招标代理有限公司" || x.Room != "op1" {
		t.Fatalf("the agent's entry %+v", x)
	}
	if x := all[2]; x.Kind != "bidder" || x.Subject != "a" || x.Name == "" || x.By != "s1" {
		t.Fatalf("the bidder's entry %+v", x)
	}
	if got := get(adminKey, "?kind=bidder"); len(got) != 1 || got[0].Subject != "a" {
		t.Fatalf("bidders only: %+v", got)
	}
	if got := get(adminKey, "?subject="+ev.Members[1]); len(got) != 1 || got[0].Kind != "expert" {
		t.Fatalf("one expert: %+v", got)
	}
	if got := get(adminKey, "?center=jn"); len(got) != 0 {
		t.Fatalf("the county's: %+v", got)
	}
	county := mintWildcard(t, e, rooms.RoleAdmin, "jn")
	if got := get(county, ""); len(got) != 0 {
		t.Fatalf("the county's admin sees %+v", got)
	}
	if st, _ := e.do("GET", "/api/v1/credit?kind=king", adminKey, nil); st != http.StatusBadRequest {
		t.Fatalf("a bad kind: %d", st)
	}
	if st, _ := e.do("GET", "/api/v1/credit", e.mint("op1", rooms.RoleBidder, "a"), nil); st != http.StatusUnauthorized {
		t.Fatalf("a bidder: %d", st)
	}
}
