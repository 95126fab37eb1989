package push

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/bidroom/bidroom/rooms"
)

// Document is the JSON every pushed document is: an envelope naming the
// event it was made of (room, seq and the log's hash there, so the
// receiver can ask for the log and check it) around the payload. Its exact
// bytes are what the platform signs (rooms.PushMessage).
type Document struct {
	Version  string    `json:"version"` // rooms.PushVersion
	ID       string    `json:"id"`
	Kind     string    `json:"kind"` // rooms.DocOpeningRecord, DocPublicity, DocResults or DocAlert
	Source   Source    `json:"source"`
	IssuedAt time.Time `json:"issued_at"` // the source event's time: the same document on every instance
	Payload  any       `json:"payload"`
}

// Source is the event a document was made of.
type Source struct {
	Room   string `json:"room"`
	Kind   string `json:"kind"` // the room kind
	Center string `json:"center,omitempty"`
	Seq    uint64 `json:"seq"`
	Hash   string `json:"hash"`
}

// OpeningSummary is the payload of an opening_record document: the
// opening record's summary (开标记录) as published, with the digest and
// platform signature of the full record.
type OpeningSummary struct {
	Session       string              `json:"session"`
	Title         string              `json:"title"`
	Section       string              `json:"section,omitempty"`
	Category      string              `json:"category"`
	Deadline      time.Time           `json:"deadline"`
	OpenedAt      time.Time           `json:"opened_at,omitzero"`
	Failure       *rooms.Failure      `json:"failure,omitempty"` // 流标
	ControlPrice  string              `json:"control_price,omitempty"`
	Reserve       string              `json:"reserve,omitempty"`
	Budget        string              `json:"budget,omitempty"`
	Rows          []rooms.ReadOutRow  `json:"rows"`
	ReadOutDigest string              `json:"read_out_digest,omitempty"`
	Confirmed     int                 `json:"confirmed"`
	Objections    int                 `json:"objections"`
	Record        rooms.OpeningRecord `json:"record"`
	Trimmed       bool                `json:"trimmed,omitempty"` // the rows' sheets were left out to keep the document bounded
}

// Results is the payload of a results document: the award and result
// notices (R24), each with its own digest and platform signature, and
// the notice itself while the document stays bounded.
type Results struct {
	Evaluation     string      `json:"evaluation"`
	Opening        string      `json:"opening"`
	Title          string      `json:"title"`
	Tenderer       string      `json:"tenderer"`
	Winner         string      `json:"winner"`
	WinnerName     string      `json:"winner_name"`
	Price          string      `json:"price"`
	ReportDigest   string      `json:"report_digest"`
	PublicityEnded time.Time   `json:"publicity_ended"`
	IssuedAt       time.Time   `json:"issued_at"`
	KeyID          string      `json:"key_id"`
	Notices        []NoticeRef `json:"notices"`
	Trimmed        bool        `json:"trimmed,omitempty"` // the notices' texts were left out to keep the document bounded
}

// NoticeRef is one notice of a results document.
type NoticeRef struct {
	Bidder    string          `json:"bidder"`
	Kind      string          `json:"kind"`
	Digest    string          `json:"digest"`
	Signature string          `json:"signature"`        // over rooms.NoticeMessage of the notice's JSON
	Notice    json.RawMessage `json:"notice,omitempty"` // that JSON, exactly
}

// Alert is the payload of an alert document: one read-out row whose price
// is over the control price or too far off the budget (R12).
type Alert struct {
	Session      string    `json:"session"`
	Title        string    `json:"title"`
	Section      string    `json:"section,omitempty"`
	Center       string    `json:"center,omitempty"`
	Bidder       string    `json:"bidder"`
	BidderName   string    `json:"bidder_name"`
	Price        string    `json:"price"`
	Flags        []string  `json:"flags"` // rooms.FlagAboveControlPrice, rooms.FlagOffBudget
	ControlPrice string    `json:"control_price,omitempty"`
	Budget       string    `json:"budget,omitempty"`
	DeviationPct string    `json:"deviation_pct,omitempty"` // how far off the budget, percent, one decimal
	ThresholdPct int       `json:"threshold_pct,omitempty"` // the alert's threshold
	ReadOutAt    time.Time `json:"read_out_at"`
}

