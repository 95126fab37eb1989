package decrypt

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/tjfoc/gmsm/sm3"
	"github.com/tjfoc/gmsm/sm4"
)

// commitLabel prefixes the data key in the key commitment.
const commitLabel = "BIDROOM-BID v1 key commitment\x00"

// DataKey is the random SM4 key a bid's records are encrypted with.
type DataKey [dataKeySize]byte

// SealOptions says what to seal and for whom.
type SealOptions struct {
	SessionID string // required, 1..MaxIDSize bytes
	BidderID  string // required, 1..MaxIDSize bytes
	Size      int64  // required: exact number of bytes Seal will read from r
	Sheet     Sheet  // the opening sheet sealed with the file

	Signer    *PrivateKey // required: the bidder's signing key
	Recipient *PublicKey  // key the data key is wrapped to; default Signer's public key

	ChunkSize int       // default DefaultChunkSize
	Created   time.Time // default time.Now()
}

// Summary describes a sealed bid whose signature has been made or checked.
type Summary struct {
	Header    *Header
	Digest    Digest // SM3 of every byte before the trailer: what the signature signs
	Signature []byte // the bidder's DER SM2 signature over Digest
	Length    int64  // total bytes of the sealed bid
}

// Seal reads exactly opts.Size bytes from r and writes the sealed bid to w,
// in memory bounded by the chunk size. The data key never leaves Seal except
// wrapped to opts.Recipient.
func Seal(w io.Writer, r io.Reader, opts SealOptions) (*Summary, error) {
	if opts.Signer == nil {
		return nil, fmt.Errorf("decrypt: seal: no signing key")
	}
	if opts.Recipient == nil {
		opts.Recipient = opts.Signer.Public()
	}
	if opts.ChunkSize == 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.Created.IsZero() {
		opts.Created = time.Now()
	}
	sheet, err := encodeSheet(opts.Sheet)
	if err != nil {
		return nil, fmt.Errorf("decrypt: seal: %w", err)
	}
	var dk DataKey
	h := &Header{
		SessionID:    opts.SessionID,
		BidderID:     opts.BidderID,
		Created:      opts.Created.UTC().Truncate(time.Millisecond),
		ChunkSize:    opts.ChunkSize,
		Size:         opts.Size,
		SheetSize:    (4 + len(sheet) + sheetPad - 1) / sheetPad * sheetPad,
		SignerKey:    opts.Signer.Public().ID(),
		RecipientKey: opts.Recipient.ID(),
	}
	if _, err := rand.Read(dk[:]); err != nil {
		return nil, fmt.Errorf("decrypt: seal: %w", err)
	}
	if _, err := rand.Read(h.NoncePrefix[:]); err != nil {
		return nil, fmt.Errorf("decrypt: seal: %w", err)
	}
	if h.WrappedKey, err = opts.Recipient.Encrypt(dk[:]); err != nil {
		return nil, fmt.Errorf("decrypt: seal: wrap data key: %w", err)
	}
	h.KeyCommit = keyCommit(dk)
	pre, err := h.encode()
	if err != nil {
		return nil, fmt.Errorf("decrypt: seal: %w", err)
	}

	cw := &countWriter{w: w}
	sum := sm3.New()
	out := io.MultiWriter(cw, sum)
	if _, err := out.Write(pre); err != nil {
		return nil, fmt.Errorf("decrypt: seal: write header: %w", err)
	}
	aead := newAEAD(dk)
	clear(dk[:])

	// Record 0: the opening sheet, length-prefixed and zero-padded.
	pt := make([]byte, max(h.SheetSize, h.ChunkSize))
	binary.BigEndian.PutUint32(pt, uint32(len(sheet)))
	copy(pt[4:], sheet)
	clear(pt[4+len(sheet) : h.SheetSize])
	ct := make([]byte, 0, len(pt)+tagSize)
	ct = aead.Seal(ct[:0], nonce(h, 0), pt[:h.SheetSize], aad(h, 0, kindSheet))
	if _, err := out.Write(ct); err != nil {
		return nil, fmt.Errorf("decrypt: seal: write sheet: %w", err)
	}

	// Records 1..n: the file.
	n := h.Chunks()
	for i := int64(0); i < n; i++ {
		m := h.chunkLen(i)
		if _, err := io.ReadFull(r, pt[:m]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, fmt.Errorf("decrypt: seal: input shorter than the %d bytes declared", h.Size)
			}
			return nil, fmt.Errorf("decrypt: seal: read input: %w", err)
		}
		kind := byte(kindChunk)
		if i == n-1 {
			kind = kindFinal
		}
		ct = aead.Seal(ct[:0], nonce(h, i+1), pt[:m], aad(h, i+1, kind))
		if _, err := out.Write(ct); err != nil {
			return nil, fmt.Errorf("decrypt: seal: write chunk %d: %w", i, err)
		}
	}
	clear(pt)
	var one [1]byte
	if k, _ := io.ReadFull(r, one[:]); k != 0 {
		return nil, fmt.Errorf("decrypt: seal: input longer than the %d bytes declared", h.Size)
	}

	s := &Summary{Header: h}
	copy(s.Digest[:], sum.Sum(nil))
	if s.Signature, err = opts.Signer.Sign(s.Digest[:]); err != nil {
		return nil, fmt.Errorf("decrypt: seal: %w", err)
	}
	trailer := []byte{sigSM2SM3, 0, byte(len(s.Signature))}
	trailer = append(trailer, s.Signature...)
	if _, err := cw.Write(trailer); err != nil {
		return nil, fmt.Errorf("decrypt: seal: write trailer: %w", err)
	}
	s.Length = cw.n
	return s, nil
}

