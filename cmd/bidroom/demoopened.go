package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/bidclient"
	"github.com/bidroom/bidroom/configs"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
)

// The demo's finished opening: yesterday's session, from sign-in to the
// signed record, so the evaluation has real bids (sealed PDFs, unlocked
// and read out) to score. It is run, not written: a rooms.Service on the
// same log with a clock the demo moves, and the same REST API a real
// opening goes through, served on a loopback port for the few seconds it
// takes, with the demo bidders' own keys in bidclient.

// demoClock is a clock the demo moves by hand.
type demoClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *demoClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *demoClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// demoBidDocuments are the pages of each demo bidder's bid document (the
// PDF sealed in its bid), with the opening sheet's figures in them.
func demoBidDocument(name string, sheet decrypt.Sheet) []byte {
	return demoPDF("投标文件  "+name, [][]string{
		{
			"项目：示范项目 城西给水管网改造工程施工（CX-2026-002）",
			"",
			"一、投标函",
			"投标人：" + name,
			"投标报价：" + sheet.Price + " 元（人民币）",
			"工期：" + sheet.Duration,
			"质量标准：" + sheet.Quality,
			"项目经理：" + sheet.ProjectManager,
			"",
			"二、资格证明文件",
			"1. 营业执照（统一社会信用代码）",
			"2. 建筑业企业资质证书：市政公用工程施工总承包贰级及以上",
			"3. 安全生产许可证",
			"4. 项目经理注册建造师证书（市政公用工程专业）",
		},
		{
			"三、施工组织设计",
			"1. 工程概况：DN300–DN800 给水管道改造约 12.6 公里，含阀门井 86 座。",
			"2. 施工部署：分四个作业区平行施工，夜间不停水切换。",
			"3. 进度计划：管材进场 20 天，主体管道 " + sheet.Duration + " 内完成。",
			"4. 质量保证措施：管道焊口 100% 外观检查，20% 无损检测。",
			"5. 安全文明施工：围挡、交通导改方案经交警部门审核。",
			"",
			"四、企业业绩",
			"近三年完成同类给水管网工程 5 项（附合同及竣工验收证明）。",
			"",
			"（示范文件：仅用于 Bidroom 演示）",
		},
	})
}

// demoOpenedSheets are the finished opening's sheets: three valid bids.
var demoOpenedSheets = map[string]decrypt.Sheet{
	"bidder-a": {Price: "8436000.00", Duration: "240日历天", Quality: "合格", ProjectManager: "张建国"},
	"bidder-b": {Price: "8195500.00", Duration: "250日历天", Quality: "合格", ProjectManager: "李明"},
	"bidder-c": {Price: "8720000.00", Duration: "230日历天", Quality: "合格", ProjectManager: "王磊"},
}

