package rooms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bidroom/bidroom/rooms/scoring"
)

// The texts a committee member signs, read back: a signing client (the
// page's WebAssembly) parses what it is asked to sign and signs only an
// evaluation's declaration, score sheets or report for the room it is in —
// never a sign-in challenge, a read-out confirmation or anything else the
// server might hand it.

// The kinds of text ParseEvaluationMessage recognises.
const (
	EvalMessageDeclaration = "declaration"
	EvalMessageSheets      = "sheets"
	EvalMessageReport      = "report"
)

// EvalMessage is a parsed DeclarationMessage, SheetsMessage or ReportMessage.
type EvalMessage struct {
	Kind     string
	Room     string
	Expert   string
	Conflict bool   // a declaration of a conflict
	Sheets   string // the sheets' JSON text
	Digest   string // the report's digest
	Dissent  string // the report's dissent, if any
}

// ParseEvaluationMessage reads one of the texts a member signs and checks
// it is exactly what DeclarationMessage, SheetsMessage or ReportMessage
// would build from its parts.
func ParseEvaluationMessage(text string) (EvalMessage, error) {
	if len(text) > maxSheetsBytes+1024 || !utf8.ValidString(text) {
		return EvalMessage{}, fmt.Errorf("not an evaluation text: too long or not UTF-8")
	}
	head, rest, ok := strings.Cut(text, "\n")
	if !ok {
		return EvalMessage{}, fmt.Errorf("not an evaluation text")
	}
	parts := strings.SplitN(rest, "\n", 3) // room, expert, the kind's own part
	if len(parts) != 3 || !ValidID(parts[0]) || !ValidID(parts[1]) {
		return EvalMessage{}, fmt.Errorf("not an evaluation text: no room and member")
	}
	m := EvalMessage{Room: parts[0], Expert: parts[1]}
	switch head {
	case "bidroom-declaration-v1":
		m.Kind = EvalMessageDeclaration
		switch parts[2] {
		case "no-conflict\n":
		case "conflict\n":
			m.Conflict = true
		default:
			return EvalMessage{}, fmt.Errorf("not a declaration: it must say no-conflict or conflict")
		}
		if text != DeclarationMessage(m.Room, m.Expert, m.Conflict) {
			return EvalMessage{}, fmt.Errorf("not a declaration")
		}
	case "bidroom-score-sheets-v1":
		m.Kind, m.Sheets = EvalMessageSheets, parts[2]
		if len(m.Sheets) > maxSheetsBytes {
			return EvalMessage{}, fmt.Errorf("the sheets are over %d KiB", maxSheetsBytes>>10)
		}
		var sheets []scoring.Sheet
		dec := json.NewDecoder(bytes.NewReader([]byte(m.Sheets)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sheets); err != nil || dec.More() || len(sheets) == 0 {
			return EvalMessage{}, fmt.Errorf("not score sheets: the text after the member is not a JSON array of sheets")
		}
	case "bidroom-evaluation-report-v1":
		m.Kind = EvalMessageReport
		digest, dissent, ok := strings.Cut(parts[2], "\n")
		if !ok || !hexDigest.MatchString(digest) {
			return EvalMessage{}, fmt.Errorf("not a report signature: no digest")
		}
		if utf8.RuneCountInString(dissent) > 2000 {
			return EvalMessage{}, fmt.Errorf("the dissent is over 2000 characters")
		}
		m.Digest, m.Dissent = digest, dissent
	default:
		return EvalMessage{}, fmt.Errorf("not an evaluation text")
	}
	return m, nil
}