// UnwrapKey decrypts the data key of h with the recipient's private key and
// checks it against the header's key commitment. This is the bidder's step
// of the unlock exchange; the private key never needs to leave their machine.
func UnwrapKey(h *Header, priv *PrivateKey) (DataKey, error) {
	var dk DataKey
	if priv == nil {
		return dk, fmt.Errorf("decrypt: unwrap: %w: %w", errNilKey, ErrWrongKey)
	}
	if priv.Public().ID() != h.RecipientKey {
		return dk, fmt.Errorf("decrypt: unwrap: data key is wrapped to another key: %w", ErrWrongKey)
	}
	b, err := priv.Decrypt(h.WrappedKey)
	if err != nil {
		return dk, fmt.Errorf("decrypt: unwrap: wrapped key does not decrypt under the recipient key: %w", ErrTampered)
	}
	if len(b) != dataKeySize {
		return dk, fmt.Errorf("decrypt: unwrap: data key of %d bytes: %w", len(b), ErrTampered)
	}
	copy(dk[:], b)
	clear(b)
	if c := keyCommit(dk); subtle.ConstantTimeCompare(c[:], h.KeyCommit[:]) != 1 {
		return DataKey{}, fmt.Errorf("decrypt: unwrap: data key does not match its commitment: %w", ErrTampered)
	}
	return dk, nil
}

// Open reads a sealed bid from r, unwraps its data key with priv, writes the
// decrypted file to w and returns the opening sheet. Each chunk is
// authenticated before it is written, but truncation and the signature are
// known only at the end: unless err is nil, discard what was written to w.
// signer is the bidder's public key the signature must verify under.
func Open(w io.Writer, r io.Reader, priv *PrivateKey, signer *PublicKey) (*Sheet, *Summary, error) {
	h, err := readHeaderFor(r, signer)
	if err != nil {
		return nil, nil, err
	}
	dk, err := UnwrapKey(h, priv)
	if err != nil {
		return nil, nil, err
	}
	return openBody(w, r, h, dk, signer)
}

