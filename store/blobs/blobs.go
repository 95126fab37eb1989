// Package blobs keeps large immutable files (sealed bids, recordings) in a
// directory, content-addressed by their SM3 digest, with resumable uploads.
//
// It knows nothing of what the bytes mean; format checks belong to callers.
package blobs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tjfoc/gmsm/sm3"
)

// Errors callers branch on.
var (
	ErrNotFound       = errors.New("no such blob or upload")
	ErrOffsetMismatch = errors.New("upload offset does not match what the server has")
	ErrTooLarge       = errors.New("upload exceeds its size limit")
)

// Store is a blob directory: <dir>/sm3/<2 hex>/<64 hex> for finished blobs,
// <dir>/uploads/<id> for uploads in progress (with <id>.max holding the
// upload's size limit and its owner).
type Store struct {
	dir string

	mu      sync.Mutex             // guards writing
	writing map[string]*sync.Mutex // one writer per upload at a time

	// names is held while a blob's file is put in place (Complete) and
	// while the collector checks a blob's age and removes it
	// (RemoveStoredBefore), so a blob completed again a moment before its
	// removal is seen as new and kept.
	names sync.Mutex
}

// Open returns the store in dir, creating it if needed.
func Open(dir string) (*Store, error) {
	for _, d := range []string{filepath.Join(dir, "sm3"), filepath.Join(dir, "uploads")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob store %s: %w", dir, err)
		}
	}
	return &Store{dir: dir, writing: map[string]*sync.Mutex{}}, nil
}

var (
	uploadID = regexp.MustCompile(`^[0-9a-f]{32}$`)
	digestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func (s *Store) uploadPath(id string) (string, error) {
	if !uploadID.MatchString(id) {
		return "", fmt.Errorf("%w: malformed upload id", ErrNotFound)
	}
	return filepath.Join(s.dir, "uploads", id), nil
}

// blobPath returns where the blob with digest lives.
func (s *Store) blobPath(digest string) (string, error) {
	if !digestRE.MatchString(digest) {
		return "", fmt.Errorf("%w: malformed digest", ErrNotFound)
	}
	return filepath.Join(s.dir, "sm3", digest[:2], digest), nil
}

// CreateUpload starts an upload of at most maxSize bytes on behalf of owner
// (an opaque string the caller checks later) and returns its id.
func (s *Store) CreateUpload(maxSize int64, owner string) (string, error) {
	if maxSize <= 0 {
		return "", fmt.Errorf("upload size limit must be positive, got %d", maxSize)
	}
	if len(owner) > 512 || strings.ContainsAny(owner, "\n") {
		return "", fmt.Errorf("upload owner must be one line of at most 512 bytes")
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	p, _ := s.uploadPath(id)
	if err := writeFileSync(p+".max", []byte(strconv.FormatInt(maxSize, 10)+"\n"+owner)); err != nil {
		return "", fmt.Errorf("create upload: %w", err)
	}
	if err := writeFileSync(p, nil); err != nil {
		return "", fmt.Errorf("create upload: %w", err)
	}
	return id, nil
}

// Offset returns how many bytes of the upload the server holds durably:
// where a resumed upload continues.
func (s *Store) Offset(id string) (int64, error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: upload %s", ErrNotFound, id)
	}
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", id, err)
	}
	return st.Size(), nil
}

func (s *Store) meta(p string) (max int64, owner string, err error) {
	b, err := os.ReadFile(p + ".max")
	if err != nil {
		return 0, "", err
	}
	limit, owner, _ := strings.Cut(string(b), "\n")
	max, err = strconv.ParseInt(limit, 10, 64)
	return max, owner, err
}

// Owner returns the owner an upload was created for.
func (s *Store) Owner(id string) (string, error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return "", err
	}
	_, owner, err := s.meta(p)
	if err != nil {
		return "", fmt.Errorf("%w: upload %s", ErrNotFound, id)
	}
	return owner, nil
}

func (s *Store) lock(id string) func() {
	m := s.writerLock(id)
	m.Lock()
	return m.Unlock
}

