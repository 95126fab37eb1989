package decrypt

import (
	"errors"
	"math/big"

	"github.com/tjfoc/gmsm/sm2"
	"github.com/tjfoc/gmsm/sm3"
)

// Derive returns the SM2 key pair derived from k for label (a session id,
// say): d' = SM3(d ‖ "bidroom-derive-v1" ‖ label) mod (n−1) + 1. Every
// server holding k derives the same key for a label, so per-session keys
// need no storage of their own, and a key for one label reveals nothing
// about k or the keys of other labels.
func (k *PrivateKey) Derive(label string) (*PrivateKey, error) {
	if label == "" {
		return nil, errors.New("derive: empty label")
	}
	curve := k.k.Curve
	n := curve.Params().N
	h := sm3.New()
	h.Write(k.k.D.FillBytes(make([]byte, 32)))
	h.Write([]byte("bidroom-derive-v1\x00"))
	h.Write([]byte(label))
	d := new(big.Int).SetBytes(h.Sum(nil))
	d.Mod(d, new(big.Int).Sub(n, big.NewInt(1)))
	d.Add(d, big.NewInt(1))
	//lint:ignore SA1019 SM2 is not in crypto/ecdh; tjfoc's curve implements the multiplication.
	x, y := curve.ScalarBaseMult(d.FillBytes(make([]byte, 32)))
	return &PrivateKey{k: &sm2.PrivateKey{PublicKey: sm2.PublicKey{Curve: curve, X: x, Y: y}, D: d}}, nil
}
