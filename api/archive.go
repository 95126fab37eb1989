package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/archive"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
)

// archiveFile is one file of an archive, opened before the first byte is
// sent so a missing one is an error answer, not a cut-off download.
type archiveFile struct {
	ref  archive.Ref
	f    *os.File
	size int64
}

// archiveSet is everything one archive holds, read and opened.
type archiveSet struct {
	room  string
	logs  [][]byte
	heads []archive.RoomHead
	files []archiveFile
}

func (s *archiveSet) close() {
	for _, f := range s.files {
		f.f.Close()
	}
}

// write writes the archive to w, signed with the platform key.
func (a *handlers) writeArchive(s *archiveSet, w io.Writer) (archive.Manifest, error) {
	aw := archive.NewWriter(w, a.Svc.Now())
	for i, head := range s.heads {
		if err := aw.AddBytes(archive.LogPath(head.Room), "log of "+head.Kind+" "+head.Room+" (日志)", s.logs[i]); err != nil {
			return archive.Manifest{}, err
		}
	}
	for _, f := range s.files {
		if err := aw.Add(f.ref.Path, f.ref.What, f.size, f.f); err != nil {
			return archive.Manifest{}, err
		}
	}
	return aw.Close(s.room, s.heads, a.Platform)
}

// openArchiveSet reads the logs of a project section (an opening with its
// evaluations, or an auction) and opens every file they name; the caller
// closes it. A refusal answers the request itself (ok false).
func (a *handlers) openArchiveSet(c *gin.Context, room string) (*archiveSet, bool) {
	ctx := c.Request.Context()
	sum, err := a.Svc.Summary(ctx, room)
	if err != nil {
		a.fail(c, err)
		return nil, false
	}
	if sum.Kind != rooms.KindOpening && sum.Kind != rooms.KindAuction {
		apiError(c, http.StatusBadRequest, "invalid", "an archive is made per project section: export its opening (its evaluations come with it) or an auction, not a "+sum.Kind)
		return nil, false
	}
	members := []string{room}
	if sum.Kind == rooms.KindOpening {
		evs, err := a.Svc.LinkedEvaluations(ctx, room)
		if err != nil {
			a.fail(c, err)
			return nil, false
		}
		members = append(members, evs...)
	}
	set := &archiveSet{room: room}
	if err := a.archiveParts(ctx, set, members); err != nil {
		set.close()
		if rooms.RefusalCode(err) != "" {
			a.fail(c, err)
			return nil, false
		}
		a.Logger.Error("archive: a file the log names is missing", "room", room, "err", err)
		apiError(c, http.StatusConflict, rooms.CodeWrongState, err.Error())
		return nil, false
	}
	return set, true
}

// exportArchive answers GET /api/v1/sessions/{id}/archive (admin key): the
// 电子档案 of a project section as one tar (see package archive). The
// stored archive when it is still current (the live files may have been
// pruned since); else one made now, every file the logs name opened
// first, so a missing one is a 409 naming it.
func (a *handlers) exportArchive(c *gin.Context) {
	room := c.Param("id")
	c.Header("Cache-Control", "no-store")
	if f, ok := a.currentStoredArchive(c.Request.Context(), room); ok {
		defer f.Close()
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-archive.tar"`, room))
		http.ServeContent(c.Writer, c.Request, room+"-archive.tar", time.Time{}, f)
		return
	}
	set, ok := a.openArchiveSet(c, room)
	if !ok {
		return
	}
	defer set.close()
	c.Header("Content-Type", "application/x-tar")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-archive.tar"`, room))
	c.Status(http.StatusOK)
	if _, err := a.writeArchive(set, c.Writer); err != nil {
		a.Logger.Error("archive: write", "room", room, "err", err) // the client sees a cut tar, which Read refuses
	}
}

// archivePath is where the server keeps room's archive.
func (a *handlers) archivePath(room string) string { return filepath.Join(a.ArchiveDir, room+".tar") }