// writerLock returns upload id's writer lock, made on first use.
func (s *Store) writerLock(id string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.writing[id]
	if m == nil {
		m = &sync.Mutex{}
		s.writing[id] = m
	}
	return m
}

// Append writes r to the upload at offset, which must equal Offset(id), and
// makes it durable before returning the new offset. On an error midway the
// bytes written so far stay (the client resumes from Offset).
func (s *Store) Append(id string, offset int64, r io.Reader) (int64, error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return 0, err
	}
	defer s.lock(id)()
	max, _, err := s.meta(p)
	if err != nil {
		return 0, fmt.Errorf("%w: upload %s", ErrNotFound, id)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("%w: upload %s", ErrNotFound, id)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Size() != offset {
		return st.Size(), fmt.Errorf("%w: client at %d, server at %d", ErrOffsetMismatch, offset, st.Size())
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, err
	}
	// Read one byte past the limit to tell "exactly at" from "over".
	n, copyErr := io.Copy(f, io.LimitReader(r, max-offset+1))
	if offset+n > max {
		_ = f.Truncate(max)
		_ = f.Sync()
		return max, fmt.Errorf("%w: limit %d bytes", ErrTooLarge, max)
	}
	if err := f.Sync(); err != nil {
		return offset, fmt.Errorf("sync upload %s: %w", id, err)
	}
	if copyErr != nil {
		return offset + n, fmt.Errorf("upload %s interrupted at %d: %w", id, offset+n, copyErr)
	}
	return offset + n, nil
}

// Complete turns the finished upload into a blob named by its SM3 digest
// and returns the digest and size. Uploading the same bytes twice yields
// the same blob. The blob's modification time is the completion's: the
// collector's grace for a blob no log names yet runs from there.
func (s *Store) Complete(id string) (digest string, size int64, err error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return "", 0, err
	}
	defer s.lock(id)()
	f, err := os.Open(p)
	if err != nil {
		return "", 0, fmt.Errorf("%w: upload %s", ErrNotFound, id)
	}
	h := sm3.New()
	size, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", 0, fmt.Errorf("hash upload %s: %w", id, err)
	}
	digest = hex.EncodeToString(h.Sum(nil))
	dst, _ := s.blobPath(digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", 0, err
	}
	if err := s.place(p, dst); err != nil {
		return "", 0, fmt.Errorf("store blob %s: %w", digest, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return "", 0, err
	}
	_ = os.Remove(p + ".max")
	s.forget(id)
	return digest, size, nil
}

// place renames the finished upload p to the blob dst, stamped with the
// time now first: a rename keeps the upload's last write time, which can
// be days old for an upload paused before it was completed, and the
// collector would take the new blob for an old orphan. The stamp goes on
// before the rename so that a failure leaves the upload to retry, not a
// blob with a misleading age.
func (s *Store) place(p, dst string) error {
	s.names.Lock()
	defer s.names.Unlock()
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		return err
	}
	return os.Rename(p, dst)
}

func (s *Store) forget(id string) {
	s.mu.Lock()
	delete(s.writing, id)
	s.mu.Unlock()
}

// Abort discards an upload.
func (s *Store) Abort(id string) error {
	p, err := s.uploadPath(id)
	if err != nil {
		return err
	}
	defer s.lock(id)()
	err = os.Remove(p)
	_ = os.Remove(p + ".max")
	s.forget(id)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: upload %s", ErrNotFound, id)
	}
	return err
}

// Open returns a reader of the blob with digest, and its size.
func (s *Store) Open(digest string) (*os.File, int64, error) {
	p, err := s.blobPath(digest)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: blob %s", ErrNotFound, digest)
	}
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// Remove deletes the blob with digest and returns its size; a blob that
// is not there is ErrNotFound. Only the archive's prune calls it, once the
// blob is archived and no live room names it.
func (s *Store) Remove(digest string) (int64, error) {
	p, err := s.blobPath(digest)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: blob %s", ErrNotFound, digest)
	}
	if err != nil {
		return 0, err
	}
	if err := os.Remove(p); err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func writeFileSync(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
