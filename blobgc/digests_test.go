package blobgc

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/archive"
	"github.com/bidroom/bidroom/rooms"
)

func found(data string) []string {
	var out []string
	scanDigests([]byte(data), func(d digest) { out = append(out, hex.EncodeToString(d[:])) })
	return out
}

var (
	hexA = strings.Repeat("ab", 32)
	hexB = strings.Repeat("0f", 32)
)

func TestScanDigests(t *testing.T) {
	for _, c := range []struct {
		name, data string
		want       []string
	}{
		{"a field", `{"digest":"` + hexA + `"}`, []string{hexA}},
		{"two, and a number", `{"d":"` + hexA + `","n":12,"e":["` + hexB + `"]}`, []string{hexA, hexB}},
		{"capitals folded", `{"d":"` + strings.ToUpper(hexA) + `"}`, []string{hexA}},
		{"63 digits", `{"d":"` + hexA[1:] + `"}`, nil},
		{"65 digits", `{"d":"` + hexA + `a"}`, nil},
		{"a signature's 128", `{"d":"` + hexA + hexB + `"}`, nil},
		{"inside text", `{"note":"sm3:` + hexA + `, see"}`, []string{hexA}},
		{"escaped digits", `{"d":"\u0061\u0062` + hexA[2:] + `"}`, []string{hexA}},
		{"escaped capital U", `{"d":"\u0041B` + hexA[2:] + `"}`, []string{hexA}},
		{"an escape ends a run", `{"d":"` + hexA + `\n` + hexB + `"}`, []string{hexA, hexB}},
		{`\b is not b`, `{"d":"\b` + hexA[1:] + `"}`, nil},
		{`\f then 64`, `{"d":"\f` + hexA + `"}`, []string{hexA}},
		{"escaped non-ASCII ends a run", `{"d":"` + hexA + `\u4e2d"}`, []string{hexA}},
		{"escaped quote", `{"d":"\"` + hexA + `\""}`, []string{hexA}},
		{"cut escape at the end", `"` + hexA + `\u00`, []string{hexA}},
		{"empty", ``, nil},
	} {
		if got := found(c.data); !slices.Equal(got, c.want) {
			t.Errorf("%s: %s → %v, want %v", c.name, c.data, got, c.want)
		}
	}
}

// FuzzScanDigests: for any string, however JSON escapes it (each byte
// escaped as \u00XX when the mask says so), the scan finds exactly the
// runs of 64 hex digits of the string itself.
func FuzzScanDigests(f *testing.F) {
	f.Add(hexA, uint64(0))
	f.Add("x"+hexA+"\n"+hexB, uint64(0xf0f0f0f0f0f0f0f0))
	f.Add("\"\\"+hexB, uint64(3))
	runs := regexp.MustCompile(`[0-9a-fA-F]+`)
	f.Fuzz(func(t *testing.T, s string, mask uint64) {
		var enc strings.Builder
		enc.WriteByte('"')
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c >= 0x80:
				enc.WriteByte(c) // raw UTF-8 (or not): never a hex digit
			case mask>>(i%64)&1 == 1 || c < 0x20:
				fmt.Fprintf(&enc, `\u%04X`, c)
			case c == '"' || c == '\\':
				enc.WriteByte('\\')
				enc.WriteByte(c)
			default:
				enc.WriteByte(c)
			}
		}
		enc.WriteByte('"')
		var want []string
		for _, r := range runs.FindAllString(s, -1) {
			if len(r) == 64 {
				want = append(want, strings.ToLower(r))
			}
		}
		if got := found(enc.String()); !slices.Equal(got, want) {
			t.Fatalf("%q encoded %s: found %v, want %v", s, enc.String(), got, want)
		}
	})
}

