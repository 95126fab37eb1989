package record

import (
	"bytes"
	"cmp"
	_ "embed"
	"html/template"
	"strconv"
	"strings"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/scoring"
)

// The evaluation report's printable page (评标报告): a reading of the
// completed report every member signed, with the platform's signature in
// the footer. The signed JSON stays the report of authority.

//go:embed evalreport.html.tmpl
var evalReportSource string

var evalReportPage = template.Must(template.New("evalreport").Funcs(template.FuncMap{
	"inc":       func(i int) int { return i + 1 },
	"specialty": func(v evalReportView, code string) string { return orDash(v.Specialties[code], code) },
	"group":     label(map[string]string{"technical": "技术评审", "commercial": "商务评审"}),
	"price":     priceRule,
	"sheet": func(r rooms.Report, expert string) string {
		for _, s := range r.Sheets {
			if s.Expert == expert {
				return s.Digest
			}
		}
		return "—"
	},
	"member": func(r rooms.Report, expert string) string {
		for _, m := range r.Committee {
			if m.Expert == expert {
				return m.Name
			}
		}
		return expert
	},
	"item": func(r rooms.Report, id string) string {
		for _, it := range r.Criteria.Items {
			if it.ID == id {
				return it.Name
			}
		}
		if id == "" {
			return "整张评分表"
		}
		return id
	},
	"checks": func(r rooms.Report, ids []string) string {
		names := make([]string, 0, len(ids))
		for _, id := range ids {
			n := id
			for _, c := range r.Criteria.Checks {
				if c.ID == id {
					n = c.Name
				}
			}
			names = append(names, n)
		}
		return strings.Join(names, "、")
	},
	"name":    func(v evalReportView, bidder string) string { return orDash(v.Bids[bidder].Name, bidder) },
	"priceOf": func(v evalReportView, bidder string) string { return orDash(v.Bids[bidder].Price, "—") },
}).Parse(evalReportSource))

// evalReportView is what the report's template reads.
type evalReportView struct {
	R           rooms.Report
	C           *rooms.CompletedReport
	P           *rooms.PlatformSignature
	Bids        map[string]rooms.EvalBid // by bidder: names and prices as read out
	Specialties map[string]string        // specialty code → name
}

// EvaluationReportHTML renders the completed report as a printable zh-CN
// page (A4); bids names every bid's bidder and price, specialties names the
// specialty codes, p is the platform's signature (nil before it signed).
func EvaluationReportHTML(c *rooms.CompletedReport, p *rooms.PlatformSignature, bids []rooms.EvalBid, specialties map[string]string) []byte {
	v := evalReportView{R: c.Report, C: c, P: p, Bids: map[string]rooms.EvalBid{}, Specialties: map[string]string{rooms.SpecialtyTendererRep: "招标人代表"}}
	for k, n := range specialties {
		v.Specialties[k] = n
	}
	for _, b := range bids {
		v.Bids[b.Bidder] = b
	}
	var buf bytes.Buffer
	if err := evalReportPage.Execute(&buf, v); err != nil {
		// The template is fixed and the view typed: a failure is a bug.
		return []byte("<!doctype html><meta charset=utf-8><p>评标报告无法显示：" + template.HTMLEscapeString(err.Error()))
	}
	return buf.Bytes()
}

// priceRule says how the price score is computed, in words.
func priceRule(p scoring.PriceRule) string {
	base := "有效投标报价的最低价为基准价"
	if p.Method == scoring.MeanTrimmed {
		base = "有效投标报价的算术平均值为基准价（有效报价不少于 " + strconv.Itoa(cmp.Or(p.TrimAtLeast, 5)) + " 家时去掉一个最高价和一个最低价）"
		if p.Discount != "" && p.Discount != "0" {
			base += "，下浮 " + p.Discount + "%"
		}
	}
	s := base + "；每高于基准价 1% 扣 " + orDash(p.AbovePerPct, "0") + " 分，每低于基准价 1% 扣 " + orDash(p.BelowPerPct, "0") + " 分"
	if p.Floor != "" && p.Floor != "0" {
		s += "，最低得 " + p.Floor + " 分"
	}
	return s
}

func orDash(s, dash string) string {
	if s == "" {
		return dash
	}
	return s
}
