package stats

import (
	"archive/zip"
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
	"time"
)

// Column is one figure as the exports write it.
type Column struct {
	Key    string // the figure's JSON name
	Zh, En string // the header
	value  func(Figures) string
}

func count(f func(Figures) int) func(Figures) string {
	return func(x Figures) string { return strconv.Itoa(f(x)) }
}

func money(f func(Figures) Amount) func(Figures) string {
	return func(x Figures) string { return f(x).String() }
}

func ratioCell(f func(Figures) *float64) func(Figures) string {
	return func(x Figures) string { return FormatRate(f(x)) }
}

// FormatRate writes a rate as the exports do: the shortest decimal that
// reads back as the same float64 (what JSON carries), "" for none.
func FormatRate(r *float64) string {
	if r == nil {
		return ""
	}
	return strconv.FormatFloat(*r, 'g', -1, 64)
}

// Columns are the figures in the order the exports write them.
var Columns = []Column{
	{"sessions", "开标场次", "Sessions", count(func(f Figures) int { return f.Sessions })},
	{"due", "已到开标时间", "Deadline passed", count(func(f Figures) int { return f.Due })},
	{"completed", "完成唱标", "Read out", count(func(f Figures) int { return f.Completed })},
	{"failed", "流标", "Failed (流标)", count(func(f Figures) int { return f.Failed })},
	{"failed_rate", "流标率", "Failure rate", ratioCell(func(f Figures) *float64 { return f.FailedRate })},
	{"bids", "投标数", "Bids", count(func(f Figures) int { return f.Bids })},
	{"bids_per_section", "平均每标段投标数", "Bids per section", ratioCell(func(f Figures) *float64 { return f.BidsPerSection })},
	{"bids_decrypting", "进入解密的投标", "Bids in decryption", count(func(f Figures) int { return f.BidsDecrypting })},
	{"unlock_failures", "解密失败次数", "Unlock failures", count(func(f Figures) int { return f.UnlockFailures })},
	{"bids_unlock_failed", "解密失败的投标", "Bids with a failed unlock", count(func(f Figures) int { return f.BidsUnlockFailed })},
	{"unlock_failure_rate", "解密失败率", "Unlock failure rate", ratioCell(func(f Figures) *float64 { return f.UnlockFailureRate })},
	{"bids_not_opened", "未解密投标（撤销/撤回）", "Bids not opened", count(func(f Figures) int { return f.BidsNotOpened })},
	{"awarded", "已发中标通知", "Awarded", count(func(f Figures) int { return f.Awarded })},
	{"award_total", "中标金额（元）", "Award total (yuan)", money(func(f Figures) Amount { return f.AwardTotal })},
	{"savings_sessions", "计入节资率的标段", "Sections in the savings rate", count(func(f Figures) int { return f.SavingsSessions })},
	{"budget_total", "预算金额（元）", "Budget total (yuan)", money(func(f Figures) Amount { return f.BudgetTotal })},
	{"award_with_budget", "其中中标金额（元）", "Their award total (yuan)", money(func(f Figures) Amount { return f.AwardWithBudget })},
	{"savings", "节约资金（元）", "Savings (yuan)", money(func(f Figures) Amount { return f.Savings })},
	{"savings_rate", "节资率", "Savings rate", ratioCell(func(f Figures) *float64 { return f.SavingsRate })},
	{"budget_from_control", "以最高限价为预算", "Budget from the control price", count(func(f Figures) int { return f.BudgetFromControl })},
	{"no_budget", "无预算", "No budget", count(func(f Figures) int { return f.NoBudget })},
	{"evaluations_drawn", "抽取专家的评标", "Evaluations drawn", count(func(f Figures) int { return f.EvaluationsDrawn })},
	{"experts_drawn", "抽取专家人数", "Experts drawn", count(func(f Figures) int { return f.ExpertsDrawn })},
	{"reserves_drawn", "备选专家人数", "Reserves drawn", count(func(f Figures) int { return f.ReservesDrawn })},
	{"replacements", "专家替换", "Replacements", count(func(f Figures) int { return f.Replacements })},
	{"auctions", "拍卖/挂牌场次", "Auctions", count(func(f Figures) int { return f.Auctions })},
	{"auctions_ended", "已结束", "Auctions ended", count(func(f Figures) int { return f.AuctionsEnded })},
	{"sold", "成交", "Sold", count(func(f Figures) int { return f.Sold })},
	{"unsold", "流拍", "Unsold", count(func(f Figures) int { return f.Unsold })},
	{"unsold_rate", "流拍率", "Unsold rate", ratioCell(func(f Figures) *float64 { return f.UnsoldRate })},
	{"sold_total", "成交金额（元）", "Sold total (yuan)", money(func(f Figures) Amount { return f.SoldTotal })},
	{"start_total", "成交宗起始价（元）", "Their start prices (yuan)", money(func(f Figures) Amount { return f.StartTotal })},
	{"premium", "溢价（元）", "Premium (yuan)", money(func(f Figures) Amount { return f.Premium })},
	{"premium_rate", "溢价率", "Premium rate", ratioCell(func(f Figures) *float64 { return f.PremiumRate })},
}

