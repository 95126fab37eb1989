package rooms

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/rooms/scoring"
)

// The evaluation report (评标报告, R23): generated from the room's state
// once every sheet is signed, signed by every member (a member who
// disagrees signs with their dissent in writing), naming at most three
// ranked candidates.

// EvalReported is the phase once every member has signed the report.
const EvalReported EvalPhase = "reported"

// Commands and events of the report.
const (
	CmdSignReport     = "sign_report"
	EvReportSigned    = "report_signed"
	EvReportCompleted = "report_completed"
)

// MaxCandidates is how many ranked candidates a report names (R23).
const MaxCandidates = 3

// Report is the evaluation report's content; members sign its digest.
type Report struct {
	Room           string            `json:"room"`
	Title          string            `json:"title"`
	Opening        string            `json:"opening"`
	OpeningHash    string            `json:"opening_hash"`
	Tenderer       string            `json:"tenderer"`
	DrawSeed       string            `json:"draw_seed"`
	EligibleDigest string            `json:"eligible_digest"`
	Committee      []ReportMember    `json:"committee"`
	Replaced       []Replacement     `json:"replaced,omitempty"`
	Criteria       scoring.Criteria  `json:"criteria"`
	Results        []scoring.Result  `json:"results"`
	Outliers       []scoring.Outlier `json:"outliers,omitempty"`
	Returns        []Returned        `json:"returns,omitempty"`
	Sheets         []SheetDigest     `json:"sheets"`
	Candidates     []Candidate       `json:"candidates"`
}

// ReportMember is one member as the report names them.
type ReportMember struct {
	Expert    string `json:"expert"`
	Name      string `json:"name"`
	Specialty string `json:"specialty"`
	Chair     bool   `json:"chair,omitempty"`
}

// SheetDigest is one member's signed sheets, by digest.
type SheetDigest struct {
	Expert string `json:"expert"`
	Digest string `json:"digest"`
	KeyID  string `json:"key_id"`
}

// Candidate is one ranked candidate (中标候选人).
type Candidate struct {
	Rank   int    `json:"rank"`
	Bidder string `json:"bidder"`
	Name   string `json:"name"`
	Price  string `json:"price"`
	Total  string `json:"total"`
}

// ReportSignature is the data of sign_report and report_signed.
type ReportSignature struct {
	Expert    string `json:"expert,omitempty"`
	Digest    string `json:"digest"` // what the member saw and signed
	Signature string `json:"signature"`
	Dissent   string `json:"dissent,omitempty"` // 不同意见, in writing (R23)
	KeyID     string `json:"key_id,omitempty"`
}

// ReportMessage is the text a member signs for the report.
func ReportMessage(room, expert, digest, dissent string) string {
	return "bidroom-evaluation-report-v1\n" + room + "\n" + expert + "\n" + digest + "\n" + dissent
}

// CompletedReport is the data of report_completed: the report, its
// digest and every member's signature.
type CompletedReport struct {
	Report     Report            `json:"report"`
	Digest     string            `json:"digest"`
	Signatures []ReportSignature `json:"signatures"`
}

// Report builds the report from the tallied state, and its digest (SM3
// of its JSON encoding, hex). It fails before the tally.
func (v *Evaluation) Report() (Report, string, error) {
	if v.Tally == nil {
		return Report{}, "", refuse(CodeWrongState, "the report is made once every sheet is signed")
	}
	r := Report{Room: v.Room, Title: v.Spec.Title, Opening: v.Spec.Opening, OpeningHash: v.Spec.OpeningHash,
		Tenderer: v.Spec.Tenderer, Replaced: v.Replaced, Criteria: v.Spec.Criteria, Results: v.Tally.Results,
		Outliers: v.Tally.Outliers, Returns: v.Returns, Sheets: []SheetDigest{}, Candidates: []Candidate{}}
	if v.Draw != nil {
		r.DrawSeed, r.EligibleDigest = v.Draw.Seed, v.Draw.EligibleDigest
	}
	for _, m := range v.Members {
		r.Committee = append(r.Committee, ReportMember{Expert: m.Expert, Name: m.Name, Specialty: m.Specialty, Chair: m.Chair})
		if s := v.Sheets[m.Expert]; s != nil {
			r.Sheets = append(r.Sheets, SheetDigest{Expert: m.Expert, Digest: s.Digest, KeyID: s.KeyID})
		}
	}
	for _, res := range v.Tally.Results {
		if !res.Valid || len(r.Candidates) == MaxCandidates {
			break
		}
		c := Candidate{Rank: res.Rank, Bidder: res.Bidder, Total: res.Total}
		for _, b := range v.Spec.Bids {
			if b.Bidder == res.Bidder {
				c.Name, c.Price = b.Name, b.Price
			}
		}
		r.Candidates = append(r.Candidates, c)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return Report{}, "", fmt.Errorf("encode the report: %w", err)
	}
	return r, hex.EncodeToString(sm3.Sm3Sum(b)), nil
}

