package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/bidroom/bidroom/rooms"
)

// Notifier is one alert channel: SMS, webhook, e-mail, or another a
// center plugs in.
type Notifier interface {
	// Channel names the channel; targets are "channel:recipient".
	Channel() string
	// Recipients picks, of the configured supervisors' numbers and
	// addresses, those the channel reaches; [""] for a channel with no
	// recipient of its own (a webhook).
	Recipients(all []string) []string
	// Notify delivers one alert to one recipient. An *StatusError carries
	// the HTTP status of a refusal.
	Notify(ctx context.Context, client *http.Client, m Message) error
}

// Message is one alert for one recipient.
type Message struct {
	To    string               // "" for a channel with no recipient
	Alert Alert                // the alert
	Doc   rooms.OutboxDocument // the signed document it is the payload of
}

// StatusError is a request a receiver answered with a status other than 2xx.
type StatusError struct {
	Status int
	Body   string // the start of the answer, for the log
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body)
}

// post sends body to u and reads the answer; errors never quote the URL
// (its query may hold a key).
func post(ctx context.Context, client *http.Client, u string, body []byte, header http.Header) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("bad URL")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("POST: %w", err)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, &StatusError{Status: resp.StatusCode, Body: strings.ToValidUTF8(strings.TrimSpace(string(head)), "")}
	}
	return resp.StatusCode, nil
}

// Headers of a pushed document.
const (
	HeaderSignature = "X-Bidroom-Signature" // base64 DER SM2 signature over rooms.PushMessage(body)
	HeaderKeyID     = "X-Bidroom-Key-Id"    // the platform key's id, hex (GET /api/v1/platform-key gives the key)
	HeaderKind      = "X-Bidroom-Kind"
)

// documentHeader is how a signed document travels: its id as the
// Idempotency-Key (a receiver that saw it answers 2xx again), the
// signature and key id.
func documentHeader(doc rooms.OutboxDocument, token string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Idempotency-Key", doc.ID)
	h.Set(HeaderSignature, doc.Signature)
	h.Set(HeaderKeyID, doc.KeyID)
	h.Set(HeaderKind, doc.Kind)
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

// postDocument POSTs a signed document to an endpoint.
func postDocument(ctx context.Context, client *http.Client, endpoint, token string, doc rooms.OutboxDocument) (int, error) {
	return post(ctx, client, endpoint, []byte(doc.JSON), documentHeader(doc, token))
}

// SMS sends alerts through an HTTP SMS gateway: POST {"to", "text"} as
// JSON with the bearer token; any 2xx is accepted.
type SMS struct {
	URL      string
	Token    string
	Template string // placeholders {session} {title} {section} {bidder} {price} {flag}
}

// Channel is "sms".
func (s *SMS) Channel() string { return "sms" }

// Recipients are the mobile numbers.
func (s *SMS) Recipients(all []string) []string {
	var out []string
	for _, r := range all {
		if !strings.Contains(r, "@") {
			out = append(out, r)
		}
	}
	return out
}

// Text is the template filled in for a.
func (s *SMS) Text(a Alert) string {
	bidder := a.BidderName
	if bidder == "" {
		bidder = a.Bidder
	}
	return strings.NewReplacer("{session}", a.Session, "{title}", a.Title, "{section}", a.Section,
		"{bidder}", bidder, "{price}", a.Price, "{flag}", a.FlagText()).Replace(s.Template)
}

// Notify sends one SMS.
func (s *SMS) Notify(ctx context.Context, client *http.Client, m Message) error {
	body, _ := json.Marshal(map[string]string{"to": m.To, "text": s.Text(m.Alert)})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Idempotency-Key", m.Doc.ID+":"+m.To)
	if s.Token != "" {
		h.Set("Authorization", "Bearer "+s.Token)
	}
	_, err := post(ctx, client, s.URL, body, h)
	return err
}

// Webhook POSTs the signed alert document, as the endpoints receive
// documents.
type Webhook struct {
	URL string
}

// Channel is "webhook".
func (w *Webhook) Channel() string { return "webhook" }

// Recipients: a webhook has none of its own.
func (w *Webhook) Recipients([]string) []string { return []string{""} }

// Notify POSTs the document.
func (w *Webhook) Notify(ctx context.Context, client *http.Client, m Message) error {
	_, err := postDocument(ctx, client, w.URL, "", m.Doc)
	return err
}

// Mail sends alerts by e-mail over SMTP (net/smtp): STARTTLS when the
// server offers it, a PLAIN login when User is set (net/smtp refuses to
// send the password unencrypted except to localhost).
type Mail struct {
	Addr     string // host:port
	From     string
	User     string
	Password string
	// TLS configures STARTTLS; nil: the system roots and the host of Addr.
	TLS *tls.Config
}

// Channel is "mail".
func (m *Mail) Channel() string { return "mail" }

// Recipients are the e-mail addresses.
func (m *Mail) Recipients(all []string) []string {
	var out []string
	for _, r := range all {
		if strings.Contains(r, "@") {
			out = append(out, r)
		}
	}
	return out
}

// Subject is the mail's subject for a.
func (m *Mail) Subject(a Alert) string {
	return "开标价格预警：" + a.Title
}

// Body is the mail's text for a.
func (m *Mail) Body(a Alert, docID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "项目：%s\n", a.Title)
	if a.Section != "" {
		fmt.Fprintf(&b, "标段：%s\n", a.Section)
	}
	fmt.Fprintf(&b, "开标会议：%s\n", a.Session)
	fmt.Fprintf(&b, "投标人：%s（%s）\n", a.BidderName, a.Bidder)
	fmt.Fprintf(&b, "投标报价：%s 元\n", a.Price)
	fmt.Fprintf(&b, "预警：%s\n", a.FlagText())
	fmt.Fprintf(&b, "唱标时间：%s\n", a.ReadOutAt.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05"))
	fmt.Fprintf(&b, "\n本邮件由开标系统自动发送（文档编号 %s），请监督人员关注。\n", docID)
	return b.String()
}

// Notify sends one mail.
func (m *Mail) Notify(ctx context.Context, _ *http.Client, msg Message) error {
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return fmt.Errorf("smtp address: %w", err)
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	if err := c.Hello("bidroom"); err != nil {
		return fmt.Errorf("smtp EHLO: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := m.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("smtp STARTTLS: %w", err)
		}
	}
	if m.User != "" {
		if err := c.Auth(smtp.PlainAuth("", m.User, m.Password, host)); err != nil {
			return fmt.Errorf("smtp login as %s: %w", m.User, err) // net/smtp's errors never hold the password
		}
	}
	if err := c.Mail(m.From); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	if err := c.Rcpt(msg.To); err != nil {
		return fmt.Errorf("smtp RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(m.message(msg)); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	return c.Quit()
}

// message is the mail: UTF-8 headers (RFC 2047), a base64 text body.
func (m *Mail) message(msg Message) []byte {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	domain := m.From[strings.LastIndex(m.From, "@")+1:]
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", m.From)
	fmt.Fprintf(&b, "To: %s\r\n", msg.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.BEncoding.Encode("UTF-8", m.Subject(msg.Alert)))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s.%s@%s>\r\n", msg.Doc.ID, hex.EncodeToString(rnd[:]), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(m.Body(msg.Alert, msg.Doc.ID)))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}
