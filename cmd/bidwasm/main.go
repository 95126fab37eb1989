//go:build js && wasm

// Command bidwasm is the browser side of the unlock exchange, compiled to
// WebAssembly so a bidder unlocks in the page with no plugin: it unwraps
// the bid's data key with the bidder's private key — in the browser, never
// sent anywhere — and re-encrypts it to the platform key.
//
// Build: go generate ./web (GOOS=js GOARCH=wasm); the page loads
// /unlock.wasm with wasm_exec.js and calls bidroomUnlock.
package main

import (
	"encoding/base64"
	"syscall/js"

	"github.com/bidroom/bidroom/decrypt"
)

// unlock(keyPEM, password, wrappedKeyB64, platformPEM) returns
// {encrypted_key} or {error, code}.
func unlock(_ js.Value, args []js.Value) any {
	fail := func(code, msg string) any {
		return js.ValueOf(map[string]any{"error": msg, "code": code})
	}
	if len(args) != 4 {
		return fail("usage", "bidroomUnlock(keyPEM, password, wrappedKey, platformKeyPEM)")
	}
	var password []byte
	if p := args[1].String(); p != "" {
		password = []byte(p)
	}
	key, err := decrypt.ParsePrivateKeyPEM([]byte(args[0].String()), password)
	if err != nil {
		return fail("bad_key", err.Error())
	}
	wrapped, err := base64.StdEncoding.DecodeString(args[2].String())
	if err != nil {
		return fail("bad_challenge", "the server's wrapped key is malformed")
	}
	dk, err := key.Decrypt(wrapped)
	if err != nil {
		return fail("wrong_key", "this key does not unwrap the bid's data key: choose the key the bid was sealed to")
	}
	platform, err := decrypt.ParsePublicKeyPEM([]byte(args[3].String()))
	if err != nil {
		return fail("bad_challenge", "the server's platform key is malformed")
	}
	ct, err := platform.Encrypt(dk)
	clear(dk)
	if err != nil {
		return fail("internal", err.Error())
	}
	return js.ValueOf(map[string]any{"encrypted_key": base64.StdEncoding.EncodeToString(ct)})
}

func main() {
	js.Global().Set("bidroomUnlock", js.FuncOf(unlock))
	select {} // keep the exported function alive for the page's lifetime
}
