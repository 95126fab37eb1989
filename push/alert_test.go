package push_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bidroom/bidroom/push"
	"github.com/bidroom/bidroom/rooms"
)

// smtpServer is a minimal SMTP server on 127.0.0.1 (EHLO, AUTH PLAIN,
// MAIL, RCPT, DATA, RSET, NOOP, QUIT) keeping every mail it accepts.
type smtpServer struct {
	ln       net.Listener
	user     string
	password string
	wg       sync.WaitGroup
	mu       sync.Mutex // guards mails
	mails    []smtpMail
}

type smtpMail struct {
	from   string
	to     []string
	authed bool
	data   []byte
}

func newSMTPServer(t *testing.T, user, password string) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, user: user, password: password}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.session(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpServer) session(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	_ = tp.PrintfLine("220 127.0.0.1 ESMTP test")
	var cur smtpMail
	authed := false
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			_ = tp.PrintfLine("250-127.0.0.1 hello")
			_ = tp.PrintfLine("250 AUTH PLAIN")
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			raw, _ := base64.StdEncoding.DecodeString(resp)
			if mech == "PLAIN" && string(raw) == "\x00"+s.user+"\x00"+s.password {
				authed = true
				_ = tp.PrintfLine("235 2.7.0 accepted")
			} else {
				_ = tp.PrintfLine("535 5.7.8 bad credentials")
			}
		case "MAIL":
			if s.user != "" && !authed {
				_ = tp.PrintfLine("530 5.7.0 authentication required")
				continue
			}
			cur = smtpMail{from: strings.Trim(strings.TrimPrefix(arg, "FROM:"), "<>"), authed: authed}
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			cur.to = append(cur.to, strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>"))
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 go ahead")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			cur.data = data
			s.mu.Lock()
			s.mails = append(s.mails, cur)
			s.mu.Unlock()
			cur = smtpMail{}
			_ = tp.PrintfLine("250 queued")
		case "RSET", "NOOP":
			_ = tp.PrintfLine("250 ok")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			_ = tp.PrintfLine("502 not implemented")
		}
	}
}

func (s *smtpServer) received() []smtpMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails)
}

// readMail parses a received mail: subject, body, To.
func readMail(t *testing.T, m smtpMail) (subject, body, to string) {
	t.Helper()
	msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string(m.data))))
	if err != nil {
		t.Fatal(err)
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if ct := msg.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" || msg.Header.Get("Content-Transfer-Encoding") != "base64" {
		t.Fatalf("mail headers %v", msg.Header)
	}
	raw, _ := io.ReadAll(msg.Body)
	b, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return subject, string(b), msg.Header.Get("To")
}

// smsGateway is an HTTP SMS gateway that fails its first request.
type smsGateway struct {
	mu   sync.Mutex // guards msgs, n
	n    int
	msgs []map[string]string
	auth []string
}

func (g *smsGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]string
	_ = json.NewDecoder(r.Body).Decode(&m)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	if g.n == 1 {
		http.Error(w, "gateway busy", http.StatusBadGateway)
		return
	}
	g.msgs = append(g.msgs, m)
	g.auth = append(g.auth, r.Header.Get("Authorization"))
	_, _ = w.Write([]byte(`{"code":0}`))
}

func (g *smsGateway) sent() ([]map[string]string, []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.msgs), slices.Clone(g.auth)
}

