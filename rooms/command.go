package rooms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Command is a request to change a room. ID is chosen by the client so a
// retried command is applied once.
type Command struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// MaxCommandIDBytes bounds a command id.
const MaxCommandIDBytes = 128

// Draft is an event a command decided on, before the log gives it a
// sequence number, a time and a place in the hash chain.
type Draft struct {
	Type string
	Vis  Visibility
	Data any
}

// Refusal codes: stable, machine-readable reasons a command was refused.
const (
	CodeForbidden      = "forbidden"       // the actor's role may not do this
	CodeWrongState     = "wrong_state"     // not now: the room is in another phase
	CodeInvalid        = "invalid"         // malformed or out-of-range input
	CodeUnknownCommand = "unknown_command" // no such command type
	CodeNotFound       = "not_found"       // the room or a named participant does not exist
	CodeTooEarly       = "too_early"       // a time-gated step before its time
	CodeConflict       = "conflict"        // the room kept changing; retry
)

// Refusal is a command refused by the domain, with a code clients branch on
// and a message a person can read.
type Refusal struct {
	Code string
	Msg  string
}

func (r *Refusal) Error() string { return r.Msg }

func refuse(code, format string, args ...any) error {
	return &Refusal{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// RefusalCode returns the refusal code of err, or "" if err is not a refusal.
func RefusalCode(err error) string {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Code
	}
	return ""
}

// decodeData unmarshals command data strictly: unknown fields are refused so
// a typo is an error, not a silent default.
func decodeData(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return refuse(CodeInvalid, "malformed command data: %v", err)
	}
	return nil
}

// serverCommands are issued by the server's own endpoints on a client's
// behalf, after they checked what the command claims (an uploaded file, a
// decrypted bid, a key signature, a recording). A client sending one
// directly would skip those checks.
var serverCommands = map[string]bool{
	CmdSubmitBid: true, CmdRecordUnlock: true, CmdRecordMedia: true, CmdKeySignIn: true,
	CmdRecordConfirmation: true, CmdRecordBonds: true, CmdRecordOpeningRec: true,
	CmdFormCommittee: true, CmdDrawExperts: true, CmdRecordReportSignature: true, CmdRecordClarification: true,
	CmdRecordResultObjection: true, CmdRecordNotices: true, CmdRecordHostRating: true, CmdRecordSanctions: true,
	CmdLinkEvaluation: true, CmdRegisterAuctionBidder: true, CmdRecordDeposit: true, CmdRecordConfirmationLetter: true,
	CmdCreateOutbox: true, CmdQueueDocument: true, CmdRecordAttempt: true, CmdRecordScan: true, // the push dispatcher's
}

// CheckClientCommand refuses the command types a client may not send as a
// plain command (over the websocket or POST /commands).
func CheckClientCommand(cmdType string) error {
	if serverCommands[cmdType] {
		return refuse(CodeForbidden, "%s is done through its own endpoint, not as a plain command", cmdType)
	}
	return nil
}
