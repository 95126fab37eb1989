package api

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/bidroom/bidroom/record"
	"github.com/bidroom/bidroom/rooms"
)

// maxRecordBytes bounds a stored opening record read back.
const maxRecordBytes = 16 << 20

// signedRecord is the opening_record_signed event of a log, if any.
func signedRecord(events []rooms.Event) (*rooms.OpeningRecord, error) {
	for _, e := range events {
		if e.Type == rooms.EvOpeningRecordSigned {
			var r rooms.OpeningRecord
			if err := json.Unmarshal(e.Data, &r); err != nil {
				return nil, fmt.Errorf("opening_record_signed #%d: %w", e.Seq, err)
			}
			return &r, nil
		}
	}
	return nil, nil
}

// sessionLog returns the room's whole log, or a 404 for a room without one.
func (a *handlers) sessionLog(c *gin.Context, room string) ([]rooms.Event, bool) {
	events, err := a.Svc.EventsAfter(c.Request.Context(), room, 0)
	if err != nil {
		a.fail(c, err)
		return nil, false
	}
	if len(events) == 0 {
		apiError(c, http.StatusNotFound, "not_found", "session "+room+" does not exist")
		return nil, false
	}
	return events, true
}

// makeRecord builds the opening record from the log, signs it with the
// platform key, stores it and records its digest in the log (R14). A
// second request after success answers with the record already signed.
func (a *handlers) makeRecord(c *gin.Context) {
	room := c.Param("id")
	actor, ok := a.actorFor(c, room)
	if !ok {
		return
	}
	if actor.Role != rooms.RoleHost && actor.Role != rooms.RoleAdmin {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, "only the host or an admin generates the opening record")
		return
	}
	events, ok := a.sessionLog(c, room)
	if !ok {
		return
	}
	if done, err := signedRecord(events); err != nil || done != nil {
		a.respondRecordMade(c, done, err, http.StatusOK)
		return
	}
	state := rooms.NewOpening(room)
	for _, e := range events {
		if err := state.Apply(e); err != nil {
			a.fail(c, err)
			return
		}
	}
	if err := state.RecordReady(); err != nil {
		a.fail(c, err)
		return
	}
	rec, err := record.Build(room, events)
	if err != nil {
		a.fail(c, err)
		return
	}
	js, sig, err := record.Sign(rec, a.Platform)
	if err != nil {
		a.fail(c, err)
		return
	}
	digest, err := a.putBlob(js)
	if err != nil {
		a.fail(c, err)
		return
	}
	kid := a.Platform.Public().ID()
	data := rooms.OpeningRecord{Digest: digest, Size: int64(len(js)), Signature: base64.StdEncoding.EncodeToString(sig), KeyID: hex.EncodeToString(kid[:])}
	for _, r := range rec.Recordings {
		data.Recordings = append(data.Recordings, r.SM3)
	}
	raw, _ := json.Marshal(data)
	_, err = a.Svc.Execute(c.Request.Context(), room, actor, rooms.Command{ID: "opening-record:" + digest, Type: rooms.CmdRecordOpeningRec, Data: raw})
	if err != nil {
		// Another request may have signed the record first: answer with that one.
		if again, rerr := a.Svc.EventsAfter(c.Request.Context(), room, 0); rerr == nil {
			if done, _ := signedRecord(again); done != nil {
				a.respondRecordMade(c, done, nil, http.StatusOK)
				return
			}
		}
		a.fail(c, err)
		return
	}
	a.respondRecordMade(c, &data, nil, http.StatusCreated)
}

func (a *handlers) respondRecordMade(c *gin.Context, r *rooms.OpeningRecord, err error, status int) {
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(status, gin.H{"digest": r.Digest, "size": r.Size, "key_id": r.KeyID, "signature": r.Signature, "recordings": r.Recordings})
}

// putBlob stores b in the blob store and returns its SM3.
func (a *handlers) putBlob(b []byte) (string, error) {
	id, err := a.Blobs.CreateUpload(int64(len(b)), "opening-record")
	if err != nil {
		return "", err
	}
	if _, err := a.Blobs.Append(id, 0, bytes.NewReader(b)); err != nil {
		_ = a.Blobs.Abort(id)
		return "", err
	}
	digest, _, err := a.Blobs.Complete(id)
	return digest, err
}

