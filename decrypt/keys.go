package decrypt

import (
	"bytes"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"

	"github.com/tjfoc/gmsm/sm2"
	"github.com/tjfoc/gmsm/sm3"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

// DefaultUserID is the SM2 user identifier (GM/T 0009 default) used for every
// signature made or checked by this package.
const DefaultUserID = "1234567812345678"

// maxPEMSize bounds key and certificate input.
const maxPEMSize = 64 << 10

// maxSM2Plaintext bounds what Encrypt accepts and Decrypt returns.
const maxSM2Plaintext = 1024

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSM2Curve    = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301}
)

// KeyID identifies a public key: the SM3 digest of its DER
// SubjectPublicKeyInfo.
type KeyID [32]byte

// PrivateKey is an SM2 private key.
type PrivateKey struct {
	k *sm2.PrivateKey
}

// PublicKey is an SM2 public key.
type PublicKey struct {
	k *sm2.PublicKey
}

// GenerateKey returns a new SM2 key pair from crypto/rand.
func GenerateKey() (*PrivateKey, error) {
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate SM2 key: %w", err)
	}
	return &PrivateKey{k: k}, nil
}

// Public returns the public half of k.
func (k *PrivateKey) Public() *PublicKey {
	return &PublicKey{k: &k.k.PublicKey}
}

// ParsePrivateKeyPEM parses a PKCS#8 SM2 private key ("PRIVATE KEY", as
// `openssl genpkey -algorithm SM2` writes it) or an encrypted PKCS#8 key
// ("ENCRYPTED PRIVATE KEY", PBES2 with PBKDF2 and AES-CBC) with password.
func ParsePrivateKeyPEM(pemBytes, password []byte) (k *PrivateKey, err error) {
	defer recoverInto(&err, "parse private key")
	if len(pemBytes) > maxPEMSize {
		return nil, fmt.Errorf("parse private key: PEM larger than %d bytes: %w", maxPEMSize, ErrFormat)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("parse private key: no PEM block: %w", ErrFormat)
	}
	var priv *sm2.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		if err := checkSM2Algorithm(block.Bytes, true); err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		priv, err = gmx509.ParsePKCS8UnecryptedPrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		if len(password) == 0 {
			return nil, fmt.Errorf("parse private key: key is encrypted and no password was given: %w", ErrWrongKey)
		}
		der := bytes.Clone(block.Bytes) // tjfoc decrypts in place
		priv, err = gmx509.ParsePKCS8EcryptedPrivateKey(der, password)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %v: %w", err, ErrWrongKey)
		}
	default:
		return nil, fmt.Errorf("parse private key: unexpected PEM type %q: %w", block.Type, ErrFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %v: %w", err, ErrFormat)
	}
	n := priv.Curve.Params().N
	if priv.D.Sign() <= 0 || priv.D.Cmp(new(big.Int).Sub(n, big.NewInt(1))) >= 0 {
		return nil, fmt.Errorf("parse private key: scalar out of range: %w", ErrFormat)
	}
	return &PrivateKey{k: priv}, nil
}

// ParsePublicKeyPEM parses an SM2 public key from a "PUBLIC KEY" block
// (SubjectPublicKeyInfo) or from the subject key of a "CERTIFICATE" block
// (an SM2 X.509 certificate). The certificate itself is not verified.
func ParsePublicKeyPEM(pemBytes []byte) (k *PublicKey, err error) {
	defer recoverInto(&err, "parse public key")
	if len(pemBytes) > maxPEMSize {
		return nil, fmt.Errorf("parse public key: PEM larger than %d bytes: %w", maxPEMSize, ErrFormat)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("parse public key: no PEM block: %w", ErrFormat)
	}
	var spki []byte
	switch block.Type {
	case "PUBLIC KEY":
		spki = block.Bytes
	case "CERTIFICATE":
		cert, err := gmx509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: certificate: %v: %w", err, ErrFormat)
		}
		spki = cert.RawSubjectPublicKeyInfo
	default:
		return nil, fmt.Errorf("parse public key: unexpected PEM type %q: %w", block.Type, ErrFormat)
	}
	pub, err := parseSPKI(spki)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	return pub, nil
}

