package bidclient_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/bidclient"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
	"github.com/bidroom/bidroom/store/embedded"
)

// failAfter reads r and fails after n bytes, as a dropped connection would.
type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(b []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection dropped")
	}
	if len(b) > f.n {
		b = b[:f.n]
	}
	n, err := f.r.Read(b)
	f.n -= n
	return n, err
}

// TestBackupUploadResumes commits a backup's digest with the bid, fails an
// unlock with a wrong key (reported, so the channel opens), uploads the
// backup with the first part cut off midway (resumed from the server's
// offset) and unlocks it.
func TestBackupUploadResumes(t *testing.T) {
	key, _ := decrypt.GenerateKey()
	plain := make([]byte, 1<<20)
	if _, err := rand.Read(plain); err != nil {
		t.Fatal(err)
	}
	seal := func() []byte {
		var buf bytes.Buffer
		if _, err := decrypt.Seal(&buf, bytes.NewReader(plain), decrypt.SealOptions{SessionID: "S-1", BidderID: "B-1", Size: int64(len(plain)),
			Sheet: decrypt.Sheet{Price: "100.00"}, Signer: key}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	bid, backup := seal(), seal()

	var mu sync.Mutex
	skew := time.Duration(0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skew) }
	log, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	svc := rooms.NewService(log, now)
	issuer, _ := auth.NewIssuer([]byte(strings.Repeat("k", 32)), nil)
	bs, _ := blobs.Open(t.TempDir())
	platform, _ := decrypt.GenerateKey()
	hs := httptest.NewServer(api.NewRouter(api.Deps{Svc: svc, Issuer: issuer, AdminKey: "admin-key-0123456789",
		TokenTTL: time.Hour, MaxBodyBytes: 1 << 20, WS: http.NotFoundHandler(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(context.Context) error { return nil },
		Blobs: bs, Platform: platform, MaxBidBytes: 1 << 30}))
	t.Cleanup(hs.Close)

	ctx := context.Background()
	pub, _ := key.Public().MarshalPEM()
	spec, _ := json.Marshal(rooms.SessionSpec{Title: "工程", Category: "construction", Deadline: now().Add(time.Hour), CheckInAt: now(),
		ProceedBelowMin: true, BackupAllowed: true})
	reg, _ := json.Marshal(rooms.BidderSpec{ID: "B-1", Name: "投标人一", PublicKey: string(pub)})
	adm := rooms.Actor{Sub: "adm", Role: rooms.RoleAdmin}
	for _, c := range []rooms.Command{{ID: "c", Type: rooms.CmdCreateSession, Data: spec}, {ID: "r", Type: rooms.CmdRegisterBidder, Data: reg}} {
		if _, err := svc.Execute(ctx, "S-1", adm, c); err != nil {
			t.Fatal(err)
		}
	}
	tok, _, _ := issuer.Mint(auth.Request{Room: "S-1", Role: rooms.RoleBidder, Sub: "B-1", TTL: time.Hour})
	c := &bidclient.Client{Server: hs.URL, Session: "S-1", Token: tok}

	digest, err := bidclient.Digest(bytes.NewReader(backup))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, bytes.NewReader(bid), int64(len(bid)), &bidclient.UploadOptions{BackupDigest: digest}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	skew = time.Hour + time.Second
	mu.Unlock()
	if _, err := svc.Execute(ctx, "S-1", rooms.SystemActor, rooms.Command{ID: "d", Type: rooms.CmdDeadline}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Execute(ctx, "S-1", rooms.Actor{Sub: "h", Role: rooms.RoleHost}, rooms.Command{ID: "w", Type: rooms.CmdStartDecryption}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadBackup(ctx, bytes.NewReader(backup), int64(len(backup)), nil); bidclient.Code(err) != "wrong_state" {
		t.Fatalf("backup before a failed unlock: %v; want wrong_state", err)
	}
	wrong, _ := decrypt.GenerateKey()
	if _, err := c.Unlock(ctx, wrong); !errors.Is(err, bidclient.ErrWrongKey) {
		t.Fatalf("unlock with another key: %v; want ErrWrongKey", err)
	}

	var offsets []int64
	retries := 0
	res, err := c.UploadBackup(ctx, bytes.NewReader(backup), int64(len(backup)), &bidclient.UploadOptions{
		Part: func(part io.Reader, off, n, size int64) (io.Reader, func()) {
			offsets = append(offsets, off)
			if len(offsets) == 1 {
				return &failAfter{r: part, n: 256 << 10}, func() {}
			}
			return part, func() {}
		},
		Retrying: func(int64, error) { retries++ },
		Backoff:  func(int) time.Duration { return 100 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Accepted || res.Digest != digest || res.Size != int64(len(backup)) {
		t.Fatalf("backup answer %+v; want accepted %s", res, digest)
	}
	if retries != 1 || len(offsets) != 2 || offsets[1] == 0 {
		t.Fatalf("retries %d, parts at %v; want one retry resuming past byte 0", retries, offsets)
	}
	u, err := c.UnlockBackup(ctx, key)
	if err != nil || !u.Opened || u.Sheet["price"] != "100.00" {
		t.Fatalf("unlock the backup: %+v, %v", u, err)
	}
	_, opened, _ := svc.BidOf(ctx, "S-1", "B-1")
	if opened == nil || !opened.Backup {
		t.Fatalf("opened %+v; want from the backup", opened)
	}
}
