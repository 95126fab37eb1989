package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/draw"
	"github.com/bidroom/bidroom/rooms/scoring"
)

// The demo's evaluation: the pool seeded with sample experts (throwaway
// keys made at start, downloadable like the bidders'), an evaluation of
// the finished opening, its committee drawn and convened. A newcomer
// clicks through as the first three members drawn; the other two are
// played by demoBot, which does what a member must (declare, vote with
// the others, score, sign the report) so the evaluation can finish.

// demoExpert is one sample expert of the pool.
type demoExpert struct {
	ID, Name, Employer, Specialty, Center string
}

// demoVenue is the main venue of the demo's evaluation; experts of the
// county sub-center sit at its sub-venue.
const demoVenue = "市公共资源交易中心"

var demoExperts = []demoExpert{
	{"demo-x01", "张伟", "市政工程设计研究院", "A01", demoVenue},
	{"demo-x02", "刘敏", "市水务规划设计院", "A01", demoVenue},
	{"demo-x03", "陈静", "省建筑科学研究院", "A01", "江宁分中心"},
	{"demo-x04", "杨帆", "市城建设计集团", "A01", demoVenue},
	{"demo-x05", "赵磊", "东南大学土木工程学院", "A01", "江宁分中心"},
	{"demo-x06", "黄丽", "市工程造价管理站", "B02", demoVenue},
	{"demo-x07", "周强", "华审工程造价咨询有限公司", "B02", demoVenue},
	{"demo-x08", "吴霞", "中衡工程咨询有限公司", "B02", "江宁分中心"},
}

// demoCriteria are the demo evaluation's criteria: 100 points in all.
var demoCriteria = scoring.Criteria{
	Checks: []scoring.Check{{ID: "q1", Name: "营业执照与资质证书"}, {ID: "q2", Name: "投标保证金"}, {ID: "q3", Name: "实质性响应招标文件"}},
	Items: []scoring.Item{
		{ID: "t1", Name: "施工组织设计", Group: "technical", Max: "30"},
		{ID: "t2", Name: "项目管理机构", Group: "technical", Max: "10"},
		{ID: "c1", Name: "企业业绩", Group: "commercial", Max: "10"},
		{ID: "c2", Name: "企业信誉", Group: "commercial", Max: "5"},
	},
	Price:        scoring.PriceRule{Method: scoring.MeanTrimmed, Weight: "45", TrimAtLeast: 5, AbovePerPct: "1", BelowPerPct: "0.5"},
	OutlierShare: "0.2",
}

// seedDemoPool adds the sample experts to the pool (creating it on first
// use) or gives the ones a former start added their new keys.
func seedDemoPool(ctx context.Context, svc *rooms.Service, keys map[string]*decrypt.PrivateKey) error {
	admin := rooms.Actor{Sub: "demo", Role: rooms.RoleAdmin}
	exec := func(id, typ string, data any) error {
		raw, _ := json.Marshal(data)
		_, err := svc.Execute(ctx, rooms.PoolRoom, admin, rooms.Command{ID: id, Type: typ, Data: raw})
		return err
	}
	have := map[string]bool{}
	if ok, err := svc.Exists(ctx, rooms.PoolRoom); err != nil {
		return err
	} else if !ok {
		if err := exec("demo-pool", rooms.CmdCreatePool, rooms.PoolSpec{Title: "市综合评标专家库"}); err != nil {
			return err
		}
	} else {
		snap, err := svc.Snapshot(ctx, rooms.PoolRoom, admin)
		if err != nil {
			return err
		}
		for _, x := range snap.View.(rooms.PoolView).Experts {
			have[x.ID] = true
		}
	}
	var add rooms.ExpertBatch
	stamp := time.Now().UTC().Format("20060102150405.000")
	for i, d := range demoExperts {
		pub, err := keys[d.ID].Public().MarshalPEM()
		if err != nil {
			return err
		}
		x := rooms.PoolExpert{Expert: draw.Expert{ID: d.ID, Name: d.Name, Employer: d.Employer, Specialties: []string{d.Specialty}, Center: d.Center},
			Phone: fmt.Sprintf("1390000%04d", 1001+i), PublicKey: string(pub)}
		if !have[d.ID] {
			add.Experts = append(add.Experts, x)
			continue
		}
		if err := exec("demo-key:"+d.ID+":"+stamp, rooms.CmdUpdateExpert, x); err != nil {
			return fmt.Errorf("give demo expert %s its new key: %w", d.ID, err)
		}
	}
	if len(add.Experts) == 0 {
		return nil
	}
	return exec("demo-experts:"+stamp, rooms.CmdAddExperts, add)
}

