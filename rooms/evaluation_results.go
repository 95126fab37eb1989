package rooms

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tjfoc/gmsm/sm3"
)

// The results of an evaluation (R23, R24): once the platform signed the
// report, the admin publishes its candidates (中标候选人公示) for 3-30
// days; bidders of the opening raise objections (异议) during it, which
// the admin answers within 3 days; a timer closes the publicity; then the
// server issues, at one moment, the award notice (中标通知书) to the first
// candidate and a result notice (中标结果通知书) to every other bidder,
// each a canonical JSON document signed by the platform. Bidders never
// enter the room: the publicity and their notices reach them over REST.
// Expert conduct and violations (R25) are in evaluation_conduct.go.

// The phases after the report.
const (
	EvalPublicity       EvalPhase = "publicity"        // candidates published; objections may be raised
	EvalPublicityClosed EvalPhase = "closed_publicity" // the publicity ended
	EvalNotified        EvalPhase = "notified"         // award and result notices issued
)

// Commands and events of the results.
const (
	CmdPublishCandidates     = "publish_candidates"
	CmdRecordResultObjection = "record_result_objection" // the server, for a bidder who objected over REST
	CmdAnswerResultObjection = "answer_result_objection"
	CmdClosePublicity        = "close_publicity" // the timer, at the publicity's end
	CmdRecordNotices         = "record_notices"  // the server, with the platform-signed notices

	EvCandidatesPublished     = "candidates_published"
	EvResultObjectionRaised   = "result_objection_raised"
	EvResultObjectionAnswered = "result_objection_answered"
	EvPublicityClosed         = "publicity_closed"
	EvNoticesIssued           = "notices_issued"
)

// Bounds and periods of the results.
const (
	MinPublicityDays             = 3 // R23: at least 3 days
	MaxPublicityDays             = 30
	ObjectionAnswerDays          = 3 // R23: an objection is answered within 3 days
	maxResultText                = 2000
	maxResultObjections          = 100
	maxResultObjectionsPerBidder = 10
	noticeClockSlack             = 10 * time.Minute // how far issued_at may be from the server's clock
	maxNoticesBytes              = MaxEventBytes - 16<<10
)

// The kinds of notice.
const (
	NoticeAward  = "award"  // 中标通知书, to the first candidate
	NoticeResult = "result" // 中标结果通知书, to every other bidder
)

// NoticeVersion names the notice document format.
const NoticeVersion = "bidroom-notice-v1"

// PublishRequest is the data of publish_candidates.
type PublishRequest struct {
	Days int    `json:"days"`
	Note string `json:"note,omitempty"`
}

// Publicity is the data of candidates_published: the candidates of the
// completed report (at most 3) and the period. It is public information.
type Publicity struct {
	Evaluation   string      `json:"evaluation"`
	Title        string      `json:"title"`
	Tenderer     string      `json:"tenderer"`
	Opening      string      `json:"opening"`
	Candidates   []Candidate `json:"candidates"`
	Days         int         `json:"days"`
	Note         string      `json:"note,omitempty"`
	StartsAt     time.Time   `json:"starts_at"`
	EndsAt       time.Time   `json:"ends_at"`
	ReportDigest string      `json:"report_digest"` // the report every member signed
}

// ObjectionRequest is the data of record_result_objection: the server
// names the opening the bidder's token is for.
type ObjectionRequest struct {
	Opening string `json:"opening"`
	Bidder  string `json:"bidder"`
	Text    string `json:"text"`
}

// ResultObjection is one objection to the result and, once given, the
// answer. Raised is the data of result_objection_raised without the answer.
type ResultObjection struct {
	ID         string    `json:"id"`
	Bidder     string    `json:"bidder"`
	Text       string    `json:"text"`
	RaisedAt   time.Time `json:"raised_at,omitzero"`
	DueAt      time.Time `json:"due_at"` // the answer is due (R23)
	Answer     string    `json:"answer,omitempty"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	Late       bool      `json:"late,omitempty"` // answered after due_at
	Seq        uint64    `json:"-"`              // the event that raised it
}

// ResultObjectionAnswer is the data of answer_result_objection and
// result_objection_answered.
type ResultObjectionAnswer struct {
	ID         string    `json:"id"`
	Answer     string    `json:"answer"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	Late       bool      `json:"late,omitempty"`
}

