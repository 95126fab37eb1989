package record

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

// ErrVerify wraps every reason a record fails verification.
var ErrVerify = errors.New("opening record does not verify")

// Report is what Verify checked, one line a person reads per check.
type Report struct {
	Session  string
	Digest   string // SM3 of the record's JSON, hex
	KeyID    string // the platform key, hex
	LogHead  LogHead
	LogLen   int      // events in the log given
	Checks   []string // what passed, in order
	Warnings []string // what could not be checked
}

func (r *Report) ok(format string, args ...any) {
	r.Checks = append(r.Checks, fmt.Sprintf(format, args...))
}
func (r *Report) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

func fail(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrVerify}, args...)...)
}

// Digest is the hex SM3 of a record's JSON: what the log's
// opening_record_signed event carries.
func Digest(recordJSON []byte) string { return hex.EncodeToString(sm3.Sm3Sum(recordJSON)) }

// Verify checks a signed opening record against the room's log; see
// VerifyReport for the checks.
func Verify(recordJSON, sig []byte, platform *decrypt.PublicKey, events []rooms.Event, bidderKeys map[string]*decrypt.PublicKey) error {
	_, err := VerifyReport(recordJSON, sig, platform, events, bidderKeys)
	return err
}

// VerifyReport checks, in order, and stops at the first failure:
//
//  1. the platform's SM2 signature over the record's exact bytes;
//  2. the log's hash chain from seq 1 (every event given, so also those
//     after the record), and that it reaches the record's log_head with
//     the same hash;
//  3. that building the record from the log up to log_head gives exactly
//     the same bytes;
//  4. every sm2 confirmation's signature over rooms.ConfirmationMessage,
//     with the bidder's key from bidderKeys or, absent there, the key the
//     bidder was registered with in the log (whose id must match);
//  5. that the log's opening_record_signed event, if the log has one,
//     carries this record's SM3 digest, size, signature and key id.
func VerifyReport(recordJSON, sig []byte, platform *decrypt.PublicKey, events []rooms.Event, bidderKeys map[string]*decrypt.PublicKey) (*Report, error) {
	rep := &Report{Digest: Digest(recordJSON), LogLen: len(events)}
	if platform == nil {
		return rep, fail("no platform public key to check the signature with")
	}
	kid := platform.ID()
	rep.KeyID = hex.EncodeToString(kid[:])
	if platform.Verify(recordJSON, sig) != nil {
		return rep, fail("the platform signature does not verify with key %s: the record's bytes were changed after signing, or another key signed it", rep.KeyID)
	}
	rep.ok("platform SM2 signature over the record's %d bytes verifies with key %s / 平台签名有效", len(recordJSON), rep.KeyID)

	var rec Record
	dec := json.NewDecoder(bytes.NewReader(recordJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return rep, fail("the signed record is not a %s document: %v", Format, err)
	}
	if rec.Format != Format {
		return rep, fail("the record's format is %q; this verifier knows %q", rec.Format, Format)
	}
	rep.Session, rep.LogHead = rec.Session, rec.LogHead

	head := rec.LogHead
	if head.Seq == 0 {
		return rep, fail("the record names no log head")
	}
	if uint64(len(events)) < head.Seq {
		return rep, fail("the log given ends at seq %d, but the record covers the log up to seq %d: the log is truncated (or another session's)", len(events), head.Seq)
	}
	if err := rooms.VerifyChain(0, "", events); err != nil {
		return rep, fail("the log's hash chain is broken: %v", err)
	}
	if got := events[head.Seq-1]; got.Room != rec.Session || got.Hash != head.Hash {
		return rep, fail("the log's event #%d (session %s) has hash %s, but the record's log_head is %s of session %s: the record was built from another log", head.Seq, got.Room, got.Hash, head.Hash, rec.Session)
	}
	rep.ok("log hash chain intact over %d events; event #%d has the record's log_head hash %s / 日志哈希链完整", len(events), head.Seq, head.Hash)

	rebuilt, err := Build(rec.Session, events[:head.Seq])
	if err != nil {
		return rep, fail("the record cannot be rebuilt from the log: %v", err)
	}
	want, err := Encode(rebuilt)
	if err != nil {
		return rep, fail("%v", err)
	}
	if !bytes.Equal(want, recordJSON) {
		return rep, fail("the record differs from the one the log gives: %s", firstDifference(recordJSON, want))
	}
	rep.ok("rebuilding the record from the log up to seq %d gives the same %d bytes / 记录与日志一致", head.Seq, len(recordJSON))

	if err := checkConfirmations(rep, &rec, events[:head.Seq], bidderKeys); err != nil {
		return rep, err
	}

	if i := indexOfRecord(events); i >= 0 {
		var o rooms.OpeningRecord
		if err := json.Unmarshal(events[i].Data, &o); err != nil {
			return rep, fail("the log's opening_record_signed event #%d is malformed: %v", events[i].Seq, err)
		}
		switch {
		case o.Digest != rep.Digest:
			return rep, fail("the log's opening_record_signed event #%d carries digest %s, but this record's SM3 is %s: it is not the record the log holds", events[i].Seq, o.Digest, rep.Digest)
		case o.Size != int64(len(recordJSON)):
			return rep, fail("the log's opening_record_signed event #%d says %d bytes, the record has %d", events[i].Seq, o.Size, len(recordJSON))
		case o.KeyID != rep.KeyID:
			return rep, fail("the log's opening_record_signed event #%d names platform key %s, the record was checked with %s", events[i].Seq, o.KeyID, rep.KeyID)
		case o.Signature != base64.StdEncoding.EncodeToString(sig):
			return rep, fail("the log's opening_record_signed event #%d carries another signature than the one given", events[i].Seq)
		}
		rep.ok("the log's opening_record_signed event #%d carries this record's SM3 %s / 记录摘要已写入日志", events[i].Seq, rep.Digest)
	} else {
		rep.warn("the log has no opening_record_signed event yet: the record's digest is not in the log / 日志中尚无开标记录摘要")
	}
	return rep, nil
}

// checkConfirmations verifies every sm2 confirmation in the record.
func checkConfirmations(rep *Report, rec *Record, events []rooms.Event, given map[string]*decrypt.PublicKey) error {
	if rec.Confirmation == nil {
		return nil
	}
	registered := registeredKeys(events)
	n := 0
	for _, c := range rec.Confirmation.Confirmed {
		if c.Method != rooms.SignInSM2 {
			continue
		}
		key, from := given[c.Bidder], "the key given for them"
		if key == nil {
			key, from = registered[c.Bidder], "the key they registered"
		}
		if key == nil {
			return fail("bidder %s confirmed with an SM2 signature, but no public key for them was given and none was registered in the log", c.Bidder)
		}
		id := key.ID()
		if hex.EncodeToString(id[:]) != c.KeyID {
			return fail("bidder %s's confirmation names key %s, but %s is %s", c.Bidder, c.KeyID, from, hex.EncodeToString(id[:]))
		}
		if rec.ReadOut == nil || c.Digest != rec.ReadOut.Digest {
			return fail("bidder %s confirmed digest %s, which is not the read-out's", c.Bidder, c.Digest)
		}
		sig, err := base64.StdEncoding.DecodeString(c.Signature)
		if err != nil {
			return fail("bidder %s's confirmation signature is not base64: %v", c.Bidder, err)
		}
		if key.Verify([]byte(rooms.ConfirmationMessage(rec.Session, c.Bidder, c.Digest)), sig) != nil {
			return fail("bidder %s's confirmation signature does not verify with %s (%s): it is not their signature over the read-out", c.Bidder, from, c.KeyID)
		}
		n++
		rep.ok("bidder %s's SM2 confirmation of read-out %s verifies with %s / 投标人确认签名有效", c.Bidder, c.Digest, from)
	}
	if n == 0 {
		rep.ok("no SM2 confirmations to check")
	}
	return nil
}

// registeredKeys are the bidders' public keys as registered in the log.
func registeredKeys(events []rooms.Event) map[string]*decrypt.PublicKey {
	keys := map[string]*decrypt.PublicKey{}
	for _, e := range events {
		if e.Type != rooms.EvBidderRegistered {
			continue
		}
		var s rooms.BidderSpec
		if json.Unmarshal(e.Data, &s) != nil || s.PublicKey == "" {
			continue
		}
		if k, err := decrypt.ParsePublicKeyPEM([]byte(s.PublicKey)); err == nil {
			keys[s.ID] = k
		}
	}
	return keys
}

// firstDifference names the first JSON path where two records differ.
func firstDifference(got, want []byte) string {
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil {
		return "the record is not valid JSON"
	}
	if path, a, b, ok := diff("", g, w); ok {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return fmt.Sprintf("at %s the record says %s, the log gives %s", strings.TrimPrefix(path, "."), clip(ja), clip(jb))
	}
	return "same content, but not in the canonical encoding (json.Marshal of the record)"
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

func diff(path string, a, b any) (string, any, any, bool) {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return or(path), a, b, true
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if p, da, db, ok := diff(path+"."+k, x[k], y[k]); ok {
				return p, da, db, true
			}
		}
		return "", nil, nil, false
	case []any:
		y, ok := b.([]any)
		if !ok {
			return or(path), a, b, true
		}
		for i := 0; i < len(x) || i < len(y); i++ {
			if i >= len(x) || i >= len(y) {
				var da, db any
				if i < len(x) {
					da = x[i]
				}
				if i < len(y) {
					db = y[i]
				}
				return fmt.Sprintf("%s[%d]", path, i), da, db, true
			}
			if p, da, db, ok := diff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i]); ok {
				return p, da, db, true
			}
		}
		return "", nil, nil, false
	}
	if !reflect.DeepEqual(a, b) {
		return or(path), a, b, true
	}
	return "", nil, nil, false
}

func or(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}