// Table is a report laid out for export: a header, then one line per
// total, center, category and month, each starting with its dimension
// and key. Cells hold exactly what the JSON holds (amounts as decimals,
// rates as the shortest float64 text); Numeric says which may be written
// as numbers.
type Table struct {
	Header  []string
	Lines   [][]string
	Numeric []bool // per column
}

// Dimension names, as the first column writes them.
var dimensions = map[string][2]string{
	"total": {"合计", "total"}, "center": {"中心", "center"}, "category": {"类别", "category"}, "month": {"月份", "month"},
}

// MakeTable lays out rep in lang ("zh" or "en"); names, if not nil, gives
// centers' and categories' display names by key.
func MakeTable(rep Report, lang string, names map[string]string) Table {
	pick := func(p [2]string) string {
		if lang == "en" {
			return p[1]
		}
		return p[0]
	}
	t := Table{Header: []string{pick([2]string{"维度", "dimension"}), pick([2]string{"项目", "key"}), pick([2]string{"名称", "name"})}}
	t.Numeric = []bool{false, false, false}
	for _, c := range Columns {
		t.Header = append(t.Header, pick([2]string{c.Zh, c.En}))
		t.Numeric = append(t.Numeric, true)
	}
	line := func(dim, key string, f Figures) {
		l := []string{pick(dimensions[dim]), key, names[key]}
		for _, c := range Columns {
			l = append(l, c.value(f))
		}
		t.Lines = append(t.Lines, l)
	}
	line("total", pick([2]string{"全部", "all"}), rep.Total)
	for _, r := range rep.Centers {
		line("center", r.Key, r.Figures)
	}
	for _, r := range rep.Categories {
		line("category", r.Key, r.Figures)
	}
	for _, r := range rep.Months {
		line("month", r.Key, r.Figures)
	}
	return t
}

// WriteCSV writes t as CSV in UTF-8 with a byte-order mark, so that Excel
// (which reads a CSV without one in the system's code page, GBK in
// China) shows Chinese correctly.
func WriteCSV(w io.Writer, t Table) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(t.Header); err != nil {
		return err
	}
	if err := cw.WriteAll(t.Lines); err != nil {
		return err
	}
	return cw.Error()
}

// WriteXLSX writes t as a one-sheet Office Open XML workbook (.xlsx):
// text as inline strings, figures as numbers (an empty rate as an empty
// cell), the header row frozen. modified is the zip entries' time.
func WriteXLSX(w io.Writer, t Table, sheet string, modified time.Time) error {
	z := zip.NewWriter(w)
	put := func(name, body string) error {
		f, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: modified})
		if err != nil {
			return err
		}
		_, err = io.WriteString(f, body)
		return err
	}
	parts := []struct{ name, body string }{
		{"[Content_Types].xml", xml + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
			`</Types>`},
		{"_rels/.rels", xml + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>` +
			`</Relationships>`},
		{"xl/workbook.xml", xml + `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
			`<sheets><sheet name="` + html.EscapeString(sheet) + `" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", xml + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
			`</Relationships>`},
		{"xl/worksheets/sheet1.xml", sheetXML(t)},
	}
	for _, p := range parts {
		if err := put(p.name, p.body); err != nil {
			return fmt.Errorf("stats: write %s: %w", p.name, err)
		}
	}
	return z.Close()
}

const xml = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

// sheetXML is the worksheet: row 1 the header, then the lines.
func sheetXML(t Table) string {
	var b strings.Builder
	b.WriteString(xml + `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
	b.WriteString(`<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>`)
	b.WriteString(`<sheetData>`)
	row := func(n int, cells []string, numeric func(int) bool) {
		fmt.Fprintf(&b, `<row r="%d">`, n)
		for i, v := range cells {
			ref := colName(i) + strconv.Itoa(n)
			switch {
			case v == "":
			case numeric(i):
				fmt.Fprintf(&b, `<c r="%s"><v>%s</v></c>`, ref, v)
			default:
				fmt.Fprintf(&b, `<c r="%s" t="inlineStr"><is><t xml:space="preserve">%s</t></is></c>`, ref, html.EscapeString(v))
			}
		}
		b.WriteString(`</row>`)
	}
	row(1, t.Header, func(int) bool { return false })
	for i, l := range t.Lines {
		row(i+2, l, func(c int) bool { return c < len(t.Numeric) && t.Numeric[c] })
	}
	b.WriteString(`</sheetData></worksheet>`)
	return b.String()
}

// colName is the spreadsheet column of index i: A…Z, AA…
func colName(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}