// parseSPKI parses a DER SubjectPublicKeyInfo holding an SM2 point.
func parseSPKI(der []byte) (*PublicKey, error) {
	if err := checkSM2Algorithm(der, false); err != nil {
		return nil, err
	}
	pub, err := gmx509.ParseSm2PublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrFormat)
	}
	if pub.X == nil || pub.Y == nil {
		return nil, fmt.Errorf("point not on the SM2 curve: %w", ErrFormat)
	}
	return &PublicKey{k: pub}, nil
}

// checkSM2Algorithm checks that a PKCS#8 PrivateKeyInfo (private) or a
// SubjectPublicKeyInfo names id-ecPublicKey on the SM2 curve; tjfoc checks
// only the first and would take a P-256 key for an SM2 one.
func checkSM2Algorithm(der []byte, private bool) error {
	var algo pkix.AlgorithmIdentifier
	if private {
		var p struct {
			Version    int
			Algo       pkix.AlgorithmIdentifier
			PrivateKey []byte
		}
		if _, err := asn1.Unmarshal(der, &p); err != nil {
			return fmt.Errorf("PKCS#8: %v: %w", err, ErrFormat)
		}
		algo = p.Algo
	} else {
		var p struct {
			Algo      pkix.AlgorithmIdentifier
			BitString asn1.BitString
		}
		if _, err := asn1.Unmarshal(der, &p); err != nil {
			return fmt.Errorf("SubjectPublicKeyInfo: %v: %w", err, ErrFormat)
		}
		algo = p.Algo
	}
	var curve asn1.ObjectIdentifier
	if !algo.Algorithm.Equal(oidECPublicKey) {
		return fmt.Errorf("algorithm %v is not an elliptic-curve key: %w", algo.Algorithm, ErrFormat)
	}
	if _, err := asn1.Unmarshal(algo.Parameters.FullBytes, &curve); err != nil || !curve.Equal(oidSM2Curve) {
		return fmt.Errorf("curve is not SM2 (1.2.156.10197.1.301): %w", ErrFormat)
	}
	return nil
}

// MarshalPEM encodes k as PKCS#8 PEM; with a non-empty password the key is
// encrypted (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC), which OpenSSL reads.
func (k *PrivateKey) MarshalPEM(password []byte) ([]byte, error) {
	if len(password) == 0 {
		password = nil
	}
	b, err := gmx509.WritePrivateKeyToPem(k.k, password)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return b, nil
}

// MarshalPEM encodes k as a "PUBLIC KEY" PEM block (SubjectPublicKeyInfo).
func (k *PublicKey) MarshalPEM() ([]byte, error) {
	b, err := gmx509.WritePublicKeyToPem(k.k)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return b, nil
}

// ID returns the SM3 digest of k's DER SubjectPublicKeyInfo.
func (k *PublicKey) ID() KeyID {
	der, err := gmx509.MarshalSm2PublicKey(k.k)
	if err != nil { // only for a key on another curve, which this package never builds
		panic("decrypt: marshal SM2 public key: " + err.Error())
	}
	var id KeyID
	copy(id[:], sm3.Sm3Sum(der))
	return id
}

// Equal reports whether k and o are the same key.
func (k *PublicKey) Equal(o *PublicKey) bool {
	return o != nil && k.k.X.Cmp(o.k.X) == 0 && k.k.Y.Cmp(o.k.Y) == 0
}

// Sign signs msg with SM2 (SM3 over Z_A || msg, user id DefaultUserID) and
// returns the DER signature SEQUENCE { r, s }, as `openssl pkeyutl -sign
// -rawin -digest sm3 -pkeyopt distid:1234567812345678` does.
func (k *PrivateKey) Sign(msg []byte) ([]byte, error) {
	r, s, err := sm2.Sm2Sign(k.k, msg, []byte(DefaultUserID), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("SM2 sign: %w", err)
	}
	return asn1.Marshal(sm2Signature{R: r, S: s})
}

type sm2Signature struct {
	R, S *big.Int
}

