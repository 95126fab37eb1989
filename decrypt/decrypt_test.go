package decrypt

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

var (
	keysOnce            sync.Once
	bidderKey, otherKey *PrivateKey
)

// testKeys returns two fixed-per-run key pairs.
func testKeys(t testing.TB) (bidder, other *PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if bidderKey, err = GenerateKey(); err != nil {
			panic(err)
		}
		if otherKey, err = GenerateKey(); err != nil {
			panic(err)
		}
	})
	return bidderKey, otherKey
}

var testSheet = Sheet{
	Price:          "12345678.90",
	Duration:       "180 日历天",
	Quality:        "合格",
	ProjectManager: "张三",
	Extra:          map[string]string{"bond": "已缴", "rate": "0.95"},
}

// seal seals data with chunk size 1 KiB unless chunk is non-zero.
func seal(t testing.TB, data []byte, chunk int) ([]byte, *Summary) {
	t.Helper()
	bidder, _ := testKeys(t)
	if chunk == 0 {
		chunk = MinChunkSize
	}
	var out bytes.Buffer
	s, err := Seal(&out, bytes.NewReader(data), SealOptions{
		SessionID: "session-2026-001",
		BidderID:  "bidder-42",
		Size:      int64(len(data)),
		Sheet:     testSheet,
		Signer:    bidder,
		ChunkSize: chunk,
		Created:   time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if s.Length != int64(out.Len()) {
		t.Fatalf("Summary.Length = %d, want %d", s.Length, out.Len())
	}
	return out.Bytes(), s
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sheetEqual(a, b *Sheet) bool {
	x, _ := a.MarshalJSON()
	y, _ := b.MarshalJSON()
	return bytes.Equal(x, y)
}

func TestRoundTrip(t *testing.T) {
	bidder, _ := testKeys(t)
	const c = MinChunkSize
	for _, n := range []int{0, 1, c - 1, c, c + 1, 2*c - 1, 2 * c, 2*c + 1, 3 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := randBytes(t, n)
			chunk := c
			if n > 1<<20 {
				chunk = DefaultChunkSize
			}
			sealed, sum := seal(t, data, chunk)
			if want := int64(preambleSize+len(sum.Header.raw)) + sum.Header.BodySize() + 3 + int64(len(sum.Signature)); want != int64(len(sealed)) {
				t.Errorf("sealed length %d, want %d from the header", len(sealed), want)
			}

			var out bytes.Buffer
			sheet, got, err := Open(&out, bytes.NewReader(sealed), bidder, bidder.Public())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("Open returned %d bytes differing from the %d sealed", out.Len(), len(data))
			}
			if !sheetEqual(sheet, &testSheet) {
				t.Errorf("sheet = %+v, want %+v", sheet, testSheet)
			}
			if got.Digest != sum.Digest || got.Header.Digest() != sum.Header.Digest() {
				t.Errorf("Open digest %x, Seal digest %x", got.Digest, sum.Digest)
			}
			h := got.Header
			if h.SessionID != "session-2026-001" || h.BidderID != "bidder-42" || h.Size != int64(n) ||
				!h.Created.Equal(time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)) {
				t.Errorf("header = %+v", h)
			}

			dk, err := UnwrapKey(h, bidder)
			if err != nil {
				t.Fatalf("UnwrapKey: %v", err)
			}
			out.Reset()
			if _, _, err := OpenWithDataKey(&out, bytes.NewReader(sealed), dk, bidder.Public()); err != nil || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("OpenWithDataKey: err %v, plaintext equal %v", err, bytes.Equal(out.Bytes(), data))
			}

			ins, err := Inspect(bytes.NewReader(sealed), bidder.Public())
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if ins.Digest != sum.Digest || ins.Length != int64(len(sealed)) {
				t.Errorf("Inspect = digest %x length %d, want %x %d", ins.Digest, ins.Length, sum.Digest, len(sealed))
			}
		})
	}
}

