package decrypt

import (
	"bytes"
	"testing"
)

func TestDerive(t *testing.T) {
	master, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := master.Derive("s-1")
	a2, _ := master.Derive("s-1")
	b, _ := master.Derive("s-2")
	if !a1.Public().Equal(a2.Public()) {
		t.Fatal("derivation is not deterministic")
	}
	if a1.Public().Equal(b.Public()) || a1.Public().Equal(master.Public()) {
		t.Fatal("derived keys collide")
	}
	// The derived pair works: encrypt to its public key, decrypt with it;
	// a signature verifies; it survives PEM (and so loads in OpenSSL).
	ct, err := a1.Public().Encrypt([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := a2.Decrypt(ct); err != nil || !bytes.Equal(pt, []byte("0123456789abcdef")) {
		t.Fatalf("decrypt with the derived key: %v", err)
	}
	if _, err := b.Decrypt(ct); err == nil {
		t.Fatal("another session's key decrypts")
	}
	sig, _ := a1.Sign([]byte("m"))
	if err := a1.Public().Verify([]byte("m"), sig); err != nil {
		t.Fatal(err)
	}
	pemKey, err := a1.MarshalPEM(nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivateKeyPEM(pemKey, nil)
	if err != nil || !back.Public().Equal(a1.Public()) {
		t.Fatalf("PEM round trip: %v", err)
	}
	if _, err := master.Derive(""); err == nil {
		t.Fatal("empty label accepted")
	}
}
