package api_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/record/recordtest"
	"github.com/bidroom/bidroom/rooms"
)

// poolExpert is one expert of an import, with a fresh SM2 key.
func poolExpert(t *testing.T, id, name, employer, center, phone string, specialties ...string) map[string]any {
	t.Helper()
	k, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := k.Public().MarshalPEM()
	return map[string]any{"id": id, "name": name, "employer": employer, "specialties": specialties,
		"center": center, "phone": phone, "public_key": string(pem)}
}

// csvOf writes experts as an import's CSV.
func csvOf(experts ...map[string]any) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"id", "name", "employer", "specialties", "center", "phone", "credit", "public_key"})
	for _, x := range experts {
		credit := ""
		if c, ok := x["credit"]; ok {
			credit = fmt.Sprint(c)
		}
		_ = w.Write([]string{x["id"].(string), x["name"].(string), x["employer"].(string), strings.Join(x["specialties"].([]string), ";"),
			x["center"].(string), x["phone"].(string), credit, x["public_key"].(string)})
	}
	w.Flush()
	return b.String()
}

// message is the error message of a refusal ("" for none).
func message(body map[string]any) string {
	if e, ok := body["error"].(map[string]any); ok {
		m, _ := e["message"].(string)
		return m
	}
	return ""
}

// ids lists the ids of a list answer's rows.
func ids(body map[string]any) []string {
	out := []string{}
	rows, _ := body["experts"].([]any)
	for _, r := range rows {
		out = append(out, r.(map[string]any)["id"].(string))
	}
	return out
}

func (e *env) poolSize() int {
	e.t.Helper()
	st, body := e.do("GET", "/api/v1/pool/experts", adminKey, nil)
	if st != 200 {
		e.t.Fatalf("list: %d %v", st, body)
	}
	return int(body["pool_size"].(float64))
}

// seedPool imports six experts: two centers, three specialties.
func seedPool(t *testing.T, e *env) {
	t.Helper()
	experts := []map[string]any{
		poolExpert(t, "x01", "王建国", "市建筑设计研究院", "市中心", "13812341234", "A01"),
		poolExpert(t, "x02", "李秀英", "东南大学", "市中心", "13900001111", "A01", "B02"),
		poolExpert(t, "x03", "张伟", "江宁水务集团", "江宁分中心", "13700002222", "A03"),
		poolExpert(t, "x04", "刘洋", "华审造价咨询", "江宁分中心", "13600003333", "B02"),
		poolExpert(t, "x05", "陈静", "省建筑科学研究院", "市中心", "0258888999", "A01"),
		poolExpert(t, "x06", "杨帆", "市城建设计集团", "市中心", "", "A01"),
	}
	if st, body := e.do("POST", "/api/v1/pool/experts", adminKey, map[string]any{"experts": experts}); st != 201 {
		t.Fatalf("import: %d %v", st, body)
	}
}

