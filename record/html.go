package record

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/bidroom/bidroom/rooms"
)

//go:embed record.html.tmpl
var pageSource string

var page = template.Must(template.New("record").Funcs(template.FuncMap{
	"t":        beijing,
	"phase":    label(phaseNames),
	"outcome":  label(outcomeNames),
	"bond":     label(bondNames),
	"method":   label(methodNames),
	"category": label(categoryNames),
	"pause":    label(pauseNames),
	"flag":     label(flagNames),
	"role":     func(r rooms.Role) string { return label(roleNames)(string(r)) },
	"duration": duration,
	"yes":      func(b bool) string { return map[bool]string{true: "是", false: "否"}[b] },
	"inc":      func(i int) int { return i + 1 },
	"sheet":    func(m map[string]string, k string) string { return m[k] },
	"who":      who,
}).Parse(pageSource))

// beijingTime is UTC+8, the time the centers work in (no tzdata needed).
var beijingTime = time.FixedZone("北京时间", 8*3600)

func beijing(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(beijingTime).Format("2006-01-02 15:04:05")
}

func duration(sec int64) string {
	if sec <= 0 {
		return "—"
	}
	return fmt.Sprintf("%d 分 %02d 秒", sec/60, sec%60)
}

// who turns "role:sub" into the role's Chinese name and the subject.
func who(s string) string {
	role, sub, ok := strings.Cut(s, ":")
	if !ok {
		return s
	}
	return label(roleNames)(role) + " " + sub
}

func label(names map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := names[k]; ok {
			return v
		}
		return k
	}
}

var (
	phaseNames = map[string]string{
		"scheduled": "已创建（投标文件递交中）", "check_in": "签到", "opened": "开标（截止时间到）", "decrypting": "解密",
		"decryption_closed": "解密结束", "failed": "流标", "reading_out": "唱标", "confirming": "确认及异议",
		"record": "开标记录", "closed": "结束",
	}
	outcomeNames  = map[string]string{"opened": "已解密开启", "revoked": "撤销（投标人原因未解密）", "withdrawn": "撤回（非投标人原因未解密）", "": "未递交"}
	bondNames     = map[string]string{"paid": "已缴纳", "guaranteed": "保函", "missing": "未缴纳", "unknown": "查询失败/未知"}
	methodNames   = map[string]string{"sm2": "CA 数字证书（SM2 签名）", "token": "登录凭证"}
	categoryNames = map[string]string{"construction": "建设工程", "procurement": "政府采购", "land": "土地", "mining": "矿业权", "state_property": "国有产权"}
	pauseNames    = map[string]string{"paused": "暂停", "suspended": "中止"}
	flagNames     = map[string]string{rooms.FlagAboveControlPrice: "超最高限价", rooms.FlagOffBudget: "偏离预算"}
	roleNames     = map[string]string{"host": "主持人", "admin": "管理员", "supervisor": "监督人", "bidder": "投标人", "system": "系统", "expert": "专家"}
)

// view is what the page template reads.
type view struct {
	*Record
	Names  map[string]string // bidder id → name
	Digest string
	KeyID  string
	Sig    string
}

// HTML renders the record as a printable zh-CN page (A4). The page is a
// reading of the record; the signed JSON stays the record of authority.
func HTML(rec *Record) []byte {
	return HTMLSigned(rec, "", "", "")
}

// HTMLSigned is HTML with the record's digest, the platform key id and
// signature printed in the footer.
func HTMLSigned(rec *Record, digest, keyID, signature string) []byte {
	v := view{Record: rec, Names: map[string]string{}, Digest: digest, KeyID: keyID, Sig: signature}
	for _, b := range rec.Bidders {
		v.Names[b.ID] = b.Name
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, v); err != nil {
		// The template is fixed and the view typed: a failure is a bug.
		return []byte("<!doctype html><meta charset=utf-8><p>开标记录无法显示：" + template.HTMLEscapeString(err.Error()))
	}
	return buf.Bytes()
}
