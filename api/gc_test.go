package api_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/api"
	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/blobgc"
	"github.com/bidroom/bidroom/rooms"
)

const month = 30 * 24 * time.Hour

// collect runs POST /api/v1/blobs/gc and returns the status, the
// progress lines and the report (or the error line).
func (e *env) collect(token, query string) (int, []blobgc.Progress, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/api/v1/blobs/gc"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var progress []blobgc.Progress
	var last map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			Progress *blobgc.Progress `json:"progress"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			e.t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if line.Progress != nil {
			progress = append(progress, *line.Progress)
			continue
		}
		last = nil
		_ = json.Unmarshal(sc.Bytes(), &last)
	}
	return resp.StatusCode, progress, last
}

// blobFile is where the store keeps a blob.
func (e *env) blobFile(digest string) string {
	return filepath.Join(e.blobDir, "sm3", digest[:2], digest)
}

// age sets the times of a file of the blob store to d ago.
func (e *env) age(path string, d time.Duration) {
	e.t.Helper()
	at := time.Now().Add(-d)
	if err := os.Chtimes(path, at, at); err != nil {
		e.t.Fatal(err)
	}
}

func there(path string) bool { _, err := os.Lstat(path); return err == nil }

func sm3Hex(b []byte) string { return hex.EncodeToString(sm3.Sm3Sum(b)) }

// refusedUpload uploads, as bidder b, a file sealed for another bidder:
// the upload completes into a blob, the bid is refused (422), and no log
// names the blob. It returns the blob's digest.
func (f *bidFixture) refusedUpload(room string) string {
	f.t.Helper()
	file := seal(f.t.(*testing.T), room, "a", f.keys["b"], 1000+len(room)) // sealed for a, by b
	if st, body := f.uploadTo("/api/v1/sessions/"+room+"/bids/uploads", f.tokens["b"], file, nil); st != http.StatusUnprocessableEntity {
		f.t.Fatalf("upload of another's bid: %d %v", st, body)
	}
	return sm3Hex(file)
}

// abandonedUpload starts an upload as bidder b and sends half of it.
func (f *bidFixture) abandonedUpload() string {
	f.t.Helper()
	st, body := f.do("POST", bidUploads, f.tokens["b"], map[string]any{"size": 100})
	if st != http.StatusCreated {
		f.t.Fatalf("create upload: %d %v", st, body)
	}
	id := body["upload_id"].(string)
	if st, body := f.patch(f.tokens["b"], id, 0, make([]byte, 50)); st != http.StatusOK {
		f.t.Fatalf("patch: %d %v", st, body)
	}
	return id
}

// TestBlobGC: through the admin endpoint, a collection removes the upload
// a bidder left a month ago and the blob of a refused bid stored a month
// ago; it keeps the accepted bid however old (its log names it), the
// blob of a bid refused a minute ago (within the grace), and the upload
// still in progress, which then completes. A dry run removes nothing;
// a center admin may not ask.
func TestBlobGC(t *testing.T) {
	f := newBidFixture(t)
	bidFile := seal(t, "s1", "a", f.keys["a"], 2000)
	if st, body := f.upload(f.tokens["a"], bidFile); st != http.StatusCreated {
		t.Fatalf("bid: %d %v", st, body)
	}
	bid := sm3Hex(bidFile)
	oldOrphan, youngOrphan := f.refusedUpload("s1"), f.refusedUpload("s1")
	if oldOrphan == youngOrphan {
		t.Fatal("two refused uploads, one blob")
	}
	stale, fresh := f.abandonedUpload(), f.abandonedUpload()
	st, err := os.Stat(f.blobFile(oldOrphan))
	if err != nil {
		t.Fatal(err)
	}
	orphanBytes := float64(st.Size())
	for _, p := range []string{f.blobFile(bid), f.blobFile(oldOrphan), filepath.Join(f.blobDir, "uploads", stale), filepath.Join(f.blobDir, "uploads", stale+".max")} {
		f.age(p, month)
	}

	centerAdmin, _, _ := f.issuer.Mint(auth.Request{Room: auth.AnyRoom, Role: rooms.RoleAdmin, Sub: "city-admin", TTL: time.Hour})
	if st, _, body := f.collect(centerAdmin, ""); st != http.StatusForbidden {
		t.Fatalf("a center admin's collection: %d %v", st, body)
	}
	if st, _, _ := f.collect("", ""); st != http.StatusUnauthorized {
		t.Fatalf("an anonymous collection: %d", st)
	}

	status, progress, last := f.collect(adminKey, "?dry_run=1")
	report, _ := last["report"].(map[string]any)
	if status != http.StatusOK || len(progress) == 0 || report == nil || report["dry_run"] != true ||
		report["uploads_removed"] != 1.0 || report["blobs_removed"] != 1.0 || !there(f.blobFile(oldOrphan)) {
		t.Fatalf("dry run: %d %v %v", status, progress, last)
	}

	status, _, last = f.collect(adminKey, "")
	report, _ = last["report"].(map[string]any)
	if status != http.StatusOK || report == nil || report["uploads_removed"] != 1.0 || report["blobs_removed"] != 1.0 ||
		report["blob_bytes"] != orphanBytes || report["uploads_kept"] != 1.0 {
		t.Fatalf("collection: %d %v", status, last)
	}
	if there(f.blobFile(oldOrphan)) || there(filepath.Join(f.blobDir, "uploads", stale)) {
		t.Error("the old orphan or the stale upload is still there")
	}
	if !there(f.blobFile(bid)) || !there(f.blobFile(youngOrphan)) {
		t.Error("the named bid or the young orphan was removed")
	}
	if st, _ := f.patch(f.tokens["b"], stale, 50, make([]byte, 50)); st != http.StatusNotFound {
		t.Errorf("the removed upload answers %d, want 404", st)
	}
	if st, body := f.patch(f.tokens["b"], fresh, 50, make([]byte, 50)); st != http.StatusOK || body["offset"] != 100.0 {
		t.Errorf("the upload in progress: %d %v", st, body)
	}
}

// TestBlobGCAfterPrune: an opening fails (流标) with one bid and one
// refused upload; it is archived and, after the retention, pruned, which
// removes the bid it names — but not the refused upload's blob, which no
// log names and prune does not know of. The collection then takes that
// one, and keeps the bids of a live session however old.
func TestBlobGCAfterPrune(t *testing.T) {
	archiveDir := t.TempDir()
	f := newBidFixtureFor(t, func(s map[string]any) { s["proceed_below_min"] = false },
		func(d *api.Deps) { d.ArchiveDir, d.Retention = archiveDir, 24*time.Hour })
	bidFile := seal(t, "s1", "a", f.keys["a"], 2000)
	if st, body := f.upload(f.tokens["a"], bidFile); st != http.StatusCreated {
		t.Fatalf("bid: %d %v", st, body)
	}
	bid, orphan := sm3Hex(bidFile), f.refusedUpload("s1")

	// A live session with a bid of its own, stored long ago.
	f.tokens["a2"], _, _ = f.issuer.Mint(auth.Request{Room: "s2", Role: rooms.RoleBidder, Sub: "a", TTL: time.Hour})
	pub, _ := f.keys["a"].Public().MarshalPEM()
	s2 := session("s2")
	s2["bidders"] = []map[string]string{{"id": "a", "name": "公司a", "public_key": string(pub)}}
	if st, body := f.do("POST", "/api/v1/sessions", adminKey, s2); st != http.StatusCreated {
		t.Fatalf("create s2: %d %v", st, body)
	}
	liveFile := seal(t, "s2", "a", f.keys["a"], 3000)
	if st, body := f.uploadTo("/api/v1/sessions/s2/bids/uploads", f.tokens["a2"], liveFile, nil); st != http.StatusCreated {
		t.Fatalf("s2 bid: %d %v", st, body)
	}
	live := sm3Hex(liveFile)

	f.advance(2*time.Hour + time.Minute)
	if _, err := f.svc.Execute(context.Background(), "s1", rooms.SystemActor, rooms.Command{ID: "dl", Type: rooms.CmdDeadline}); err != nil {
		t.Fatal(err)
	}
	if st, body := f.do("POST", "/api/v1/sessions/s1/archive", adminKey, nil); st != http.StatusCreated {
		t.Fatalf("archive: %d %v", st, body)
	}
	f.advance(25 * time.Hour)
	st, body := f.do("POST", "/api/v1/sessions/s1/prune", adminKey, nil)
	if st != http.StatusOK || len(body["removed"].([]any)) != 1 {
		t.Fatalf("prune: %d %v", st, body)
	}
	if there(f.blobFile(bid)) || !there(f.blobFile(orphan)) {
		t.Fatalf("after the prune: the bid there %v, the orphan there %v", there(f.blobFile(bid)), there(f.blobFile(orphan)))
	}

	for _, d := range []string{orphan, live} {
		f.age(f.blobFile(d), month)
	}
	st, _, last := f.collect(adminKey, "")
	report, _ := last["report"].(map[string]any)
	if st != http.StatusOK || report == nil || report["blobs_removed"] != 1.0 || report["orphans"] != 1.0 {
		t.Fatalf("collection after the prune: %d %v", st, last)
	}
	if there(f.blobFile(orphan)) || !there(f.blobFile(live)) {
		t.Fatalf("after the collection: the orphan there %v, the live bid there %v", there(f.blobFile(orphan)), there(f.blobFile(live)))
	}
}

// TestBlobGCBusy: while a collection runs, another is refused with 409.
func TestBlobGCBusy(t *testing.T) {
	e := newEnv(t)
	hold := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := e.gc.Run(context.Background(), true, func(blobgc.Progress) {
			select {
			case <-started:
			default:
				close(started)
				<-hold
			}
		})
		done <- err
	}()
	<-started
	st, _, body := e.collect(adminKey, "")
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st != http.StatusConflict || errCode(body) != "busy" {
		t.Fatalf("a collection during another: %d %v", st, body)
	}
}