// runDemoOpening runs the finished opening in room on log and returns once
// its record is signed. keys are the demo bidders' keys by sub.
func runDemoOpening(ctx context.Context, log rooms.Log, issuer *auth.Issuer, blobStore *blobs.Store, platform *decrypt.PrivateKey,
	cfg configs.Config, room string, bidders []api.DemoToken, keys map[string]*decrypt.PrivateKey) error {
	clk := &demoClock{t: time.Now().Add(-26 * time.Hour).Truncate(time.Hour)}
	svc := rooms.NewService(log, clk.now)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	router := api.NewRouter(api.Deps{
		Svc: svc, Issuer: issuer, TokenTTL: time.Hour, CheckInLead: time.Hour, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		Logger: quiet, Blobs: blobStore, Platform: platform, MaxBidBytes: cfg.Bids.MaxBytes,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the demo's opening: %w", err)
	}
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		_ = srv.Shutdown(context.Background())
		<-served
	}()
	base := "http://" + ln.Addr().String()

	host := rooms.Actor{Sub: "host-1", Role: rooms.RoleHost}
	admin := rooms.Actor{Sub: "demo", Role: rooms.RoleAdmin}
	n := 0
	do := func(a rooms.Actor, typ string, data any) error {
		n++
		raw, _ := json.Marshal(data)
		if data == nil {
			raw = nil
		}
		if _, err := svc.Execute(ctx, room, a, rooms.Command{ID: fmt.Sprintf("demo-%d", n), Type: typ, Data: raw}); err != nil {
			return fmt.Errorf("%s by %s: %w", typ, a.Role, err)
		}
		return nil
	}
	// fire runs the room's timers that are due on the demo's clock, as
	// the scheduler would (the bond check answers "paid" for everyone).
	fire := func() error {
		for range 8 {
			at, typ, ok, err := svc.NextTimer(ctx, room)
			if err != nil || !ok || clk.now().Before(at) {
				return err
			}
			var data any
			if typ == rooms.CmdRecordBonds {
				var b rooms.Bonds
				for _, p := range bidders {
					b.Bonds = append(b.Bonds, rooms.BondStatus{Bidder: p.Sub, Status: "paid", Amount: "160000.00"})
				}
				data = b
			}
			if err := do(rooms.SystemActor, typ, data); err != nil {
				return err
			}
		}
		return errors.New("the demo's timers do not settle")
	}
	start := clk.now()
	spec := rooms.SessionSpec{
		Title: "示范项目：城西给水管网改造工程施工", Section: "CX-2026-002", Category: "construction",
		Deadline: start.Add(40 * time.Minute), CheckInAt: start, ControlPrice: "9200000.00",
		SealedTerms:          rooms.SealedTerms{Budget: "8800000.00", BudgetDeviationPct: 10, ReservePrice: "8650000.00"},
		DecryptWindowMinutes: 30, ConfirmWindowMinutes: 10, BackupAllowed: true,
		ReadOutFields: []rooms.ReadOutField{
			{Key: decrypt.FieldPrice, Label: "投标报价（元）"}, {Key: decrypt.FieldDuration, Label: "工期"},
			{Key: decrypt.FieldQuality, Label: "质量标准"}, {Key: decrypt.FieldProjectManager, Label: "项目经理"},
		},
	}
	if err := do(admin, rooms.CmdCreateSession, spec); err != nil {
		return err
	}
	clients := map[string]*bidclient.Client{}
	for _, p := range bidders {
		pub, err := keys[p.Sub].Public().MarshalPEM()
		if err != nil {
			return err
		}
		if err := do(admin, rooms.CmdRegisterBidder, rooms.BidderSpec{ID: p.Sub, Name: p.Name, PublicKey: string(pub)}); err != nil {
			return err
		}
		tok, _, err := issuer.Mint(auth.Request{Room: room, Role: rooms.RoleBidder, Sub: p.Sub, Name: p.Name, Grants: []string{auth.GrantView}, TTL: time.Hour})
		if err != nil {
			return err
		}
		clients[p.Sub] = &bidclient.Client{Server: base, Session: room, Token: tok}
	}
	if err := fire(); err != nil {
		return err
	}
	if err := do(host, rooms.CmdSignIn, nil); err != nil {
		return err
	}
	for _, p := range bidders {
		clk.advance(3 * time.Minute)
		c, key := clients[p.Sub], keys[p.Sub]
		if _, err := c.SignIn(ctx, key); err != nil {
			return fmt.Errorf("%s signs in: %w", p.Sub, err)
		}
		sheet := demoOpenedSheets[p.Sub]
		doc := demoBidDocument(p.Name, sheet)
		var sealed bytes.Buffer
		if _, err := decrypt.Seal(&sealed, bytes.NewReader(doc), decrypt.SealOptions{
			SessionID: room, BidderID: p.Sub, Size: int64(len(doc)), Signer: key, Sheet: sheet,
		}); err != nil {
			return fmt.Errorf("seal %s's bid: %w", p.Sub, err)
		}
		if _, err := c.Upload(ctx, bytes.NewReader(sealed.Bytes()), int64(sealed.Len()), nil); err != nil {
			return fmt.Errorf("%s submits: %w", p.Sub, err)
		}
	}
	if err := do(host, rooms.CmdAnnounce, rooms.Announcement{Text: "各投标人请在开标后 30 分钟内完成远程解密。"}); err != nil {
		return err
	}
	clk.advance(spec.Deadline.Sub(clk.now()))
	if err := fire(); err != nil {
		return err
	}
	clk.advance(2 * time.Minute)
	if err := do(host, rooms.CmdStartDecryption, nil); err != nil {
		return err
	}
	for _, p := range bidders {
		clk.advance(2 * time.Minute)
		if _, err := clients[p.Sub].Unlock(ctx, keys[p.Sub]); err != nil {
			return fmt.Errorf("%s unlocks: %w", p.Sub, err)
		}
	}
	clk.advance(30 * time.Minute)
	if err := fire(); err != nil {
		return err
	}
	for _, step := range []string{rooms.CmdStartReadOut, rooms.CmdStartConfirmation} {
		clk.advance(time.Minute)
		if err := do(host, step, nil); err != nil {
			return err
		}
	}
	for _, p := range bidders {
		clk.advance(time.Minute)
		if _, err := clients[p.Sub].Confirm(ctx, keys[p.Sub]); err != nil {
			return fmt.Errorf("%s confirms: %w", p.Sub, err)
		}
	}
	clk.advance(10 * time.Minute)
	if err := fire(); err != nil {
		return err
	}
	tok, _, err := issuer.Mint(auth.Request{Room: room, Role: rooms.RoleHost, Sub: host.Sub, Name: "主持人 王芳", Grants: []string{auth.GrantView}, TTL: time.Hour})
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/sessions/"+room+"/record", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the opening record: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("the opening record: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
