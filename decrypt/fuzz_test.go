package decrypt

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReadHeader: the header parser never panics, fails only with a
// sentinel, and what it accepts re-encodes to the same bytes.
func FuzzReadHeader(f *testing.F) {
	for _, n := range []int{0, 1, 5000} {
		sealed, sum := seal(f, make([]byte, n), 0)
		f.Add(sealed[:preambleSize+len(sum.Header.raw)])
	}
	f.Add([]byte(Magic + "\x01\x00\x00\x00\x00"))
	f.Add([]byte(Magic + "\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadHeader(bytes.NewReader(b))
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %q wraps no sentinel", err)
			}
			return
		}
		enc, err := h.encode()
		if err != nil {
			t.Fatalf("parsed header does not re-encode: %v", err)
		}
		if !bytes.Equal(enc, b[:len(enc)]) {
			t.Fatalf("re-encoded header differs from the input")
		}
	})
}

// FuzzOpen drives the record reader and trailer parser with a fixed data key
// and signer: never a panic, only sentinel errors, and nothing succeeds
// unless it is the original.
func FuzzOpen(f *testing.F) {
	bidder, _ := testKeys(f)
	data := []byte("fuzz seed body, two chunks of it " + string(make([]byte, MinChunkSize)))
	sealed, sum := seal(f, data, 0)
	dk, err := UnwrapKey(sum.Header, bidder)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add(sealed[:len(sealed)-1])
	f.Add(append(bytes.Clone(sealed), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		_, s, err := OpenWithDataKey(&out, bytes.NewReader(b), dk, bidder.Public())
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %q wraps no sentinel", err)
			}
		} else if !bytes.Equal(out.Bytes(), data) || s.Digest != sum.Digest {
			t.Fatalf("opened something other than what was sealed")
		}
		if _, err := Inspect(bytes.NewReader(b), bidder.Public()); err != nil && !isSentinel(err) {
			t.Fatalf("Inspect error %q wraps no sentinel", err)
		}
	})
}

// FuzzKeys: key and ciphertext parsers never panic on arbitrary bytes.
func FuzzKeys(f *testing.F) {
	bidder, _ := testKeys(f)
	priv, _ := bidder.MarshalPEM(nil)
	pub, _ := bidder.Public().MarshalPEM()
	ct, _ := bidder.Public().Encrypt(make([]byte, 16))
	f.Add(priv)
	f.Add(pub)
	f.Add(ct)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParsePrivateKeyPEM(b, nil)
		_, _ = ParsePrivateKeyPEM(b, []byte("pw"))
		_, _ = ParsePublicKeyPEM(b)
		if _, err := bidder.Decrypt(b); err != nil && !isSentinel(err) {
			t.Fatalf("Decrypt error %q wraps no sentinel", err)
		}
		_ = bidder.Public().Verify([]byte("m"), b)
	})
}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