// TestPoolEndpointsByToken: every pool endpoint with every kind of
// caller. Reading and the reasoned steps are the admin's and the pool's
// supervisors'; import and update the admin key's only.
func TestPoolEndpointsByToken(t *testing.T) {
	e := newEnv(t)
	seedPool(t, e)
	pool := rooms.PoolRoom
	callers := []struct{ name, tok string }{
		{"none", ""},
		{"admin key", adminKey},
		{"supervisor", e.mint(pool, rooms.RoleSupervisor, "s1")},
		{"host", e.mint(pool, rooms.RoleHost, "h1")},
		{"bidder", e.mint(pool, rooms.RoleBidder, "b1")},
		{"expert", e.mint(pool, rooms.RoleExpert, "x01")},
		{"another room's supervisor", e.mint("op1", rooms.RoleSupervisor, "s1")},
	}
	future := e.now().Add(30 * 24 * time.Hour).Format(time.DateOnly)
	n := 0
	endpoints := []struct {
		method, path string
		body         func() any
		before       func()
		want         map[string]int // by caller; absent: 403
	}{
		{"GET", "/api/v1/pool/specialties", nil, nil,
			map[string]int{"none": 200, "admin key": 200, "supervisor": 200, "host": 200, "bidder": 200, "expert": 200, "another room's supervisor": 200}},
		{"GET", "/api/v1/pool/experts?q=x0", nil, nil, map[string]int{"none": 401, "admin key": 200, "supervisor": 200}},
		{"GET", "/api/v1/pool/experts/x01", nil, nil, map[string]int{"none": 401, "admin key": 200, "supervisor": 200}},
		{"PUT", "/api/v1/pool/experts/x01", func() any { n++; return map[string]any{"employer": fmt.Sprintf("设计院%d", n)} }, nil,
			map[string]int{"none": 401, "admin key": 200}},
		{"POST", "/api/v1/pool/experts/x01/suspend", func() any { return map[string]any{"until": future, "reason": "无故缺席评标"} }, nil,
			map[string]int{"none": 401, "admin key": 200, "supervisor": 200}},
		{"POST", "/api/v1/pool/experts/x01/reinstate", func() any { return map[string]any{"reason": "经复核恢复"} }, func() {
			if st, body := e.do("POST", "/api/v1/pool/experts/x01/suspend", adminKey, map[string]any{"until": future, "reason": "待复核"}); st != 200 {
				t.Fatalf("suspend before reinstating: %d %v", st, body)
			}
		}, map[string]int{"none": 401, "admin key": 200, "supervisor": 200}},
		{"POST", "/api/v1/pool/experts/x01/credit", func() any { return map[string]any{"delta": -2, "reason": "迟到"} }, nil,
			map[string]int{"none": 401, "admin key": 200, "supervisor": 200}},
		{"POST", "/api/v1/pool/experts", func() any {
			n++
			return map[string]any{"experts": []any{poolExpert(t, fmt.Sprintf("new%02d", n), "新专家", "某单位", "市中心", "", "A02")}}
		}, nil, map[string]int{"none": 401, "admin key": 201}},
	}
	for _, ep := range endpoints {
		for _, who := range callers {
			if ep.before != nil {
				ep.before()
			}
			var body any
			if ep.body != nil {
				body = ep.body()
			}
			want, ok := ep.want[who.name]
			if !ok {
				want = 403
			}
			st, got := e.do(ep.method, ep.path, who.tok, body)
			if st != want {
				t.Errorf("%s %s as %s: %d %v, want %d", ep.method, ep.path, who.name, st, got, want)
			}
			if st >= 400 && (errCode(got) == "" || message(got) == "") {
				t.Errorf("%s %s as %s: %d without a JSON error: %v", ep.method, ep.path, who.name, st, got)
			}
		}
	}
}

