// Package archive writes and checks a trade's electronic archive (电子档案,
// RULES.md R18): one tar file per project section holding the hash-chained
// logs of its rooms (the opening and its evaluations, or an auction), every
// file those logs name by digest — the sealed bids and their backups, the
// decrypted bid files, the signed opening record — and the recordings with
// their SM3, closed by a manifest the platform signs. It can be checked
// years later with no server: Verify needs the file and the platform's
// public key.
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
	"time"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// Format names the archive's layout.
const Format = "bidroom-archive-v1"

// The archive's own files, written last.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig" // the platform's SM2 signature over ManifestMessage, base64 DER
	KeyName       = "platform-key.pem"
)

// Entry is one file of the archive as the manifest lists it.
type Entry struct {
	Path string `json:"path"` // logs/<room>.jsonl, blobs/<sm3>, recordings/<file>
	What string `json:"what"` // in words: "log of opening s1", "sealed bid of a", …
	Size int64  `json:"size"`
	SM3  string `json:"sm3"`
}

// RoomHead is one room of the archive and the head of its log.
type RoomHead struct {
	Room string `json:"room"`
	Kind string `json:"kind"`
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Manifest is the archive's table of contents, signed by the platform.
type Manifest struct {
	Format    string     `json:"format"`
	Session   string     `json:"session"` // the project section: the opening or the auction
	CreatedAt time.Time  `json:"created_at"`
	KeyID     string     `json:"key_id"` // the platform key that signed it, hex
	Rooms     []RoomHead `json:"rooms"`
	Entries   []Entry    `json:"entries"`
}

// ManifestMessage is what the platform signs for a manifest.
func ManifestMessage(manifestJSON []byte) []byte {
	return append([]byte("bidroom-archive-manifest-v1\n"), manifestJSON...)
}

// LogPath is where a room's log lies in the archive.
func LogPath(room string) string { return "logs/" + room + ".jsonl" }

// BlobPath is where a file named by its SM3 lies in the archive.
func BlobPath(digest string) string { return "blobs/" + digest }

// RecordingPath is where a recording lies in the archive.
func RecordingPath(file string) string { return "recordings/" + file }

// Writer writes an archive: Add each file, then Close with the manifest.
type Writer struct {
	tw      *tar.Writer
	entries []Entry
	seen    map[string]bool
	mtime   time.Time
}

// NewWriter returns a Writer onto w; every file gets the time now.
func NewWriter(w io.Writer, now time.Time) *Writer {
	return &Writer{tw: tar.NewWriter(w), seen: map[string]bool{}, mtime: now.UTC().Truncate(time.Second)}
}

// Add writes one file of exactly size bytes from r, hashing it with SM3 on
// the way; a file already added under path is skipped (two logs may name
// the same blob).
func (w *Writer) Add(path, what string, size int64, r io.Reader) error {
	if w.seen[path] {
		return nil
	}
	if err := checkPath(path); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: size, ModTime: w.mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("archive %s: %w", path, err)
	}
	h := sm3.New()
	n, err := io.Copy(io.MultiWriter(w.tw, h), io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("archive %s: %w", path, err)
	}
	if n != size {
		return fmt.Errorf("archive %s: %d bytes, expected %d", path, n, size)
	}
	w.seen[path] = true
	w.entries = append(w.entries, Entry{Path: path, What: what, Size: size, SM3: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// AddBytes adds a file held in memory.
func (w *Writer) AddBytes(path, what string, b []byte) error {
	return w.Add(path, what, int64(len(b)), bytes.NewReader(b))
}

// Close writes the manifest of every file added, its signature by key and
// the key's public half, and ends the tar. It returns the manifest.
func (w *Writer) Close(session string, heads []RoomHead, key *decrypt.PrivateKey) (Manifest, error) {
	kid := key.Public().ID()
	m := Manifest{Format: Format, Session: session, CreatedAt: w.mtime, KeyID: hex.EncodeToString(kid[:]), Rooms: heads, Entries: w.entries}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, fmt.Errorf("encode the manifest: %w", err)
	}
	sig, err := key.Sign(ManifestMessage(js))
	if err != nil {
		return m, fmt.Errorf("sign the manifest: %w", err)
	}
	pem, err := key.Public().MarshalPEM()
	if err != nil {
		return m, fmt.Errorf("encode the platform key: %w", err)
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{ManifestName, js}, {SignatureName, []byte(base64.StdEncoding.EncodeToString(sig))}, {KeyName, pem}} {
		if err := w.tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.b)), ModTime: w.mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return m, fmt.Errorf("archive %s: %w", f.name, err)
		}
		if _, err := w.tw.Write(f.b); err != nil {
			return m, fmt.Errorf("archive %s: %w", f.name, err)
		}
	}
	if err := w.tw.Close(); err != nil {
		return m, fmt.Errorf("end the archive: %w", err)
	}
	return m, nil
}