// FlagText is the alert's reasons in Chinese, for SMS and mail.
func (a Alert) FlagText() string {
	var parts []string
	for _, f := range a.Flags {
		switch f {
		case rooms.FlagAboveControlPrice:
			parts = append(parts, "超过最高投标限价"+a.ControlPrice+"元")
		case rooms.FlagOffBudget:
			parts = append(parts, fmt.Sprintf("偏离预算%s元达%s%%（预警阈值%d%%）", a.Budget, a.DeviationPct, a.ThresholdPct))
		default:
			parts = append(parts, f)
		}
	}
	return strings.Join(parts, "；")
}

// AlertRules say which read-out rows raise an alert.
type AlertRules struct {
	OverControlPrice bool
	// DeviationMin and DeviationMax hold the session's budget deviation
	// percentage (the threshold its read-out flags with) within a range;
	// both 0: no budget alerts.
	DeviationMin, DeviationMax int
}

// alerts returns the alerts of a read-out under the rules.
func (r AlertRules) alerts(o *rooms.Opening, ro *rooms.ReadOut, at time.Time) []Alert {
	threshold := 0
	if ro.Budget != "" && ro.DeviationPct > 0 && r.DeviationMax > 0 {
		threshold = min(max(ro.DeviationPct, r.DeviationMin), r.DeviationMax)
	}
	var out []Alert
	for _, row := range ro.Rows {
		price := row.Sheet["price"]
		p, ok := new(big.Rat).SetString(price)
		if row.Outcome != "opened" || price == "" || !ok {
			continue
		}
		a := Alert{Session: o.Room, Title: o.Session.Title, Section: o.Session.Section, Center: o.Session.Center,
			Bidder: row.Bidder, BidderName: row.Name, Price: price, ControlPrice: ro.ControlPrice, Budget: ro.Budget, ReadOutAt: at}
		if c, ok := new(big.Rat).SetString(ro.ControlPrice); r.OverControlPrice && ro.ControlPrice != "" && ok && p.Cmp(c) > 0 {
			a.Flags = append(a.Flags, rooms.FlagAboveControlPrice)
		}
		if b, ok := new(big.Rat).SetString(ro.Budget); threshold > 0 && ok && b.Sign() > 0 {
			dev := new(big.Rat).Sub(p, b)
			dev.Abs(dev)
			pct := new(big.Rat).Quo(new(big.Rat).Mul(dev, big.NewRat(100, 1)), b)
			if pct.Cmp(big.NewRat(int64(threshold), 1)) > 0 {
				a.Flags = append(a.Flags, rooms.FlagOffBudget)
				a.DeviationPct, a.ThresholdPct = pct.FloatString(1), threshold
			}
		}
		if len(a.Flags) > 0 {
			out = append(out, a)
		}
	}
	return out
}

// draft is a document made of a source event, before it is signed.
type draft struct {
	id      string
	kind    string
	payload any
	trim    func() bool // makes the payload smaller; false when it cannot
	alert   bool
}