// PublicityClosed is the data of publicity_closed.
type PublicityClosed struct {
	EndsAt     time.Time `json:"ends_at"`
	Objections int       `json:"objections"`
	Unanswered int       `json:"unanswered"`
}

// Notice is the document a bidder receives: an award notice to the first
// candidate, a result notice to every other bidder, both naming the winner
// and the price (R24). Its JSON encoding (Go's, fields in this order) is
// what the platform signs.
type Notice struct {
	Version        string    `json:"version"` // NoticeVersion
	Kind           string    `json:"kind"`    // NoticeAward or NoticeResult
	Evaluation     string    `json:"evaluation"`
	Opening        string    `json:"opening"`
	Title          string    `json:"title"`
	Tenderer       string    `json:"tenderer"`
	Bidder         string    `json:"bidder"`
	BidderName     string    `json:"bidder_name"`
	Winner         string    `json:"winner"`
	WinnerName     string    `json:"winner_name"`
	Price          string    `json:"price"` // 中标价, yuan, as read out
	ReportDigest   string    `json:"report_digest"`
	PublicityEnded time.Time `json:"publicity_ended"`
	IssuedAt       time.Time `json:"issued_at"`
}

// NoticeEntry is one bidder's notice as notices_issued records it: the
// exact JSON text, its SM3 digest and the platform's signature over
// NoticeMessage of it.
type NoticeEntry struct {
	Bidder    string `json:"bidder"`
	Kind      string `json:"kind"`
	JSON      string `json:"json"`
	Digest    string `json:"digest"`    // SM3 of JSON, hex
	Signature string `json:"signature"` // SM2, base64 DER
}

// NoticesIssued is the data of record_notices and notices_issued: every
// bid's notice, issued at one moment under one platform key.
type NoticesIssued struct {
	IssuedAt time.Time     `json:"issued_at"`
	Notices  []NoticeEntry `json:"notices"`
	KeyID    string        `json:"key_id"`
}

// NoticeMessage is what the platform signs for a notice of evaluation room.
func NoticeMessage(room, noticeJSON string) []byte {
	return []byte("bidroom-notice-platform-v1\n" + room + "\n" + noticeJSON)
}

// Results is what an evaluation decided after its report: publicity,
// objections, notices, ratings and violations.
type Results struct {
	Publicity  *Publicity
	ClosedAt   time.Time
	Objections []ResultObjection
	Notices    *NoticesIssued
	Ratings    []Rating    // every rating in order; the latest per rater and member counts
	Violations []Violation // in order
	Sanctions  []SanctionResult
}

func (v *Evaluation) decideResults(actor Actor, cmd Command, now time.Time) ([]Draft, bool, error) {
	var (
		drafts []Draft
		err    error
	)
	switch cmd.Type {
	case CmdPublishCandidates:
		drafts, err = v.publishCandidates(actor, cmd, now)
	case CmdRecordResultObjection:
		drafts, err = v.recordResultObjection(actor, cmd, now)
	case CmdAnswerResultObjection:
		drafts, err = v.answerResultObjection(actor, cmd, now)
	case CmdClosePublicity:
		drafts, err = v.closePublicity(actor, now)
	case CmdRecordNotices:
		drafts, err = v.recordNotices(actor, cmd, now)
	case CmdRateExpert:
		drafts, err = v.rateExpert(actor, cmd)
	case CmdRecordHostRating:
		drafts, err = v.recordHostRating(actor, cmd)
	case CmdNoteExpertViolation:
		drafts, err = v.noteViolation(actor, cmd, now)
	case CmdRecordSanctions:
		drafts, err = v.recordSanctions(actor, cmd)
	default:
		return nil, false, nil
	}
	return drafts, true, err
}