// sealed returns events of room with these types and data, sealed into a
// chain as a store keeps them.
func sealed(room string, at time.Time, items ...any) []rooms.Event {
	var out []rooms.Event
	prev := ""
	for i := 0; i+1 < len(items); i += 2 {
		data, err := json.Marshal(items[i+1])
		if err != nil {
			panic(err)
		}
		e := rooms.Event{Room: room, Seq: uint64(len(out) + 1), Time: at, Actor: rooms.SystemActor, Type: items[i].(string), Data: data}
		e.Seal(prev)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

// digestOf is a made-up blob's name: the SM3 of s, spread over the
// shards as real ones are.
func digestOf(s string) string { return hex.EncodeToString(sm3.Sm3Sum([]byte(s))) }

// openingLog is an opening's events as the server writes them: bids with
// backups, the unlocks with their sheets and decrypted files, the signed
// record, a recording, and events naming no file.
func openingLog(room string, bidders int) []rooms.Event {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	items := []any{
		rooms.EvSessionCreated, rooms.SessionSpec{Title: "城东污水处理厂提标改造工程施工 <一标段> & 附属", Category: "construction", Deadline: at, ControlPrice: "12800000.00"},
	}
	for i := range bidders {
		b := fmt.Sprintf("%s-bidder-%d", room, i)
		items = append(items, rooms.EvBidderRegistered, rooms.BidderSpec{ID: b, Name: "江苏恒达建设工程有限公司", PublicKey: "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAE" + strings.Repeat("Q", 80) + "\n-----END PUBLIC KEY-----\n"})
	}
	for i := range bidders {
		b := fmt.Sprintf("%s-bidder-%d", room, i)
		items = append(items, rooms.EvBidSubmitted, rooms.Bid{Bidder: b, Digest: digestOf("bid " + b), Size: 20 << 20, HeaderDigest: digestOf("header " + b), Version: 1, BackupDigest: digestOf("backup " + b), ReceivedAt: at})
	}
	items = append(items, rooms.EvDecryptionStarted, map[string]any{"ends_at": at.Add(30 * time.Minute)})
	for i := range bidders {
		b := fmt.Sprintf("%s-bidder-%d", room, i)
		items = append(items, rooms.EvBidOpened, rooms.Unlock{Bidder: b, OK: true, PlaintextSHA: digestOf("plain " + b), PlaintextBytes: 20 << 20,
			Sheet: map[string]string{"price": "9800000.00", "duration": "300天", "quality": "合格", "project_manager": "李工"}})
	}
	items = append(items,
		rooms.EvChat, rooms.ChatMessage{ID: "msg-1", From: "host-1", To: "supervisors", Text: "唱标开始 <请注意> & 核对"},
		rooms.EvOpeningRecordSigned, rooms.OpeningRecord{Digest: digestOf("record " + room), Size: 4096, Signature: strings.Repeat("MEUCIQ", 12), KeyID: digestOf("platform key"), At: at},
		rooms.EvMediaRecorded, rooms.Recording{Feed: "host-video", File: room + "-host-video.ivf", SM3: digestOf("video " + room)},
	)
	return sealed(room, at, items...)
}

// TestScanCoversReferences: every blob archive.References finds in a log
// the server writes, the scan finds too — through the store's encoding
// (which escapes < > &) — and the scan also finds the digests an
// evaluation's creation copies from its opening, which References leaves
// to the opening's log.
func TestScanCoversReferences(t *testing.T) {
	events := openingLog("s1", 3)
	eval := sealed("e1", time.Now(), rooms.EvEvaluationCreated, rooms.EvaluationSpec{Title: "评标", Opening: "s1",
		Bids: []rooms.EvalBid{{Bidder: "a", BidDigest: digestOf("eval bid"), PlaintextDigest: digestOf("eval plain")}}})
	all := append(events, eval...)
	named := map[string]bool{}
	for _, e := range all {
		b, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := rooms.DecodeEvent(b)
		if err != nil {
			t.Fatal(err)
		}
		scanDigests(back.Data, func(d digest) { named[hex.EncodeToString(d[:])] = true })
	}
	refs, err := archive.References("s1", events)
	if err != nil {
		t.Fatal(err)
	}
	blobsNamed := 0
	for _, r := range refs {
		if r.Blob == "" {
			continue
		}
		blobsNamed++
		if !named[r.Blob] {
			t.Errorf("%s (%s) named by the log, not found by the scan", r.Blob, r.What)
		}
	}
	if blobsNamed != 3*3+1 {
		t.Fatalf("References found %d blobs, want 10: the test log is not what it should be", blobsNamed)
	}
	for _, d := range []string{digestOf("eval bid"), digestOf("eval plain")} {
		if !named[d] {
			t.Errorf("the evaluation's %s not found", d)
		}
	}
}

// BenchmarkNames compares the two ways of learning which blobs a page of
// a room's log names: archive.References (typed decoding of the events
// that name files) and the scan.
func BenchmarkNames(b *testing.B) {
	events := openingLog("s1", 5)
	bytes := 0
	for _, e := range events {
		bytes += len(e.Data)
	}
	b.Run("References", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(bytes))
		for b.Loop() {
			refs, err := archive.References("s1", events)
			if err != nil || len(refs) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(bytes))
		n := 0
		for b.Loop() {
			for i := range events {
				scanDigests(events[i].Data, func(digest) { n++ })
			}
		}
		if n == 0 {
			b.Fatal("nothing found")
		}
	})
}
