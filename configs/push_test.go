package configs

import (
	"strings"
	"testing"
)

func TestValidatePush(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Push)
		want   []string // substrings of the error; nil means valid
	}{
		{"off by default", func(p *Push) {}, nil},
		{"endpoints", func(p *Push) { p.Endpoints = []string{"https://ggzy.example.gov.cn/push", "http://10.0.0.5:8080/in"} }, nil},
		{"endpoint relative", func(p *Push) { p.Endpoints = []string{"ggzy.example.gov.cn/push"} }, []string{"push.endpoints", "entry 0"}},
		{"endpoint with password", func(p *Push) { p.Endpoints = []string{"https://u:hunter2@x.cn/p"} }, []string{"push.endpoints", "user or password"}},
		{"token with space", func(p *Push) { p.Token = "a b" }, []string{"push.token"}},
		{"attempts zero", func(p *Push) { p.MaxAttempts = 0 }, []string{"push.max_attempts"}},
		{"timeout short", func(p *Push) { p.Timeout = 0 }, []string{"push.timeout"}},
		{"deviation range", func(p *Push) { p.Alerts.BudgetDeviationPctMin = 40 }, []string{"push.alerts.budget_deviation_pct_min", "40..30"}},
		{"sms without recipients", func(p *Push) { p.Alerts.SMSURL = "https://sms.example.cn/send" }, []string{"push.alerts.recipients"}},
		{"sms with phone", func(p *Push) {
			p.Alerts.SMSURL = "https://sms.example.cn/send"
			p.Alerts.Recipients = []string{"+8613800000001"}
		}, nil},
		{"sms with mail only", func(p *Push) {
			p.Alerts.SMSURL = "https://sms.example.cn/send"
			p.Alerts.Recipients = []string{"a@b.cn"}
		}, []string{"no recipient is a mobile number"}},
		{"sms empty template", func(p *Push) {
			p.Alerts.SMSURL = "https://sms.example.cn/send"
			p.Alerts.Recipients = []string{"13800000001"}
			p.Alerts.SMSTemplate = " "
		}, []string{"push.alerts.sms_template"}},
		{"smtp", func(p *Push) {
			p.Alerts.SMTPAddr = "smtp.example.cn:587"
			p.Alerts.SMTPFrom = "bidroom@example.cn"
			p.Alerts.SMTPUser, p.Alerts.SMTPPassword = "u", "secret-pw"
			p.Alerts.Recipients = []string{"jiandu@example.cn"}
		}, nil},
		{"smtp no port", func(p *Push) {
			p.Alerts.SMTPAddr = "smtp.example.cn"
			p.Alerts.SMTPFrom = "b@example.cn"
			p.Alerts.Recipients = []string{"j@example.cn"}
		}, []string{"push.alerts.smtp_addr"}},
		{"smtp no from", func(p *Push) {
			p.Alerts.SMTPAddr = "smtp.example.cn:25"
			p.Alerts.Recipients = []string{"j@example.cn"}
		}, []string{"push.alerts.smtp_from"}},
		{"smtp password without user", func(p *Push) {
			p.Alerts.SMTPAddr = "smtp.example.cn:25"
			p.Alerts.SMTPFrom = "b@example.cn"
			p.Alerts.SMTPPassword = "secret-pw"
			p.Alerts.Recipients = []string{"j@example.cn"}
		}, []string{"push.alerts.smtp_user"}},
		{"recipient garbage", func(p *Push) { p.Alerts.Recipients = []string{"监督科"} }, []string{"push.alerts.recipients", "neither"}},
		{"webhook", func(p *Push) { p.Alerts.WebhookURL = "ftp://x.cn" }, []string{"push.alerts.webhook_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c.Push)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			assertErrContains(t, err, tt.want...)
			for _, secret := range []string{"hunter2", "secret-pw"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q echoes a secret", err)
				}
			}
		})
	}
	if Default().Push.Enabled() {
		t.Error("push is enabled by default")
	}
}

func TestPushEnv(t *testing.T) {
	c, err := Load("", []string{"BIDROOM_PUSH_ENDPOINTS=https://a.cn/p, https://b.cn/q", "BIDROOM_PUSH_TOKEN=tok",
		"BIDROOM_PUSH_ALERTS_SMS_URL=https://sms.cn/s", "BIDROOM_PUSH_ALERTS_RECIPIENTS=13800000001,j@x.cn", "BIDROOM_PUSH_ALERTS_BUDGET_DEVIATION_PCT_MAX=25"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Push.Endpoints) != 2 || c.Push.Endpoints[1] != "https://b.cn/q" || c.Push.Alerts.BudgetDeviationPctMax != 25 || !c.Push.Enabled() || len(c.Push.Alerts.Recipients) != 2 {
		t.Fatalf("push %+v", c.Push)
	}
}
