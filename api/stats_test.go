package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/stats"
	"github.com/bidroom/bidroom/stats/statstest"
)

var statsCenters = []api.Center{{ID: "city", Name: "市公共资源交易中心", Main: true}, {ID: "jiangning", Name: "江宁分中心"}, {ID: "pukou", Name: "浦口分中心"}}

// statsEnv is a server over a seeded data set (300 openings, 30
// auctions, 20 evaluations) and the collector of the same rooms.
func statsEnv(t *testing.T) (*env, *stats.Collector) {
	t.Helper()
	clock := &statstest.Clock{}
	svc := rooms.NewService(statstest.NewMemLog(), clock.Now)
	statstest.Seed(t, svc, clock, statstest.Options{Openings: 300, Auctions: 30, Evaluations: 20, Drawn: 4, Seed: 7,
		Start: time.Date(2026, 1, 2, 1, 0, 0, 0, time.UTC), Step: 26 * time.Hour})
	e := newEnvFor(t, func(d *api.Deps) { d.Svc, d.Centers = svc, statsCenters })
	col, err := stats.Collect(context.Background(), svc)
	if err != nil {
		t.Fatal(err)
	}
	return e, col
}

// get fetches path with bearer and returns the status, headers and body.
func (e *env) statsGet(path, bearer string) (int, http.Header, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

type statsAnswer struct {
	Stats   json.RawMessage `json:"stats"`
	Center  string          `json:"center"`
	Centers []api.Center    `json:"centers"`
	All     bool            `json:"all"`
}

func (e *env) stats(path, bearer string) statsAnswer {
	e.t.Helper()
	status, _, body := e.statsGet(path, bearer)
	if status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var a statsAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) wildcard(role rooms.Role, center string) string {
	e.t.Helper()
	tok, _, err := e.issuer.Mint(auth.Request{Room: auth.AnyRoom, Role: role, Sub: string(role) + "-" + center, Center: center, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func beijingDay(s string) time.Time {
	d, _ := time.ParseInLocation("2006-01-02", s, stats.Beijing)
	return d
}

// reportJSON is the collector's report of a period for the centers
// include admits, as JSON.
func reportJSON(t *testing.T, col *stats.Collector, from, to string, include func(string) bool) string {
	t.Helper()
	rep, err := col.Report(stats.Query{From: beijingDay(from), To: beijingDay(to).AddDate(0, 0, 1), MainCenter: "city", Include: include})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	return string(b)
}

// TestStatsScope: the figures each caller gets are those of the centers
// its scope covers; a center outside it is refused.
func TestStatsScope(t *testing.T) {
	e, col := statsEnv(t)
	const q = "/api/v1/stats?from=2026-01-01&to=2026-12-31"
	only := func(ids ...string) func(string) bool {
		return func(c string) bool {
			for _, id := range ids {
				if c == id {
					return true
				}
			}
			return false
		}
	}
	everything := reportJSON(t, col, "2026-01-01", "2026-12-31", nil)
	jiangning := reportJSON(t, col, "2026-01-01", "2026-12-31", only("jiangning"))
	city := reportJSON(t, col, "2026-01-01", "2026-12-31", only("city"))
	if everything == jiangning || jiangning == city {
		t.Fatal("the seed gives the centers the same figures")
	}
	oversight := e.wildcard(auth.RoleOversight, "")
	hostToken, _, err := e.issuer.Mint(auth.Request{Room: "OP-0001", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	jnAdmin, jnSup, cityAdmin := e.wildcard(rooms.RoleAdmin, "jiangning"), e.wildcard(rooms.RoleSupervisor, "jiangning"), e.wildcard(rooms.RoleAdmin, "")
	for _, c := range []struct {
		name, bearer, query, want string
		centers                   int
	}{
		{"admin key", adminKey, "", everything, 3},
		{"oversight", oversight, "", everything, 3},
		{"oversight, one center", oversight, "&center=jiangning", jiangning, 3},
		{"admin key, the main center", adminKey, "&center=city", city, 3},
		{"jiangning's admin", jnAdmin, "", jiangning, 1},
		{"jiangning's admin, own center", jnAdmin, "&center=jiangning", jiangning, 1},
		{"jiangning's supervisor", jnSup, "", jiangning, 1},
		{"the city's admin", cityAdmin, "", city, 1},
	} {
		a := e.stats(q+c.query, c.bearer)
		if string(a.Stats) != c.want {
			t.Errorf("%s: the figures differ from the report of its centers", c.name)
		}
		if len(a.Centers) != c.centers {
			t.Errorf("%s: centers %v, want %d", c.name, a.Centers, c.centers)
		}
	}
	for _, c := range []struct {
		bearer, path string
		status       int
	}{
		{"", q, http.StatusUnauthorized},
		{hostToken, q, http.StatusUnauthorized},
		{jnAdmin, q + "&center=pukou", http.StatusForbidden},
		{jnAdmin, "/api/v1/stats/export?center=city", http.StatusForbidden},
		{adminKey, q + "&center=nowhere", http.StatusBadRequest},
		{adminKey, "/api/v1/stats?from=2026-13-01", http.StatusBadRequest},
		{adminKey, "/api/v1/stats?from=2026-05-01&to=2026-04-01", http.StatusBadRequest},
		{adminKey, "/api/v1/stats?from=2000-01-01&to=2026-01-01", http.StatusBadRequest},
		{adminKey, q + "&format=csv", http.StatusBadRequest},
		{adminKey, "/api/v1/stats/export?format=pdf", http.StatusBadRequest},
		{adminKey, "/api/v1/stats/export?lang=fr", http.StatusBadRequest},
	} {
		if status, _, body := e.statsGet(c.path, c.bearer); status != c.status {
			t.Errorf("GET %s: %d %s, want %d", c.path, status, body, c.status)
		}
	}
	// The period: dates are Beijing days, to included; RFC 3339 bounds as given.
	a := e.stats("/api/v1/stats?from=2026-03-01T00:00:00%2B08:00&to=2026-04-01T00:00:00%2B08:00", adminKey)
	if want := reportJSON(t, col, "2026-03-01", "2026-03-31", nil); string(a.Stats) != want {
		t.Error("an RFC 3339 period differs from the same period in dates")
	}
}

// jsonCell is a figure of the JSON as the exports write it.
func jsonCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return stats.FormatRate(&x)
	}
	return "?"
}

// exportedLines checks the header and returns the lines keyed by
// "dimension/key".
func exportedLines(t *testing.T, rows [][]string) map[string][]string {
	t.Helper()
	if len(rows) < 2 || rows[0][0] != "维度" || rows[0][3] != "开标场次" || len(rows[0]) != 3+len(stats.Columns) {
		t.Fatalf("header %v", rows[0])
	}
	out := map[string][]string{}
	for _, r := range rows[1:] {
		out[r[0]+"/"+r[1]] = r
	}
	return out
}

// checkExport compares every figure of every line with the JSON's.
func checkExport(t *testing.T, format string, lines map[string][]string, rep map[string]any) {
	t.Helper()
	n := 0
	cmp := func(key string, fig map[string]any) {
		line := lines[key]
		if line == nil {
			t.Errorf("%s: no line %s", format, key)
			return
		}
		for i, c := range stats.Columns {
			if got, want := line[3+i], jsonCell(fig[c.Key]); got != want {
				t.Errorf("%s %s %s = %q, JSON %q", format, key, c.Key, got, want)
			}
		}
		n++
	}
	cmp("合计/全部", rep["total"].(map[string]any))
	for dim, name := range map[string]string{"centers": "中心", "categories": "类别", "months": "月份"} {
		for _, r := range rep[dim].([]any) {
			row := r.(map[string]any)
			cmp(name+"/"+row["key"].(string), row)
		}
	}
	if n != len(lines) || n < 20 {
		t.Errorf("%s: %d lines compared of %d", format, n, len(lines))
	}
	if l := lines["中心/jiangning"]; l == nil || l[2] != "江宁分中心" {
		t.Errorf("%s: the center's name: %v", format, l)
	}
	if l := lines["类别/construction"]; l == nil || l[2] != "建设工程" {
		t.Errorf("%s: the category's name: %v", format, l)
	}
}

// TestStatsExport: the CSV (UTF-8 with a BOM) and the XLSX (a valid
// workbook: unzipped and parsed here, and read by openpyxl) hold exactly
// the JSON's figures.
func TestStatsExport(t *testing.T) {
	e, _ := statsEnv(t)
	const period = "from=2026-01-01&to=2026-12-31"
	a := e.stats("/api/v1/stats?"+period, adminKey)
	var rep map[string]any
	if err := json.Unmarshal(a.Stats, &rep); err != nil {
		t.Fatal(err)
	}

	status, h, body := e.statsGet("/api/v1/stats/export?format=csv&"+period, adminKey)
	if status != http.StatusOK || h.Get("Content-Type") != "text/csv; charset=utf-8" ||
		h.Get("Content-Disposition") != `attachment; filename="bidroom-stats-2026-01-01-2026-12-31.csv"` {
		t.Fatalf("csv: %d %v", status, h)
	}
	if !bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")) {
		t.Fatal("the CSV does not start with a UTF-8 byte-order mark")
	}
	rows, err := csv.NewReader(bytes.NewReader(body[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	csvLines := exportedLines(t, rows)
	checkExport(t, "csv", csvLines, rep)

	status, h, body = e.statsGet("/api/v1/stats/export?format=xlsx&"+period, adminKey)
	if status != http.StatusOK || h.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" ||
		!strings.HasSuffix(h.Get("Content-Disposition"), `.xlsx"`) {
		t.Fatalf("xlsx: %d %v", status, h)
	}
	xlsxRows := readXLSX(t, body)
	checkExport(t, "xlsx", exportedLines(t, xlsxRows), rep)

	if py := pythonWithOpenpyxl(); py == "" {
		t.Fatal("python3 with openpyxl is not installed, and the workbook is checked by a real spreadsheet reader: apt-get install python3-openpyxl (scripts/test.sh does)")
	} else {
		path := filepath.Join(t.TempDir(), "stats.xlsx")
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "-c", `import json, sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1]).active
print(json.dumps([["" if c is None else (repr(c) if isinstance(c, float) else str(c)) for c in r] for r in ws.iter_rows(values_only=True)], ensure_ascii=False))`, path).Output()
		if err != nil {
			t.Fatalf("openpyxl: %v", err)
		}
		var py [][]string
		if err := json.Unmarshal(out, &py); err != nil {
			t.Fatal(err)
		}
		lines := exportedLines(t, py)
		// openpyxl reads numbers as int or float: compare them as numbers.
		for key, line := range csvLines {
			got := lines[key]
			for i := range line {
				if i >= len(got) || !sameCell(line[i], got[i]) {
					t.Errorf("openpyxl %s column %d: %q, CSV %q", key, i, got, line[i])
					break
				}
			}
		}
		t.Logf("openpyxl read %d lines", len(lines))
	}

	// lang=en: English headers; a center's export.
	status, _, body = e.statsGet("/api/v1/stats/export?format=csv&lang=en&center=pukou&"+period, adminKey)
	if status != http.StatusOK || !bytes.Contains(body, []byte("dimension,key,name,Sessions")) || !bytes.Contains(body, []byte("center,pukou,浦口分中心")) ||
		bytes.Contains(body, []byte("center,jiangning")) {
		t.Errorf("lang=en, center=pukou: %d %.300s", status, body)
	}
}

// pythonWithOpenpyxl is a Python that has openpyxl (the one on PATH, or
// Debian's python3-openpyxl), or "".
func pythonWithOpenpyxl() string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import openpyxl").Run() == nil {
			return py
		}
	}
	return ""
}

func sameCell(a, b string) bool {
	if a == b {
		return true
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	return err1 == nil && err2 == nil && x == y
}

// readXLSX unzips a workbook, checks its parts and returns the cells of
// its sheet as text, row by row.
func readXLSX(t *testing.T, b []byte) [][]string {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("xlsx is not a zip: %v", err)
	}
	parts := map[string][]byte{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		parts[f.Name], _ = io.ReadAll(r)
		r.Close()
	}
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml"} {
		if parts[name] == nil {
			t.Fatalf("xlsx: no %s", name)
		}
		var any struct{}
		if err := xml.Unmarshal(parts[name], &any); err != nil {
			t.Fatalf("xlsx %s is not XML: %v", name, err)
		}
	}
	var sheet struct {
		Rows []struct {
			R     int `xml:"r,attr"`
			Cells []struct {
				Ref    string `xml:"r,attr"`
				Type   string `xml:"t,attr"`
				Value  string `xml:"v"`
				Inline string `xml:"is>t"`
			} `xml:"c"`
		} `xml:"sheetData>row"`
	}
	if err := xml.Unmarshal(parts["xl/worksheets/sheet1.xml"], &sheet); err != nil {
		t.Fatal(err)
	}
	width := 3 + len(stats.Columns)
	var out [][]string
	for i, r := range sheet.Rows {
		if r.R != i+1 {
			t.Fatalf("xlsx row %d numbered %d", i+1, r.R)
		}
		line := make([]string, width)
		for _, c := range r.Cells {
			col := 0
			for _, ch := range strings.TrimRight(c.Ref, "0123456789") {
				col = col*26 + int(ch-'A'+1)
			}
			if col < 1 || col > width || strings.TrimLeft(c.Ref, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strconv.Itoa(r.R) {
				t.Fatalf("xlsx cell %s in row %d", c.Ref, r.R)
			}
			switch c.Type {
			case "inlineStr":
				line[col-1] = c.Inline
			case "":
				if _, err := strconv.ParseFloat(c.Value, 64); err != nil {
					t.Fatalf("xlsx cell %s: %q is not a number", c.Ref, c.Value)
				}
				line[col-1] = c.Value
			default:
				t.Fatalf("xlsx cell %s of type %s", c.Ref, c.Type)
			}
		}
		out = append(out, line)
	}
	return out
}