func (v *Evaluation) signReport(actor Actor, cmd Command) ([]Draft, error) {
	m, err := v.actingMember(actor, "sign the report")
	if err != nil {
		return nil, err
	}
	if v.Phase != EvalTallied {
		return nil, refuse(CodeWrongState, "the report is signed once every sheet is signed and before it is complete (it is %s)", v.Phase)
	}
	if v.reportSigs[m.Expert] != nil {
		return nil, refuse(CodeWrongState, "%s has signed the report already", m.Expert)
	}
	var s ReportSignature
	if err := decodeData(cmd.Data, &s); err != nil {
		return nil, err
	}
	report, digest, err := v.Report()
	if err != nil {
		return nil, err
	}
	if s.Digest != digest {
		return nil, refuse(CodeInvalid, "the report changed: its digest is %s, not %s; reload and sign again", digest, s.Digest)
	}
	if strings.TrimSpace(s.Dissent) != "" {
		if err := checkText("dissent", s.Dissent, 2000); err != nil {
			return nil, err
		}
	}
	if s.KeyID, err = verifyMember(m, ReportMessage(v.Room, m.Expert, digest, s.Dissent), s.Signature); err != nil {
		return nil, err
	}
	s.Expert = m.Expert
	drafts := []Draft{{Type: EvReportSigned, Vis: v.committeeVis(), Data: s}}
	sigs := []ReportSignature{}
	for _, o := range v.Members {
		switch {
		case o.Expert == m.Expert:
			sigs = append(sigs, s)
		case v.reportSigs[o.Expert] != nil:
			sigs = append(sigs, *v.reportSigs[o.Expert])
		default:
			return drafts, nil
		}
	}
	return append(drafts, Draft{Type: EvReportCompleted, Vis: v.committeeVis(), Data: CompletedReport{Report: report, Digest: digest, Signatures: sigs}}), nil
}

// The platform's signature over the completed report, made by the server
// with the platform key (as for the opening record) and recorded in the
// room; `bidroom verify --report` checks it offline.
const (
	CmdRecordReportSignature = "record_report_signature"
	EvReportPlatformSigned   = "report_platform_signed"
)

// PlatformSignature is the data of report_platform_signed: the platform's
// SM2 signature over PlatformMessage of the completed report.
type PlatformSignature struct {
	Digest    string `json:"digest"` // SM3 of the completed report's JSON, hex
	Signature string `json:"signature"`
	KeyID     string `json:"key_id"`
}

// PlatformMessage is what the platform signs: the completed report's JSON
// (report, digest and every member's signature) under a fixed prefix.
func (c CompletedReport) PlatformMessage(room string) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode the completed report: %w", err)
	}
	return append([]byte("bidroom-evaluation-report-platform-v1\n"+room+"\n"), b...), nil
}

func (v *Evaluation) recordReportSignature(actor Actor, cmd Command) ([]Draft, error) {
	if err := requireRole(actor, "record the platform's signature", RoleSystem); err != nil {
		return nil, err
	}
	if v.Completed == nil {
		return nil, refuse(CodeWrongState, "the report is signed by the platform once every member signed it")
	}
	if v.PlatformSig != nil {
		return nil, refuse(CodeWrongState, "the platform signed the report already")
	}
	var p PlatformSignature
	if err := decodeData(cmd.Data, &p); err != nil {
		return nil, err
	}
	msg, err := v.Completed.PlatformMessage(v.Room)
	if err != nil {
		return nil, err
	}
	if p.Digest != hex.EncodeToString(sm3.Sm3Sum(msg)) {
		return nil, refuse(CodeInvalid, "the signature is over another report")
	}
	return []Draft{{Type: EvReportPlatformSigned, Vis: v.committeeVis(), Data: p}}, nil
}
