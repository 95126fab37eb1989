package api_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
)

// The tenancy tests run a city center and its county sub-center "jn"
// (江宁分中心) on one server.
var testCenters = []api.Center{{ID: "city", Name: "市公共资源交易中心", Main: true}, {ID: "jn", Name: "江宁分中心"}}

type tenancy struct {
	*env
	cityAdmin, jnAdmin, jnSup, citySup, oversight string
}

func newTenancy(t *testing.T) *tenancy {
	e := newEnvFor(t, func(d *api.Deps) { d.Centers = testCenters })
	mint := func(role rooms.Role, sub, center string) string {
		tok, _, err := e.issuer.Mint(auth.Request{Room: auth.AnyRoom, Role: role, Sub: sub, Center: center, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tn := &tenancy{env: e, cityAdmin: mint(rooms.RoleAdmin, "city-admin", ""), jnAdmin: mint(rooms.RoleAdmin, "jn-admin", "jn"),
		jnSup: mint(rooms.RoleSupervisor, "jn-sup", "jn"), citySup: mint(rooms.RoleSupervisor, "city-sup", ""),
		oversight: mint(auth.RoleOversight, "city-oversight", "")}
	// One opening and one auction in each center, made by each center's admin.
	for _, c := range []struct{ tok, id string }{{tn.cityAdmin, "city-open"}, {tn.jnAdmin, "jn-open"}} {
		if st, body := e.do("POST", "/api/v1/sessions", c.tok, session(c.id)); st != http.StatusCreated {
			t.Fatalf("create %s: %d %v", c.id, st, body)
		}
	}
	for _, c := range []struct{ tok, id string }{{tn.cityAdmin, "city-au"}, {tn.jnAdmin, "jn-au"}} {
		if st, body := e.do("POST", "/api/v1/auctions", c.tok, auctionBody(c.id, e.now())); st != http.StatusCreated {
			t.Fatalf("create %s: %d %v", c.id, st, body)
		}
	}
	return tn
}

// listed returns the ids the session list gives tok.
func (tn *tenancy) listed(t *testing.T, tok string) []string {
	t.Helper()
	st, body := tn.do("GET", "/api/v1/sessions", tok, nil)
	if st != http.StatusOK {
		t.Fatalf("list by %.20s: %d %v", tok, st, body)
	}
	var ids []string
	for _, s := range body["sessions"].([]any) {
		m := s.(map[string]any)
		ids = append(ids, m["id"].(string)+"@"+m["center"].(string))
	}
	sort.Strings(ids)
	return ids
}

// TestTenancyEveryRoute: every route of the router that acts on a room,
// called by the county's admin and supervisor and by the city's admin on
// the other center's opening and auction, is refused at the door (401,
// 403 or 404 — never a 2xx, never a 400 or 409 that would mean the
// handler ran); the oversight never changes anything anywhere. A route
// added later is covered without touching this test.
func TestTenancyEveryRoute(t *testing.T) {
	tn := newTenancy(t)
	fill := func(path, room string) string {
		r := strings.NewReplacer(":id", room, ":room", room, ":upload", "u1", ":bidder", "a", ":evaluation", "ev1",
			":question", "q1", ":res", "r1", ":sub", "a")
		return r.Replace(path)
	}
	// Public by design (信息公开): the same answer with no token at all.
	public := map[string]bool{"GET /api/v1/auctions/:id/ticker": true, "GET /api/v1/evaluations/:id/publicity": true}
	checked := 0
	for _, rt := range tn.routes {
		if public[rt.Method+" "+rt.Path] {
			for _, room := range []string{"city-au", "jn-open"} {
				anon, _ := tn.do(rt.Method, fill(rt.Path, room), "", nil)
				county, _ := tn.do(rt.Method, fill(rt.Path, room), tn.jnAdmin, nil)
				if anon != county {
					t.Errorf("public %s %s: %d with no token, %d with a county token", rt.Method, room, anon, county)
				}
			}
			continue
		}
		roomRoute := strings.Contains(rt.Path, ":id") && !strings.HasPrefix(rt.Path, "/api/v1/pool/") || strings.Contains(rt.Path, ":room")
		if !roomRoute || rt.Method == http.MethodOptions {
			continue
		}
		for _, c := range []struct {
			who, tok string
			rooms    []string
		}{
			{"the county's admin", tn.jnAdmin, []string{"city-open", "city-au"}},
			{"the county's supervisor", tn.jnSup, []string{"city-open", "city-au"}},
			{"the city's admin", tn.cityAdmin, []string{"jn-open", "jn-au"}},
			{"the city's supervisor", tn.citySup, []string{"jn-open", "jn-au"}},
		} {
			for _, room := range c.rooms {
				path := fill(rt.Path, room)
				st, body := tn.do(rt.Method, path, c.tok, map[string]any{})
				if st != http.StatusUnauthorized && st != http.StatusForbidden && st != http.StatusNotFound && st != http.StatusMethodNotAllowed {
					t.Errorf("%s %s by %s: %d %v, want 401, 403 or 404", rt.Method, path, c.who, st, body)
				}
				checked++
			}
		}
	}
	for _, rt := range tn.routes {
		if rt.Method == http.MethodGet || rt.Method == http.MethodHead || rt.Method == http.MethodOptions || !strings.HasPrefix(rt.Path, "/api/v1/") && !strings.HasPrefix(rt.Path, "/wh") {
			continue
		}
		for _, room := range []string{"city-open", "jn-open", "jn-au"} {
			path := fill(rt.Path, room)
			st, body := tn.do(rt.Method, path, tn.oversight, map[string]any{})
			if st != http.StatusForbidden && st != http.StatusNotFound && st != http.StatusMethodNotAllowed {
				t.Errorf("%s %s by the oversight: %d %v, want a refusal", rt.Method, path, st, body)
			}
			checked++
		}
	}
	if checked < 200 {
		t.Fatalf("only %d route × caller checks: the router's routes were not walked", checked)
	}
	t.Logf("%d route × caller checks", checked)
}

// TestTenancyReadsAndWrites: what each caller sees and may do in its own
// center and across: the session list, snapshots, creation, tokens.
func TestTenancyReadsAndWrites(t *testing.T) {
	tn := newTenancy(t)
	if got := strings.Join(tn.listed(t, tn.jnAdmin), " "); got != "jn-au@jn jn-open@jn" {
		t.Fatalf("the county admin lists %s", got)
	}
	if got := strings.Join(tn.listed(t, tn.cityAdmin), " "); got != "city-au@city city-open@city" {
		t.Fatalf("the city admin lists %s", got)
	}
	all := "city-au@city city-open@city jn-au@jn jn-open@jn"
	for who, tok := range map[string]string{"the oversight": tn.oversight, "the admin key": adminKey} {
		if got := strings.Join(tn.listed(t, tok), " "); got != all {
			t.Fatalf("%s lists %s", who, got)
		}
	}
	// Reads: the oversight everywhere, a center's supervisor in its center.
	for _, c := range []struct {
		who, tok, room string
		want           int
	}{
		{"oversight", tn.oversight, "jn-open", 200}, {"oversight", tn.oversight, "city-au", 200},
		{"oversight's log", tn.oversight, "jn-open/log", 200},
		{"county supervisor", tn.jnSup, "jn-open", 200}, {"county supervisor", tn.jnSup, "city-open", 404},
		{"county admin", tn.jnAdmin, "jn-au", 200}, {"county admin", tn.jnAdmin, "city-au", 404},
	} {
		if st, body := tn.do("GET", "/api/v1/sessions/"+c.room, c.tok, nil); st != c.want {
			t.Errorf("%s reads %s: %d %v, want %d", c.who, c.room, st, body, c.want)
		}
	}
	// Writes: the county admin in its own center only; the oversight never.
	if st, _ := tn.do("POST", "/api/v1/sessions/jn-open/bidders", tn.jnAdmin, map[string]string{"id": "c", "name": "丙公司"}); st != http.StatusCreated {
		t.Fatalf("the county admin registers in its center: %d", st)
	}
	if st, _ := tn.do("POST", "/api/v1/sessions/city-open/bidders", tn.jnAdmin, map[string]string{"id": "c", "name": "丙公司"}); st != http.StatusNotFound {
		t.Fatalf("the county admin registers in the city: %d", st)
	}
	if st, _ := tn.do("POST", "/api/v1/sessions/jn-open/commands", tn.oversight, map[string]any{"id": "x", "type": "announce", "data": map[string]string{"text": "x"}}); st != http.StatusForbidden {
		t.Fatalf("the oversight sends a command: %d", st)
	}
	b := session("jn-2")
	b["center"] = "city"
	if st, _ := tn.do("POST", "/api/v1/sessions", tn.jnAdmin, b); st != http.StatusForbidden {
		t.Fatalf("the county admin creates for the city: %d", st)
	}
	b["center"] = "nowhere"
	if st, _ := tn.do("POST", "/api/v1/sessions", adminKey, b); st != http.StatusBadRequest {
		t.Fatalf("an unknown center: %d", st)
	}
	b["center"] = "jn"
	if st, _ := tn.do("POST", "/api/v1/sessions", adminKey, b); st != http.StatusCreated {
		t.Fatalf("the admin key creates for the county: %d", st)
	}
	if got := strings.Join(tn.listed(t, tn.jnAdmin), " "); got != "jn-2@jn jn-au@jn jn-open@jn" {
		t.Fatalf("after the key's creation the county lists %s", got)
	}

	// Tokens: a center admin mints for its own rooms and center only.
	for _, c := range []struct {
		why  string
		tok  string
		body map[string]any
		want int
	}{
		{"a county room's host", tn.jnAdmin, map[string]any{"room": "jn-open", "role": "host", "sub": "h"}, 201},
		{"a city room's host", tn.jnAdmin, map[string]any{"room": "city-open", "role": "host", "sub": "h"}, 404},
		{"a county supervisor for every county room", tn.jnAdmin, map[string]any{"room": "*", "role": "supervisor", "sub": "s"}, 201},
		{"a city supervisor", tn.jnAdmin, map[string]any{"room": "*", "role": "supervisor", "sub": "s", "center": "city"}, 403},
		{"the oversight", tn.jnAdmin, map[string]any{"room": "*", "role": "oversight", "sub": "o"}, 403},
		{"the oversight, by the key", adminKey, map[string]any{"room": "*", "role": "oversight", "sub": "o"}, 201},
		{"a county admin, by the key", adminKey, map[string]any{"room": "*", "role": "admin", "sub": "a", "center": "jn"}, 201},
		{"by the oversight", tn.oversight, map[string]any{"room": "jn-open", "role": "host", "sub": "h"}, 403},
	} {
		if st, body := tn.do("POST", "/api/v1/tokens", c.tok, c.body); st != c.want {
			t.Errorf("mint %s: %d %v, want %d", c.why, st, body, c.want)
		}
	}
	// A county supervisor's wildcard token, minted by the county admin, reads the county's rooms only.
	_, body := tn.do("POST", "/api/v1/tokens", tn.jnAdmin, map[string]any{"room": "*", "role": "supervisor", "sub": "s2"})
	sup := body["token"].(string)
	if st, _ := tn.do("GET", "/api/v1/sessions/jn-au", sup, nil); st != 200 {
		t.Fatalf("the minted county supervisor reads a county room: %d", st)
	}
	if st, _ := tn.do("GET", "/api/v1/sessions/city-au", sup, nil); st != 404 {
		t.Fatalf("the minted county supervisor reads a city room: %d", st)
	}
	// The centers a caller sees.
	if st, body := tn.do("GET", "/api/v1/centers", tn.jnAdmin, nil); st != 200 || len(body["centers"].([]any)) != 1 {
		t.Fatalf("the county's centers: %d %v", st, body)
	}
	if st, body := tn.do("GET", "/api/v1/centers", tn.oversight, nil); st != 200 || len(body["centers"].([]any)) != 2 || body["read_only"] != true {
		t.Fatalf("the oversight's centers: %d %v", st, body)
	}
}

// mintWildcard mints a wildcard token of role for center (a key, "" the main one).
func mintWildcard(t *testing.T, e *env, role rooms.Role, center string) string {
	t.Helper()
	tok, _, err := e.issuer.Mint(auth.Request{Room: auth.AnyRoom, Role: role, Sub: string(role) + "-" + center, Center: center, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
