package rooms

import "github.com/bidroom/bidroom/rooms/scoring"

// EvaluationView is the evaluation room as one viewer may see it.
// Supervisors see everything; members see the committee, the bids, the
// criteria, their own sheets and, once every sheet is signed, the tally;
// the admin who runs the draw sees the committee's formation and nothing
// of the scoring.
type EvaluationView struct {
	Kind           string             `json:"kind"` // "evaluation"
	Room           string             `json:"room"`
	Title          string             `json:"title"`
	Opening        string             `json:"opening"`
	Tenderer       string             `json:"tenderer"`
	Venue          string             `json:"venue,omitempty"` // the main venue's center; members elsewhere sit at sub-venues
	Phase          EvalPhase          `json:"phase"`
	Size           int                `json:"size"`
	Bids           []EvalBid          `json:"bids,omitempty"`     // members, supervisors
	Criteria       *scoring.Criteria  `json:"criteria,omitempty"` // members, supervisors
	Committee      []Member           `json:"committee,omitempty"`
	Reserves       int                `json:"reserves_left"`
	Replaced       []Replacement      `json:"replaced,omitempty"`
	Draw           *DrawRecord        `json:"draw,omitempty"` // admin, supervisors
	Returns        []Returned         `json:"returns,omitempty"`
	Sheets         []SheetsRecord     `json:"sheets,omitempty"` // supervisors: all; a member: their own
	Tally          *Tally             `json:"tally,omitempty"`
	Report         *Report            `json:"report,omitempty"`        // the draft to sign, once tallied
	Digest         string             `json:"report_digest,omitempty"` // what members sign
	Signed         []ReportSignature  `json:"report_signatures,omitempty"`
	Completed      *CompletedReport   `json:"completed_report,omitempty"`
	Clarifications []Clarification    `json:"clarifications,omitempty"` // members, supervisors
	PlatformSig    *PlatformSignature `json:"platform_signature,omitempty"`
	Recordings     []Recording        `json:"recordings,omitempty"` // supervisors
	Results        *ResultsView       `json:"results,omitempty"`    // publicity, notices, conduct: see ResultsView
	You            *Member            `json:"you,omitempty"`
}

// View projects the evaluation for viewer.
func (v *Evaluation) View(viewer Actor) any {
	out := EvaluationView{Kind: KindEvaluation, Room: v.Room, Title: v.Spec.Title, Opening: v.Spec.Opening,
		Tenderer: v.Spec.Tenderer, Venue: v.Spec.Venue, Phase: v.Phase, Size: v.Spec.Size, Reserves: len(v.Reserves), Replaced: v.Replaced}
	for _, m := range v.Members {
		out.Committee = append(out.Committee, *m)
	}
	staff := viewer.Role == RoleSupervisor || viewer.Role == RoleSystem
	if staff || viewer.Role == RoleAdmin {
		out.Draw = v.Draw
	}
	if staff {
		out.Recordings = v.Recordings
	}
	out.Results = v.resultsView(viewer)
	if viewer.Role == RoleAdmin {
		// The formation only: who sits, who was replaced. Not how anyone votes or scores.
		for i := range out.Committee {
			out.Committee[i].VotedFor, out.Committee[i].Chair = "", false
		}
		return out
	}
	out.Bids, out.Criteria, out.Returns, out.Clarifications = v.Spec.Bids, &v.Spec.Criteria, v.Returns, v.Clarifications
	if staff || v.Tally != nil { // tallied, and every phase after
		out.Tally = v.Tally
		if r, digest, err := v.Report(); err == nil {
			out.Report, out.Digest = &r, digest
		}
		for _, m := range v.Members {
			if s := v.reportSigs[m.Expert]; s != nil {
				out.Signed = append(out.Signed, *s)
			}
		}
		out.Completed, out.PlatformSig = v.Completed, v.PlatformSig
	}
	for _, m := range v.Members {
		if rec := v.Sheets[m.Expert]; rec != nil && (staff || m.Expert == viewer.Sub) {
			out.Sheets = append(out.Sheets, *rec)
		}
		if m.Expert == viewer.Sub {
			cp := *m
			out.You = &cp
		}
	}
	if viewer.Role == RoleExpert {
		// Members see who voted, not for whom, until the chair is elected.
		for i := range out.Committee {
			if out.Committee[i].Expert != viewer.Sub {
				out.Committee[i].VotedFor = ""
			}
		}
	}
	return out
}
