package decrypt

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// Format constants of version 1; docs/bid-format.md is the specification.
const (
	// Magic opens every sealed bid.
	Magic = "BIDROOM-BID\x00"
	// Version is the format version this package writes and reads.
	Version = 1

	// DefaultChunkSize is the plaintext chunk size Seal uses by default.
	DefaultChunkSize = 64 << 10
	// MinChunkSize and MaxChunkSize bound the chunk size of a sealed bid.
	MinChunkSize = 1 << 10
	MaxChunkSize = 4 << 20
	// MaxHeaderSize bounds the encoded header.
	MaxHeaderSize = 64 << 10
	// MaxPlaintextSize bounds the size of a sealed file (16 TiB).
	MaxPlaintextSize = 1 << 44
	// MaxIDSize bounds the session and bidder identifiers, in bytes.
	MaxIDSize = 256

	keySchemeBidder = 1 // one SM2 wrap of the data key to the bidder
	aeadSM4GCM      = 1 // SM4-GCM, 12-byte nonce, 16-byte tag
	sigSM2SM3       = 1 // SM2 with SM3, user id DefaultUserID, DER

	preambleSize   = len(Magic) + 1 + 4
	noncePrefixLen = 4
	tagSize        = 16
	dataKeySize    = 16
	maxWrappedKey  = 512
	sheetPad       = 1024
	maxSheetRecord = MaxSheetSize + sheetPad // padded plaintext, multiple of sheetPad

	kindSheet = 0
	kindChunk = 1
	kindFinal = 2
)

// Digest is an SM3 digest.
type Digest [32]byte

// Header is the authenticated header of a sealed bid. All of it is public:
// Inspect reads it without any key.
type Header struct {
	SessionID string    // the bid-opening session the bid is for
	BidderID  string    // the bidder, as the platform names them
	Created   time.Time // when the bid was sealed (bidder's clock, ms precision)
	ChunkSize int       // plaintext bytes per chunk (last chunk shorter)
	Size      int64     // plaintext size of the file
	SheetSize int       // padded plaintext size of the sheet record

	SignerKey    KeyID  // key whose signature the trailer carries
	RecipientKey KeyID  // key the data key is wrapped to
	WrappedKey   []byte // data key, SM2-encrypted to RecipientKey (GM/T 0009 ASN.1)
	KeyCommit    Digest // SM3(commitLabel || data key)
	NoncePrefix  [noncePrefixLen]byte

	raw    []byte // encoded header (after the preamble)
	digest Digest // SM3(preamble || raw)
}

// Digest returns the SM3 digest of the preamble and header, bound into every
// chunk's additional data.
func (h *Header) Digest() Digest { return h.digest }

// Chunks returns the number of file chunks (at least one).
func (h *Header) Chunks() int64 {
	if h.Size == 0 {
		return 1
	}
	return (h.Size + int64(h.ChunkSize) - 1) / int64(h.ChunkSize)
}

// BodySize returns the ciphertext size of the records that follow the header.
func (h *Header) BodySize() int64 {
	return int64(h.SheetSize) + tagSize + h.Size + h.Chunks()*tagSize
}

// chunkLen returns the plaintext length of file chunk i.
func (h *Header) chunkLen(i int64) int {
	if i < h.Chunks()-1 {
		return h.ChunkSize
	}
	return int(h.Size - (h.Chunks()-1)*int64(h.ChunkSize))
}

// encode fills h.raw and h.digest and returns preamble || header.
func (h *Header) encode() ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 512)
	b = append(b, keySchemeBidder, aeadSM4GCM)
	b = appendString16(b, h.SessionID)
	b = appendString16(b, h.BidderID)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Created.UnixMilli()))
	b = binary.BigEndian.AppendUint32(b, uint32(h.ChunkSize))
	b = binary.BigEndian.AppendUint64(b, uint64(h.Size))
	b = binary.BigEndian.AppendUint32(b, uint32(h.SheetSize))
	b = append(b, h.SignerKey[:]...)
	b = append(b, h.RecipientKey[:]...)
	b = appendString16(b, string(h.WrappedKey))
	b = append(b, h.KeyCommit[:]...)
	b = append(b, h.NoncePrefix[:]...)

	out := make([]byte, 0, preambleSize+len(b))
	out = append(out, Magic...)
	out = append(out, Version)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
	out = append(out, b...)
	h.raw = out[preambleSize:]
	h.digest = sm3Sum(out)
	return out, nil
}

