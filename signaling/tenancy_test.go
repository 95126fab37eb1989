package signaling_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/signaling"
)

// TestCentersAtTheSocket: a county's wildcard tokens open the county's
// rooms and not the city's (r1 is the city's: made with no center); the
// oversight watches any room as a supervisor would and sends nothing.
func TestCentersAtTheSocket(t *testing.T) {
	e := newEnv(t, signaling.Config{})
	e.exec("jn1", rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}, rooms.CmdCreateSession, rooms.SessionSpec{
		Title: "县工程", Center: "jn", Category: "construction", Deadline: time.Now().Add(time.Hour), CheckInAt: time.Now()})
	mint := func(role rooms.Role, center string) string {
		tok, _, err := e.issuer.Mint(auth.Request{Room: auth.AnyRoom, Role: role, Sub: "x", Center: center, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, c := range []struct {
		who, tok, room string
		want           int
	}{
		{"the county's supervisor", mint(rooms.RoleSupervisor, "jn"), "r1", http.StatusForbidden},
		{"the county's admin", mint(rooms.RoleAdmin, "jn"), "r1", http.StatusForbidden},
		{"the city's supervisor", mint(rooms.RoleSupervisor, ""), "jn1", http.StatusForbidden},
	} {
		if _, resp, err := e.dial("room="+c.room, c.tok, nil); err == nil || resp == nil || resp.StatusCode != c.want {
			t.Errorf("%s into %s: %v %v, want %d", c.who, c.room, err, resp, c.want)
		}
	}
	county := e.mustDial("room=jn1", mint(rooms.RoleSupervisor, "jn"))
	county.expect("welcome")
	county.expect("snapshot")

	oversight := e.mustDial("room=jn1", mint(auth.RoleOversight, ""))
	oversight.expect("welcome")
	if snap := oversight.expect("snapshot"); !strings.Contains(string(snap.State), "县工程") {
		t.Fatalf("the oversight's snapshot: %s", snap.State)
	}
	oversight.send(command("o1", rooms.CmdAnnounce, map[string]string{"text": "监管提示"}))
	if f := oversight.expect("error"); f.Code != rooms.CodeForbidden || !strings.Contains(f.Message, "reads only") {
		t.Fatalf("the oversight's command: %+v", f)
	}
	// It sees what a supervisor sees as it happens.
	e.exec("jn1", rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}, rooms.CmdRegisterBidder, rooms.BidderSpec{ID: "c", Name: "丙公司"})
	if f := oversight.expect("event"); !strings.Contains(string(f.Event), "丙公司") {
		t.Fatalf("the oversight's event: %s", f.Event)
	}
}
