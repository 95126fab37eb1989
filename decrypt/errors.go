package decrypt

import "errors"

// Sentinel errors. Every error returned for untrusted input wraps exactly one
// of them, with context such as the chunk index.
var (
	// ErrFormat reports bytes that are not a well-formed sealed bid (bad
	// magic, a field out of bounds, trailing data).
	ErrFormat = errors.New("malformed sealed bid")
	// ErrVersion reports a sealed bid of a format version or algorithm this
	// package does not implement.
	ErrVersion = errors.New("unsupported sealed-bid version")
	// ErrTruncated reports input that ends before the sealed bid does.
	ErrTruncated = errors.New("sealed bid truncated")
	// ErrTampered reports an authentication failure: a header, chunk or
	// wrapped key that is not what was sealed.
	ErrTampered = errors.New("authentication failed")
	// ErrSignature reports a missing, malformed or invalid bidder signature,
	// or one made by a key other than the expected one.
	ErrSignature = errors.New("bidder signature invalid")
	// ErrWrongKey reports a private key or data key that does not open this
	// sealed bid.
	ErrWrongKey = errors.New("wrong key")
)