// createDemoEvaluation creates the evaluation of opening, draws its
// committee and starts it. It returns the members in seat order.
func createDemoEvaluation(ctx context.Context, svc *rooms.Service, room, opening string) ([]rooms.Member, error) {
	admin := rooms.Actor{Sub: "demo", Role: rooms.RoleAdmin}
	bids, head, err := svc.OpenedBids(ctx, opening)
	if err != nil {
		return nil, err
	}
	spec := rooms.EvaluationSpec{
		Title: "示范项目：城西给水管网改造工程施工 评标", Opening: opening, OpeningHash: head, Tenderer: "城西水务投资有限公司",
		Bids: bids, Criteria: demoCriteria, Size: 5, Venue: demoVenue,
		Quotas: []draw.Quota{{Specialty: "A01", Count: 3, Reserves: 2}, {Specialty: "B02", Count: 2, Reserves: 1}},
	}
	raw, _ := json.Marshal(spec)
	if _, err := svc.Execute(ctx, room, admin, rooms.Command{ID: "create", Type: rooms.CmdCreateEvaluation, Data: raw}); err != nil {
		return nil, err
	}
	if err := svc.LinkEvaluation(ctx, opening, room); err != nil {
		return nil, err
	}
	if _, err := svc.DrawCommittee(ctx, room, rooms.PoolRoom); err != nil {
		return nil, err
	}
	if _, err := svc.Execute(ctx, room, admin, rooms.Command{ID: "start", Type: rooms.CmdStartEvaluation}); err != nil {
		return nil, err
	}
	snap, err := svc.Snapshot(ctx, room, rooms.Actor{Sub: "demo", Role: rooms.RoleSupervisor})
	if err != nil {
		return nil, err
	}
	return snap.View.(rooms.EvaluationView).Committee, nil
}

// demoBot plays the committee members a newcomer does not: it acts for
// them whenever the room changes, until its context ends.
type demoBot struct {
	svc    *rooms.Service
	room   string
	keys   map[string]*decrypt.PrivateKey // the members it plays
	logger *slog.Logger
}

// run acts after every change of the room until ctx ends.
func (b *demoBot) run(ctx context.Context) {
	changes, err := b.svc.Watch(ctx, b.room)
	if err != nil {
		b.logger.Warn("demo: the evaluation's helper cannot follow the room", "room", b.room, "err", err)
		return
	}
	for {
		b.act(ctx)
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				return
			}
		}
	}
}

