package rooms

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Expert conduct (R25): once the report is complete, each supervisor (in
// the room) and the opening's host (over REST, recorded by the server)
// rate every member good, fair or poor; supervisors note violations at any
// time after the start, with points deducted and an optional suspension.
// The room records them; the server then carries the credit deductions and
// suspensions over to the pool (the scheduler fires record_sanctions_applied
// with what the pool did, see Service.ApplySanctions), where the next draw
// honours them (min_credit, suspension).

// Commands and events of expert conduct.
const (
	CmdRateExpert          = "rate_expert"
	CmdRecordHostRating    = "record_host_rating" // the server, for the opening's host over REST
	CmdNoteExpertViolation = "note_expert_violation"
	CmdRecordSanctions     = "record_sanctions_applied" // the server, once the pool carried them out

	EvExpertRated          = "expert_rated"
	EvExpertViolationNoted = "expert_violation_noted"
	EvSanctionsApplied     = "sanctions_applied"
)

// Conduct ratings.
const (
	ConductGood = "good"
	ConductFair = "fair"
	ConductPoor = "poor"
)

// PoorConductCredit is how many credit points a "poor" rating deducts
// from the expert in the pool (per rating; a rating replaced by a better
// one gives them back). It is configured here, for every center: change
// it (and docs/evaluation.md) when the center's credit rules say otherwise.
const PoorConductCredit = 5

// Bounds of conduct records.
const (
	maxRatings       = 500 // rating events per evaluation (replacements count)
	maxViolations    = 100
	maxSuspendDays   = 3650
	maxConductNote   = 500
	maxViolationText = 1000
)

// RatingRequest is the data of rate_expert.
type RatingRequest struct {
	Expert  string `json:"expert"`
	Conduct string `json:"conduct"`
	Note    string `json:"note,omitempty"`
}

// HostRating is the data of record_host_rating: the server names the
// opening and the host its token is for.
type HostRating struct {
	Opening string `json:"opening"`
	Host    string `json:"host"`
	RatingRequest
}

// Rating is the data of expert_rated. A rater's second rating of a member
// replaces the first (Replaces names it).
type Rating struct {
	ID          string    `json:"id"`
	Expert      string    `json:"expert"`
	ByRole      Role      `json:"by_role"`
	By          string    `json:"by"`
	Conduct     string    `json:"conduct"`
	Note        string    `json:"note,omitempty"`
	CreditDelta int       `json:"credit_delta,omitempty"` // what this rating changes in the pool's credit
	Replaces    string    `json:"replaces,omitempty"`
	At          time.Time `json:"at,omitzero"` // the event's time (views)
	Seq         uint64    `json:"-"`
}

// ViolationRequest is the data of note_expert_violation.
type ViolationRequest struct {
	Expert      string `json:"expert"`
	Points      int    `json:"points"`       // credit points deducted, 1-100
	SuspendDays int    `json:"suspend_days"` // 0-3650; 0: no suspension
	Reason      string `json:"reason"`
}

// Violation is the data of expert_violation_noted.
type Violation struct {
	ID string `json:"id"`
	ViolationRequest
	Until time.Time `json:"until,omitzero"` // suspended until (from the note's time)
	By    string    `json:"by"`
	Pool  bool      `json:"pool"`        // false for a tenderer's representative: recorded here only
	At    time.Time `json:"at,omitzero"` // the event's time (views)
	Seq   uint64    `json:"-"`
}

// Sanction is what a violation or a rating asks of the pool.
type Sanction struct {
	ID     string    // the rating's or violation's id
	Expert string    // the pool expert
	Credit int       // points added (negative: deducted); 0 for none
	Until  time.Time // suspended until; zero for none
	Reason string    // for the pool's record
	At     time.Time // when it was noted
	Seq    uint64
}

// SanctionResult is what the pool did for one sanction.
type SanctionResult struct {
	ID             string    `json:"id"`
	Expert         string    `json:"expert"`
	Credit         int       `json:"credit,omitempty"` // points applied
	SuspendedUntil time.Time `json:"suspended_until,omitzero"`
	Note           string    `json:"note,omitempty"` // what was not applied, and why
}

// SanctionsApplied is the data of record_sanctions_applied and
// sanctions_applied.
type SanctionsApplied struct {
	Pool    string           `json:"pool"`
	Results []SanctionResult `json:"results"`
}

func conductCredit(conduct string) int {
	if conduct == ConductPoor {
		return -PoorConductCredit
	}
	return 0
}

func (v *Evaluation) rateExpert(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "rate the experts' conduct in the room (the host rates over REST)", RoleSupervisor); err != nil {
		return nil, err
	}
	var in RatingRequest
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	return v.rate(RoleSupervisor, actor.Sub, in)
}