// maxSignatureSize bounds a DER SM2 signature (72 bytes in practice).
const maxSignatureSize = 128

// Verify checks an SM2 signature made by Sign (or by OpenSSL with the default
// user id) over msg. It returns nil or an error wrapping ErrSignature.
func (k *PublicKey) Verify(msg, sig []byte) (err error) {
	defer recoverInto(&err, "verify signature")
	if len(sig) > maxSignatureSize {
		return fmt.Errorf("signature of %d bytes: %w", len(sig), ErrSignature)
	}
	var s sm2Signature
	rest, err := asn1.Unmarshal(sig, &s)
	if err != nil || len(rest) != 0 {
		return fmt.Errorf("signature is not DER SEQUENCE { r, s }: %w", ErrSignature)
	}
	if !sm2.Sm2Verify(k.k, msg, []byte(DefaultUserID), s.R, s.S) {
		return ErrSignature
	}
	return nil
}

// Encrypt encrypts msg (at most 1 KiB) to k with SM2 public-key encryption
// and returns the GM/T 0009 ASN.1 ciphertext SEQUENCE { x, y, hash, ciphertext }
// (C1C3C2), as `openssl pkeyutl -encrypt` writes it.
func (k *PublicKey) Encrypt(msg []byte) ([]byte, error) {
	if len(msg) == 0 || len(msg) > maxSM2Plaintext {
		return nil, fmt.Errorf("SM2 encrypt: message of %d bytes, want 1 to %d", len(msg), maxSM2Plaintext)
	}
	ct, err := sm2.EncryptAsn1(k.k, msg, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("SM2 encrypt: %w", err)
	}
	return ct, nil
}

// sm2Ciphertext is the GM/T 0009 ASN.1 form of an SM2 ciphertext.
type sm2Ciphertext struct {
	X, Y       *big.Int
	Hash       []byte
	Ciphertext []byte
}

// Decrypt decrypts a GM/T 0009 ASN.1 SM2 ciphertext made by Encrypt or by
// `openssl pkeyutl -encrypt`. Malformed input yields ErrFormat; a ciphertext
// for another key, or altered, yields ErrWrongKey.
func (k *PrivateKey) Decrypt(ct []byte) (msg []byte, err error) {
	defer recoverInto(&err, "SM2 decrypt")
	if len(ct) > maxSM2Plaintext+256 {
		return nil, fmt.Errorf("SM2 decrypt: ciphertext of %d bytes: %w", len(ct), ErrFormat)
	}
	// Validate before tjfoc, which slices without checking lengths and
	// multiplies points it has not checked are on the curve.
	var c sm2Ciphertext
	rest, err := asn1.Unmarshal(ct, &c)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("SM2 decrypt: not a GM/T 0009 SEQUENCE: %w", ErrFormat)
	}
	p := k.k.Curve.Params().P
	if c.X.Sign() < 0 || c.Y.Sign() < 0 || c.X.Cmp(p) >= 0 || c.Y.Cmp(p) >= 0 || !onCurve(k.k.Curve, c.X, c.Y) {
		return nil, fmt.Errorf("SM2 decrypt: C1 not on the curve: %w", ErrFormat)
	}
	if len(c.Hash) != 32 || len(c.Ciphertext) == 0 || len(c.Ciphertext) > maxSM2Plaintext {
		return nil, fmt.Errorf("SM2 decrypt: bad C3 or C2 length: %w", ErrFormat)
	}
	msg, err = sm2.DecryptAsn1(k.k, ct)
	if err != nil {
		return nil, fmt.Errorf("SM2 decrypt: %w", ErrWrongKey)
	}
	return msg, nil
}

// onCurve reports whether (x, y) is on tjfoc's SM2 curve, which is an
// elliptic.Curve: crypto/ecdh has no SM2 form of the check.
func onCurve(c elliptic.Curve, x, y *big.Int) bool {
	//lint:ignore SA1019 see above
	return c.IsOnCurve(x, y)
}

// recoverInto turns a panic inside a third-party parser into an ErrFormat.
func recoverInto(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: %v: %w", what, r, ErrFormat)
	}
}

var errNilKey = errors.New("nil key")
