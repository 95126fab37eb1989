package rooms_test

import (
	"strings"
	"testing"

	"github.com/bidroom/bidroom/rooms"
)

func TestParseEvaluationMessage(t *testing.T) {
	digest := strings.Repeat("ab", 32)
	sheets := `[{"bidder":"a","checks":{"q1":{"pass":true}},"scores":{"t1":"40.5"}}]`
	for _, c := range []struct {
		text string
		want rooms.EvalMessage
	}{
		{rooms.DeclarationMessage("ev1", "x01", false), rooms.EvalMessage{Kind: rooms.EvalMessageDeclaration, Room: "ev1", Expert: "x01"}},
		{rooms.DeclarationMessage("ev1", "x01", true), rooms.EvalMessage{Kind: rooms.EvalMessageDeclaration, Room: "ev1", Expert: "x01", Conflict: true}},
		{rooms.SheetsMessage("ev1", "x01", sheets), rooms.EvalMessage{Kind: rooms.EvalMessageSheets, Room: "ev1", Expert: "x01", Sheets: sheets}},
		{rooms.ReportMessage("ev1", "x01", digest, ""), rooms.EvalMessage{Kind: rooms.EvalMessageReport, Room: "ev1", Expert: "x01", Digest: digest}},
		{rooms.ReportMessage("ev1", "x01", digest, "不同意排序。\n理由：报价偏低。"), rooms.EvalMessage{Kind: rooms.EvalMessageReport, Room: "ev1", Expert: "x01", Digest: digest, Dissent: "不同意排序。\n理由：报价偏低。"}},
	} {
		got, err := rooms.ParseEvaluationMessage(c.text)
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.text, got, err, c.want)
		}
	}
	for name, text := range map[string]string{
		"a sign-in challenge":        "bidroom sign-in\nsession: ev1\nbidder: x01\nnonce: 00\ntime: 2026-01-01T00:00:00Z\n",
		"a read-out confirmation":    rooms.ConfirmationMessage("ev1", "x01", digest),
		"the platform's report":      "bidroom-evaluation-report-platform-v1\nev1\n{}",
		"a declaration with more":    rooms.DeclarationMessage("ev1", "x01", false) + "x",
		"a declaration of nothing":   "bidroom-declaration-v1\nev1\nx01\nmaybe\n",
		"sheets that are no JSON":    rooms.SheetsMessage("ev1", "x01", "hello"),
		"sheets and more":            rooms.SheetsMessage("ev1", "x01", sheets+" {}"),
		"sheets with a new field":    rooms.SheetsMessage("ev1", "x01", `[{"bidder":"a","extra":1}]`),
		"an empty list of sheets":    rooms.SheetsMessage("ev1", "x01", "[]"),
		"a report with no digest":    rooms.ReportMessage("ev1", "x01", "abc", ""),
		"a room with a line break":   "bidroom-declaration-v1\nev 1\nx01\nno-conflict\n",
		"no member":                  "bidroom-declaration-v1\nev1\n\nno-conflict\n",
		"nothing":                    "",
		"a report with long dissent": rooms.ReportMessage("ev1", "x01", digest, strings.Repeat("异", 2001)),
	} {
		if m, err := rooms.ParseEvaluationMessage(text); err == nil {
			t.Errorf("%s parsed as %+v", name, m)
		}
	}
}