func (v *Evaluation) recordHostRating(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "record the host's rating", RoleSystem); err != nil {
		return nil, err
	}
	var in HostRating
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	if in.Opening != v.Spec.Opening {
		return nil, refuse(CodeNotFound, "evaluation %s is not of opening %s", v.Room, in.Opening)
	}
	if !ValidID(in.Host) {
		return nil, refuse(CodeInvalid, "host must be the host's id")
	}
	return v.rate(RoleHost, in.Host, in.RatingRequest)
}

func (v *Evaluation) rate(role Role, by string, in RatingRequest) ([]Draft, error) {
	if v.Completed == nil {
		return nil, refuse(CodeWrongState, "the experts are rated once the report is complete (it is %s)", v.Phase)
	}
	m := v.member(in.Expert)
	if m == nil {
		return nil, refuse(CodeNotFound, "%q is not on the committee", in.Expert)
	}
	switch in.Conduct {
	case ConductGood, ConductFair:
		if in.Note != "" {
			if err := checkText("note", in.Note, maxConductNote); err != nil {
				return nil, err
			}
		}
	case ConductPoor:
		if err := checkText("note (why the conduct was poor)", in.Note, maxConductNote); err != nil {
			return nil, err
		}
	default:
		return nil, refuse(CodeInvalid, "conduct must be good, fair or poor, got %q", in.Conduct)
	}
	if len(v.Results.Ratings) >= maxRatings {
		return nil, refuse(CodeInvalid, "at most %d ratings per evaluation", maxRatings)
	}
	r := Rating{ID: fmt.Sprintf("r%d", len(v.Results.Ratings)+1), Expert: m.Expert, ByRole: role, By: by, Conduct: in.Conduct, Note: in.Note}
	prev := ""
	for _, o := range slices.Backward(v.Results.Ratings) {
		if o.Expert == m.Expert && o.ByRole == role && o.By == by {
			r.Replaces, prev = o.ID, o.Conduct
			break
		}
	}
	if m.Specialty != SpecialtyTendererRep { // a representative is not in the pool
		r.CreditDelta = conductCredit(in.Conduct) - conductCredit(prev)
	}
	return []Draft{{Type: EvExpertRated, Vis: conductVis(m.Expert), Data: r}}, nil
}

// conductVis: the supervisors and the expert concerned.
func conductVis(expert string) Visibility {
	return Visibility{Roles: []Role{RoleSupervisor}, Subjects: []string{expert}}
}

// sat reports whether expert sat on the committee (now, or before being
// replaced) and whether they are a pool expert.
func (v *Evaluation) sat(expert string) (sat, pool bool) {
	if m := v.member(expert); m != nil {
		return true, m.Specialty != SpecialtyTendererRep
	}
	if slices.ContainsFunc(v.Replaced, func(r Replacement) bool { return r.Out == expert }) {
		return true, true // representatives are never replaced from the reserves
	}
	return false, false
}

func (v *Evaluation) noteViolation(actor Actor, cmd Command, now time.Time) ([]Draft, error) {
	if err := requireRole(actor, "note an expert's violation", RoleSupervisor); err != nil {
		return nil, err
	}
	if v.Phase == EvalDrawing || v.Phase == EvalFormed {
		return nil, refuse(CodeWrongState, "violations are noted once the evaluation has started")
	}
	var in ViolationRequest
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	sat, pool := v.sat(in.Expert)
	if !sat {
		return nil, refuse(CodeNotFound, "%q did not sit on the committee", in.Expert)
	}
	if in.Points < 1 || in.Points > 100 {
		return nil, refuse(CodeInvalid, "points must be 1-100, got %d", in.Points)
	}
	if in.SuspendDays < 0 || in.SuspendDays > maxSuspendDays {
		return nil, refuse(CodeInvalid, "suspend_days must be 0-%d, got %d", maxSuspendDays, in.SuspendDays)
	}
	if err := checkText("reason", in.Reason, maxViolationText); err != nil {
		return nil, err
	}
	if len(v.Results.Violations) >= maxViolations {
		return nil, refuse(CodeInvalid, "at most %d violations per evaluation", maxViolations)
	}
	x := Violation{ID: fmt.Sprintf("v%d", len(v.Results.Violations)+1), ViolationRequest: in, By: actor.Sub, Pool: pool}
	if in.SuspendDays > 0 {
		x.Until = now.UTC().Truncate(time.Second).Add(time.Duration(in.SuspendDays) * 24 * time.Hour)
	}
	return []Draft{{Type: EvExpertViolationNoted, Vis: conductVis(in.Expert), Data: x}}, nil
}

