// Package decrypt owns the sealed-bid format (version 1): sealing a bid file
// and its opening sheet for a bidder, inspecting a sealed bid without
// decrypting it, and opening it with the bidder's key or an unwrapped data key.
//
// It also owns the SM2 key material those operations need (PEM in the forms
// OpenSSL writes). It does not store bids, run the unlock exchange or know
// about sessions beyond the identifiers sealed into the header; the wire
// format is specified byte by byte in docs/bid-format.md.
//
// Cryptography is SM2 (GM/T 0003, ciphertext in GM/T 0009 ASN.1 form),
// SM3 and SM4-GCM from github.com/tjfoc/gmsm; callers never import it.
//
// Every failure on untrusted input is one of the sentinel errors (ErrFormat,
// ErrVersion, ErrTruncated, ErrTampered, ErrSignature, ErrWrongKey), wrapped
// with context; test with errors.Is.
package decrypt
