package decrypt

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests run the real openssl binary (OpenSSL 3 with SM2/SM3/SM4). They
// are skipped only when no openssl is on PATH.

func opensslPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not found on PATH")
	}
	return p
}

// runOpenSSL runs openssl with args in dir and returns stdout.
func runOpenSSL(t *testing.T, dir string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(opensslPath(t), args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// opensslKey makes an SM2 key pair with openssl genpkey and loads it.
func opensslKey(t *testing.T, dir string) *PrivateKey {
	t.Helper()
	runOpenSSL(t, dir, nil, "genpkey", "-algorithm", "SM2", "-out", "k.pem")
	runOpenSSL(t, dir, nil, "pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem")
	priv, err := ParsePrivateKeyPEM(readFile(t, filepath.Join(dir, "k.pem")), nil)
	if err != nil {
		t.Fatalf("ParsePrivateKeyPEM(openssl genpkey): %v", err)
	}
	pub, err := ParsePublicKeyPEM(readFile(t, filepath.Join(dir, "pub.pem")))
	if err != nil {
		t.Fatalf("ParsePublicKeyPEM(openssl pkey -pubout): %v", err)
	}
	if !pub.Equal(priv.Public()) {
		t.Fatal("openssl public key differs from the private key's")
	}
	return priv
}

func TestOpenSSLKeysLoad(t *testing.T) {
	dir := t.TempDir()
	priv := opensslKey(t, dir)

	t.Run("encrypted PKCS#8", func(t *testing.T) {
		runOpenSSL(t, dir, nil, "pkcs8", "-topk8", "-in", "k.pem", "-v2", "aes-256-cbc", "-passout", "pass:s3cret", "-out", "ek.pem")
		k, err := ParsePrivateKeyPEM(readFile(t, filepath.Join(dir, "ek.pem")), []byte("s3cret"))
		if err != nil {
			t.Fatalf("ParsePrivateKeyPEM(encrypted): %v", err)
		}
		if !k.Public().Equal(priv.Public()) {
			t.Error("encrypted key decodes to another key")
		}
		if _, err := ParsePrivateKeyPEM(readFile(t, filepath.Join(dir, "ek.pem")), []byte("wrong")); err == nil {
			t.Error("wrong password accepted")
		}
	})

	t.Run("certificate", func(t *testing.T) {
		runOpenSSL(t, dir, nil, "req", "-new", "-x509", "-key", "k.pem", "-sm3", "-sigopt", "distid:"+DefaultUserID,
			"-subj", "/CN=bidder", "-days", "1", "-out", "cert.pem")
		pub, err := ParsePublicKeyPEM(readFile(t, filepath.Join(dir, "cert.pem")))
		if err != nil {
			t.Fatalf("ParsePublicKeyPEM(certificate): %v", err)
		}
		if !pub.Equal(priv.Public()) {
			t.Error("certificate key differs from the private key")
		}
	})

	t.Run("P-256 key refused", func(t *testing.T) {
		runOpenSSL(t, dir, nil, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "p256.pem")
		runOpenSSL(t, dir, nil, "pkey", "-in", "p256.pem", "-pubout", "-out", "p256pub.pem")
		if _, err := ParsePrivateKeyPEM(readFile(t, filepath.Join(dir, "p256.pem")), nil); err == nil {
			t.Error("P-256 private key accepted as SM2")
		}
		if _, err := ParsePublicKeyPEM(readFile(t, filepath.Join(dir, "p256pub.pem"))); err == nil {
			t.Error("P-256 public key accepted as SM2")
		}
	})
}

func TestKeysWrittenLoadInOpenSSL(t *testing.T) {
	dir := t.TempDir()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := k.MarshalPEM(nil)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := k.MarshalPEM([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Public().MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "k.pem", plain)
	writeFile(t, dir, "ek.pem", enc)
	writeFile(t, dir, "pub.pem", pub)

	want := runOpenSSL(t, dir, nil, "pkey", "-in", "k.pem", "-pubout")
	if got := runOpenSSL(t, dir, nil, "pkey", "-in", "ek.pem", "-passin", "pass:s3cret", "-pubout"); !bytes.Equal(got, want) {
		t.Errorf("openssl reads the encrypted key as another key")
	}
	if got := runOpenSSL(t, dir, nil, "pkey", "-pubin", "-in", "pub.pem", "-pubout"); !bytes.Equal(got, want) {
		t.Errorf("openssl public key %s, want %s", got, want)
	}
	if !bytes.Equal(want, pub) {
		t.Errorf("openssl re-encodes our public key differently:\n%s\nwant\n%s", want, pub)
	}
	// Round trip through our own parser too.
	for name, b := range map[string][]byte{"plain": plain, "encrypted": enc} {
		k2, err := ParsePrivateKeyPEM(b, []byte("s3cret"))
		if name == "plain" {
			k2, err = ParsePrivateKeyPEM(b, nil)
		}
		if err != nil || !k2.Public().Equal(k.Public()) {
			t.Errorf("%s: reparse: %v", name, err)
		}
	}
}

// TestOpenSSLUnwrapsOurKey: openssl pkeyutl -decrypt recovers the data key
// that Seal wrapped, from the header bytes alone.
func TestOpenSSLUnwrapsOurKey(t *testing.T) {
	dir := t.TempDir()
	priv := opensslKey(t, dir)
	var sealed bytes.Buffer
	sum, err := Seal(&sealed, strings.NewReader("bid body"), SealOptions{
		SessionID: "s", BidderID: "b", Size: 8, Signer: priv,
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "wrapped.der", sum.Header.WrappedKey)
	got := runOpenSSL(t, dir, nil, "pkeyutl", "-decrypt", "-inkey", "k.pem", "-in", "wrapped.der")
	dk, err := UnwrapKey(sum.Header, priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, dk[:]) {
		t.Fatalf("openssl unwrapped %x, decrypt %x", got, dk)
	}
	// The key openssl unwrapped opens the bid.
	var out bytes.Buffer
	var dk2 DataKey
	copy(dk2[:], got)
	if _, _, err := OpenWithDataKey(&out, bytes.NewReader(sealed.Bytes()), dk2, priv.Public()); err != nil || out.String() != "bid body" {
		t.Fatalf("OpenWithDataKey(openssl's key) = %q, %v", out.String(), err)
	}
}

// TestOpenSSLWrapsOurKeyUnwraps: a data key encrypted by openssl pkeyutl
// -encrypt decrypts with PrivateKey.Decrypt.
func TestOpenSSLWrapsOurKeyUnwraps(t *testing.T) {
	dir := t.TempDir()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.Public().MarshalPEM()
	writeFile(t, dir, "pub.pem", pub)
	dk := randBytes(t, 16)
	writeFile(t, dir, "dk", dk)
	wrapped := runOpenSSL(t, dir, nil, "pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "dk")
	got, err := k.Decrypt(wrapped)
	if err != nil {
		t.Fatalf("Decrypt(openssl ciphertext): %v", err)
	}
	if !bytes.Equal(got, dk) {
		t.Fatalf("Decrypt = %x, want %x", got, dk)
	}
}

// TestSignaturesInterop: openssl verifies a sealed bid's signature over the
// SM3 of the bytes before the trailer (computed by openssl dgst), and a
// signature made by openssl verifies in decrypt.
func TestSignaturesInterop(t *testing.T) {
	dir := t.TempDir()
	priv := opensslKey(t, dir)
	var sealed bytes.Buffer
	sum, err := Seal(&sealed, bytes.NewReader(randBytes(t, 5000)), SealOptions{
		SessionID: "s", BidderID: "b", Size: 5000, Signer: priv, ChunkSize: MinChunkSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	signedLen := sealed.Len() - 3 - len(sum.Signature)
	writeFile(t, dir, "signed.bin", sealed.Bytes()[:signedLen])
	digest := runOpenSSL(t, dir, nil, "dgst", "-sm3", "-binary", "signed.bin")
	if !bytes.Equal(digest, sum.Digest[:]) {
		t.Fatalf("openssl SM3 of the signed bytes %x, Summary.Digest %x", digest, sum.Digest)
	}
	writeFile(t, dir, "digest", digest)
	writeFile(t, dir, "sig.der", sum.Signature)
	out := runOpenSSL(t, dir, nil, "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-digest", "sm3",
		"-pkeyopt", "distid:"+DefaultUserID, "-in", "digest", "-sigfile", "sig.der")
	if !bytes.Contains(out, []byte("Signature Verified Successfully")) {
		t.Fatalf("openssl verify: %s", out)
	}

	msg := []byte("unlock challenge 8f1e")
	writeFile(t, dir, "msg", msg)
	sig := runOpenSSL(t, dir, nil, "pkeyutl", "-sign", "-inkey", "k.pem", "-rawin", "-digest", "sm3",
		"-pkeyopt", "distid:"+DefaultUserID, "-in", "msg")
	if err := priv.Public().Verify(msg, sig); err != nil {
		t.Fatalf("Verify(openssl signature): %v", err)
	}
	if err := priv.Public().Verify([]byte("another message"), sig); err == nil {
		t.Fatal("openssl signature verified over another message")
	}
}

// TestChunkCipherMatchesOpenSSL: a chunk's ciphertext is SM4-CTR from the
// counter block nonce || 00000002 (GCM's construction for a 12-byte nonce),
// which openssl enc -sm4-ctr reproduces. (openssl enc has no AEAD modes, so
// the tag is checked against RFC 8998 in TestSM4GCMKnownAnswer instead.)
func TestChunkCipherMatchesOpenSSL(t *testing.T) {
	dir := t.TempDir()
	bidder, _ := testKeys(t)
	data := randBytes(t, MinChunkSize+100)
	sealed, sum := seal(t, data, 0)
	dk, err := UnwrapKey(sum.Header, bidder)
	if err != nil {
		t.Fatal(err)
	}
	l := layoutOf(t, sealed)
	h := sum.Header
	for i, start := range l.chunkStarts {
		n := h.chunkLen(int64(i))
		writeFile(t, dir, "pt", data[i*MinChunkSize:i*MinChunkSize+n])
		iv := hex.EncodeToString(nonce(h, int64(i+1))) + "00000002"
		got := runOpenSSL(t, dir, nil, "enc", "-sm4-ctr", "-K", hex.EncodeToString(dk[:]), "-iv", iv, "-in", "pt")
		if !bytes.Equal(got, sealed[start:start+n]) {
			t.Errorf("chunk %d: openssl SM4-CTR differs from the sealed ciphertext", i)
		}
	}
}