// TestPoolBadInput: each endpoint's refusals of bad input, in words.
func TestPoolBadInput(t *testing.T) {
	e := newEnv(t)
	seedPool(t, e)
	other := poolExpert(t, "x99", "某", "某", "", "", "A01")
	x02key := ""
	if st, body := e.do("GET", "/api/v1/pool/experts/x02", adminKey, nil); st == 200 {
		x02key = body["expert"].(map[string]any)["public_key"].(string)
	} else {
		t.Fatalf("x02: %d %v", st, body)
	}
	big := map[string]any{"employer": strings.Repeat("很", 5000)} // past the test server's 4 KiB body limit
	past := e.now().Add(-24 * time.Hour).Format(time.DateOnly)
	future := e.now().Add(7 * 24 * time.Hour).Format(time.RFC3339)
	tests := []struct {
		name, method, path string
		body               any
		status             int
		says               string // in the message
	}{
		{"page size over the bound", "GET", "/api/v1/pool/experts?page_size=1000", nil, 400, "page_size must be a whole number from 1 to 200"},
		{"page 0", "GET", "/api/v1/pool/experts?page=0", nil, 400, "page must be"},
		{"a status that is not one", "GET", "/api/v1/pool/experts?status=gone", nil, 400, "status must be active or suspended"},
		{"an unknown specialty filter", "GET", "/api/v1/pool/experts?specialty=Z99", nil, 400, "valid: A01"},
		{"an unknown parameter", "GET", "/api/v1/pool/experts?sort=name", nil, 400, `unknown query parameter "sort"`},
		{"a period that is not a number", "GET", "/api/v1/pool/experts?period_days=x", nil, 400, "period_days"},
		{"an unknown expert", "GET", "/api/v1/pool/experts/nobody", nil, 404, "no expert"},

		{"update an unknown expert", "PUT", "/api/v1/pool/experts/nobody", map[string]any{"name": "某"}, 404, "no expert"},
		{"update the credit", "PUT", "/api/v1/pool/experts/x01", map[string]any{"credit": 50}, 400, "/credit"},
		{"update the suspension", "PUT", "/api/v1/pool/experts/x01", map[string]any{"suspended_until": future}, 400, "/suspend"},
		{"update the id", "PUT", "/api/v1/pool/experts/x01", map[string]any{"id": "x77"}, 400, "id cannot change"},
		{"update nothing", "PUT", "/api/v1/pool/experts/x01", map[string]any{}, 400, "nothing to change"},
		{"update an unknown field", "PUT", "/api/v1/pool/experts/x01", map[string]any{"nickname": "老王"}, 400, `unknown field "nickname"`},
		{"update to an unknown specialty", "PUT", "/api/v1/pool/experts/x01", map[string]any{"specialties": []string{"A01", "Z99"}}, 400, `"Z99" is not in the catalogue (valid: A01`},
		{"update to no specialty", "PUT", "/api/v1/pool/experts/x01", map[string]any{"specialties": []string{}}, 400, "specialty codes"},
		{"update to an empty name", "PUT", "/api/v1/pool/experts/x01", map[string]any{"name": "  "}, 400, "name is required"},
		{"update to a key that is not one", "PUT", "/api/v1/pool/experts/x01", map[string]any{"public_key": "hello"}, 400, "not an SM2 public key"},
		{"update to another expert's key", "PUT", "/api/v1/pool/experts/x01", map[string]any{"public_key": x02key}, 400, "expert x02's already"},
		{"update with a malformed body", "PUT", "/api/v1/pool/experts/x01", "{", 400, "malformed JSON"},
		{"update with an oversized body", "PUT", "/api/v1/pool/experts/x01", big, 413, "exceeds"},

		{"suspend until the past", "POST", "/api/v1/pool/experts/x01/suspend", map[string]any{"until": past, "reason": "违规"}, 400, "is not after now"},
		{"suspend until no date", "POST", "/api/v1/pool/experts/x01/suspend", map[string]any{"until": "2027-13-45", "reason": "违规"}, 400, "until must be a date"},
		{"suspend with no until", "POST", "/api/v1/pool/experts/x01/suspend", map[string]any{"reason": "违规"}, 400, "until is required"},
		{"suspend with no reason", "POST", "/api/v1/pool/experts/x01/suspend", map[string]any{"until": future}, 400, "reason is required"},
		{"suspend an unknown expert", "POST", "/api/v1/pool/experts/nobody/suspend", map[string]any{"until": future, "reason": "违规"}, 404, "no expert"},
		{"suspend with an unknown field", "POST", "/api/v1/pool/experts/x01/suspend", map[string]any{"until": future, "reason": "违规", "days": 3}, 400, `unknown field "days"`},
		{"suspend with an oversized body", "POST", "/api/v1/pool/experts/x01/suspend", map[string]any{"until": future, "reason": strings.Repeat("很", 5000)}, 413, "exceeds"},

		{"reinstate one not suspended", "POST", "/api/v1/pool/experts/x02/reinstate", map[string]any{"reason": "复核"}, 409, "not suspended"},
		{"reinstate an unknown expert", "POST", "/api/v1/pool/experts/nobody/reinstate", map[string]any{"reason": "复核"}, 404, "no expert"},
		{"reinstate with an unknown field", "POST", "/api/v1/pool/experts/x02/reinstate", map[string]any{"why": "复核"}, 400, `unknown field "why"`},

		{"credit by zero", "POST", "/api/v1/pool/experts/x01/credit", map[string]any{"delta": 0, "reason": "无"}, 400, "non-zero"},
		{"credit by too much", "POST", "/api/v1/pool/experts/x01/credit", map[string]any{"delta": 101, "reason": "无"}, 400, "-100..100"},
		{"credit by a fraction", "POST", "/api/v1/pool/experts/x01/credit", map[string]any{"delta": 1.5, "reason": "无"}, 400, "malformed JSON"},
		{"credit with no reason", "POST", "/api/v1/pool/experts/x01/credit", map[string]any{"delta": -5}, 400, "reason is required"},
		{"credit naming no evaluation", "POST", "/api/v1/pool/experts/x01/credit", map[string]any{"delta": -5, "reason": "迟到", "evaluation": "a b"}, 400, "evaluation must be"},
		{"credit of an unknown expert", "POST", "/api/v1/pool/experts/nobody/credit", map[string]any{"delta": -5, "reason": "迟到"}, 404, "no expert"},

		{"import with an unknown field", "POST", "/api/v1/pool/experts", map[string]any{"experts": []any{}, "source": "x"}, 400, `unknown field "source"`},
		{"import nothing", "POST", "/api/v1/pool/experts", map[string]any{"experts": []any{}}, 400, "no experts"},
		{"import with a bad dry_run", "POST", "/api/v1/pool/experts?dry_run=maybe", map[string]any{"experts": []any{other}}, 400, "dry_run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, body := e.do(tc.method, tc.path, adminKey, tc.body)
			if st != tc.status || !strings.Contains(message(body), tc.says) {
				t.Errorf("%s %s: %d %q, want %d saying %q", tc.method, tc.path, st, message(body), tc.status, tc.says)
			}
		})
	}
	// The reason is required to reinstate too (x03 is suspended first).
	if st, body := e.do("POST", "/api/v1/pool/experts/x03/suspend", adminKey, map[string]any{"until": future, "reason": "违规"}); st != 200 {
		t.Fatalf("suspend x03: %d %v", st, body)
	}
	if st, body := e.do("POST", "/api/v1/pool/experts/x03/reinstate", adminKey, map[string]any{}); st != 400 || !strings.Contains(message(body), "reason is required") {
		t.Errorf("reinstate without a reason: %d %v", st, body)
	}
	if got := e.poolSize(); got != 6 {
		t.Errorf("after the refusals the pool holds %d experts, want 6", got)
	}
}

