package archive

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/record"
	"github.com/bidroom/bidroom/rooms"
)

// Bounds on what Read accepts, so a hostile file cannot exhaust memory.
const (
	maxFiles       = 100_000
	maxKeptBytes   = 256 << 20 // logs, the manifest and the opening records are kept in memory
	maxKeptPerFile = 64 << 20
)

// File is one file read from an archive: its size and SM3, and its bytes
// when Verify needs them (logs, manifest, signature, key, records).
type File struct {
	Size int64
	SM3  string
	Data []byte
}

// Contents is an archive as read: every file by path, in order.
type Contents struct {
	Files map[string]*File
	Order []string
}

// kept says whether Read keeps a file's bytes: the small ones Verify parses.
// The signed opening records are blobs; Read keeps every blob up to
// maxKeptPerFile only while the total allows, and Verify reads the records
// among them.
func kept(path string, size int64) bool {
	switch {
	case path == ManifestName || path == SignatureName || path == KeyName:
		return true
	case strings.HasPrefix(path, "logs/"):
		return true
	case strings.HasPrefix(path, "blobs/"):
		return size <= 1<<20 // records are small; bids and recordings are only hashed
	}
	return false
}

// Read reads an archive from r, hashing every file and keeping the ones
// Verify parses. It refuses anything but plain files with safe names, a
// name twice, and more than the bounds allow.
func Read(r io.Reader) (*Contents, error) {
	c := &Contents{Files: map[string]*File{}}
	tr := tar.NewReader(r)
	var keptTotal int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a readable tar archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%q is not a plain file (type %q)", h.Name, h.Typeflag)
		}
		if err := checkPath(h.Name); err != nil {
			return nil, err
		}
		if c.Files[h.Name] != nil {
			return nil, fmt.Errorf("%s appears twice", h.Name)
		}
		if len(c.Order) >= maxFiles {
			return nil, fmt.Errorf("more than %d files", maxFiles)
		}
		f := &File{Size: h.Size}
		hash := sm3.New()
		var w io.Writer = hash
		var buf bytes.Buffer
		if kept(h.Name, h.Size) && h.Size <= maxKeptPerFile && keptTotal+h.Size <= maxKeptBytes {
			w = io.MultiWriter(hash, &buf)
			keptTotal += h.Size
		}
		n, err := io.Copy(w, tr)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", h.Name, err)
		}
		if n != h.Size {
			return nil, fmt.Errorf("%s: %d bytes, its header says %d", h.Name, n, h.Size)
		}
		f.SM3 = hex.EncodeToString(hash.Sum(nil))
		if buf.Len() > 0 || h.Size == 0 {
			f.Data = buf.Bytes()
		}
		c.Files[h.Name] = f
		c.Order = append(c.Order, h.Name)
	}
	return c, nil
}

// ReadManifest returns an archive's manifest without reading its other
// files' contents (tar skips them; on a file it seeks past them). It does
// not check the manifest's signature: Verify does.
func ReadManifest(r io.Reader) (*Manifest, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the archive has no manifest (manifest.json)")
		}
		if err != nil {
			return nil, fmt.Errorf("not a readable tar archive: %w", err)
		}
		if h.Name != ManifestName {
			continue
		}
		var m Manifest
		dec := json.NewDecoder(io.LimitReader(tr, maxKeptPerFile))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil || m.Format != Format {
			return nil, fmt.Errorf("manifest.json is not a %s manifest: %v", Format, err)
		}
		return &m, nil
	}
}

// Verify checks an archive read by Read against the platform's public key
// and returns what it checked, in Chinese and English, or the first check
// that failed: the manifest's signature; every file against the manifest
// (nothing missing, nothing added, sizes and SM3); each log's hash chain
// and head; every file a log names present with the SM3 the log gives;
// the signed opening record against its log; an evaluation's report and
// notices; an auction's bids, result and confirmation letter.
func Verify(c *Contents, platform *decrypt.PublicKey) (*Manifest, []string, error) {
	var done []string
	mf := c.Files[ManifestName]
	if mf == nil || mf.Data == nil {
		return nil, done, errors.New("the archive has no manifest (manifest.json)")
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(mf.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || m.Format != Format {
		return nil, done, fmt.Errorf("manifest.json is not a %s manifest: %v", Format, err)
	}
	sf := c.Files[SignatureName]
	if sf == nil {
		return &m, done, errors.New("the archive has no manifest signature (manifest.sig)")
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sf.Data)))
	if err != nil || platform.Verify(ManifestMessage(mf.Data), sig) != nil {
		return &m, done, errors.New("the manifest's signature does not verify with the platform key: the manifest was changed or signed by another key (清单签名无效)")
	}
	kid := platform.ID()
	done = append(done, fmt.Sprintf("manifest of session %s signed by the platform key %s (清单签名有效)", m.Session, hex.EncodeToString(kid[:])))

	listed := map[string]Entry{}
	for _, e := range m.Entries {
		f := c.Files[e.Path]
		switch {
		case f == nil:
			return &m, done, fmt.Errorf("%s (%s) is listed in the manifest but missing from the archive", e.Path, e.What)
		case f.Size != e.Size:
			return &m, done, fmt.Errorf("%s (%s) has %d bytes, the manifest says %d", e.Path, e.What, f.Size, e.Size)
		case f.SM3 != e.SM3:
			return &m, done, fmt.Errorf("%s (%s) was changed: its SM3 is %s, the manifest says %s (文件被篡改)", e.Path, e.What, f.SM3, e.SM3)
		}
		listed[e.Path] = e
	}
	for _, p := range c.Order {
		if _, ok := listed[p]; !ok && p != ManifestName && p != SignatureName && p != KeyName {
			return &m, done, fmt.Errorf("%s is in the archive but not in the manifest", p)
		}
	}
	var total int64
	for _, e := range m.Entries {
		total += e.Size
	}
	done = append(done, fmt.Sprintf("%d files, %d bytes, each with the size and SM3 the manifest gives (文件摘要一致)", len(m.Entries), total))

	for _, head := range m.Rooms {
		more, err := verifyRoom(c, head, platform)
		done = append(done, more...)
		if err != nil {
			return &m, done, fmt.Errorf("%s %s: %w", head.Kind, head.Room, err)
		}
	}
	return &m, done, nil
}