func (v *Evaluation) publishCandidates(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "publish the candidates", RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	if p := v.Results.Publicity; p != nil {
		return nil, refuse(CodeWrongState, "the candidates were published at %s", p.StartsAt.Format(time.RFC3339))
	}
	if v.Completed == nil || v.PlatformSig == nil {
		return nil, refuse(CodeWrongState, "the candidates are published once every member and the platform signed the report (it is %s)", v.Phase)
	}
	var in PublishRequest
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	if in.Days < MinPublicityDays || in.Days > MaxPublicityDays {
		return nil, refuse(CodeInvalid, "days must be %d-%d (R23: the publicity lasts at least %d days), got %d", MinPublicityDays, MaxPublicityDays, MinPublicityDays, in.Days)
	}
	if in.Note != "" {
		if err := checkText("note", in.Note, maxResultText); err != nil {
			return nil, err
		}
	}
	cands := v.Completed.Report.Candidates
	if len(cands) == 0 {
		return nil, refuse(CodeWrongState, "the report names no candidate: there is nothing to publish")
	}
	start := now.UTC().Truncate(time.Second)
	p := Publicity{Evaluation: v.Room, Title: v.Spec.Title, Tenderer: v.Spec.Tenderer, Opening: v.Spec.Opening,
		Candidates: cands[:min(len(cands), MaxCandidates)], Days: in.Days, Note: in.Note,
		StartsAt: start, EndsAt: start.Add(time.Duration(in.Days) * 24 * time.Hour), ReportDigest: v.Completed.Digest}
	return []Draft{{Type: EvCandidatesPublished, Vis: v.formationAndCommitteeVis(), Data: p}}, nil
}

func (v *Evaluation) recordResultObjection(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "record a bidder's objection", RoleSystem); err != nil {
		return nil, err
	}
	var in ObjectionRequest
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	p := v.Results.Publicity
	if p == nil || in.Opening != v.Spec.Opening {
		return nil, refuse(CodeNotFound, "no publicity of evaluation %s for opening %s", v.Room, in.Opening)
	}
	if !ValidID(in.Bidder) {
		return nil, refuse(CodeInvalid, "bidder must be the id of a bidder of the opening")
	}
	if v.Phase != EvalPublicity || !now.Before(p.EndsAt) {
		return nil, refuse(CodeWrongState, "the publicity of %s ended at %s: objections are raised while it runs (R23)", v.Room, p.EndsAt.Format(time.RFC3339))
	}
	if err := checkText("text", in.Text, maxResultText); err != nil {
		return nil, err
	}
	if len(v.Results.Objections) >= maxResultObjections {
		return nil, refuse(CodeInvalid, "at most %d objections per evaluation", maxResultObjections)
	}
	mine := 0
	for _, o := range v.Results.Objections {
		if o.Bidder == in.Bidder {
			mine++
		}
	}
	if mine >= maxResultObjectionsPerBidder {
		return nil, refuse(CodeInvalid, "at most %d objections per bidder", maxResultObjectionsPerBidder)
	}
	o := ResultObjection{ID: fmt.Sprintf("o%d", len(v.Results.Objections)+1), Bidder: in.Bidder, Text: in.Text,
		DueAt: now.UTC().Truncate(time.Second).Add(ObjectionAnswerDays * 24 * time.Hour)}
	return []Draft{{Type: EvResultObjectionRaised, Vis: v.formationAndCommitteeVis(), Data: o}}, nil
}