// TestPoolImportRows: a bad row refuses the whole import and the answer
// names every bad row with its line; a dry run checks without adding.
func TestPoolImportRows(t *testing.T) {
	e := newEnv(t)
	seedPool(t, e)
	x01 := poolExpert(t, "x01", "重复", "某单位", "市中心", "", "A01")
	a := poolExpert(t, "n01", "新一", "某设计院", "市中心", "13800000001", "A02")
	b := poolExpert(t, "n02", "新二", "某设计院", "市中心", "", "Z99")
	c := poolExpert(t, "n03", "新三", "某设计院", "市中心", "", "A04")
	c["credit"] = "abc"
	d := poolExpert(t, "n01", "新一重复", "某设计院", "市中心", "", "A02")
	f := poolExpert(t, "n05", "新五", "某设计院", "市中心", "", "A05")
	f["public_key"] = a["public_key"]
	g := poolExpert(t, "n 06", "新六", "某设计院", "市中心", "", "A05")

	st, raw := e.post("/api/v1/pool/experts", adminKey, "text/csv", csvOf(a, b, c, d, x01, f, g))
	if st != 400 {
		t.Fatalf("a CSV with bad rows: %d %s", st, raw)
	}
	var ans struct {
		Error struct {
			Message string `json:"message"`
			Refused int    `json:"refused"`
			Total   int    `json:"total"`
			Rows    []struct {
				Row, Line int
				ID        string
				Message   string
			} `json:"rows"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(raw), &ans); err != nil {
		t.Fatal(err)
	}
	if ans.Error.Refused != 6 || ans.Error.Total != 7 || !strings.HasPrefix(ans.Error.Message, "nothing was added: 6 of 7 rows refused; expert 2 (n02)") {
		t.Errorf("answer %+v", ans.Error)
	}
	want := []struct {
		row  int
		says string
	}{
		{2, `"Z99" is not in the catalogue`}, {3, `credit "abc" is not a whole number`}, {4, "id n01 is also on row 1"},
		{5, "id x01 is already in the pool"}, {6, "the public key is also row 1's"}, {7, "id must be"},
	}
	if len(ans.Error.Rows) != len(want) {
		t.Fatalf("rows %+v", ans.Error.Rows)
	}
	for i, w := range want {
		r := ans.Error.Rows[i]
		if r.Row != w.row || !strings.Contains(r.Message, w.says) || r.Line < 2 {
			t.Errorf("row %d: %+v, want row %d saying %q", i, r, w.row, w.says)
		}
	}
	if ans.Error.Rows[1].Line <= ans.Error.Rows[0].Line+1 {
		t.Errorf("lines %d, %d: a PEM in a quoted field spans lines", ans.Error.Rows[0].Line, ans.Error.Rows[1].Line)
	}
	if got := e.poolSize(); got != 6 {
		t.Fatalf("a refused import added experts: %d", got)
	}
	// An expert whose key another expert of the pool holds.
	h := poolExpert(t, "n08", "新八", "某设计院", "市中心", "", "A05")
	_, x02 := e.do("GET", "/api/v1/pool/experts/x02", adminKey, nil)
	h["public_key"] = x02["expert"].(map[string]any)["public_key"]
	if st, body := e.do("POST", "/api/v1/pool/experts", adminKey, map[string]any{"experts": []any{h}}); st != 400 || !strings.Contains(message(body), "expert x02's already") {
		t.Errorf("a key of the pool again: %d %v", st, body)
	}

	// A dry run of good rows adds nothing; the import then adds them.
	if st, body := e.do("POST", "/api/v1/pool/experts?dry_run=1", adminKey, map[string]any{"experts": []any{a, c2(t)}}); st != 200 || body["valid"] != 2.0 {
		t.Fatalf("dry run: %d %v", st, body)
	}
	if got := e.poolSize(); got != 6 {
		t.Fatalf("a dry run added experts: %d", got)
	}
	if st, raw := e.post("/api/v1/pool/experts", adminKey, "text/csv; charset=utf-8", "\ufeff"+csvOf(a)); st != 201 || !strings.Contains(raw, `"added":1`) {
		t.Fatalf("a good CSV with a BOM: %d %s", st, raw)
	}
	if st, raw := e.post("/api/v1/pool/experts", adminKey, "text/csv", "id,name\n1,2\n"); st != 400 || !strings.Contains(raw, `lacks the column \"employer\"`) {
		t.Errorf("a CSV without the columns: %d %s", st, raw)
	}
	if st, raw := e.post("/api/v1/pool/experts", adminKey, "text/csv", csvOf(c2(t))+"\"x,\"y\n"); st != 400 || !strings.Contains(raw, "CSV row 2") {
		t.Errorf("a broken CSV: %d %s", st, raw)
	}
	huge := strings.Repeat("x", 17<<20)
	if st, raw := e.post("/api/v1/pool/experts", adminKey, "text/csv", "id,name,employer,specialties,public_key\n"+huge); st != 413 {
		t.Errorf("a 17 MiB import: %d %.200s", st, raw)
	}
}

func c2(t *testing.T) map[string]any {
	return poolExpert(t, "n09", "新九", "某设计院", "江宁分中心", "", "A03")
}

// TestPoolListAndHistory: filters, paging, masking, the steps in an
// expert's history, the draw counted and a suspended expert never drawn.
func TestPoolListAndHistory(t *testing.T) {
	e := newEnv(t)
	seedPool(t, e)
	sup := e.mint(rooms.PoolRoom, rooms.RoleSupervisor, "s1")
	list := func(tok string, q url.Values) map[string]any {
		t.Helper()
		st, body := e.do("GET", "/api/v1/pool/experts?"+q.Encode(), tok, nil)
		if st != 200 {
			t.Fatalf("list %v: %d %v", q, st, body)
		}
		return body
	}
	for _, tc := range []struct {
		q    url.Values
		want string
	}{
		{url.Values{}, "x01 x02 x03 x04 x05 x06"},
		{url.Values{"q": {"建筑"}}, "x01 x05"},          // employer
		{url.Values{"q": {"李秀"}}, "x02"},              // name
		{url.Values{"q": {"X04"}}, "x04"},             // id, any case
		{url.Values{"specialty": {"B02"}}, "x02 x04"}, // an expert with two specialties counts for each
		{url.Values{"center": {"江宁分中心"}}, "x03 x04"},  // a county sub-center
		{url.Values{"specialty": {"A01"}, "center": {"市中心"}}, "x01 x02 x05 x06"},
		{url.Values{"page_size": {"4"}, "page": {"2"}}, "x05 x06"},
		{url.Values{"page_size": {"4"}, "page": {"3"}}, ""},
	} {
		if got := strings.Join(ids(list(adminKey, tc.q)), " "); got != tc.want {
			t.Errorf("list %v: %q, want %q", tc.q, got, tc.want)
		}
	}
	all := list(adminKey, url.Values{})
	if all["total"] != 6.0 || all["pool_size"] != 6.0 || fmt.Sprint(all["centers"]) != "[map[center:市中心 experts:4] map[center:江宁分中心 experts:2]]" {
		t.Errorf("totals and centers: %v %v %v", all["total"], all["pool_size"], all["centers"])
	}
	first := all["experts"].([]any)[0].(map[string]any)
	if first["phone"] != "13812341234" || first["credit"] != 100.0 || first["status"] != "active" || len(first["key_id"].(string)) != 64 || first["public_key"] != nil {
		t.Errorf("the admin's row: %v", first)
	}
	if row := list(sup, url.Values{}); row["experts"].([]any)[0].(map[string]any)["phone"] != "138****1234" {
		t.Errorf("the supervisor's row: %v", row["experts"].([]any)[0])
	}

	// Steps: an update (phone, specialties), a suspension by a supervisor, a credit deduction, a reinstatement.
	if st, body := e.do("PUT", "/api/v1/pool/experts/x01", adminKey, map[string]any{"phone": "13899998888", "specialties": []string{"A02", "A01"}}); st != 200 ||
		fmt.Sprint(body["expert"].(map[string]any)["specialties"]) != "[A01 A02]" {
		t.Fatalf("update: %d %v", st, body)
	}
	until := e.now().Add(90 * 24 * time.Hour).In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
	st, body := e.do("POST", "/api/v1/pool/experts/x01/suspend", sup, map[string]any{"until": until, "reason": "评标中私下接触投标人"})
	if st != 200 {
		t.Fatalf("suspend: %d %v", st, body)
	}
	x := body["expert"].(map[string]any)
	if x["status"] != "suspended" || x["suspend_reason"] != "评标中私下接触投标人" || !strings.HasPrefix(x["suspended_until"].(string), until) || x["phone"] != "138****8888" {
		t.Errorf("suspended: %v", x)
	}
	if got := strings.Join(ids(list(sup, url.Values{"status": {"suspended"}})), " "); got != "x01" {
		t.Errorf("suspended: %q", got)
	}
	if got := len(ids(list(sup, url.Values{"status": {"active"}}))); got != 5 {
		t.Errorf("active: %d", got)
	}
	if st, body := e.do("POST", "/api/v1/pool/experts/x02/credit", sup, map[string]any{"delta": -15, "reason": "评审意见不完整", "evaluation": "ev0"}); st != 200 || body["expert"].(map[string]any)["credit"] != 85.0 {
		t.Fatalf("credit: %d %v", st, body)
	}
	if st, body := e.do("POST", "/api/v1/pool/experts/x02/credit", adminKey, map[string]any{"delta": 30, "reason": "更正"}); st != 200 || body["expert"].(map[string]any)["credit"] != 100.0 {
		t.Fatalf("credit above 100: %d %v", st, body)
	}

	// A draw: x01 is suspended, x05 is related, x06 is the tenderer's own staff.
	recordtest.Run(t, e.svc, "op1", e.advance)
	if st, body := e.do("POST", "/api/v1/sessions/op1/record", adminKey, nil); st != 201 {
		t.Fatalf("record: %d %v", st, body)
	}
	if st, body := e.do("POST", "/api/v1/pool/experts", adminKey, map[string]any{"experts": []any{
		poolExpert(t, "x07", "周强", "市政设计院", "市中心", "", "A01"), poolExpert(t, "x08", "吴霞", "造价站", "市中心", "", "B02"),
		poolExpert(t, "x09", "孙丽", "中衡咨询", "江宁分中心", "", "B02"),
	}}); st != 201 {
		t.Fatalf("import: %d %v", st, body)
	}
	spec := map[string]any{
		"id": "ev1", "opening": "op1", "tenderer": "市城建设计集团", "size": 5, "related": []string{"x05"},
		"quotas": []map[string]any{{"specialty": "A01", "count": 2, "reserves": 0}, {"specialty": "B02", "count": 3, "reserves": 0}},
		"criteria": map[string]any{
			"items": []map[string]any{{"id": "t1", "name": "施工方案", "group": "technical", "max": "60"}},
			"price": map[string]any{"method": "lowest", "weight": "40", "above_per_pct": "1", "below_per_pct": "0.5"},
		},
	}
	if st, body := e.do("POST", "/api/v1/evaluations", adminKey, map[string]any{"id": "ev0", "opening": "op1", "tenderer": "某", "size": 5,
		"quotas": []map[string]any{{"specialty": "Q1", "count": 5}}, "criteria": spec["criteria"]}); st != 400 || !strings.Contains(message(body), "quota 1: specialty code \"Q1\" is not in the catalogue") {
		t.Errorf("an evaluation with a quota of no specialty: %d %v", st, body)
	}
	if st, body := e.do("POST", "/api/v1/evaluations", adminKey, spec); st != 201 {
		t.Fatalf("evaluation: %d %v", st, body)
	}
	st, body = e.do("POST", "/api/v1/evaluations/ev1/draw", adminKey, nil)
	if st != 201 {
		t.Fatalf("draw: %d %v", st, body)
	}
	rec := body["draw"].(map[string]any)
	drawn := map[string]bool{}
	for _, s := range rec["drawn"].([]any) {
		drawn[s.(map[string]any)["expert"].(string)] = true
	}
	// A01 has two eligible, x02 and x07; B02 then draws x04, x08 and x09 (x02 is drawn once).
	if strings.Join(slices.Sorted(maps.Keys(drawn)), " ") != "x02 x04 x07 x08 x09" || fmt.Sprint(rec["excluded"]) != "map[related:1 suspended:1 tenderer_staff:1]" {
		t.Errorf("draw: %v excluded %v", drawn, rec["excluded"])
	}

	after := list(sup, url.Values{"q": {"x0"}})
	for _, r := range after["experts"].([]any) {
		r := r.(map[string]any)
		want := 0.0
		if drawn[r["id"].(string)] {
			want = 1
		}
		if r["draws"] != want || (want == 1) != (r["last_drawn"] != nil) {
			t.Errorf("%s: draws %v, last %v, want %v", r["id"], r["draws"], r["last_drawn"], want)
		}
	}

	st, body = e.do("POST", "/api/v1/pool/experts/x01/reinstate", adminKey, map[string]any{"reason": "经复核，投诉不实"})
	if st != 200 || body["expert"].(map[string]any)["status"] != "active" || body["expert"].(map[string]any)["suspended_until"] != nil {
		t.Fatalf("reinstate: %d %v", st, body)
	}

	// History, newest first, as the supervisor reads it.
	st, body = e.do("GET", "/api/v1/pool/experts/x01", sup, nil)
	if st != 200 {
		t.Fatalf("x01: %d %v", st, body)
	}
	var types []string
	for _, h := range body["history"].([]any) {
		types = append(types, h.(map[string]any)["type"].(string))
	}
	if strings.Join(types, " ") != "reinstated suspended updated added" {
		t.Errorf("x01's history: %v", types)
	}
	hist := body["history"].([]any)
	if h := hist[1].(map[string]any); h["reason"] != "评标中私下接触投标人" || h["by"] != "supervisor" || h["until"] == nil {
		t.Errorf("the suspension: %v", h)
	}
	if h := hist[2].(map[string]any); fmt.Sprint(h["changes"]) != "[map[field:specialties from:A01 to:A01;A02] map[field:phone from:138****1234 to:138****8888]]" {
		t.Errorf("the update as the supervisor sees it: %v", h["changes"])
	}
	if body["expert"].(map[string]any)["public_key"] == "" {
		t.Errorf("the detail has no key")
	}
	_, body = e.do("GET", "/api/v1/pool/experts/x02", adminKey, nil)
	types = nil
	for _, h := range body["history"].([]any) {
		h := h.(map[string]any)
		types = append(types, fmt.Sprintf("%s:%v", h["type"], h["credit"]))
	}
	if got := strings.Join(types, " "); got != "drawn:<nil> credit:100 credit:85 added:100" {
		t.Errorf("x02's history: %s", got)
	}
}
