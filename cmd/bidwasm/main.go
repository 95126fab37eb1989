//go:build js && wasm

// Command bidwasm is the browser side of the unlock exchange and of the key
// sign-in, compiled to WebAssembly so a bidder uses their private key in
// the page with no plugin — in the browser, never sent anywhere. For the
// unlock it unwraps the bid's data key and re-encrypts it to the platform
// key; for the sign-in it signs the server's challenge.
//
// Build: go generate ./web (GOOS=js GOARCH=wasm); the page loads
// /unlock.wasm with wasm_exec.js and calls bidroomUnlock or bidroomSignIn.
package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/signin"
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

// signIn(keyPEM, password, challenge, session) returns {signature, key_id}
// (base64 DER; the key's id, hex, to compare with the registered one) or
// {error, code}: bad_key (not a private key PEM), wrong_password
// (an encrypted key and no or a wrong password), bad_challenge (not a
// sign-in challenge for session: the key signs nothing else).
func signIn(_ js.Value, args []js.Value) any {
	return signWith("bidroomSignIn", args, func(key *decrypt.PrivateKey, text, session string) (string, error) {
		return signin.Sign(key, text, session, "")
	})
}

// confirm(keyPEM, password, message, session) signs the read-out
// confirmation text (rooms.ConfirmationMessage) for session, and nothing
// else; it answers like signIn.
func confirm(_ js.Value, args []js.Value) any {
	return signWith("bidroomConfirm", args, func(key *decrypt.PrivateKey, text, session string) (string, error) {
		room, _, _, err := rooms.ParseConfirmationMessage(text)
		if err != nil {
			return "", err
		}
		if room != session {
			return "", fmt.Errorf("the confirmation is for session %q, not %q", room, session)
		}
		sig, err := key.Sign([]byte(text))
		return base64.StdEncoding.EncodeToString(sig), err
	})
}

// evalSign(keyPEM, password, text, room) signs one of the texts a member
// of evaluation room signs — the declaration (rooms.DeclarationMessage),
// the score sheets (rooms.SheetsMessage) or the report
// (rooms.ReportMessage) — and nothing else; it answers like signIn
// (bad_challenge: not such a text, or for another room).
func evalSign(_ js.Value, args []js.Value) any {
	return signWith("bidroomEvalSign", args, func(key *decrypt.PrivateKey, text, room string) (string, error) {
		m, err := rooms.ParseEvaluationMessage(text)
		if err != nil {
			return "", err
		}
		if m.Room != room {
			return "", fmt.Errorf("the text is for evaluation %q, not %q", m.Room, room)
		}
		sig, err := key.Sign([]byte(text))
		return base64.StdEncoding.EncodeToString(sig), err
	})
}

// signWith parses (keyPEM, password, text, session), signs text with sign
// and returns {signature, key_id} or {error, code}.
func signWith(name string, args []js.Value, sign func(key *decrypt.PrivateKey, text, session string) (string, error)) any {
	fail := func(code, msg string) any {
		return js.ValueOf(map[string]any{"error": msg, "code": code})
	}
	if len(args) != 4 {
		return fail("usage", name+"(keyPEM, password, text, session)")
	}
	var password []byte
	if p := args[1].String(); p != "" {
		password = []byte(p)
	}
	key, err := decrypt.ParsePrivateKeyPEM([]byte(args[0].String()), password)
	if errors.Is(err, decrypt.ErrWrongKey) {
		return fail("wrong_password", err.Error())
	}
	if err != nil {
		return fail("bad_key", err.Error())
	}
	sig, err := sign(key, args[2].String(), args[3].String())
	if err != nil {
		return fail("bad_challenge", err.Error())
	}
	id := key.Public().ID()
	return js.ValueOf(map[string]any{"signature": sig, "key_id": hex.EncodeToString(id[:])})
}

func main() {
	js.Global().Set("bidroomUnlock", js.FuncOf(unlock))
	js.Global().Set("bidroomSignIn", js.FuncOf(signIn))
	js.Global().Set("bidroomConfirm", js.FuncOf(confirm))
	js.Global().Set("bidroomEvalSign", js.FuncOf(evalSign))
	select {} // keep the exported function alive for the page's lifetime
}
