package archive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bidroom/bidroom/archive"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/embedded"
)

// auctionArchive makes the archive of a small auction (its log only) and
// returns it with the platform key that signed it.
func auctionArchive(tb testing.TB) ([]byte, *decrypt.PrivateKey) {
	tb.Helper()
	log, err := embedded.Open(filepath.Join(tb.TempDir(), "events.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer log.Close()
	now := time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC)
	svc := rooms.NewService(log, func() time.Time { return now })
	spec, _ := json.Marshal(rooms.AuctionSpec{Title: "R-17", Lot: "G-17", Category: "land", Seller: "某局", StartPrice: "1000",
		Increments: rooms.Increments{Step: "100"}, Deposit: "100", ListingStart: now.Add(time.Hour), ListingEnd: now.AddDate(0, 0, 15)})
	ctx := context.Background()
	if _, err := svc.Execute(ctx, "au", rooms.Actor{Sub: "admin", Role: rooms.RoleAdmin}, rooms.Command{ID: "c", Type: rooms.CmdCreateAuction, Data: spec}); err != nil {
		tb.Fatal(err)
	}
	evs, err := svc.EventsAfter(ctx, "au", 0)
	if err != nil {
		tb.Fatal(err)
	}
	var raw []byte
	for _, e := range evs {
		b, _ := e.Encode()
		raw = append(append(raw, b...), '\n')
	}
	key, err := decrypt.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	w := archive.NewWriter(&buf, now)
	if err := w.AddBytes(archive.LogPath("au"), "log", raw); err != nil {
		tb.Fatal(err)
	}
	last := evs[len(evs)-1]
	if _, err := w.Close("au", []archive.RoomHead{{Room: "au", Kind: rooms.KindAuction, Seq: last.Seq, Hash: last.Hash}}, key); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), key
}

func TestVerifyAuctionArchive(t *testing.T) {
	b, key := auctionArchive(t)
	c, err := archive.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	m, checks, err := archive.Verify(c, key.Public())
	if err != nil || m.Session != "au" || !strings.Contains(strings.Join(checks, "\n"), "the auction has not ended") {
		t.Fatalf("%v: %v", err, checks)
	}
	other, _ := decrypt.GenerateKey()
	if _, _, err := archive.Verify(c, other.Public()); err == nil || !strings.Contains(err.Error(), "清单签名无效") {
		t.Fatalf("another key: %v", err)
	}
	if mf, err := archive.ReadManifest(bytes.NewReader(b)); err != nil || mf.Session != "au" || len(mf.Rooms) != 1 || mf.Rooms[0] != m.Rooms[0] {
		t.Fatalf("the manifest alone: %+v %v", mf, err)
	}
	if _, err := archive.ReadManifest(bytes.NewReader(b[:512])); err == nil {
		t.Fatal("a cut archive gives a manifest")
	}
}

func TestWriterRefusesUnsafePaths(t *testing.T) {
	w := archive.NewWriter(&bytes.Buffer{}, time.Now())
	for _, p := range []string{"../etc/passwd", "/abs", "a//b", "logs/./x", "logs/x y", "", strings.Repeat("a", 256)} {
		if err := w.AddBytes(p, "x", []byte("x")); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
	if err := w.Add("blobs/short", "x", 10, strings.NewReader("abc")); err == nil {
		t.Error("a file shorter than its size accepted")
	}
}

// FuzzArchive: any bytes read as an archive and verified never panic.
func FuzzArchive(f *testing.F) {
	b, key := auctionArchive(f)
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte("not a tar"))
	pub := key.Public()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := archive.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		_, _, _ = archive.Verify(c, pub)
	})
}