// verifyRoom checks one room's log and what it names.
func verifyRoom(c *Contents, head RoomHead, platform *decrypt.PublicKey) ([]string, error) {
	var done []string
	f := c.Files[LogPath(head.Room)]
	if f == nil || f.Data == nil {
		return done, fmt.Errorf("its log %s is missing", LogPath(head.Room))
	}
	events, err := rooms.ParseLog(f.Data)
	if err != nil {
		return done, err
	}
	if len(events) == 0 {
		return done, errors.New("its log is empty")
	}
	if err := rooms.VerifyChain(0, "", events); err != nil {
		return done, fmt.Errorf("the hash chain: %w", err)
	}
	last := events[len(events)-1]
	if last.Seq != head.Seq || last.Hash != head.Hash || last.Room != head.Room {
		return done, fmt.Errorf("the log ends at #%d %s, the manifest says #%d %s", last.Seq, last.Hash, head.Seq, head.Hash)
	}
	done = append(done, fmt.Sprintf("%s %s: hash chain of %d events unbroken, ending where the manifest says (日志哈希链完整)", head.Kind, head.Room, len(events)))

	refs, err := References(head.Room, events)
	if err != nil {
		return done, err
	}
	for _, r := range refs {
		got := c.Files[r.Path]
		if got == nil {
			return done, fmt.Errorf("the log names %s (%s) but the archive lacks it", r.Path, r.What)
		}
		if got.SM3 != r.SM3 {
			return done, fmt.Errorf("%s (%s) has SM3 %s, the log says %s (文件与日志不符)", r.Path, r.What, got.SM3, r.SM3)
		}
	}
	if len(refs) > 0 {
		done = append(done, fmt.Sprintf("%s %s: every file its log names (%d: bids, decrypted files, records, recordings) present with the log's SM3 (文件与日志一致)", head.Kind, head.Room, len(refs)))
	}

	var more []string
	switch head.Kind {
	case rooms.KindOpening:
		more, err = verifyOpeningRecord(c, events, platform)
	case rooms.KindEvaluation:
		if has(events, rooms.EvReportPlatformSigned) {
			if more, err = rooms.VerifyReport(events, platform); err == nil {
				var n []string
				n, err = rooms.VerifyNotices(events, platform)
				more = append(more, n...)
			}
			more = dropChain(more)
		}
	case rooms.KindAuction:
		more, err = rooms.VerifyAuction(events, platform)
		more = dropChain(more)
	}
	for _, m := range more {
		done = append(done, head.Kind+" "+head.Room+": "+m)
	}
	return done, err
}

// verifyOpeningRecord checks the signed opening record against its log.
func verifyOpeningRecord(c *Contents, events []rooms.Event, platform *decrypt.PublicKey) ([]string, error) {
	var rec *rooms.OpeningRecord
	for _, e := range events {
		if e.Type == rooms.EvOpeningRecordSigned {
			rec = new(rooms.OpeningRecord)
			if err := json.Unmarshal(e.Data, rec); err != nil {
				return nil, fmt.Errorf("opening_record_signed #%d: %w", e.Seq, err)
			}
		}
	}
	if rec == nil {
		return []string{"no signed opening record in the log yet (尚无开标记录)"}, nil
	}
	f := c.Files[BlobPath(rec.Digest)]
	if f == nil || f.Data == nil {
		return nil, fmt.Errorf("the signed opening record %s is missing", BlobPath(rec.Digest))
	}
	sig, err := base64.StdEncoding.DecodeString(rec.Signature)
	if err != nil {
		return nil, fmt.Errorf("the opening record's signature is not base64: %w", err)
	}
	rep, err := record.VerifyReport(f.Data, sig, platform, events, nil)
	if err != nil {
		return nil, fmt.Errorf("the opening record: %w", err)
	}
	return append([]string{"the signed opening record (开标记录):"}, rep.Checks...), nil
}

// dropChain drops a verifier's first line when it is the chain, which
// verifyRoom checked already.
func dropChain(checks []string) []string {
	if len(checks) > 0 && strings.HasPrefix(checks[0], "hash chain") {
		return checks[1:]
	}
	return checks
}

func has(events []rooms.Event, typ string) bool {
	for _, e := range events {
		if e.Type == typ {
			return true
		}
	}
	return false
}