// ArchiveRecord is the answer of POST …/archive: the archive kept and what
// checking it found.
type ArchiveRecord struct {
	Session string             `json:"session"`
	File    string             `json:"file"`
	Bytes   int64              `json:"bytes"`
	SM3     string             `json:"sm3"`
	Rooms   []archive.RoomHead `json:"rooms"`
	Checks  []string           `json:"checks"`
}

// storeArchive answers POST /api/v1/sessions/{id}/archive (admin key): the
// server writes the section's archive into archive.dir, reads it back,
// verifies it with the platform key, and only then gives it its name.
func (a *handlers) storeArchive(c *gin.Context) {
	room := c.Param("id")
	if a.ArchiveDir == "" {
		apiError(c, http.StatusServiceUnavailable, "unavailable", "this server keeps no archives (archive.dir)")
		return
	}
	set, ok := a.openArchiveSet(c, room)
	if !ok {
		return
	}
	defer set.close()
	if err := os.MkdirAll(a.ArchiveDir, 0o700); err != nil {
		a.fail(c, fmt.Errorf("archive directory: %w", err))
		return
	}
	part := a.archivePath(room) + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		a.fail(c, fmt.Errorf("write the archive: %w", err))
		return
	}
	_, werr := a.writeArchive(set, f)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(part)
		a.fail(c, fmt.Errorf("write the archive: %w", werr))
		return
	}
	rec, err := a.checkStoredArchive(part, set.heads)
	if err != nil {
		os.Remove(part)
		a.fail(c, fmt.Errorf("the archive written does not verify: %w", err))
		return
	}
	if err := os.Rename(part, a.archivePath(room)); err != nil {
		a.fail(c, err)
		return
	}
	rec.Session, rec.File = room, filepath.Base(a.archivePath(room))
	a.Logger.Info("archive written", "session", room, "bytes", rec.Bytes, "sm3", rec.SM3)
	c.JSON(http.StatusCreated, rec)
}

// checkStoredArchive reads and verifies an archive file, in one read that
// also gives the whole file's SM3, and checks it ends at heads.
func (a *handlers) checkStoredArchive(path string, heads []archive.RoomHead) (*ArchiveRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sm3.New()
	n := &countingWriter{w: h}
	contents, err := archive.Read(io.TeeReader(f, n))
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(n, f); err != nil { // the tar's end padding, after its last entry
		return nil, err
	}
	m, checks, err := archive.Verify(contents, a.Platform.Public())
	if err != nil {
		return nil, err
	}
	if heads != nil && !sameHeads(m.Rooms, heads) {
		return nil, errors.New("the archive does not end where the logs do: the session changed after it was archived")
	}
	return &ArchiveRecord{Bytes: n.n, SM3: hex.EncodeToString(h.Sum(nil)), Rooms: m.Rooms, Checks: checks}, nil
}

// countingWriter counts what it passes on.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func sameHeads(x, y []archive.RoomHead) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// coveredLogs reads the logs of the rooms an archive covers, and says
// whether they still end where the archive does.
func (a *handlers) coveredLogs(ctx context.Context, covered []archive.RoomHead) (logs [][]rooms.Event, current bool, err error) {
	current = true
	for _, h := range covered {
		events, err := a.Svc.EventsAfter(ctx, h.Room, 0)
		if err != nil {
			return nil, false, err
		}
		if len(events) == 0 {
			return nil, false, fmt.Errorf("room %s has no log", h.Room)
		}
		last := events[len(events)-1]
		current = current && archive.RoomHead{Room: h.Room, Kind: h.Kind, Seq: last.Seq, Hash: last.Hash} == h
		logs = append(logs, events)
	}
	return logs, current, nil
}

