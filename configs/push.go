package configs

import (
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Push configures the information push (信息公开推送) to the provincial platform and the read-out's
// price alerts to supervisors; see docs/push.md. Nothing is sent while neither endpoints nor an
// alert channel is configured.
type Push struct {
	Endpoints   []string      `yaml:"endpoints"`    // default empty; http(s) URLs each signed document is POSTed to
	Token       string        `yaml:"token"`        // default ""; bearer token sent to the endpoints; best set as BIDROOM_PUSH_TOKEN
	MaxAttempts int           `yaml:"max_attempts"` // default 20 tries per document and target (back-off doubling from 10s, capped at 1h), 1..1000
	Timeout     time.Duration `yaml:"timeout"`      // default 10s per request or mail, 1s..5m
	Alerts      Alerts        `yaml:"alerts"`
}

// Alerts configures the price alerts (R12): which read-out rows raise one and the channels that
// carry it to the recipients.
type Alerts struct {
	OverControlPrice bool `yaml:"over_control_price"` // default true: a price above the control price (最高投标限价)
	// A price further off the budget than the session's budget_deviation_pct, that threshold held
	// within min..max (defaults 10 and 30; 0 and 0 = no budget alerts).
	BudgetDeviationPctMin int      `yaml:"budget_deviation_pct_min"`
	BudgetDeviationPctMax int      `yaml:"budget_deviation_pct_max"`
	SMSURL                string   `yaml:"sms_url"`       // default "": no SMS; the SMS gateway's http(s) endpoint
	SMSToken              string   `yaml:"sms_token"`     // default ""; bearer token of the gateway; best set as BIDROOM_PUSH_ALERTS_SMS_TOKEN
	SMSTemplate           string   `yaml:"sms_template"`  // default DefaultSMSTemplate; placeholders {session} {title} {section} {bidder} {price} {flag}
	WebhookURL            string   `yaml:"webhook_url"`   // default "": no webhook; http(s) URL the signed alert is POSTed to
	SMTPAddr              string   `yaml:"smtp_addr"`     // default "": no e-mail; host:port of the mail server (STARTTLS when it offers it)
	SMTPFrom              string   `yaml:"smtp_from"`     // sender address, required with smtp_addr
	SMTPUser              string   `yaml:"smtp_user"`     // default "": no login
	SMTPPassword          string   `yaml:"smtp_password"` // best set as BIDROOM_PUSH_ALERTS_SMTP_PASSWORD
	Recipients            []string `yaml:"recipients"`    // supervisors' mobile numbers (SMS) and e-mail addresses (mail)
}

// DefaultSMSTemplate is the SMS text of a price alert.
const DefaultSMSTemplate = "【开标预警】{title}（{section}）唱标：投标人{bidder}报价{price}元，{flag}。请监督人员关注。"

// Enabled reports whether anything is to be pushed or alerted: the dispatcher runs only then.
func (p Push) Enabled() bool { return len(p.Endpoints) > 0 || p.Alerts.Channels() }

// Channels reports whether an alert channel is configured.
func (a Alerts) Channels() bool { return a.SMSURL != "" || a.WebhookURL != "" || a.SMTPAddr != "" }

func defaultPush() Push {
	return Push{
		Endpoints: []string{}, MaxAttempts: 20, Timeout: 10 * time.Second,
		Alerts: Alerts{OverControlPrice: true, BudgetDeviationPctMin: 10, BudgetDeviationPctMax: 30,
			SMSTemplate: DefaultSMSTemplate, Recipients: []string{}},
	}
}

// validate checks the push settings. URLs may hold secrets in their query and tokens and the
// password are secrets: none is quoted back.
func (p Push) validate(pr *problems) {
	for i, e := range p.Endpoints {
		checkPushURL(pr, "push.endpoints", e, i)
	}
	if p.Token != "" && !printableToken(p.Token) {
		pr.add("push.token", "must be printable ASCII without spaces")
	}
	if p.MaxAttempts < 1 || p.MaxAttempts > 1000 {
		pr.add("push.max_attempts", "must be between 1 and 1000, got %d", p.MaxAttempts)
	}
	if p.Timeout < time.Second || p.Timeout > 5*time.Minute {
		pr.add("push.timeout", "must be between 1s and 5m, got %s", p.Timeout)
	}
	a := p.Alerts
	if a.BudgetDeviationPctMin < 0 || a.BudgetDeviationPctMax > 100 || a.BudgetDeviationPctMin > a.BudgetDeviationPctMax {
		pr.add("push.alerts.budget_deviation_pct_min", "budget_deviation_pct_min..budget_deviation_pct_max must be a range within 0..100, got %d..%d",
			a.BudgetDeviationPctMin, a.BudgetDeviationPctMax)
	}
	if a.SMSURL != "" {
		checkPushURL(pr, "push.alerts.sms_url", a.SMSURL, -1)
		if strings.TrimSpace(a.SMSTemplate) == "" {
			pr.add("push.alerts.sms_template", "must not be empty when sms_url is set")
		} else if len(a.SMSTemplate) > 1000 {
			pr.add("push.alerts.sms_template", "must be at most 1000 bytes, got %d", len(a.SMSTemplate))
		}
	}
	if a.SMSToken != "" && !printableToken(a.SMSToken) {
		pr.add("push.alerts.sms_token", "must be printable ASCII without spaces")
	}
	if a.WebhookURL != "" {
		checkPushURL(pr, "push.alerts.webhook_url", a.WebhookURL, -1)
	}
	if a.SMTPAddr != "" {
		if _, port, err := net.SplitHostPort(a.SMTPAddr); err != nil || port == "" {
			pr.add("push.alerts.smtp_addr", "must be host:port, got %q", a.SMTPAddr)
		}
		if _, err := mail.ParseAddress(a.SMTPFrom); err != nil || !strings.Contains(a.SMTPFrom, "@") {
			pr.add("push.alerts.smtp_from", "must be the sender's e-mail address when smtp_addr is set, got %q", a.SMTPFrom)
		}
		if (a.SMTPUser == "") != (a.SMTPPassword == "") {
			pr.add("push.alerts.smtp_user", "smtp_user and smtp_password are set together or not at all")
		}
	}
	var phones, mails int
	for _, r := range a.Recipients {
		switch {
		case strings.Contains(r, "@"):
			if addr, err := mail.ParseAddress(r); err != nil || addr.Address != r {
				pr.add("push.alerts.recipients", "entry %q is not a bare e-mail address like jiandu@example.cn", r)
			}
			mails++
		case isPhone(r):
			phones++
		default:
			pr.add("push.alerts.recipients", "entry %q is neither a mobile number (digits, an optional leading +) nor an e-mail address", r)
		}
	}
	if a.Channels() && len(a.Recipients) == 0 && (a.SMSURL != "" || a.SMTPAddr != "") {
		pr.add("push.alerts.recipients", "must list the supervisors' mobile numbers or e-mail addresses when sms_url or smtp_addr is set")
	}
	if a.SMSURL != "" && phones == 0 && len(a.Recipients) > 0 {
		pr.add("push.alerts.recipients", "sms_url is set but no recipient is a mobile number")
	}
	if a.SMTPAddr != "" && mails == 0 && len(a.Recipients) > 0 {
		pr.add("push.alerts.recipients", "smtp_addr is set but no recipient is an e-mail address")
	}
}

// checkPushURL requires an absolute http(s) URL without a user or password; i >= 0 names a list entry.
func checkPushURL(pr *problems, key, raw string, i int) {
	where := ""
	if i >= 0 {
		where = "entry " + strconv.Itoa(i) + ": "
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		pr.add(key, "%sis not a valid URL", where)
	case u.Scheme != "http" && u.Scheme != "https":
		pr.add(key, `%sscheme must be "http" or "https", got %q`, where, u.Scheme)
	case u.Host == "":
		pr.add(key, "%smust be an absolute URL with a host", where)
	case u.User != nil:
		pr.add(key, "%smust not hold a user or password (use the token settings)", where)
	}
}

func printableToken(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f })
}

func isPhone(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if len(s) < 5 || len(s) > 20 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
}