// TestRoundTripLarge seals and opens 100 MiB through a pipe (about 2 s);
// 16 MiB with -short or -race.
func TestRoundTripLarge(t *testing.T) {
	n := int64(100 << 20)
	if testing.Short() || raceEnabled {
		n = 16 << 20
	}
	bidder, _ := testKeys(t)
	pr, pw := io.Pipe()
	go func() {
		_, err := Seal(pw, io.LimitReader(zeroReader{}, n), SealOptions{
			SessionID: "s", BidderID: "b", Size: n, Signer: bidder,
		})
		pw.CloseWithError(err)
	}()
	cw := &countWriter{w: io.Discard}
	_, sum, err := Open(cw, pr, bidder, bidder.Public())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if cw.n != n || sum.Header.Size != n {
		t.Fatalf("opened %d bytes, header says %d, want %d", cw.n, sum.Header.Size, n)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestSealInputSizeMismatch(t *testing.T) {
	bidder, _ := testKeys(t)
	for _, tc := range []struct {
		name string
		data int
		size int64
	}{{"short", 10, 11}, {"long", 12, 11}} {
		_, err := Seal(io.Discard, bytes.NewReader(make([]byte, tc.data)), SealOptions{
			SessionID: "s", BidderID: "b", Size: tc.size, Signer: bidder,
		})
		if err == nil {
			t.Errorf("%s: Seal succeeded with %d bytes for Size %d", tc.name, tc.data, tc.size)
		}
	}
}

func TestSealRejectsBadOptions(t *testing.T) {
	bidder, _ := testKeys(t)
	ok := SealOptions{SessionID: "s", BidderID: "b", Signer: bidder}
	for _, tc := range []struct {
		name string
		edit func(*SealOptions)
	}{
		{"no signer", func(o *SealOptions) { o.Signer = nil }},
		{"no session", func(o *SealOptions) { o.SessionID = "" }},
		{"long bidder", func(o *SealOptions) { o.BidderID = string(make([]byte, MaxIDSize+1)) }},
		{"small chunk", func(o *SealOptions) { o.ChunkSize = MinChunkSize - 1 }},
		{"big chunk", func(o *SealOptions) { o.ChunkSize = MaxChunkSize + 1 }},
		{"negative size", func(o *SealOptions) { o.Size = -1 }},
		{"huge sheet", func(o *SealOptions) { o.Sheet.Extra = map[string]string{"x": string(make([]byte, MaxSheetSize))} }},
		{"sheet name clash", func(o *SealOptions) { o.Sheet.Extra = map[string]string{FieldPrice: "1"} }},
	} {
		o := ok
		tc.edit(&o)
		if _, err := Seal(io.Discard, bytes.NewReader(nil), o); err == nil {
			t.Errorf("%s: Seal succeeded", tc.name)
		}
	}
}

// layout returns the byte offsets of a sealed bid's parts.
type layout struct {
	header, sheet, chunks, trailer int   // start offsets
	chunkStarts                    []int // start of each file chunk
}

func layoutOf(t *testing.T, sealed []byte) layout {
	t.Helper()
	h, err := ReadHeader(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	l := layout{header: preambleSize, sheet: preambleSize + len(h.raw)}
	l.chunks = l.sheet + h.SheetSize + tagSize
	off := l.chunks
	for i := int64(0); i < h.Chunks(); i++ {
		l.chunkStarts = append(l.chunkStarts, off)
		off += h.chunkLen(i) + tagSize
	}
	l.trailer = off
	return l
}

// headerFields returns name → offset of one byte inside each header field.
func headerFields(h *Header) map[string]int {
	o := preambleSize
	fields := map[string]int{"magic": 0, "version": len(Magic), "header length": len(Magic) + 1}
	add := func(name string, n int) { fields[name] = o + n - 1; o += n }
	add("key scheme", 1)
	add("cipher", 1)
	add("session id length", 2)
	add("session id", len(h.SessionID))
	add("bidder id length", 2)
	add("bidder id", len(h.BidderID))
	add("created", 8)
	add("chunk size", 4)
	add("file size", 8)
	add("sheet size", 4)
	add("signer key", 32)
	add("recipient key", 32)
	add("wrapped key length", 2)
	add("wrapped key", len(h.WrappedKey))
	add("key commitment", 32)
	add("nonce prefix", noncePrefixLen)
	return fields
}

var sentinels = []error{ErrFormat, ErrVersion, ErrTruncated, ErrTampered, ErrSignature, ErrWrongKey}

// openAll runs Open, OpenWithDataKey and Inspect on b and returns their errors.
func openAll(t *testing.T, b []byte) map[string]error {
	t.Helper()
	bidder, _ := testKeys(t)
	errs := map[string]error{}
	_, _, errs["Open"] = Open(io.Discard, bytes.NewReader(b), bidder, bidder.Public())
	_, errs["Inspect"] = Inspect(bytes.NewReader(b), bidder.Public())
	return errs
}

// wantFail checks that every operation fails with a sentinel, and with one of
// want when want is non-empty.
func wantFail(t *testing.T, name string, errs map[string]error, want ...error) {
	t.Helper()
	for op, err := range errs {
		if err == nil {
			t.Errorf("%s: %s succeeded on altered input", name, op)
			continue
		}
		isSentinel := false
		for _, s := range sentinels {
			isSentinel = isSentinel || errors.Is(err, s)
		}
		if !isSentinel {
			t.Errorf("%s: %s error %q wraps no sentinel", name, op, err)
		}
		if len(want) == 0 {
			continue
		}
		found := false
		for _, w := range want {
			found = found || errors.Is(err, w)
		}
		if !found {
			t.Errorf("%s: %s error %q, want one of %v", name, op, err, want)
		}
	}
}

func TestTamperHeaderFields(t *testing.T) {
	sealed, sum := seal(t, randBytes(t, 3*MinChunkSize+5), 0)
	for name, off := range headerFields(sum.Header) {
		for _, bit := range []byte{0x01, 0x80} {
			b := bytes.Clone(sealed)
			b[off] ^= bit
			errs := openAll(t, b)
			switch name {
			case "magic", "header length", "session id length", "bidder id length", "wrapped key length":
				wantFail(t, name, errs, ErrFormat, ErrTruncated)
			case "version", "key scheme", "cipher":
				wantFail(t, name, errs, ErrVersion)
			case "signer key":
				wantFail(t, name, errs, ErrSignature)
			default:
				// Content changes: Inspect sees a bad signature; Open sees a
				// wrong or altered key, a chunk failing authentication, or a
				// size that no longer matches the data.
				wantFail(t, name, map[string]error{"Open": errs["Open"]}, ErrTampered, ErrWrongKey, ErrTruncated, ErrFormat)
				if err := errs["Inspect"]; !errors.Is(err, ErrSignature) && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTruncated) {
					t.Errorf("%s: Inspect error %v, want ErrSignature, ErrFormat or ErrTruncated", name, err)
				}
			}
		}
	}
}

func TestTamperRecords(t *testing.T) {
	sealed, _ := seal(t, randBytes(t, 3*MinChunkSize+5), 0)
	l := layoutOf(t, sealed)
	offsets := map[string]int{
		"sheet first byte": l.sheet, "sheet tag": l.chunks - 1,
	}
	for i, s := range l.chunkStarts {
		offsets[fmt.Sprintf("chunk %d first byte", i)] = s
		offsets[fmt.Sprintf("chunk %d middle", i)] = s + 3
	}
	for i := range l.chunkStarts {
		end := l.trailer
		if i+1 < len(l.chunkStarts) {
			end = l.chunkStarts[i+1]
		}
		offsets[fmt.Sprintf("chunk %d tag", i)] = end - 1
	}
	for name, off := range offsets {
		b := bytes.Clone(sealed)
		b[off] ^= 0x04
		errs := openAll(t, b)
		wantFail(t, name, map[string]error{"Open": errs["Open"]}, ErrTampered)
		wantFail(t, name, map[string]error{"Inspect": errs["Inspect"]}, ErrSignature)
	}
}

func TestTamperTrailer(t *testing.T) {
	sealed, _ := seal(t, randBytes(t, 100), 0)
	l := layoutOf(t, sealed)
	for off := l.trailer; off < len(sealed); off++ {
		b := bytes.Clone(sealed)
		b[off] ^= 0x01
		wantFail(t, fmt.Sprintf("trailer byte %d", off-l.trailer), openAll(t, b), ErrFormat, ErrSignature, ErrTruncated)
	}
}

func TestChunkErrorsNameTheChunk(t *testing.T) {
	bidder, _ := testKeys(t)
	sealed, _ := seal(t, randBytes(t, 20*MinChunkSize), 0)
	l := layoutOf(t, sealed)
	sealed[l.chunkStarts[17]+1] ^= 1
	_, _, err := Open(io.Discard, bytes.NewReader(sealed), bidder, bidder.Public())
	if !errors.Is(err, ErrTampered) || err.Error() != "decrypt: chunk 17: authentication failed" {
		t.Errorf("error %q, want %q wrapping ErrTampered", err, "decrypt: chunk 17: authentication failed")
	}
}

// TestTruncateEverywhere cuts a sealed bid at every byte offset. The sweep
// uses OpenWithDataKey and Inspect (an SM2 unwrap per offset would dominate
// the run); Open runs at every part boundary and one byte either side.
func TestTruncateEverywhere(t *testing.T) {
	bidder, _ := testKeys(t)
	sealed, sum := seal(t, randBytes(t, 2*MinChunkSize+7), 0)
	dk, err := UnwrapKey(sum.Header, bidder)
	if err != nil {
		t.Fatal(err)
	}
	l := layoutOf(t, sealed)
	boundaries := map[int]bool{}
	for _, b := range append([]int{0, len(Magic), l.header, l.sheet, l.chunks, l.trailer, len(sealed)}, l.chunkStarts...) {
		boundaries[b-1], boundaries[b], boundaries[b+1] = true, true, true
	}
	for n := 0; n < len(sealed); n++ {
		name := fmt.Sprintf("truncated to %d of %d", n, len(sealed))
		errs := map[string]error{}
		_, _, errs["OpenWithDataKey"] = OpenWithDataKey(io.Discard, bytes.NewReader(sealed[:n]), dk, bidder.Public())
		_, errs["Inspect"] = Inspect(bytes.NewReader(sealed[:n]), bidder.Public())
		if boundaries[n] {
			_, _, errs["Open"] = Open(io.Discard, bytes.NewReader(sealed[:n]), bidder, bidder.Public())
		}
		wantFail(t, name, errs, ErrTruncated)
	}
}

func TestReorderAppendSplice(t *testing.T) {
	data := randBytes(t, 3*MinChunkSize)
	sealed, _ := seal(t, data, 0)
	l := layoutOf(t, sealed)
	c0, c1, c2 := l.chunkStarts[0], l.chunkStarts[1], l.chunkStarts[2]
	chunk := func(b []byte, i int) []byte { return b[l.chunkStarts[i] : l.chunkStarts[i]+MinChunkSize+tagSize] }

	swapped := bytes.Clone(sealed)
	copy(swapped[c0:c1], chunk(sealed, 1))
	copy(swapped[c1:c2], chunk(sealed, 0))

	appended := bytes.Clone(sealed[:l.trailer])
	appended = append(appended, chunk(sealed, 2)...)
	appended = append(appended, sealed[l.trailer:]...)

	dropped := bytes.Clone(sealed[:c2])
	dropped = append(dropped, sealed[l.trailer:]...)

	trailing := append(bytes.Clone(sealed), 0)

	// The same data sealed again (new data key): its chunks spliced in.
	other, _ := seal(t, data, 0)
	spliced := bytes.Clone(sealed)
	copy(spliced[c1:c2], chunk(other, 1))

	for _, tc := range []struct {
		name string
		b    []byte
		want []error
	}{
		{"swap chunks 0 and 1", swapped, []error{ErrTampered}},
		{"append a chunk", appended, []error{ErrFormat}},
		{"drop the last chunk", dropped, []error{ErrTampered, ErrTruncated}},
		{"byte after trailer", trailing, []error{ErrFormat}},
		{"chunk from another sealing", spliced, []error{ErrTampered}},
	} {
		errs := openAll(t, tc.b)
		wantFail(t, tc.name, map[string]error{"Open": errs["Open"]}, tc.want...)
		wantFail(t, tc.name, map[string]error{"Inspect": errs["Inspect"]}, append(tc.want, ErrSignature, ErrTruncated)...)
	}
}

func TestWrongVersion(t *testing.T) {
	sealed, _ := seal(t, []byte("bid"), 0)
	for _, v := range []byte{0, 2, 255} {
		b := bytes.Clone(sealed)
		b[len(Magic)] = v
		wantFail(t, fmt.Sprintf("version %d", v), openAll(t, b), ErrVersion)
	}
}

func TestOversizedHeader(t *testing.T) {
	b := []byte(Magic + "\x01")
	b = binary.BigEndian.AppendUint32(b, MaxHeaderSize+1)
	wantFail(t, "header length over the limit", openAll(t, b), ErrFormat)
}

func TestWrongKeys(t *testing.T) {
	bidder, other := testKeys(t)
	data := randBytes(t, 2000)
	sealed, sum := seal(t, data, 0)

	_, _, err := Open(io.Discard, bytes.NewReader(sealed), other, bidder.Public())
	if !errors.Is(err, ErrWrongKey) {
		t.Errorf("Open with another private key: %v, want ErrWrongKey", err)
	}
	if _, err := UnwrapKey(sum.Header, other); !errors.Is(err, ErrWrongKey) {
		t.Errorf("UnwrapKey with another key: %v, want ErrWrongKey", err)
	}
	var dk DataKey
	dk[0] = 1
	if _, _, err := OpenWithDataKey(io.Discard, bytes.NewReader(sealed), dk, bidder.Public()); !errors.Is(err, ErrWrongKey) {
		t.Errorf("OpenWithDataKey with a wrong data key: %v, want ErrWrongKey", err)
	}
	if _, _, err := Open(io.Discard, bytes.NewReader(sealed), bidder, other.Public()); !errors.Is(err, ErrSignature) {
		t.Errorf("Open expecting another signer: %v, want ErrSignature", err)
	}
	if _, err := Inspect(bytes.NewReader(sealed), other.Public()); !errors.Is(err, ErrSignature) {
		t.Errorf("Inspect expecting another signer: %v, want ErrSignature", err)
	}
}

// TestSignatureByAnotherKey re-signs a sealed bid with another key (keeping
// the header's signer id): the signature must not verify.
func TestSignatureByAnotherKey(t *testing.T) {
	bidder, other := testKeys(t)
	sealed, sum := seal(t, randBytes(t, 500), 0)
	l := layoutOf(t, sealed)
	sig, err := other.Sign(sum.Digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b := append(bytes.Clone(sealed[:l.trailer]), sigSM2SM3, 0, byte(len(sig)))
	b = append(b, sig...)
	wantFail(t, "signature by another key", openAll(t, b), ErrSignature)
	if err := bidder.Public().Verify(sum.Digest[:], sum.Signature); err != nil {
		t.Errorf("genuine signature: %v", err)
	}
}

// TestRecipientDiffersFromSigner wraps to a separate encryption key (the
// dual-certificate case) and checks who can open.
func TestRecipientDiffersFromSigner(t *testing.T) {
	bidder, other := testKeys(t)
	var out bytes.Buffer
	if _, err := Seal(&out, bytes.NewReader([]byte("x")), SealOptions{
		SessionID: "s", BidderID: "b", Size: 1, Signer: bidder, Recipient: other.Public(),
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(io.Discard, bytes.NewReader(out.Bytes()), other, bidder.Public()); err != nil {
		t.Errorf("Open by the recipient: %v", err)
	}
	if _, _, err := Open(io.Discard, bytes.NewReader(out.Bytes()), bidder, bidder.Public()); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Open by the signer: %v, want ErrWrongKey", err)
	}
}

func TestSheetJSON(t *testing.T) {
	b, err := testSheet.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"bond":"已缴","duration":"180 日历天","price":"12345678.90","project_manager":"张三","quality":"合格","rate":"0.95"}`
	if string(b) != want {
		t.Errorf("sheet JSON = %s, want %s", b, want)
	}
	for _, bad := range []string{`[]`, `{"price":1}`, `null`, `{"a":"b"`} {
		var s Sheet
		if err := s.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("UnmarshalJSON(%s) succeeded", bad)
		}
	}
}