func appendString16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// validate checks every bound a parsed header must meet.
func (h *Header) validate() error {
	switch {
	case len(h.SessionID) == 0 || len(h.SessionID) > MaxIDSize || !utf8.ValidString(h.SessionID):
		return fmt.Errorf("session id must be 1 to %d bytes of UTF-8", MaxIDSize)
	case len(h.BidderID) == 0 || len(h.BidderID) > MaxIDSize || !utf8.ValidString(h.BidderID):
		return fmt.Errorf("bidder id must be 1 to %d bytes of UTF-8", MaxIDSize)
	case h.ChunkSize < MinChunkSize || h.ChunkSize > MaxChunkSize:
		return fmt.Errorf("chunk size %d outside %d..%d", h.ChunkSize, MinChunkSize, MaxChunkSize)
	case h.Size < 0 || h.Size > MaxPlaintextSize:
		return fmt.Errorf("file size %d outside 0..%d", h.Size, int64(MaxPlaintextSize))
	case h.SheetSize < sheetPad || h.SheetSize > maxSheetRecord || h.SheetSize%sheetPad != 0:
		return fmt.Errorf("sheet record size %d is not a multiple of %d up to %d", h.SheetSize, sheetPad, maxSheetRecord)
	case len(h.WrappedKey) == 0 || len(h.WrappedKey) > maxWrappedKey:
		return fmt.Errorf("wrapped key of %d bytes, want 1 to %d", len(h.WrappedKey), maxWrappedKey)
	}
	return nil
}

// ReadHeader reads and parses the preamble and header of a sealed bid from
// r, leaving r at the first record. It never reads or allocates more than
// MaxHeaderSize bytes for the header.
func ReadHeader(r io.Reader) (*Header, error) {
	var pre [preambleSize]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, readErr("preamble", err)
	}
	if string(pre[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("decrypt: preamble: not a sealed bid (bad magic): %w", ErrFormat)
	}
	if v := pre[len(Magic)]; v != Version {
		return nil, fmt.Errorf("decrypt: preamble: version %d, this build reads %d: %w", v, Version, ErrVersion)
	}
	n := binary.BigEndian.Uint32(pre[len(Magic)+1:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("decrypt: header: %d bytes, limit %d: %w", n, MaxHeaderSize, ErrFormat)
	}
	buf := make([]byte, preambleSize+int(n))
	copy(buf, pre[:])
	if _, err := io.ReadFull(r, buf[preambleSize:]); err != nil {
		return nil, readErr("header", err)
	}
	return parseHeader(buf)
}

// parseHeader parses preamble || header held entirely in b.
func parseHeader(b []byte) (*Header, error) {
	p := parser{b: b[preambleSize:]}
	h := &Header{raw: b[preambleSize:], digest: sm3Sum(b)}
	scheme, aead := p.u8(), p.u8()
	h.SessionID = string(p.bytes16())
	h.BidderID = string(p.bytes16())
	created := int64(p.u64())
	chunk := p.u32()
	size := p.u64()
	sheet := p.u32()
	copy(h.SignerKey[:], p.n(32))
	copy(h.RecipientKey[:], p.n(32))
	h.WrappedKey = p.bytes16()
	copy(h.KeyCommit[:], p.n(32))
	copy(h.NoncePrefix[:], p.n(noncePrefixLen))
	if p.short {
		return nil, fmt.Errorf("decrypt: header: fields run past its %d bytes: %w", len(h.raw), ErrFormat)
	}
	if len(p.b) != 0 {
		return nil, fmt.Errorf("decrypt: header: %d bytes after the last field: %w", len(p.b), ErrFormat)
	}
	if scheme != keySchemeBidder || aead != aeadSM4GCM {
		return nil, fmt.Errorf("decrypt: header: key scheme %d, cipher %d: %w", scheme, aead, ErrVersion)
	}
	if chunk > MaxChunkSize || size > MaxPlaintextSize || sheet > maxSheetRecord {
		return nil, fmt.Errorf("decrypt: header: size field out of bounds: %w", ErrFormat)
	}
	h.Created = time.UnixMilli(created).UTC()
	h.ChunkSize, h.Size, h.SheetSize = int(chunk), int64(size), int(sheet)
	if err := h.validate(); err != nil {
		return nil, fmt.Errorf("decrypt: header: %v: %w", err, ErrFormat)
	}
	return h, nil
}

// parser reads big-endian fields from b; past the end it sets short and
// returns zeros.
type parser struct {
	b     []byte
	short bool
}

func (p *parser) n(k int) []byte {
	if p.short || len(p.b) < k {
		p.short = true
		return make([]byte, k)
	}
	v := p.b[:k]
	p.b = p.b[k:]
	return v
}

func (p *parser) u8() byte    { return p.n(1)[0] }
func (p *parser) u32() uint32 { return binary.BigEndian.Uint32(p.n(4)) }
func (p *parser) u64() uint64 { return binary.BigEndian.Uint64(p.n(8)) }
func (p *parser) bytes16() []byte {
	n := binary.BigEndian.Uint16(p.n(2))
	if p.short || len(p.b) < int(n) {
		p.short = true
		return nil
	}
	return p.n(int(n))
}

// readErr maps a read error on untrusted input to ErrTruncated (early end)
// or passes an I/O error through with context.
func readErr(what string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("decrypt: %s: %w", what, ErrTruncated)
	}
	return fmt.Errorf("decrypt: %s: read: %w", what, err)
}