// storedRecord loads the signed record of a room: the event's data and the
// record's exact bytes. ok is false once a response was written.
func (a *handlers) storedRecord(c *gin.Context) (string, *rooms.OpeningRecord, []byte, bool) {
	room := c.Param("id")
	if _, ok := a.actorFor(c, room); !ok {
		return "", nil, nil, false
	}
	events, ok := a.sessionLog(c, room)
	if !ok {
		return "", nil, nil, false
	}
	r, err := signedRecord(events)
	if err != nil {
		a.fail(c, err)
		return "", nil, nil, false
	}
	if r == nil {
		apiError(c, http.StatusNotFound, "not_found", "session "+room+" has no opening record yet: the host generates it after the confirmation")
		return "", nil, nil, false
	}
	js, err := a.readBlob(r.Digest)
	if err != nil {
		a.fail(c, err)
		return "", nil, nil, false
	}
	if record.Digest(js) != r.Digest {
		a.fail(c, fmt.Errorf("stored opening record of %s does not match its digest %s", room, r.Digest))
		return "", nil, nil, false
	}
	return room, r, js, true
}

func (a *handlers) readBlob(digest string) ([]byte, error) {
	f, _, err := a.Blobs.Open(digest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxRecordBytes))
}

// getRecord answers {"record": <the signed bytes, verbatim>, "signature",
// "key_id", "digest", "size"}: the record field's bytes are exactly what
// the platform signed.
func (a *handlers) getRecord(c *gin.Context) {
	_, r, js, ok := a.storedRecord(c)
	if !ok {
		return
	}
	var b bytes.Buffer
	b.WriteString(`{"record":`)
	b.Write(js)
	fmt.Fprintf(&b, `,"signature":%q,"key_id":%q,"digest":%q,"size":%s}`, r.Signature, r.KeyID, r.Digest, strconv.FormatInt(r.Size, 10))
	c.Data(http.StatusOK, "application/json; charset=utf-8", b.Bytes())
}

// getRecordHTML answers the printable page of the signed record.
func (a *handlers) getRecordHTML(c *gin.Context) {
	_, r, js, ok := a.storedRecord(c)
	if !ok {
		return
	}
	var rec record.Record
	if err := json.Unmarshal(js, &rec); err != nil {
		a.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", record.HTMLSigned(&rec, r.Digest, r.KeyID, r.Signature))
}

// getLog answers the room's whole event log as JSON lines (one stored
// event per line), for staff and admins: what `bidroom verify` checks.
func (a *handlers) getLog(c *gin.Context) {
	room := c.Param("id")
	actor, ok := a.actorFor(c, room)
	if !ok {
		return
	}
	if actor.Role != rooms.RoleHost && actor.Role != rooms.RoleSupervisor && actor.Role != rooms.RoleAdmin {
		apiError(c, http.StatusForbidden, rooms.CodeForbidden, "only the host, supervisors and admins may read the whole log")
		return
	}
	if sum, err := a.Svc.Summary(c.Request.Context(), room); err == nil && sum.Kind != rooms.KindOpening {
		// Other kinds: the whole log only to whom every event of it is visible.
		all, err := a.Svc.SeesAll(c.Request.Context(), room, actor)
		if err != nil {
			a.fail(c, err)
			return
		}
		if !all {
			apiError(c, http.StatusForbidden, rooms.CodeForbidden, "the whole log of "+room+" holds events a "+string(actor.Role)+" may not see")
			return
		}
	} else if actor.Role == rooms.RoleHost {
		// The host's own view holds no bid before the deadline (R1); the
		// whole log would.
		v, ok := a.openingView(c, room, actor)
		if !ok {
			return
		}
		if p := v.Phase; p == rooms.PhaseScheduled || p == rooms.PhaseCheckIn {
			apiError(c, http.StatusForbidden, rooms.CodeForbidden, "the host may read the whole log from the bid deadline on; until then it holds the sealed submissions")
			return
		}
	}
	events, ok := a.sessionLog(c, room)
	if !ok {
		return
	}
	var b bytes.Buffer
	for i := range events {
		line, err := events[i].Encode()
		if err != nil {
			a.fail(c, err)
			return
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	c.Data(http.StatusOK, "application/x-ndjson", b.Bytes())
}