// currentStoredArchive opens room's stored archive when it exists and
// still ends where the logs do (its manifest is read, not re-verified:
// POST …/archive and prune verify it).
func (a *handlers) currentStoredArchive(ctx context.Context, room string) (*os.File, bool) {
	if a.ArchiveDir == "" || !rooms.ValidID(room) {
		return nil, false
	}
	f, err := os.Open(a.archivePath(room))
	if err != nil {
		return nil, false
	}
	m, err := archive.ReadManifest(f)
	if err != nil {
		f.Close()
		return nil, false
	}
	if _, current, err := a.coveredLogs(ctx, m.Rooms); err != nil || !current {
		f.Close()
		return nil, false
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

// archiveParts reads the logs of members and opens every file they name.
func (a *handlers) archiveParts(ctx context.Context, set *archiveSet, members []string) error {
	seen := map[string]bool{}
	for _, id := range members {
		events, err := a.Svc.EventsAfter(ctx, id, 0)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			return &rooms.Refusal{Code: rooms.CodeNotFound, Msg: "room " + id + " has no log"}
		}
		var raw []byte
		for _, e := range events {
			b, err := e.Encode()
			if err != nil {
				return err
			}
			raw = append(append(raw, b...), '\n')
		}
		sum, err := a.Svc.Summary(ctx, id)
		if err != nil {
			return err
		}
		last := events[len(events)-1]
		set.logs = append(set.logs, raw)
		set.heads = append(set.heads, archive.RoomHead{Room: id, Kind: sum.Kind, Seq: last.Seq, Hash: last.Hash})
		refs, err := archive.References(id, events)
		if err != nil {
			return err
		}
		for _, r := range refs {
			if seen[r.Path] {
				continue
			}
			seen[r.Path] = true
			f, size, err := a.openArchived(r)
			if err != nil {
				return fmt.Errorf("%s (%s): %w", r.Path, r.What, err)
			}
			set.files = append(set.files, archiveFile{ref: r, f: f, size: size})
		}
	}
	return nil
}

// openArchived opens a blob or a recording for the archive.
func (a *handlers) openArchived(r archive.Ref) (*os.File, int64, error) {
	if r.Blob != "" {
		return a.Blobs.Open(r.Blob)
	}
	f, err := os.Open(a.recordingPath(r.File))
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

func (a *handlers) recordingPath(file string) string {
	return filepath.Join(a.RecordDir, filepath.Base(file))
}

// PruneReport is what POST …/prune removed, also kept beside the archive.
type PruneReport struct {
	Session    string       `json:"session"`
	PrunedAt   time.Time    `json:"pruned_at"`
	ArchiveSM3 string       `json:"archive_sm3"`
	Removed    []PrunedFile `json:"removed"`
	Kept       []PrunedFile `json:"kept,omitempty"` // still named by another live room
	Bytes      int64        `json:"bytes"`
}

// PrunedFile is one live file pruned (or kept).
type PrunedFile struct {
	Path  string `json:"path"`
	What  string `json:"what"`
	Bytes int64  `json:"bytes,omitempty"`
	Why   string `json:"why,omitempty"`
}

// finished reports whether a section's rooms are done: the opening closed
// or failed, the auction ended.
func finished(kind, phase string) bool {
	switch kind {
	case rooms.KindOpening:
		return phase == string(rooms.PhaseClosed) || phase == string(rooms.PhaseFailed)
	case rooms.KindAuction:
		return phase == string(rooms.AuctionEnded)
	}
	return false
}

// pruneSession answers POST /api/v1/sessions/{id}/prune (admin key): once a
// finished section has had no event for archive.retention and its archive
// is stored, verifies and ends where the logs do, the live files its logs
// name (sealed bids, backups, decrypted files, recordings) are removed —
// except any another room still names. The logs stay (they are small and
// the statistics read them). The report is kept beside the archive.
func (a *handlers) pruneSession(c *gin.Context) {
	room := c.Param("id")
	ctx := c.Request.Context()
	if a.Retention <= 0 || a.ArchiveDir == "" {
		apiError(c, http.StatusConflict, rooms.CodeWrongState, "this server never prunes (archive.retention is 0)")
		return
	}
	reportPath := filepath.Join(a.ArchiveDir, room+".pruned.json")
	if b, err := os.ReadFile(reportPath); err == nil {
		c.Data(http.StatusOK, "application/json; charset=utf-8", b) // pruned before: the same report
		return
	}
	sum, err := a.Svc.Summary(ctx, room)
	if err != nil {
		a.fail(c, err)
		return
	}
	if !finished(sum.Kind, sum.Phase) {
		apiError(c, http.StatusConflict, rooms.CodeWrongState, fmt.Sprintf("%s %s is %s: only a closed opening or an ended auction is pruned", sum.Kind, room, sum.Phase))
		return
	}
	rec, err := a.checkStoredArchive(a.archivePath(room), nil)
	if errors.Is(err, fs.ErrNotExist) {
		apiError(c, http.StatusConflict, rooms.CodeWrongState, "session "+room+" has no stored archive: POST …/archive first")
		return
	}
	if err != nil {
		apiError(c, http.StatusConflict, rooms.CodeWrongState, "the stored archive of "+room+" does not verify ("+err.Error()+"): archive it again before pruning")
		return
	}
	now := a.Svc.Now()
	logs, current, err := a.coveredLogs(ctx, rec.Rooms)
	if err != nil {
		a.fail(c, err)
		return
	}
	var refs []archive.Ref
	for i, h := range rec.Rooms {
		events := logs[i]
		if last := events[len(events)-1].Time; now.Sub(last) < a.Retention {
			apiError(c, http.StatusConflict, rooms.CodeTooEarly, fmt.Sprintf("%s had an event on %s: its live files are kept until %s (archive.retention %s)",
				h.Room, last.Format("2006-01-02"), last.Add(a.Retention).Format("2006-01-02"), a.Retention))
			return
		}
		r, err := archive.References(h.Room, events)
		if err != nil {
			a.fail(c, err)
			return
		}
		refs = append(refs, r...)
	}
	// Checked after the retention: a session still moving is first of all too young.
	if !current {
		apiError(c, http.StatusConflict, rooms.CodeWrongState, "session "+room+" changed after it was archived: archive it again before pruning")
		return
	}
	elsewhere, err := a.namedElsewhere(ctx, rec.Rooms)
	if err != nil {
		a.fail(c, err)
		return
	}
	report := PruneReport{Session: room, PrunedAt: now, ArchiveSM3: rec.SM3, Removed: []PrunedFile{}}
	for _, r := range refs {
		if elsewhere[r.Path] {
			report.Kept = append(report.Kept, PrunedFile{Path: r.Path, What: r.What, Why: "another live room names it"})
			continue
		}
		var n int64
		var err error
		if r.Blob != "" {
			n, err = a.Blobs.Remove(r.Blob)
		} else {
			var st os.FileInfo
			if st, err = os.Stat(a.recordingPath(r.File)); err == nil {
				n = st.Size()
				err = os.Remove(a.recordingPath(r.File))
			}
		}
		if errors.Is(err, blobs.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			continue // gone already
		}
		if err != nil {
			a.fail(c, fmt.Errorf("prune %s: %w", r.Path, err))
			return
		}
		report.Removed = append(report.Removed, PrunedFile{Path: r.Path, What: r.What, Bytes: n})
		report.Bytes += n
	}
	b, _ := json.MarshalIndent(report, "", "  ")
	if err := os.WriteFile(reportPath, b, 0o600); err != nil {
		a.Logger.Error("prune: keep the report", "session", room, "err", err)
	}
	a.Logger.Info("session pruned", "session", room, "files", len(report.Removed), "bytes", report.Bytes)
	c.JSON(http.StatusOK, report)
}

// namedElsewhere lists the archive paths of the files rooms other than
// these name.
func (a *handlers) namedElsewhere(ctx context.Context, these []archive.RoomHead) (map[string]bool, error) {
	skip := map[string]bool{}
	for _, h := range these {
		skip[h.Room] = true
	}
	ids, err := a.Svc.Rooms(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, id := range ids {
		if skip[id] {
			continue
		}
		events, err := a.Svc.EventsAfter(ctx, id, 0)
		if err != nil {
			return nil, err
		}
		refs, err := archive.References(id, events)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			out[r.Path] = true
		}
	}
	return out, nil
}