// TestAlertEndToEnd: a real opening's read-out with one price over the
// control price (and 33 % off the budget), one 22 % off (the session
// flags at 20 %) and one inside: the two alerts reach the supervisor by
// SMS (the gateway fails once and the SMS is retried), by e-mail through
// a local SMTP server with a login, and by webhook as signed documents;
// every delivery is in the outbox's log.
func TestAlertEndToEnd(t *testing.T) {
	s := open(t, t.TempDir(), &clock{})
	defer s.log.Close()
	smtpSrv := newSMTPServer(t, "bidroom", "s3cret")
	gw := &smsGateway{}
	gwSrv := httptest.NewServer(gw)
	defer gwSrv.Close()
	hook := newReceiver(t, 0)
	sms := &push.SMS{URL: gwSrv.URL + "/send", Token: "sms-tok", Template: "【开标预警】{title}（{section}）：投标人{bidder}报价{price}元，{flag}。"}
	cfg := push.Config{
		Alerts:     push.AlertRules{OverControlPrice: true, DeviationMin: 10, DeviationMax: 30},
		Recipients: []string{"13800000001", "jiandu@example.cn"},
		Notifiers: []push.Notifier{sms, &push.Webhook{URL: hook.srv.URL},
			&push.Mail{Addr: smtpSrv.ln.Addr().String(), From: "bidroom@center.example.cn", User: "bidroom", Password: "s3cret"}},
	}
	start := time.Now()
	stop := run(t, s, cfg)
	waitFor(t, "the outbox", func() bool { ok, _ := s.svc.Exists(context.Background(), rooms.OutboxRoom); return ok })
	s.readOut(t, "op-alert", map[string]string{"a": "950000", "b": "1200000", "c": "700000"})
	waitFor(t, "six deliveries", func() bool { return outbox(t, s).Counts.Delivered == 6 })
	t.Logf("2 alerts × 3 channels delivered in %v", time.Since(start))
	stop()

	v := outbox(t, s)
	if v.Counts != (rooms.OutboxCounts{Documents: 2, Delivered: 6}) {
		t.Fatalf("counts %+v", v.Counts)
	}
	for _, it := range v.Items {
		if it.Kind != rooms.DocAlert {
			t.Errorf("kind %s", it.Kind)
		}
		want := []string{"sms:13800000001", "webhook", "mail:jiandu@example.cn"}
		if !slices.Equal(it.Targets, want) {
			t.Errorf("targets %v, want %v", it.Targets, want)
		}
	}

	msgs, auth := gw.sent()
	if len(msgs) != 2 {
		t.Fatalf("SMS sent %d, want 2 (after one retry)", len(msgs))
	}
	texts := map[string]bool{}
	for i, m := range msgs {
		if m["to"] != "13800000001" || auth[i] != "Bearer sms-tok" {
			t.Errorf("SMS %v with %q", m, auth[i])
		}
		texts[m["text"]] = true
	}
	wantB := "【开标预警】城东污水处理厂提标改造工程施工（CD-2026-001）：投标人南京市政路桥集团有限公司报价1200000元，超过最高投标限价1000000.00元；偏离预算900000元达33.3%（预警阈值20%）。"
	wantC := "【开标预警】城东污水处理厂提标改造工程施工（CD-2026-001）：投标人苏州华建工程咨询有限公司报价700000元，偏离预算900000元达22.2%（预警阈值20%）。"
	if !texts[wantB] || !texts[wantC] {
		t.Errorf("SMS texts %v\nwant %q\nand  %q", texts, wantB, wantC)
	}

	mails := smtpSrv.received()
	if len(mails) != 2 {
		t.Fatalf("mails %d, want 2", len(mails))
	}
	bodies := ""
	for _, m := range mails {
		subject, body, to := readMail(t, m)
		if !m.authed || m.from != "bidroom@center.example.cn" || !slices.Equal(m.to, []string{"jiandu@example.cn"}) || to != "jiandu@example.cn" {
			t.Errorf("envelope %+v, To %q", m, to)
		}
		if subject != "开标价格预警：城东污水处理厂提标改造工程施工" {
			t.Errorf("subject %q", subject)
		}
		bodies += body
	}
	for _, want := range []string{"投标人：南京市政路桥集团有限公司（b）", "投标报价：1200000 元", "超过最高投标限价1000000.00元", "投标人：苏州华建工程咨询有限公司（c）", "标段：CD-2026-001"} {
		if !strings.Contains(bodies, want) {
			t.Errorf("mail bodies lack %q:\n%s", want, bodies)
		}
	}
	if strings.Contains(bodies, "江苏恒达") {
		t.Errorf("bidder a (5.6 %% off, under the ceiling) was alerted:\n%s", bodies)
	}

	reqs := hook.requests()
	if len(reqs) != 2 {
		t.Fatalf("webhook got %d, want 2", len(reqs))
	}
	var doc struct {
		Kind    string     `json:"kind"`
		Payload push.Alert `json:"payload"`
	}
	for _, r := range reqs {
		if err := json.Unmarshal(r.body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Kind != rooms.DocAlert || doc.Payload.Session != "op-alert" || len(doc.Payload.Flags) == 0 {
			t.Errorf("webhook document %s", r.body)
		}
	}
}

// TestSMSTemplate: the gateway receives the template with every
// placeholder filled in, as JSON, with the bearer token.
func TestSMSTemplate(t *testing.T) {
	var got map[string]string
	var authz, ctype string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz, ctype = r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()
	sms := &push.SMS{URL: srv.URL, Token: "t0k", Template: "{session}|{title}|{section}|{bidder}|{price}|{flag}"}
	a := push.Alert{Session: "op-7", Title: "道路工程", Section: "S-1", Bidder: "b", BidderName: "乙公司", Price: "123", ControlPrice: "100",
		Flags: []string{rooms.FlagAboveControlPrice}}
	if err := sms.Notify(context.Background(), srv.Client(), push.Message{To: "+8613800000001", Alert: a}); err != nil {
		t.Fatal(err)
	}
	want := "op-7|道路工程|S-1|乙公司|123|超过最高投标限价100元"
	if got["text"] != want || got["to"] != "+8613800000001" || authz != "Bearer t0k" || ctype != "application/json" {
		t.Fatalf("gateway got %v (%q, %q), want text %q", got, authz, ctype, want)
	}
	// A refusal carries its status.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "quota", http.StatusTooManyRequests) }))
	defer bad.Close()
	err := (&push.SMS{URL: bad.URL, Template: "x"}).Notify(context.Background(), bad.Client(), push.Message{To: "1", Alert: a})
	if se, ok := err.(*push.StatusError); !ok || se.Status != http.StatusTooManyRequests || !strings.Contains(se.Error(), "quota") {
		t.Fatalf("err = %v, want a 429 StatusError", err)
	}
}

// TestMailRefusedLogin: a wrong password is an error naming the user,
// never the password.
func TestMailRefusedLogin(t *testing.T) {
	srv := newSMTPServer(t, "bidroom", "right")
	m := &push.Mail{Addr: srv.ln.Addr().String(), From: "a@b.cn", User: "bidroom", Password: "wrong-secret"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.Notify(ctx, nil, push.Message{To: "x@y.cn", Alert: push.Alert{Title: "t"}})
	if err == nil || !strings.Contains(err.Error(), "bidroom") || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("err = %v", err)
	}
	if n := len(srv.received()); n != 0 {
		t.Fatalf("%d mails accepted", n)
	}
}
