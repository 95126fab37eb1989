package blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// What the garbage collector (package blobgc) needs of the store: the
// uploads nobody finished, and the blobs with their ages. Which blobs are
// still wanted is not the store's to know; the collector asks the rooms'
// logs and tells the store which to remove.

// dirBatch is how many directory entries one read takes: a directory of
// any size is listed in bounded memory.
const dirBatch = 512

// IdleUpload is an upload RemoveIdleUploads removed (or, in a dry run,
// would remove).
type IdleUpload struct {
	ID        string
	Owner     string // as given to CreateUpload: whose upload it was
	Bytes     int64  // how much of it had arrived
	LastWrite time.Time
}

// UploadSweep counts what RemoveIdleUploads found.
type UploadSweep struct {
	Removed int   // idle uploads removed (in a dry run: that would be)
	Bytes   int64 // their bytes
	Busy    int   // idle by their files' times but being written right now: kept
	Kept    int   // written to since the cut-off: kept
}

// RemoveIdleUploads removes every upload that was neither completed nor
// aborted and has not been written to since before: its data and its
// limit file. An upload being appended to, completed or aborted right now
// holds its lock and is left alone, whatever its files' times say. With
// dryRun nothing is removed. removed, if not nil, is called for each.
//
// The last write is the newer of the upload's two files' modification
// times: Append's writes move the data file's, and a crash between
// CreateUpload's two files, or in Complete or Abort after the data went,
// leaves a limit file alone, which goes the same way.
func (s *Store) RemoveIdleUploads(ctx context.Context, before time.Time, dryRun bool, removed func(IdleUpload)) (UploadSweep, error) {
	var sw UploadSweep
	dir := filepath.Join(s.dir, "uploads")
	err := eachEntry(ctx, dir, func(name string) error {
		id, isMax := strings.CutSuffix(name, ".max")
		if !uploadID.MatchString(id) {
			return nil // not an upload's: not ours to remove
		}
		p := filepath.Join(dir, id)
		if isMax {
			if _, err := os.Lstat(p); err == nil {
				return nil // the data file's entry stands for the upload
			}
		}
		if last, _, ok := uploadTimes(p); !ok || !last.Before(before) {
			if ok {
				sw.Kept++
			}
			return nil
		}
		unlock, ok := s.tryLock(id)
		if !ok {
			sw.Busy++
			return nil
		}
		defer unlock()
		// Checked again under the lock: an Append that ended a moment ago
		// wrote to it since the first look.
		u, ok := s.idleUpload(id, p, before)
		if !ok {
			sw.Kept++
			return nil
		}
		if !dryRun {
			for _, f := range []string{p, p + ".max"} {
				if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("remove idle upload %s: %w", id, err)
				}
			}
			s.forget(id)
		}
		sw.Removed++
		sw.Bytes += u.Bytes
		if removed != nil {
			removed(u)
		}
		return nil
	})
	if err != nil {
		return sw, fmt.Errorf("sweep uploads in %s: %w", dir, err)
	}
	return sw, nil
}

// idleUpload describes upload id if its files exist and were last written
// before before.
func (s *Store) idleUpload(id, p string, before time.Time) (IdleUpload, bool) {
	last, size, ok := uploadTimes(p)
	if !ok || !last.Before(before) {
		return IdleUpload{}, false
	}
	_, owner, _ := s.meta(p) // a limit file lost or torn: the upload goes all the same
	return IdleUpload{ID: id, Owner: owner, Bytes: size, LastWrite: last}, true
}

// uploadTimes returns the newer modification time of an upload's data and
// limit files and the data's size; ok is false when neither exists.
func uploadTimes(p string) (last time.Time, size int64, ok bool) {
	for i, f := range []string{p, p + ".max"} {
		st, err := os.Lstat(f)
		if err != nil {
			continue
		}
		ok = true
		if i == 0 {
			size = st.Size()
		}
		if st.ModTime().After(last) {
			last = st.ModTime()
		}
	}
	return last, size, ok
}

// tryLock takes upload id's writer lock if nobody holds it.
func (s *Store) tryLock(id string) (unlock func(), ok bool) {
	m := s.writerLock(id)
	if !m.TryLock() {
		return nil, false
	}
	return m.Unlock, true
}

// Shards is how many directories the blobs are spread over, by the first
// byte of their digest. WalkShard lists one at a time, so that a caller
// holding something per blob can work on a part of the store at once.
const Shards = 256

// StoredBlob is a blob as WalkShard finds it.
type StoredBlob struct {
	Digest string
	Bytes  int64
	// Stored is when the blob was completed (its file's modification
	// time, which Complete sets; a blob completed before Complete set it
	// carries its upload's last write, a little earlier).
	Stored time.Time
}

// WalkShard calls fn for each blob of shard (0 to Shards-1), in no
// particular order, holding a bounded part of the directory in memory.
// Files that are not blobs are skipped. An error from fn stops the walk
// and is returned.
func (s *Store) WalkShard(ctx context.Context, shard int, fn func(StoredBlob) error) error {
	if shard < 0 || shard >= Shards {
		return fmt.Errorf("blob shard %d is not between 0 and %d", shard, Shards-1)
	}
	prefix := fmt.Sprintf("%02x", shard)
	dir := filepath.Join(s.dir, "sm3", prefix)
	err := eachEntry(ctx, dir, func(name string) error {
		if !digestRE.MatchString(name) || !strings.HasPrefix(name, prefix) {
			return nil
		}
		st, err := os.Lstat(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since the listing
		}
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return nil
		}
		return fn(StoredBlob{Digest: name, Bytes: st.Size(), Stored: st.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("walk blobs in %s: %w", dir, err)
	}
	return nil
}

// RemoveStoredBefore removes the blob with digest if it was stored before
// before, and returns its size. The age is checked again at the moment of
// removal, under the lock Complete holds while it puts a blob in place: a
// blob uploaded again since the caller looked is new, and is kept
// (removed false). A blob already gone is not an error (removed false).
//
// Only the garbage collector calls it, for a blob no room's log named when
// it read them.
func (s *Store) RemoveStoredBefore(digest string, before time.Time) (size int64, removed bool, err error) {
	p, err := s.blobPath(digest)
	if err != nil {
		return 0, false, err
	}
	s.names.Lock()
	defer s.names.Unlock()
	st, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("blob %s: %w", digest, err)
	}
	if !st.Mode().IsRegular() || !st.ModTime().Before(before) {
		return 0, false, nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, false, fmt.Errorf("remove blob %s: %w", digest, err)
	}
	return st.Size(), true, nil
}

// eachEntry calls fn with the name of each entry of dir, read a batch at a
// time; a missing dir has none. It stops at the first error, or when ctx
// ends.
func eachEntry(ctx context.Context, dir string, fn func(name string) error) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		entries, err := d.ReadDir(dirBatch)
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(e.Name()); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
