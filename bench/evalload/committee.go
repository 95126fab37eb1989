package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bidroom/bidroom/bench/internal/loadtool"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/rooms/scoring"
)

// criteria are the evaluation's: three checks, four items and a
// mean_trimmed price rule, 100 points in all.
var criteria = scoring.Criteria{
	Checks: []scoring.Check{{ID: "q1", Name: "营业执照"}, {ID: "q2", Name: "资质证书"}, {ID: "q3", Name: "安全生产许可证"}},
	Items: []scoring.Item{
		{ID: "t1", Name: "施工组织设计", Group: "technical", Max: "30"},
		{ID: "t2", Name: "质量与安全保证措施", Group: "technical", Max: "15"},
		{ID: "t3", Name: "工期保证措施", Group: "technical", Max: "10"},
		{ID: "c1", Name: "商务条款响应", Group: "commercial", Max: "5"},
	},
	Price: scoring.PriceRule{Method: scoring.MeanTrimmed, Weight: "40", TrimAtLeast: 5, Discount: "0",
		AbovePerPct: "1", BelowPerPct: "0.5", Floor: "0"},
	OutlierShare: "0.25",
}

// member is one scripted committee member: key, websocket, REST client.
type member struct {
	id    string
	seat  int
	chair bool
	key   *decrypt.PrivateKey
	w     *loadtool.Watcher
	rest  *loadtool.REST
	last  time.Time // when the member last sent (its script only)
}

func (m *member) sign(msg string) (string, error) {
	sig, err := m.key.Sign([]byte(msg))
	if err != nil {
		return "", fmt.Errorf("%s signs: %w", m.id, err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// supervisor is one supervisor's websocket and what it records of the
// events: the first receipt of each command's events, and each tally.
type supervisor struct {
	w         *loadtool.Watcher
	joinBytes uint64               // frame bytes read before the evaluation started
	mu        sync.Mutex           // guards the fields below
	recv      map[string]time.Time // command id → receipt of its first event
	tallies   []time.Time          // receipt of each scores_tallied
}

func newSupervisor(sub, token string) *supervisor {
	s := &supervisor{w: loadtool.NewWatcher(sub, "supervisor", token), recv: map[string]time.Time{}}
	s.w.OnEvent = func(ev *loadtool.FrameEvent, _ uint64, at time.Time) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, seen := s.recv[ev.Cmd]; ev.Cmd != "" && !seen {
			s.recv[ev.Cmd] = at
		}
		if ev.Type == rooms.EvScoresTallied {
			s.tallies = append(s.tallies, at)
		}
	}
	return s
}

// received is when the supervisor received the first event of command id.
func (s *supervisor) received(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.recv[id]
	return at, ok
}

// tally is when the supervisor received the n-th tally (zero if not yet).
func (s *supervisor) tally(n int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 1 || n > len(s.tallies) {
		return time.Time{}
	}
	return s.tallies[n-1]
}

// committee runs the evaluation from the members' websockets, each
// member's script in its own goroutine, reacting to what its own stream
// shows as the page would: declare, vote for the chair (a majority), the
// chair opens the scoring once everyone declared, every member signs
// sheets; after each tally the chair either sends every sheet back (the
// members re-sign once all are back) or, after the last round, signs the
// report, and the others sign once they see its signature.
type committee struct {
	r       *runner
	members []*member

	mu                sync.Mutex // guards the fields below
	scoringOpenedSent time.Time
	returnStarts      []time.Time // the chair's first return of each return round
	rounds            int
	sheetsBytes       int
	refused           int
	rateLimited       int
}

// run runs every member's script and waits for them; the first error
// stops the others.
func (c *committee) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.script(ctx, m); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("member %s: %w", m.id, err)
				}
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	return first
}

// waitTimeout bounds each wait for what other members do.
const waitTimeout = time.Minute

