package blobs

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// age sets a file's times to d ago.
func age(t *testing.T, path string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// newUpload creates an upload holding part.
func newUpload(t *testing.T, s *Store, owner string, part []byte) string {
	t.Helper()
	id, err := s.CreateUpload(1<<20, owner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(id, 0, bytes.NewReader(part)); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRemoveIdleUploads: an upload idle past the cut-off goes (data and
// limit file, reported with its owner and bytes); one written since stays;
// a limit file left alone by a crash goes; a dry run reports the same and
// removes nothing; stray files are not touched.
func TestRemoveIdleUploads(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	up := func(id string) string { return filepath.Join(dir, "uploads", id) }

	stale := newUpload(t, s, "s1/a", []byte("half of a bid"))
	age(t, up(stale), 72*time.Hour)
	age(t, up(stale)+".max", 72*time.Hour)

	fresh := newUpload(t, s, "s1/b", []byte("a bid in progress"))
	age(t, up(fresh)+".max", 72*time.Hour) // created long ago, written to a moment ago: kept

	// A crash in Complete after the rename: the limit file alone.
	lone := "0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(up(lone)+".max", []byte("10\nx"), 0o600); err != nil {
		t.Fatal(err)
	}
	age(t, up(lone)+".max", 72*time.Hour)
	stray := up("notes.txt")
	if err := os.WriteFile(stray, []byte("not an upload"), 0o600); err != nil {
		t.Fatal(err)
	}
	age(t, stray, 72*time.Hour)

	before := time.Now().Add(-48 * time.Hour)
	var dry []IdleUpload
	sw, err := s.RemoveIdleUploads(context.Background(), before, true, func(u IdleUpload) { dry = append(dry, u) })
	if err != nil {
		t.Fatal(err)
	}
	if sw.Removed != 2 || sw.Busy != 0 || sw.Kept != 1 || len(dry) != 2 || !exists(up(stale)) || !exists(up(lone)+".max") {
		t.Fatalf("dry run: %+v %+v; stale there %v", sw, dry, exists(up(stale)))
	}

	var got []IdleUpload
	sw, err = s.RemoveIdleUploads(context.Background(), before, false, func(u IdleUpload) { got = append(got, u) })
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	want := []string{lone, stale}
	sort.Strings(want)
	if sw.Removed != 2 || sw.Busy != 0 || sw.Kept != 1 || len(got) != 2 || got[0].ID != want[0] || got[1].ID != want[1] {
		t.Fatalf("sweep: %+v %+v, want %v removed, 1 kept", sw, got, want)
	}
	for _, u := range got {
		if u.ID == stale && (u.Owner != "s1/a" || u.Bytes != int64(len("half of a bid")) || time.Since(u.LastWrite) < 71*time.Hour) {
			t.Errorf("stale upload reported as %+v", u)
		}
	}
	if sw.Bytes != int64(len("half of a bid")) {
		t.Errorf("bytes %d", sw.Bytes)
	}
	for _, p := range []string{up(stale), up(stale) + ".max", up(lone) + ".max"} {
		if exists(p) {
			t.Errorf("%s is still there", p)
		}
	}
	for _, p := range []string{up(fresh), up(fresh) + ".max", stray} {
		if !exists(p) {
			t.Errorf("%s was removed", p)
		}
	}
	if _, err := s.Append(stale, 13, bytes.NewReader([]byte("more"))); err == nil {
		t.Error("an append to a removed upload succeeded")
	}

}

// TestIdleUploadBeingWritten: an upload being appended to right now is
// kept whatever its files' times say (here every upload counts as idle:
// the cut-off is in the future), and its append carries on and completes.
func TestIdleUploadBeingWritten(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	busy := newUpload(t, s, "s1/c", []byte("first part,"))
	pr, pw := io.Pipe()
	appended := make(chan error, 1)
	go func() {
		_, err := s.Append(busy, int64(len("first part,")), pr)
		appended <- err
	}()
	// Once the append has read from the pipe it holds the upload's lock,
	// until the pipe closes.
	if _, err := pw.Write([]byte("second ")); err != nil {
		t.Fatal(err)
	}
	sw, err := s.RemoveIdleUploads(context.Background(), time.Now().Add(time.Hour), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sw.Busy != 1 || sw.Removed != 0 {
		t.Fatalf("sweep during an append: %+v, want 1 busy", sw)
	}
	if _, err := pw.Write([]byte("part")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	digest, size, err := s.Complete(busy)
	if err != nil || size != int64(len("first part,second part")) {
		t.Fatalf("complete after the sweep: %v %d", err, size)
	}
	f, _, err := s.Open(digest)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "first part,second part" {
		t.Fatalf("blob holds %q", b)
	}
	// Idle now, and nobody holds it: the next sweep would take it — but
	// it was completed, so there is nothing left of it to take.
	if sw, _ := s.RemoveIdleUploads(context.Background(), time.Now().Add(time.Hour), false, nil); sw != (UploadSweep{}) {
		t.Fatalf("after completion: %+v", sw)
	}
}

// TestCompleteStampsTheBlob: a blob's time is its completion, not its
// upload's last write (which a paused upload can leave days back): the
// collector's grace runs from the completion.
func TestCompleteStampsTheBlob(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	id := newUpload(t, s, "o", []byte("paused, then completed"))
	age(t, filepath.Join(dir, "uploads", id), 30*24*time.Hour)
	digest, _, err := s.Complete(id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "sm3", digest[:2], digest))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(st.ModTime()); d > time.Minute || d < -time.Minute {
		t.Fatalf("the blob's time is %s ago, want about now", d)
	}
}

// TestWalkAndRemoveStoredBefore: the walk lists each blob once in its
// shard with its size and time, skipping strays; an old blob goes, a
// young one stays, one completed again since it was listed stays, one
// already gone is no error.
func TestWalkAndRemoveStoredBefore(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	ctx := context.Background()
	complete := func(b []byte) string {
		t.Helper()
		d, _, err := s.Complete(newUpload(t, s, "o", b))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	blobPath := func(d string) string { return filepath.Join(dir, "sm3", d[:2], d) }
	old, young, again := complete([]byte("old orphan")), complete([]byte("young")), complete([]byte("uploaded twice"))
	age(t, blobPath(old), 48*time.Hour)
	age(t, blobPath(again), 48*time.Hour)
	if err := os.WriteFile(filepath.Join(dir, "sm3", old[:2], "junk.tmp"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	found := map[string]StoredBlob{}
	for shard := range Shards {
		if err := s.WalkShard(ctx, shard, func(b StoredBlob) error {
			if _, dup := found[b.Digest]; dup || b.Digest[:2] != filepath.Base(filepath.Dir(blobPath(b.Digest))) {
				t.Errorf("blob %s listed twice or in the wrong shard", b.Digest)
			}
			found[b.Digest] = b
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(found) != 3 || found[old].Bytes != int64(len("old orphan")) || time.Since(found[old].Stored) < 47*time.Hour || time.Since(found[young].Stored) > time.Hour {
		t.Fatalf("walk: %+v", found)
	}
	if err := s.WalkShard(ctx, Shards, func(StoredBlob) error { return nil }); err == nil {
		t.Error("shard 256 walked")
	}

	// The same bytes uploaded again between the listing and the removal.
	if complete([]byte("uploaded twice")) != again {
		t.Fatal("same bytes, another digest")
	}
	cut := time.Now().Add(-24 * time.Hour)
	for _, c := range []struct {
		digest         string
		removed, there bool
	}{{old, true, false}, {young, false, true}, {again, false, true}, {old, false, false}} {
		size, removed, err := s.RemoveStoredBefore(c.digest, cut)
		if err != nil || removed != c.removed || removed && size != int64(len("old orphan")) {
			t.Errorf("RemoveStoredBefore(%s): %d %v %v, want removed %v", c.digest[:8], size, removed, err, c.removed)
		}
		if exists(blobPath(c.digest)) != c.there {
			t.Errorf("blob %s there: %v, want %v", c.digest[:8], !c.there, c.there)
		}
	}
	if _, _, err := s.RemoveStoredBefore("../../etc", cut); err == nil {
		t.Error("a malformed digest was accepted")
	}
}