// act does, for each member the bot plays, the next step the room waits
// for. Command ids follow the state, so acting twice on the same state is
// applied once.
func (b *demoBot) act(ctx context.Context) {
	snap, err := b.svc.Snapshot(ctx, b.room, rooms.Actor{Sub: "demo", Role: rooms.RoleSupervisor})
	if err != nil {
		return
	}
	v := snap.View.(rooms.EvaluationView)
	chairElected := slices.ContainsFunc(v.Committee, func(m rooms.Member) bool { return m.Chair })
	for _, m := range v.Committee {
		key := b.keys[m.Expert]
		if key == nil {
			continue
		}
		var id, typ string
		var data any
		switch {
		case v.Phase == rooms.EvalConvened && !m.Declared:
			id, typ = "bot-declare", rooms.CmdDeclare
			data = rooms.Declaration{Signature: b.sign(key, rooms.DeclarationMessage(b.room, m.Expert, false))}
		case v.Phase == rooms.EvalConvened && !chairElected && m.VotedFor == "":
			// The newcomers vote first; once they all have, the bot
			// follows the leader, which settles a split vote.
			if slices.ContainsFunc(v.Committee, func(o rooms.Member) bool { return b.keys[o.Expert] == nil && o.VotedFor == "" }) {
				continue
			}
			cand := demoLeadingCandidate(v.Committee)
			if cand == "" {
				continue
			}
			id, typ, data = "bot-vote-"+cand, rooms.CmdVoteChair, rooms.ChairVote{Candidate: cand}
		case v.Phase == rooms.EvalScoring && !m.Signed:
			text := demoScoreSheets(v.Bids, m.Expert)
			id, typ = fmt.Sprintf("bot-sheets-%d", len(v.Returns)), rooms.CmdSubmitSheets
			data = rooms.SignedSheets{Sheets: text, Signature: b.sign(key, rooms.SheetsMessage(b.room, m.Expert, text))}
		case v.Phase == rooms.EvalTallied && v.Digest != "" && !slices.ContainsFunc(v.Signed, func(s rooms.ReportSignature) bool { return s.Expert == m.Expert }):
			id, typ = "bot-report-"+v.Digest, rooms.CmdSignReport
			data = rooms.ReportSignature{Digest: v.Digest, Signature: b.sign(key, rooms.ReportMessage(b.room, m.Expert, v.Digest, ""))}
		default:
			continue
		}
		raw, _ := json.Marshal(data)
		actor := rooms.Actor{Sub: m.Expert, Role: rooms.RoleExpert}
		if _, err := b.svc.Execute(ctx, b.room, actor, rooms.Command{ID: id, Type: typ, Data: raw}); err != nil && ctx.Err() == nil {
			b.logger.Info("demo: a played member's step was refused", "room", b.room, "expert", m.Expert, "command", typ, "err", err)
		}
	}
}

func (b *demoBot) sign(key *decrypt.PrivateKey, msg string) string {
	sig, err := key.Sign([]byte(msg))
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// demoLeadingCandidate is the candidate with the most votes so far ("" for
// none), the earlier seat on a tie.
func demoLeadingCandidate(committee []rooms.Member) string {
	votes := map[string]int{}
	best := ""
	for _, m := range committee {
		if m.VotedFor != "" {
			votes[m.VotedFor]++
		}
	}
	for _, m := range committee {
		if votes[m.Expert] > votes[best] {
			best = m.Expert
		}
	}
	return best
}

// demoScoreSheets are a played member's sheets: every check passed, each item
// a share of its maximum that differs a little by bid and by member.
func demoScoreSheets(bids []rooms.EvalBid, expert string) string {
	sheets := make([]scoring.Sheet, 0, len(bids))
	for i, bid := range bids {
		s := scoring.Sheet{Bidder: bid.Bidder, Checks: map[string]scoring.CheckResult{}, Scores: map[string]string{}}
		for _, c := range demoCriteria.Checks {
			s.Checks[c.ID] = scoring.CheckResult{Pass: true}
		}
		for j, it := range demoCriteria.Items {
			max, _ := new(big.Rat).SetString(it.Max)
			// 78 % to 92 %, by bid, item and member.
			pct := 78 + (7*i+3*j+len(expert)+int(expert[len(expert)-1]))%15
			s.Scores[it.ID] = new(big.Rat).Mul(max, big.NewRat(int64(pct), 100)).FloatString(2)
		}
		sheets = append(sheets, s)
	}
	b, _ := json.Marshal(sheets)
	return string(b)
}

// demoEvaluationPeople are the evaluation's clickable identities: the
// first three members, a supervisor, and the finished opening's bidders
// (who answer the committee's clarification from their own page).
func demoEvaluationPeople(members []rooms.Member, bidders []api.DemoToken) (people []api.DemoToken, played []string) {
	for i, m := range members {
		if i < 3 {
			people = append(people, api.DemoToken{Role: rooms.RoleExpert, Sub: m.Expert, Name: "评标专家 " + m.Name})
		} else {
			played = append(played, m.Expert)
		}
	}
	people = append(people, api.DemoToken{Role: rooms.RoleSupervisor, Sub: "supervisor-1", Name: "监督人 李强"})
	return append(people, bidders...), played
}