func (v *Evaluation) answerResultObjection(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "answer an objection to the result", RoleAdmin, RoleSystem); err != nil {
		return nil, err
	}
	if v.Phase != EvalPublicity && v.Phase != EvalPublicityClosed {
		return nil, refuse(CodeWrongState, "objections to the result are answered during and after the publicity, before the notices (it is %s)", v.Phase)
	}
	var in ResultObjectionAnswer
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(v.Results.Objections, func(o ResultObjection) bool { return o.ID == in.ID })
	if i < 0 {
		return nil, refuse(CodeNotFound, "no objection %q to the result of %s", in.ID, v.Room)
	}
	o := v.Results.Objections[i]
	if o.Answer != "" {
		return nil, refuse(CodeWrongState, "objection %s was answered at %s", o.ID, o.AnsweredAt.Format(time.RFC3339))
	}
	if err := checkText("answer", in.Answer, maxResultText); err != nil {
		return nil, err
	}
	in.AnsweredAt = now.UTC().Truncate(time.Second)
	in.Late = now.After(o.DueAt)
	return []Draft{{Type: EvResultObjectionAnswered, Vis: v.formationAndCommitteeVis(), Data: in}}, nil
}

func (v *Evaluation) closePublicity(actor Actor, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "close the publicity", RoleSystem); err != nil {
		return nil, err
	}
	p := v.Results.Publicity
	if v.Phase != EvalPublicity || p == nil {
		return nil, refuse(CodeWrongState, "no publicity is running (it is %s)", v.Phase)
	}
	if now.Before(p.EndsAt) {
		return nil, refuse(CodeTooEarly, "the publicity runs until %s", p.EndsAt.Format(time.RFC3339))
	}
	c := PublicityClosed{EndsAt: p.EndsAt, Objections: len(v.Results.Objections), Unanswered: len(v.unansweredObjections())}
	return []Draft{{Type: EvPublicityClosed, Vis: v.formationAndCommitteeVis(), Data: c}}, nil
}