// OpenWithDataKey is Open for the server side of the unlock exchange: the
// bidder has unwrapped the data key and handed it over. A data key that does
// not match the header's commitment yields ErrWrongKey before any decryption.
func OpenWithDataKey(w io.Writer, r io.Reader, dk DataKey, signer *PublicKey) (*Sheet, *Summary, error) {
	h, err := readHeaderFor(r, signer)
	if err != nil {
		return nil, nil, err
	}
	if c := keyCommit(dk); subtle.ConstantTimeCompare(c[:], h.KeyCommit[:]) != 1 {
		return nil, nil, fmt.Errorf("decrypt: data key does not match the sealed bid: %w", ErrWrongKey)
	}
	return openBody(w, r, h, dk, signer)
}

// Inspect reads a whole sealed bid from r without decrypting it: it parses
// the header, walks the records and verifies the bidder's signature over
// everything under signer.
func Inspect(r io.Reader, signer *PublicKey) (*Summary, error) {
	h, err := readHeaderFor(r, signer)
	if err != nil {
		return nil, err
	}
	b := newBody(r, h)
	buf := make([]byte, 32<<10)
	for rem := h.BodySize(); rem > 0; {
		k := int(min(rem, int64(len(buf))))
		if _, err := io.ReadFull(r, buf[:k]); err != nil {
			return nil, readErr("records", err)
		}
		b.sum.Write(buf[:k])
		b.n += int64(k)
		rem -= int64(k)
	}
	return b.finish(signer)
}

func readHeaderFor(r io.Reader, signer *PublicKey) (*Header, error) {
	if signer == nil {
		return nil, fmt.Errorf("decrypt: no signer key to verify against: %w", ErrSignature)
	}
	h, err := ReadHeader(r)
	if err != nil {
		return nil, err
	}
	if signer.ID() != h.SignerKey {
		return nil, fmt.Errorf("decrypt: sealed bid names another signing key: %w", ErrSignature)
	}
	return h, nil
}

// body reads the records and trailer after a parsed header, keeping the
// running SM3 of everything the signature covers.
type body struct {
	r   io.Reader
	h   *Header
	sum hash.Hash
	n   int64 // bytes read, preamble included
}

func newBody(r io.Reader, h *Header) *body {
	b := &body{r: r, h: h, sum: sm3.New(), n: int64(preambleSize + len(h.raw))}
	b.sum.Write(h.preamble())
	b.sum.Write(h.raw)
	return b
}

// record reads record i's ciphertext (size bytes including the tag) into buf.
func (b *body) record(buf []byte, size int, what string) ([]byte, error) {
	buf = buf[:size]
	if _, err := io.ReadFull(b.r, buf); err != nil {
		return nil, readErr(what, err)
	}
	b.sum.Write(buf)
	b.n += int64(size)
	return buf, nil
}

// finish reads the trailer, checks that nothing follows it and verifies the
// signature.
func (b *body) finish(signer *PublicKey) (*Summary, error) {
	s := &Summary{Header: b.h}
	copy(s.Digest[:], b.sum.Sum(nil))
	var t [3]byte
	if _, err := io.ReadFull(b.r, t[:]); err != nil {
		return nil, readErr("trailer", err)
	}
	if t[0] != sigSM2SM3 {
		return nil, fmt.Errorf("decrypt: trailer: signature algorithm %d: %w", t[0], ErrFormat)
	}
	n := int(binary.BigEndian.Uint16(t[1:]))
	if n == 0 || n > maxSignatureSize {
		return nil, fmt.Errorf("decrypt: trailer: signature of %d bytes: %w", n, ErrFormat)
	}
	s.Signature = make([]byte, n)
	if _, err := io.ReadFull(b.r, s.Signature); err != nil {
		return nil, readErr("trailer", err)
	}
	var one [1]byte
	if k, _ := io.ReadFull(b.r, one[:]); k != 0 {
		return nil, fmt.Errorf("decrypt: data after the trailer: %w", ErrFormat)
	}
	if err := signer.Verify(s.Digest[:], s.Signature); err != nil {
		return nil, fmt.Errorf("decrypt: trailer: %w", err)
	}
	s.Length = b.n + 3 + int64(n)
	return s, nil
}

