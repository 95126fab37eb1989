package recorder

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pion/webrtc/v4"
)

// TestRecover records half of each source, "crashes" (the file is closed
// without Close, as a killed process's is), tears the tail as a write cut
// short would, and recovers: the file gets its final name, holds exactly
// the frames written up to the last sync, decodes without an error and
// has the digest of its bytes. While the Writer lives, Recover refuses.
func TestRecover(t *testing.T) {
	for _, tc := range sources {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.make(t)
			w := create(t, src.mime)
			track := Track{Dir: dirOf(w), Name: "rec", MimeType: src.mime}
			i := 0
			for ; i < len(src.packets) && (i < len(src.packets)/2 || w.out.bw.Buffered() > 0); i++ {
				if err := w.WriteRTP(src.packets[i]); err != nil {
					t.Fatalf("WriteRTP(seq %d) = %v, want nil", src.packets[i].SequenceNumber, err)
				}
			}
			synced := w.res.Frames
			if _, err := Recover(track); !errors.Is(err, ErrInUse) {
				t.Fatalf("Recover while the Writer records = %v, want ErrInUse", err)
			}
			if err := w.out.f.Close(); err != nil { // the process dies
				t.Fatal(err)
			}
			tear(t, w.part, src.ext)

			res, err := Recover(track)
			if err != nil {
				t.Fatalf("Recover = %v", err)
			}
			t.Logf("%+v", res)
			checkResult(t, res, src)
			if res.Path != w.path {
				t.Errorf("Path = %s, want %s", res.Path, w.path)
			}
			if res.Frames != synced || synced == 0 {
				t.Errorf("Frames = %d, want the %d written before the crash", res.Frames, synced)
			}
			if got := probeFrames(t, res.Path, ""); abs(got-int(synced)) > frameSlack {
				t.Errorf("ffprobe frames = %d, want about %d", got, synced)
			}
			if src.format == "h264" {
				return // no timing in the file
			}
			if got := probeDuration(t, res.Path); abs(int(res.Duration.Milliseconds())-int(got*1000)) > 100 {
				t.Errorf("Duration = %v, ffprobe says %.3fs", res.Duration, got)
			}
			if _, err := Recover(track); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Recover again = %v, want no .part to recover", err)
			}
		})
	}
}

// TestRecoverEmpty: a process that died before the first frame leaves a
// .part that recovers to a valid, empty file.
func TestRecoverEmpty(t *testing.T) {
	for _, mime := range []string{webrtc.MimeTypeVP8, webrtc.MimeTypeOpus} {
		t.Run(mime, func(t *testing.T) {
			w := create(t, mime)
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := w.out.f.Close(); err != nil {
				t.Fatal(err)
			}
			res, err := Recover(Track{Dir: dirOf(w), Name: "rec", MimeType: mime})
			if err != nil {
				t.Fatalf("Recover = %v", err)
			}
			checkDigest(t, res)
			if res.Frames != 0 || res.Bytes == 0 {
				t.Errorf("Frames, Bytes = %d, %d; want 0 and a header", res.Frames, res.Bytes)
			}
			// The same bytes as an empty recording closed normally.
			w2 := create(t, mime)
			closed, err := w2.Close()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(res.Path)
			want, _ := os.ReadFile(closed.Path)
			if mime == webrtc.MimeTypeOpus && len(got) == len(want) && len(got) > 14 { // the stream's serial number is random
				got, want = got[:14], want[:14]
			}
			if !bytes.Equal(got, want) {
				t.Errorf("recovered empty file %q, want as closed: %q", got, want)
			}
		})
	}
}

// TestRecoverLeavesForeignFiles: a .part that does not start as the
// recorder starts its files is refused and left untouched.
func TestRecoverLeavesForeignFiles(t *testing.T) {
	for _, mime := range []string{webrtc.MimeTypeVP8, webrtc.MimeTypeOpus} {
		t.Run(mime, func(t *testing.T) {
			track := Track{Dir: t.TempDir(), Name: "rec", MimeType: mime}
			_, part, err := Paths(track)
			if err != nil {
				t.Fatal(err)
			}
			junk := bytes.Repeat([]byte("not a recording "), 100)
			if err := os.WriteFile(part, junk, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Recover(track); !errors.Is(err, errNotRecording) {
				t.Errorf("Recover of junk = %v, want errNotRecording", err)
			}
			if b, err := os.ReadFile(part); err != nil || !bytes.Equal(b, junk) {
				t.Errorf("the junk .part after Recover: %d bytes, %v; want it untouched", len(b), err)
			}
		})
	}
}

// tear appends what a write cut short leaves: the start of a unit whose
// length runs past the end (IVF), a page failing its checksum (Ogg). Raw
// H.264 has no lengths to check, so it is left whole.
func tear(t *testing.T, part, ext string) {
	t.Helper()
	var tail []byte
	switch ext {
	case "ivf":
		tail = []byte{0xe8, 0x03, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x9d, 0x01, 0x2a} // a 1000-byte frame, 3 bytes of it
	case "ogg":
		tail = append([]byte("OggS"), make([]byte, 23)...) // a header with a wrong checksum and no segments
		tail = append(tail, "OggS\x00"...)
	default:
		return
	}
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(tail); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func dirOf(w *Writer) string { return filepath.Dir(w.path) }

// FuzzRecover: whatever a crash (or a disk) left in a .part, Recover does
// not panic, and a file it completes is renamed, with the digest of what
// it holds.
func FuzzRecover(f *testing.F) {
	f.Add(byte(0), []byte("DKIF\x00\x00\x20\x00VP80"))
	f.Add(byte(1), []byte("OggS\x00\x02"))
	f.Add(byte(2), []byte{0, 0, 0, 1, 0x65, 0x88})
	mimes := []string{webrtc.MimeTypeVP8, webrtc.MimeTypeOpus, webrtc.MimeTypeH264, webrtc.MimeTypeVP9}
	f.Fuzz(func(t *testing.T, codec byte, data []byte) {
		track := Track{Dir: t.TempDir(), Name: "rec", MimeType: mimes[int(codec)%len(mimes)]}
		final, part, err := Paths(track)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(part, data, 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := Recover(track)
		if err != nil {
			return
		}
		b, err := os.ReadFile(final)
		if err != nil || int64(len(b)) != res.Bytes || len(b) > len(data)+200 {
			t.Errorf("recovered %d bytes into %d (%v); Result says %d", len(data), len(b), err, res.Bytes)
		}
	})
}