// unansweredObjections lists the ids of the objections not yet answered.
func (v *Evaluation) unansweredObjections() []string {
	var ids []string
	for _, o := range v.Results.Objections {
		if o.Answer == "" {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// NoticesReady refuses (as a *Refusal) notices before the publicity
// closed, while an objection is unanswered, after they were issued, or
// when the report names no winner.
func (v *Evaluation) NoticesReady() error {
	if v.Results.Notices != nil {
		return refuse(CodeWrongState, "the notices were issued at %s", v.Results.Notices.IssuedAt.Format(time.RFC3339))
	}
	if v.Phase != EvalPublicityClosed {
		return refuse(CodeWrongState, "the notices are issued once the candidates' publicity has closed (it is %s)", v.Phase)
	}
	if ids := v.unansweredObjections(); len(ids) > 0 {
		return refuse(CodeWrongState, "objection %s is not answered yet: answer every objection before the notices (R23)", strings.Join(ids, ", "))
	}
	return nil
}

// BuildNotices returns every bid's notice issued at issuedAt, unsigned:
// the award notice to the first candidate of the completed report, a
// result notice to every other bid, in the order of the bids.
func (v *Evaluation) BuildNotices(issuedAt time.Time) ([]NoticeEntry, error) {
	if v.Completed == nil || len(v.Completed.Report.Candidates) == 0 || v.Results.Publicity == nil {
		return nil, refuse(CodeWrongState, "the report names no winner: no notice can be issued")
	}
	w := v.Completed.Report.Candidates[0]
	out := make([]NoticeEntry, 0, len(v.Spec.Bids))
	size := 0
	for _, b := range v.Spec.Bids {
		n := Notice{Version: NoticeVersion, Kind: NoticeResult, Evaluation: v.Room, Opening: v.Spec.Opening, Title: v.Spec.Title,
			Tenderer: v.Spec.Tenderer, Bidder: b.Bidder, BidderName: b.Name, Winner: w.Bidder, WinnerName: w.Name, Price: w.Price,
			ReportDigest: v.Completed.Digest, PublicityEnded: v.Results.Publicity.EndsAt, IssuedAt: issuedAt.UTC()}
		if b.Bidder == w.Bidder {
			n.Kind = NoticeAward
		}
		text, err := json.Marshal(n)
		if err != nil {
			return nil, fmt.Errorf("encode the notice to %s: %w", b.Bidder, err)
		}
		e := NoticeEntry{Bidder: b.Bidder, Kind: n.Kind, JSON: string(text), Digest: hex.EncodeToString(sm3.Sm3Sum(text))}
		enc, _ := json.Marshal(e)
		size += len(enc) + 120 // the signature to come
		out = append(out, e)
	}
	if size > maxNoticesBytes {
		return nil, refuse(CodeInvalid, "the %d notices of %s would take %d KiB, more than one event holds (%d KiB)", len(out), v.Room, size>>10, maxNoticesBytes>>10)
	}
	return out, nil
}

func (v *Evaluation) recordNotices(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "record the notices", RoleSystem); err != nil {
		return nil, err
	}
	if err := v.NoticesReady(); err != nil {
		return nil, err
	}
	var in NoticesIssued
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	if d := now.Sub(in.IssuedAt); d > noticeClockSlack || d < -noticeClockSlack || in.IssuedAt.Before(v.Results.ClosedAt.Truncate(time.Second)) {
		return nil, refuse(CodeInvalid, "issued_at %s is not the server's time", in.IssuedAt.Format(time.RFC3339))
	}
	if kid, err := hex.DecodeString(in.KeyID); err != nil || len(kid) != 32 {
		return nil, refuse(CodeInvalid, "key_id must be the platform key's id (64 hex digits)")
	}
	want, err := v.BuildNotices(in.IssuedAt)
	if err != nil {
		return nil, err
	}
	if len(in.Notices) != len(want) {
		return nil, refuse(CodeInvalid, "%d notices for %d bids", len(in.Notices), len(want))
	}
	for i, n := range in.Notices {
		w := want[i]
		if n.Bidder != w.Bidder || n.Kind != w.Kind || n.JSON != w.JSON || n.Digest != w.Digest {
			return nil, refuse(CodeInvalid, "the notice to %s is not the one the room gives", n.Bidder)
		}
		if sig, err := base64.StdEncoding.DecodeString(n.Signature); err != nil || len(sig) == 0 || len(sig) > 256 {
			return nil, refuse(CodeInvalid, "the notice to %s: signature must be a base64 DER SM2 signature", n.Bidder)
		}
	}
	in.IssuedAt = in.IssuedAt.UTC()
	return []Draft{{Type: EvNoticesIssued, Vis: v.formationAndCommitteeVis(), Data: in}}, nil
}

// applyResults folds the results' events.
func (v *Evaluation) applyResults(e Event) (bool, error) {
	data := func(x any) error { return json.Unmarshal(e.Data, x) }
	r := &v.Results
	switch e.Type {
	case EvCandidatesPublished:
		var p Publicity
		if err := data(&p); err != nil {
			return true, err
		}
		r.Publicity, v.Phase = &p, EvalPublicity
	case EvResultObjectionRaised:
		var o ResultObjection
		if err := data(&o); err != nil {
			return true, err
		}
		o.RaisedAt, o.Seq = e.Time, e.Seq
		r.Objections = append(r.Objections, o)
	case EvResultObjectionAnswered:
		var a ResultObjectionAnswer
		if err := data(&a); err != nil {
			return true, err
		}
		for i := range r.Objections {
			if o := &r.Objections[i]; o.ID == a.ID {
				o.Answer, o.AnsweredAt, o.Late = a.Answer, a.AnsweredAt, a.Late
			}
		}
	case EvPublicityClosed:
		r.ClosedAt, v.Phase = e.Time, EvalPublicityClosed
	case EvNoticesIssued:
		var n NoticesIssued
		if err := data(&n); err != nil {
			return true, err
		}
		r.Notices, v.Phase = &n, EvalNotified
	default:
		return v.applyConduct(e, data)
	}
	return true, nil
}

// resultsTimer is the evaluation's next timer: violations and poor
// ratings waiting to reach the pool (due at once), then the publicity's
// end.
func (v *Evaluation) resultsTimer() (time.Time, string, bool) {
	if s := v.PendingSanctions(); len(s) > 0 {
		// The scheduler names a timer's command by its time: the seq in the
		// nanoseconds (event times stop at microseconds; taken off, so the
		// timer is due at once) keeps two batches noted in the same
		// microsecond from sharing a command id.
		return s[0].At.Add(-time.Duration(s[0].Seq % 1000)), CmdRecordSanctions, true
	}
	if v.Phase == EvalPublicity && v.Results.Publicity != nil {
		return v.Results.Publicity.EndsAt, CmdClosePublicity, true
	}
	return time.Time{}, "", false
}

// ResultsView is what the view shows of the results, to whom may see it:
// publicity, objections and notices to the admin, the committee and the
// supervisors; ratings and violations to the supervisors and to the
// expert they concern; what reached the pool to the supervisors.
type ResultsView struct {
	Publicity  *Publicity        `json:"publicity,omitempty"`
	ClosedAt   time.Time         `json:"publicity_closed_at,omitzero"`
	Objections []ResultObjection `json:"objections,omitempty"`
	Notices    *NoticesSummary   `json:"notices,omitempty"`
	Ratings    []Rating          `json:"ratings,omitempty"` // the latest per rater and member
	Violations []Violation       `json:"violations,omitempty"`
	Pending    int               `json:"sanctions_pending,omitempty"`
	Sanctions  []SanctionResult  `json:"sanctions,omitempty"`
}

// NoticesSummary lists the issued notices without their texts and
// signatures (bidders fetch their own over REST), to keep views small.
type NoticesSummary struct {
	IssuedAt time.Time      `json:"issued_at"`
	KeyID    string         `json:"key_id"`
	Notices  []NoticeDigest `json:"notices"`
}

// NoticeDigest is one notice by digest.
type NoticeDigest struct {
	Bidder string `json:"bidder"`
	Kind   string `json:"kind"`
	Digest string `json:"digest"`
}

// resultsView projects the results for viewer; nil when there is nothing
// for them.
func (v *Evaluation) resultsView(viewer Actor) *ResultsView {
	r := &v.Results
	out := &ResultsView{}
	inside := viewer.Role == RoleAdmin || viewer.Role == RoleSupervisor || viewer.Role == RoleSystem ||
		(viewer.Role == RoleExpert && v.member(viewer.Sub) != nil)
	if inside {
		out.Publicity, out.ClosedAt, out.Objections = r.Publicity, r.ClosedAt, r.Objections
		if n := r.Notices; n != nil {
			out.Notices = &NoticesSummary{IssuedAt: n.IssuedAt, KeyID: n.KeyID, Notices: make([]NoticeDigest, 0, len(n.Notices))}
			for _, e := range n.Notices {
				out.Notices.Notices = append(out.Notices.Notices, NoticeDigest{Bidder: e.Bidder, Kind: e.Kind, Digest: e.Digest})
			}
		}
	}
	staff := viewer.Role == RoleSupervisor || viewer.Role == RoleSystem
	for _, x := range v.latestRatings() {
		if staff || (viewer.Role == RoleExpert && x.Expert == viewer.Sub) {
			out.Ratings = append(out.Ratings, x)
		}
	}
	for _, x := range r.Violations {
		if staff || (viewer.Role == RoleExpert && x.Expert == viewer.Sub) {
			out.Violations = append(out.Violations, x)
		}
	}
	if staff {
		out.Pending, out.Sanctions = len(v.PendingSanctions()), r.Sanctions
	}
	if out.Publicity == nil && out.Objections == nil && out.Notices == nil && out.Ratings == nil && out.Violations == nil && out.Sanctions == nil && out.Pending == 0 {
		return nil
	}
	return out
}
