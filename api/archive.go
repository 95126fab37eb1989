package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/archive"
	"github.com/bidroom/bidroom/rooms"
)

// archiveFile is one file of an archive, opened before the first byte is
// sent so a missing one is an error answer, not a cut-off download.
type archiveFile struct {
	ref  archive.Ref
	f    *os.File
	size int64
}

// exportArchive answers GET /api/v1/sessions/{id}/archive (admin key): the
// 电子档案 of an opening with its evaluations, or of an auction, as one tar
// (see package archive). Every file the logs name is opened first; if
// one is missing the answer is a 409 naming it.
func (a *handlers) exportArchive(c *gin.Context) {
	room := c.Param("id")
	ctx := c.Request.Context()
	sum, err := a.Svc.Summary(ctx, room)
	if err != nil {
		a.fail(c, err)
		return
	}
	if sum.Kind != rooms.KindOpening && sum.Kind != rooms.KindAuction {
		apiError(c, http.StatusBadRequest, "invalid", "an archive is made per project section: export its opening (its evaluations come with it) or an auction, not a "+sum.Kind)
		return
	}
	members := []string{room}
	if sum.Kind == rooms.KindOpening {
		evs, err := a.Svc.LinkedEvaluations(ctx, room)
		if err != nil {
			a.fail(c, err)
			return
		}
		members = append(members, evs...)
	}
	logs, heads, files, err := a.archiveParts(ctx, members)
	defer func() {
		for _, f := range files {
			f.f.Close()
		}
	}()
	if err != nil {
		if rooms.RefusalCode(err) != "" {
			a.fail(c, err)
			return
		}
		a.Logger.Error("archive: a file the log names is missing", "room", room, "err", err)
		apiError(c, http.StatusConflict, rooms.CodeWrongState, err.Error())
		return
	}
	c.Header("Content-Type", "application/x-tar")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-archive.tar"`, room))
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	w := archive.NewWriter(c.Writer, a.Svc.Now())
	for i, head := range heads {
		if err := w.AddBytes(archive.LogPath(head.Room), "log of "+head.Kind+" "+head.Room+" (日志)", logs[i]); err != nil {
			a.Logger.Error("archive: write", "room", room, "err", err)
			return
		}
	}
	for _, f := range files {
		if err := w.Add(f.ref.Path, f.ref.What, f.size, f.f); err != nil {
			a.Logger.Error("archive: write", "room", room, "err", err)
			return // the client sees a cut tar, which Read refuses
		}
	}
	if _, err := w.Close(room, heads, a.Platform); err != nil {
		a.Logger.Error("archive: close", "room", room, "err", err)
	}
}

// archiveParts reads the logs of members and opens every file they name.
func (a *handlers) archiveParts(ctx context.Context, members []string) ([][]byte, []archive.RoomHead, []archiveFile, error) {
	var (
		logs  [][]byte
		heads []archive.RoomHead
		files []archiveFile
		seen  = map[string]bool{}
	)
	for _, id := range members {
		events, err := a.Svc.EventsAfter(ctx, id, 0)
		if err != nil {
			return nil, nil, files, err
		}
		if len(events) == 0 {
			return nil, nil, files, &rooms.Refusal{Code: rooms.CodeNotFound, Msg: "room " + id + " has no log"}
		}
		var raw []byte
		for _, e := range events {
			b, err := e.Encode()
			if err != nil {
				return nil, nil, files, err
			}
			raw = append(append(raw, b...), '\n')
		}
		sum, err := a.Svc.Summary(ctx, id)
		if err != nil {
			return nil, nil, files, err
		}
		last := events[len(events)-1]
		logs = append(logs, raw)
		heads = append(heads, archive.RoomHead{Room: id, Kind: sum.Kind, Seq: last.Seq, Hash: last.Hash})
		refs, err := archive.References(id, events)
		if err != nil {
			return nil, nil, files, err
		}
		for _, r := range refs {
			if seen[r.Path] {
				continue
			}
			seen[r.Path] = true
			f, size, err := a.openArchived(r)
			if err != nil {
				return nil, nil, files, fmt.Errorf("%s (%s): %w", r.Path, r.What, err)
			}
			files = append(files, archiveFile{ref: r, f: f, size: size})
		}
	}
	return logs, heads, files, nil
}

// openArchived opens a blob or a recording for the archive.
func (a *handlers) openArchived(r archive.Ref) (*os.File, int64, error) {
	if r.Blob != "" {
		return a.Blobs.Open(r.Blob)
	}
	if a.RecordDir == "" {
		return nil, 0, fmt.Errorf("recordings are not kept on this server (media.record is off)")
	}
	f, err := os.Open(filepath.Join(a.RecordDir, filepath.Base(r.File)))
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
