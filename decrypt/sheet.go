package decrypt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// MaxSheetSize bounds the opening sheet's JSON encoding.
const MaxSheetSize = 16 << 10

// Names of the opening-sheet fields that Sheet holds as struct fields.
const (
	FieldPrice          = "price"
	FieldDuration       = "duration"
	FieldQuality        = "quality"
	FieldProjectManager = "project_manager"
)

// Sheet is the opening sheet (开标一览表) sealed inside a bid: the values read
// out at the opening. It is encoded as one flat JSON object of string values
// with sorted keys: the four named fields plus Extra.
type Sheet struct {
	Price          string
	Duration       string
	Quality        string
	ProjectManager string
	// Extra holds the other named fields the tender documents ask for
	// (bond, rate, …). Keys must not repeat the four names above.
	Extra map[string]string
}

// MarshalJSON encodes s as a flat JSON object with sorted keys.
func (s Sheet) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, len(s.Extra)+4)
	for k, v := range s.Extra {
		switch k {
		case FieldPrice, FieldDuration, FieldQuality, FieldProjectManager:
			return nil, fmt.Errorf("opening sheet: extra field %q repeats a named field", k)
		case "":
			return nil, fmt.Errorf("opening sheet: empty field name")
		}
		m[k] = v
	}
	m[FieldPrice] = s.Price
	m[FieldDuration] = s.Duration
	m[FieldQuality] = s.Quality
	m[FieldProjectManager] = s.ProjectManager
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("opening sheet: field %q is not valid UTF-8", k)
		}
	}
	return json.Marshal(m)
}

// UnmarshalJSON decodes a flat JSON object of string values.
func (s *Sheet) UnmarshalJSON(b []byte) error {
	var m map[string]string
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("opening sheet: %w", err)
	}
	if m == nil {
		return fmt.Errorf("opening sheet: not a JSON object")
	}
	*s = Sheet{
		Price:          m[FieldPrice],
		Duration:       m[FieldDuration],
		Quality:        m[FieldQuality],
		ProjectManager: m[FieldProjectManager],
	}
	for _, k := range []string{FieldPrice, FieldDuration, FieldQuality, FieldProjectManager} {
		delete(m, k)
	}
	if len(m) > 0 {
		s.Extra = m
	}
	return nil
}

// encodeSheet returns the exact bytes sealed for s.
func encodeSheet(s Sheet) ([]byte, error) {
	b, err := s.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSheetSize {
		return nil, fmt.Errorf("opening sheet: %d bytes, limit %d", len(b), MaxSheetSize)
	}
	return b, nil
}
