// Package recordtest runs a realistic opening through the domain, for the
// tests of the record, its API and its verifier.
package recordtest

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// Actors of the opening.
var (
	Admin = rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
	Host  = rooms.Actor{Sub: "h1", Role: rooms.RoleHost}
	Sup   = rooms.Actor{Sub: "s1", Role: rooms.RoleSupervisor}
)

// Bidder returns bidder id as an actor.
func Bidder(id string) rooms.Actor { return rooms.Actor{Sub: id, Role: rooms.RoleBidder} }

// Opening is a session driven up to the point where its record is ready.
type Opening struct {
	Room      string
	BidderKey *decrypt.PrivateKey // bidder a's key: a signs in and confirms with it
}

// Run drives room on svc through a whole opening, advancing the server
// clock with advance: four bidders a–d (a with a registered SM2 key), bonds
// checked, the decryption window with a pause and an extension, b's unlock
// failing on a server fault (撤回), c's with a wrong key (撤销), d opened
// from its backup file after a failed attempt, a recording, the read-out,
// b's objection answered by the host, a's SM2 confirmation, d's token
// confirmation, c silent, the window closed. The record is then ready.
func Run(t testing.TB, svc *rooms.Service, room string, advance func(time.Duration)) *Opening {
	t.Helper()
	key, err := decrypt.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.Public().MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	o := &Opening{Room: room, BidderKey: key}
	n := 0
	do := func(actor rooms.Actor, typ string, data any) {
		t.Helper()
		n++
		var raw json.RawMessage
		if data != nil {
			raw, _ = json.Marshal(data)
		}
		if _, err := svc.Execute(context.Background(), room, actor, rooms.Command{ID: fmt.Sprintf("%s-%d", typ, n), Type: typ, Data: raw}); err != nil {
			t.Fatalf("%s by %s:%s: %v", typ, actor.Role, actor.Sub, err)
		}
	}
	now := svc.Now()
	do(Admin, rooms.CmdCreateSession, rooms.SessionSpec{
		Title: "城东污水处理厂提标改造工程施工", Section: "CD-2026-017", Category: "construction",
		Deadline: now.Add(time.Hour), CheckInAt: now.Add(10 * time.Minute),
		ControlPrice: "1000000.00", SealedTerms: rooms.SealedTerms{Budget: "900000", BudgetDeviationPct: 20, ReservePrice: "880000"},
		ReadOutFields: []rooms.ReadOutField{{Key: "price", Label: "投标报价（元）"}, {Key: "duration", Label: "工期（日历天）"},
			{Key: "quality", Label: "质量目标"}, {Key: "manager", Label: "项目经理"}},
		DecryptWindowMinutes: 30, ConfirmWindowMinutes: 5, BackupAllowed: true,
	})
	for _, b := range []rooms.BidderSpec{{ID: "a", Name: "江苏甲建设集团有限公司", PublicKey: string(pub)}, {ID: "b", Name: "乙市政工程有限公司"},
		{ID: "c", Name: "丙环境科技股份有限公司"}, {ID: "d", Name: "丁建工集团有限公司"}} {
		do(Admin, rooms.CmdRegisterBidder, b)
	}
	advance(10 * time.Minute)
	do(rooms.SystemActor, rooms.CmdOpenCheckIn, nil)
	id := key.Public().ID()
	do(Bidder("a"), rooms.CmdKeySignIn, rooms.SignIn{KeyID: hex.EncodeToString(id[:])})
	do(Bidder("b"), rooms.CmdSignIn, nil)
	do(Bidder("d"), rooms.CmdSignIn, nil)
	do(Host, rooms.CmdSignIn, nil)
	do(Sup, rooms.CmdSignIn, nil)
	for _, b := range []string{"a", "b", "c", "d"} {
		bid := rooms.Bid{Bidder: b, Digest: hex.EncodeToString([]byte(strings.Repeat(b, 32))), Size: 1 << 20, HeaderDigest: strings.Repeat("f", 64)}
		if b == "d" {
			bid.BackupDigest = strings.Repeat("e", 64)
		}
		do(Bidder(b), rooms.CmdSubmitBid, bid)
	}
	do(Host, rooms.CmdAnnounce, rooms.Announcement{Text: "各投标人请于开标前完成签到并检查CA证书。"})
	advance(50 * time.Minute)
	do(rooms.SystemActor, rooms.CmdDeadline, nil)
	do(rooms.SystemActor, rooms.CmdRecordBonds, rooms.Bonds{Bonds: []rooms.BondStatus{
		{Bidder: "a", Status: "paid", Amount: "20000"}, {Bidder: "b", Status: "guaranteed", Guarantor: "某银行", Reference: "BH-1"},
		{Bidder: "c", Status: "paid", Amount: "20000"}, {Bidder: "d", Status: "unknown", Error: "bond system timed out"},
	}})
	advance(time.Minute)
	do(Host, rooms.CmdStartDecryption, nil)
	sheet := func(price, days, mgr string) map[string]string {
		return map[string]string{"price": price, "duration": days, "quality": "合格", "manager": mgr}
	}
	advance(time.Minute)
	do(Bidder("a"), rooms.CmdRecordUnlock, rooms.Unlock{Bidder: "a", OK: true, Sheet: sheet("950000.00", "365", "张三"), PlaintextSHA: strings.Repeat("1", 64)})
	do(Bidder("b"), rooms.CmdRecordUnlock, rooms.Unlock{Bidder: "b", Code: "server_error", Message: "storage unavailable"})
	advance(time.Minute)
	do(Host, rooms.CmdPause, rooms.Pause{Reason: "大屏显示与文件不一致，核对中"})
	advance(10 * time.Minute)
	do(Host, rooms.CmdResume, nil)
	do(Host, rooms.CmdExtendDecryption, rooms.Extension{Minutes: 10, Reason: "投标人网络故障"})
	do(Bidder("c"), rooms.CmdRecordUnlock, rooms.Unlock{Bidder: "c", Code: "wrong_key", Message: "the data key does not unwrap with this key"})
	do(Bidder("d"), rooms.CmdRecordUnlock, rooms.Unlock{Bidder: "d", Code: "corrupted", Message: "chunk 3 fails authentication"})
	advance(time.Minute)
	do(Bidder("d"), rooms.CmdRecordUnlock, rooms.Unlock{Bidder: "d", OK: true, Backup: true, Sheet: sheet("1200000.00", "300", "李四"), PlaintextSHA: strings.Repeat("2", 64)})
	do(rooms.SystemActor, rooms.CmdRecordMedia, rooms.Recording{Hall: room, Feed: "host-camera", Publisher: "h1", Kind: "video", Codec: "H264",
		File: room + "-host-camera-video.h264", Bytes: 73400320, SM3: strings.Repeat("9", 64), Packets: 61000,
		Started: now.Add(time.Hour), Ended: now.Add(90 * time.Minute)})
	advance(50 * time.Minute) // past the window
	do(rooms.SystemActor, rooms.CmdCloseDecryption, nil)
	do(Host, rooms.CmdClassify, rooms.Classification{Bidder: "b", Outcome: rooms.OutcomeWithdrawn, Reason: "平台存储故障，见解密记录 server_error"})
	do(Host, rooms.CmdClassify, rooms.Classification{Bidder: "c", Outcome: rooms.OutcomeRevoked, Reason: "投标人使用错误的密钥，窗口内未能解密"})
	advance(time.Minute)
	do(Host, rooms.CmdStartReadOut, nil)
	do(Bidder("b"), rooms.CmdObject, rooms.Objection{Text: "我公司投标文件未能解密系平台原因，要求记录在案"})
	do(Host, rooms.CmdStartConfirmation, nil)

	snap, err := svc.Snapshot(context.Background(), room, Host)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := snap.Opening()
	digest := v.ReadOut.Digest
	sig, err := key.Sign([]byte(rooms.ConfirmationMessage(room, "a", digest)))
	if err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	do(Bidder("a"), rooms.CmdRecordConfirmation, rooms.Confirmation{Digest: digest, KeyID: hex.EncodeToString(id[:]), Signature: base64.StdEncoding.EncodeToString(sig)})
	do(Bidder("d"), rooms.CmdConfirm, rooms.Confirmation{Digest: digest})
	do(Host, rooms.CmdAnswerObjection, rooms.ObjectionAnswer{ID: objectionID(t, svc, room), Text: "已记录。经核实解密失败原因为平台存储故障，按撤回处理，不影响其他投标文件开标。"})
	advance(5 * time.Minute)
	do(rooms.SystemActor, rooms.CmdCloseConfirmation, nil)
	return o
}

func objectionID(t testing.TB, svc *rooms.Service, room string) string {
	t.Helper()
	snap, err := svc.Snapshot(context.Background(), room, Host)
	v, _ := snap.Opening()
	if err != nil || len(v.Objections) == 0 {
		t.Fatalf("no objection to answer (%v)", err)
	}
	return v.Objections[0].ID
}