// documentsOf returns the documents event e of room makes under the
// rules; events is the room's log up to and including e (for the state
// the opening had then). Events that make none return nil.
func documentsOf(room string, events []rooms.Event, e rooms.Event, rules AlertRules, wantPush, wantAlerts bool) ([]draft, error) {
	switch e.Type {
	case rooms.EvOpeningRecordSigned:
		if !wantPush {
			return nil, nil
		}
		o, err := openingAt(room, events)
		if err != nil {
			return nil, err
		}
		s := summarize(o)
		return []draft{{id: rooms.OutboxDocumentID(room, e.Seq, rooms.DocOpeningRecord, ""), kind: rooms.DocOpeningRecord, payload: s,
			trim: func() bool {
				if s.Trimmed {
					return false
				}
				s.Trimmed = true
				for i := range s.Rows {
					s.Rows[i].Sheet = nil
				}
				return true
			}}}, nil
	case rooms.EvCandidatesPublished:
		if !wantPush {
			return nil, nil
		}
		var p rooms.Publicity
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return nil, fmt.Errorf("candidates_published of %s: %w", room, err)
		}
		return []draft{{id: rooms.OutboxDocumentID(room, e.Seq, rooms.DocPublicity, ""), kind: rooms.DocPublicity, payload: &p}}, nil
	case rooms.EvNoticesIssued:
		if !wantPush {
			return nil, nil
		}
		var n rooms.NoticesIssued
		if err := json.Unmarshal(e.Data, &n); err != nil {
			return nil, fmt.Errorf("notices_issued of %s: %w", room, err)
		}
		res := results(room, n)
		return []draft{{id: rooms.OutboxDocumentID(room, e.Seq, rooms.DocResults, ""), kind: rooms.DocResults, payload: res,
			trim: func() bool {
				if res.Trimmed {
					return false
				}
				res.Trimmed = true
				for i := range res.Notices {
					res.Notices[i].Notice = nil
				}
				return true
			}}}, nil
	case rooms.EvReadOut:
		if !wantAlerts {
			return nil, nil
		}
		o, err := openingAt(room, events)
		if err != nil {
			return nil, err
		}
		var ro rooms.ReadOut
		if err := json.Unmarshal(e.Data, &ro); err != nil {
			return nil, fmt.Errorf("read_out of %s: %w", room, err)
		}
		var out []draft
		for _, a := range rules.alerts(o, &ro, e.Time) {
			out = append(out, draft{id: rooms.OutboxDocumentID(room, e.Seq, rooms.DocAlert, a.Bidder), kind: rooms.DocAlert, payload: a, alert: true})
		}
		return out, nil
	}
	return nil, nil
}

// openingAt folds an opening room's events.
func openingAt(room string, events []rooms.Event) (*rooms.Opening, error) {
	st, err := rooms.NewState(room, events)
	if err != nil {
		return nil, err
	}
	o, ok := st.(*rooms.Opening)
	if !ok {
		return nil, fmt.Errorf("room %s is a %s, not an opening", room, st.Kind())
	}
	return o, nil
}

func summarize(o *rooms.Opening) *OpeningSummary {
	s := &OpeningSummary{Session: o.Room, Title: o.Session.Title, Section: o.Session.Section, Category: o.Session.Category,
		Deadline: o.Session.Deadline, OpenedAt: o.OpenedAt, Failure: o.Failure, ControlPrice: o.Session.ControlPrice, Rows: []rooms.ReadOutRow{}}
	if ro := o.ReadOut; ro != nil {
		s.Reserve, s.Budget, s.Rows, s.ReadOutDigest = ro.Reserve, ro.Budget, append(s.Rows, ro.Rows...), ro.Digest
		for i := range s.Rows { // the read-out's rows are shared with the state: copy what trim changes
			s.Rows[i].Sheet = cloneMap(s.Rows[i].Sheet)
		}
	}
	for _, id := range o.BidderOrder {
		if p := o.Bidders[id]; p != nil && p.Confirmation != nil {
			s.Confirmed++
		}
	}
	s.Objections = len(o.Objections)
	if o.Record != nil {
		s.Record = *o.Record
	}
	return s
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func results(room string, n rooms.NoticesIssued) *Results {
	r := &Results{Evaluation: room, IssuedAt: n.IssuedAt, KeyID: n.KeyID, Notices: []NoticeRef{}}
	for _, e := range n.Notices {
		r.Notices = append(r.Notices, NoticeRef{Bidder: e.Bidder, Kind: e.Kind, Digest: e.Digest, Signature: e.Signature, Notice: json.RawMessage(e.JSON)})
		var nt rooms.Notice
		if r.Winner == "" && json.Unmarshal([]byte(e.JSON), &nt) == nil {
			r.Opening, r.Title, r.Tenderer, r.Winner, r.WinnerName, r.Price = nt.Opening, nt.Title, nt.Tenderer, nt.Winner, nt.WinnerName, nt.Price
			r.ReportDigest, r.PublicityEnded = nt.ReportDigest, nt.PublicityEnded
		}
		if !json.Valid([]byte(e.JSON)) {
			r.Notices[len(r.Notices)-1].Notice = nil
		}
	}
	return r
}