func openBody(w io.Writer, r io.Reader, h *Header, dk DataKey, signer *PublicKey) (*Sheet, *Summary, error) {
	aead := newAEAD(dk)
	b := newBody(r, h)
	buf := make([]byte, max(h.SheetSize, h.ChunkSize)+tagSize)

	ct, err := b.record(buf, h.SheetSize+tagSize, "sheet")
	if err != nil {
		return nil, nil, err
	}
	pt, err := aead.Open(ct[:0], nonce(h, 0), ct, aad(h, 0, kindSheet))
	if err != nil {
		return nil, nil, fmt.Errorf("decrypt: sheet: %w", ErrTampered)
	}
	sheet, err := decodeSheet(pt)
	if err != nil {
		return nil, nil, err
	}

	n := h.Chunks()
	for i := int64(0); i < n; i++ {
		kind := byte(kindChunk)
		if i == n-1 {
			kind = kindFinal
		}
		what := fmt.Sprintf("chunk %d", i)
		ct, err := b.record(buf, h.chunkLen(i)+tagSize, what)
		if err != nil {
			return nil, nil, err
		}
		pt, err := aead.Open(ct[:0], nonce(h, i+1), ct, aad(h, i+1, kind))
		if err != nil {
			return nil, nil, fmt.Errorf("decrypt: %s: %w", what, ErrTampered)
		}
		if _, err := w.Write(pt); err != nil {
			return nil, nil, fmt.Errorf("decrypt: %s: write: %w", what, err)
		}
	}
	clear(buf)
	s, err := b.finish(signer)
	if err != nil {
		return nil, nil, err
	}
	return sheet, s, nil
}

func decodeSheet(pt []byte) (*Sheet, error) {
	n := int(binary.BigEndian.Uint32(pt))
	if n > MaxSheetSize || n > len(pt)-4 {
		return nil, fmt.Errorf("decrypt: sheet: length %d out of bounds: %w", n, ErrFormat)
	}
	for _, c := range pt[4+n:] {
		if c != 0 {
			return nil, fmt.Errorf("decrypt: sheet: non-zero padding: %w", ErrFormat)
		}
	}
	var s Sheet
	if err := json.Unmarshal(pt[4:4+n], &s); err != nil {
		return nil, fmt.Errorf("decrypt: sheet: %v: %w", err, ErrFormat)
	}
	return &s, nil
}

// preamble re-creates magic || version || header length.
func (h *Header) preamble() []byte {
	b := make([]byte, 0, preambleSize)
	b = append(b, Magic...)
	b = append(b, Version)
	return binary.BigEndian.AppendUint32(b, uint32(len(h.raw)))
}

func keyCommit(dk DataKey) Digest {
	return sm3Sum([]byte(commitLabel), dk[:])
}

// nonce is the 4-byte prefix followed by the 8-byte big-endian record index.
func nonce(h *Header, i int64) []byte {
	n := make([]byte, 0, noncePrefixLen+8)
	n = append(n, h.NoncePrefix[:]...)
	return binary.BigEndian.AppendUint64(n, uint64(i))
}

// aad is header digest || 8-byte record index || record kind.
func aad(h *Header, i int64, kind byte) []byte {
	a := make([]byte, 0, 32+8+1)
	a = append(a, h.digest[:]...)
	a = binary.BigEndian.AppendUint64(a, uint64(i))
	return append(a, kind)
}

// newAEAD returns SM4-GCM (12-byte nonce, 16-byte tag): Go's GCM over tjfoc's
// SM4 block cipher. See the benchmarks for why not tjfoc's own Sm4GCM.
func newAEAD(dk DataKey) cipher.AEAD {
	block, err := sm4.NewCipher(dk[:])
	if err != nil {
		panic("decrypt: SM4 rejected a 16-byte key: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("decrypt: GCM over SM4: " + err.Error())
	}
	return aead
}

func sm3Sum(parts ...[]byte) Digest {
	h := sm3.New()
	for _, p := range parts {
		h.Write(p)
	}
	var d Digest
	copy(d[:], h.Sum(nil))
	return d
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