func (c *committee) script(ctx context.Context, m *member) error {
	n, room := len(c.members), c.r.eval
	chair := c.members[0]
	count := func(t string, want int) func() bool { return func() bool { return m.w.Count(t) >= want } }

	sig, err := m.sign(rooms.DeclarationMessage(room, m.id, false))
	if err != nil {
		return err
	}
	if _, err := c.send(ctx, m, "declare", rooms.CmdDeclare, rooms.Declaration{Signature: sig}); err != nil {
		return err
	}
	if m.seat < n/2+1 { // a majority elects the chair; later votes would be refused
		if _, err := c.send(ctx, m, "vote", rooms.CmdVoteChair, rooms.ChairVote{Candidate: chair.id}); err != nil {
			return err
		}
	}
	if m.chair {
		ready := func() bool { return m.w.Count(rooms.EvDeclared) >= n && m.w.Count(rooms.EvChairElected) > 0 }
		if err := m.w.WaitUntil(ctx, waitTimeout, "every member declared and the chair elected", ready); err != nil {
			return err
		}
		ack, err := c.send(ctx, m, "open", rooms.CmdOpenScoring, nil)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.scoringOpenedSent = ack.Sent
		c.mu.Unlock()
	}
	if err := m.w.WaitUntil(ctx, waitTimeout, "scoring_opened", count(rooms.EvScoringOpened, 1)); err != nil {
		return err
	}
	opened := m.w.FirstTime(rooms.EvScoringOpened)

	for k := 1; ; k++ {
		text, err := sheetsText(c.r.bids, m.seat, k)
		if err != nil {
			return err
		}
		sig, err := m.sign(rooms.SheetsMessage(room, m.id, text))
		if err != nil {
			return err
		}
		if _, err := c.send(ctx, m, "sheets-r"+strconv.Itoa(k), rooms.CmdSubmitSheets, rooms.SignedSheets{Sheets: text, Signature: sig}); err != nil {
			return err
		}
		if m.chair {
			c.mu.Lock()
			c.sheetsBytes = len(text)
			c.mu.Unlock()
			if err := m.w.WaitUntil(ctx, waitTimeout, fmt.Sprintf("tally %d", k), count(rooms.EvScoresTallied, k)); err != nil {
				return err
			}
			if k >= c.r.opt.Rounds && time.Since(opened) >= c.r.opt.Duration {
				c.mu.Lock()
				c.rounds = k
				c.mu.Unlock()
				break
			}
			for j, o := range c.members {
				ret := rooms.Returned{Expert: o.id, Bidder: c.r.bids[(k+j)%len(c.r.bids)], Item: "t1",
					Reason: fmt.Sprintf("第%d轮：请复核施工组织设计的评分并重新签署", k)}
				ack, err := c.send(ctx, m, fmt.Sprintf("return-r%d-%s", k, o.id), rooms.CmdReturnSheet, ret)
				if err != nil {
					return err
				}
				if j == 0 {
					c.mu.Lock()
					c.returnStarts = append(c.returnStarts, ack.Sent)
					c.mu.Unlock()
				}
			}
		}
		// The next round starts once the chair has sent every sheet back;
		// after the last one the chair signs the report first.
		next := func() bool { return m.w.Count(rooms.EvSheetReturned) >= k*n || m.w.Count(rooms.EvReportSigned) > 0 }
		if m.chair {
			next = count(rooms.EvSheetReturned, k*n)
		}
		if err := m.w.WaitUntil(ctx, waitTimeout, fmt.Sprintf("round %d's returns or the chair's report signature", k), next); err != nil {
			return err
		}
		if m.w.Count(rooms.EvSheetReturned) < k*n {
			break
		}
	}

	// The report: its digest from a fresh view, as the page asks for one.
	var view struct {
		State struct {
			Digest string `json:"report_digest"`
		} `json:"state"`
	}
	if err := m.rest.Call(ctx, http.MethodGet, "/api/v1/sessions/"+room, nil, &view); err != nil {
		return err
	}
	if view.State.Digest == "" {
		return errors.New("no report_digest in the member's view after the last tally")
	}
	sig, err = m.sign(rooms.ReportMessage(room, m.id, view.State.Digest, ""))
	if err != nil {
		return err
	}
	_, err = c.send(ctx, m, "report", rooms.CmdSignReport, rooms.ReportSignature{Digest: view.State.Digest, Signature: sig})
	return err
}

// send sends one of m's commands (id made unique in the room by m's id),
// no sooner than the gap after m's previous one, and records the outcome;
// a rate_limited refusal is retried after a second.
func (c *committee) send(ctx context.Context, m *member, what, command string, data any) (loadtool.Ack, error) {
	id := m.id + "-" + what
	for attempt := 1; ; attempt++ {
		if wait := time.Until(m.last.Add(c.r.opt.Gap)); wait > 0 {
			select {
			case <-ctx.Done():
				return loadtool.Ack{}, ctx.Err()
			case <-time.After(wait):
			}
		}
		ack, err := m.w.Command(ctx, id, command, data)
		m.last = time.Now()
		var refusal *loadtool.CommandError
		if errors.As(err, &refusal) {
			c.mu.Lock()
			c.refused++
			if refusal.Code == "rate_limited" {
				c.rateLimited++
			}
			c.mu.Unlock()
			if refusal.Code == "rate_limited" && attempt < 3 {
				m.last = m.last.Add(time.Second)
				continue
			}
		}
		if err == nil {
			c.r.record(id, command, ack)
		}
		return ack, err
	}
}

// sheetsText is the exact JSON text of one member's sheets for every bid
// in round k: every check passed but one (a different bid per member, with
// the reason), every item scored within its range with 2 decimals, varying
// by member, round and bid.
func sheetsText(bids []string, seat, k int) (string, error) {
	rng := rand.New(rand.NewPCG(uint64(seat)+1, uint64(k)))
	sheets := make([]scoring.Sheet, len(bids))
	for i, b := range bids {
		s := scoring.Sheet{Bidder: b, Checks: map[string]scoring.CheckResult{}, Scores: map[string]string{}}
		for _, q := range criteria.Checks {
			s.Checks[q.ID] = scoring.CheckResult{Pass: true}
		}
		if i == (seat+k)%len(bids) {
			s.Checks["q3"] = scoring.CheckResult{Pass: false, Reason: "安全生产许可证复印件已过有效期"}
		}
		for _, it := range criteria.Items {
			hi, _ := strconv.ParseFloat(it.Max, 64)
			s.Scores[it.ID] = strconv.FormatFloat(hi*(0.55+0.4*rng.Float64()), 'f', 2, 64)
		}
		sheets[i] = s
	}
	b, err := json.Marshal(sheets)
	return string(b), err
}