// PendingSanctions lists, in the order noted, the violations and ratings
// whose credit change or suspension has not reached the pool yet.
func (v *Evaluation) PendingSanctions() []Sanction {
	r := &v.Results
	done := map[string]bool{}
	for _, s := range r.Sanctions {
		done[s.ID] = true
	}
	var out []Sanction
	for _, x := range r.Violations {
		if x.Pool && !done[x.ID] {
			out = append(out, Sanction{ID: x.ID, Expert: x.Expert, Credit: -x.Points, Until: x.Until, At: x.At, Seq: x.Seq,
				Reason: clip(fmt.Sprintf("评标 %s 违规记录 %s（监督 %s）：%s", v.Room, x.ID, x.By, x.Reason), 500)})
		}
	}
	for _, x := range r.Ratings {
		if x.CreditDelta != 0 && !done[x.ID] {
			out = append(out, Sanction{ID: x.ID, Expert: x.Expert, Credit: x.CreditDelta, At: x.At, Seq: x.Seq,
				Reason: clip(fmt.Sprintf("评标 %s 履职评价 %s：%s（%s %s）%s", v.Room, x.ID, x.Conduct, x.ByRole, x.By, x.Note), 500)})
		}
	}
	slices.SortFunc(out, func(a, b Sanction) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// clip cuts s to at most n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

func (v *Evaluation) recordSanctions(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "record what the pool did", RoleSystem); err != nil {
		return nil, err
	}
	var in SanctionsApplied
	if err := decodeData(cmd.Data, &in); err != nil {
		return nil, err
	}
	if !ValidID(in.Pool) || len(in.Results) == 0 || len(in.Results) > maxViolations+maxRatings {
		return nil, refuse(CodeInvalid, "name the pool and 1-%d results", maxViolations+maxRatings)
	}
	pending := map[string]Sanction{}
	for _, s := range v.PendingSanctions() {
		pending[s.ID] = s
	}
	seen := map[string]bool{}
	var keep []SanctionResult
	for _, res := range in.Results {
		if seen[res.ID] {
			return nil, refuse(CodeInvalid, "sanction %s is listed twice", res.ID)
		}
		seen[res.ID] = true
		s, ok := pending[res.ID]
		switch {
		case ok && s.Expert == res.Expert:
			keep = append(keep, res)
		case ok:
			return nil, refuse(CodeInvalid, "sanction %s concerns %s, not %s", res.ID, s.Expert, res.Expert)
		case !v.knownSanction(res.ID):
			return nil, refuse(CodeNotFound, "no violation or rating %s", res.ID)
		}
		// Recorded already (another instance was first): nothing to add.
	}
	if len(keep) == 0 {
		return nil, nil
	}
	in.Results = keep
	return []Draft{{Type: EvSanctionsApplied, Vis: Visibility{Roles: []Role{RoleSupervisor}}, Data: in}}, nil
}

func (v *Evaluation) knownSanction(id string) bool {
	return slices.ContainsFunc(v.Results.Violations, func(x Violation) bool { return x.ID == id }) ||
		slices.ContainsFunc(v.Results.Ratings, func(x Rating) bool { return x.ID == id })
}

// applyConduct folds the conduct events.
func (v *Evaluation) applyConduct(e Event, data func(any) error) (bool, error) {
	r := &v.Results
	switch e.Type {
	case EvExpertRated:
		var x Rating
		if err := data(&x); err != nil {
			return true, err
		}
		x.At, x.Seq = e.Time, e.Seq
		r.Ratings = append(r.Ratings, x)
	case EvExpertViolationNoted:
		var x Violation
		if err := data(&x); err != nil {
			return true, err
		}
		x.At, x.Seq = e.Time, e.Seq
		r.Violations = append(r.Violations, x)
	case EvSanctionsApplied:
		var x SanctionsApplied
		if err := data(&x); err != nil {
			return true, err
		}
		r.Sanctions = append(r.Sanctions, x.Results...)
	default:
		return false, nil
	}
	return true, nil
}

// latestRatings is each rater's latest rating of each member, in the order
// they were given.
func (v *Evaluation) latestRatings() []Rating {
	replaced := map[string]bool{}
	for _, x := range v.Results.Ratings {
		if x.Replaces != "" {
			replaced[x.Replaces] = true
		}
	}
	var out []Rating
	for _, x := range v.Results.Ratings {
		if !replaced[x.ID] {
			out = append(out, x)
		}
	}
	return out
}