// Ref is a file a room's log names: a blob by its SM3, or a recording by
// its file name with its SM3.
type Ref struct {
	Path string // in the archive
	What string
	SM3  string // what the log says its SM3 is
	Blob string // the blob store's digest, for a blob
	File string // the recordings directory's file name, for a recording
}

// References lists the files room's log names, in log order, each once.
func References(room string, events []rooms.Event) ([]Ref, error) {
	var refs []Ref
	seen := map[string]bool{}
	blob := func(digest, what string) {
		if digest != "" && !seen[BlobPath(digest)] {
			seen[BlobPath(digest)] = true
			refs = append(refs, Ref{Path: BlobPath(digest), What: what, SM3: digest, Blob: digest})
		}
	}
	for _, e := range events {
		var err error
		switch e.Type {
		case rooms.EvBidSubmitted:
			var b rooms.Bid
			if err = json.Unmarshal(e.Data, &b); err == nil {
				blob(b.Digest, "sealed bid of "+b.Bidder+" (密封投标文件)")
				blob(b.BackupDigest, "backup bid of "+b.Bidder+" (备份投标文件)")
			}
		case rooms.EvBidOpened:
			var u rooms.Unlock
			if err = json.Unmarshal(e.Data, &u); err == nil {
				blob(u.PlaintextSHA, "decrypted bid of "+u.Bidder+" (解密后的投标文件)")
			}
		case rooms.EvOpeningRecordSigned:
			var r rooms.OpeningRecord
			if err = json.Unmarshal(e.Data, &r); err == nil {
				blob(r.Digest, "signed opening record of "+room+" (开标记录)")
			}
		case rooms.EvMediaRecorded:
			var r rooms.Recording
			if err = json.Unmarshal(e.Data, &r); err == nil && r.File != "" && !seen[RecordingPath(r.File)] {
				if cerr := checkPath(RecordingPath(r.File)); cerr != nil {
					return nil, fmt.Errorf("%s #%d: %w", room, e.Seq, cerr)
				}
				seen[RecordingPath(r.File)] = true
				refs = append(refs, Ref{Path: RecordingPath(r.File), What: "recording " + r.Feed + " of " + room + " (录像)", SM3: r.SM3, File: r.File})
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s #%d %s: %w", room, e.Seq, e.Type, err)
		}
	}
	return refs, nil
}

// checkPath refuses a name that could escape a directory or hide in one.
func checkPath(p string) error {
	if p == "" || len(p) > 255 {
		return errors.New("archive path must be 1-255 bytes")
	}
	for i, part := 0, 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[part:i]
			if seg == "" || seg == "." || seg == ".." {
				return fmt.Errorf("archive path %q has an empty, . or .. part", p)
			}
			part = i + 1
			continue
		}
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("archive path %q has a character outside A-Z a-z 0-9 . _ - /", p)
		}
	}
	return nil
}
