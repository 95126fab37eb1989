package rooms

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/tjfoc/gmsm/sm3"

	"github.com/bidroom/bidroom/decrypt"
)

// VerifyNotice checks one notice offline, as its bidder received it: the
// text is the canonical JSON of a notice, the digest is its SM3, and the
// platform's signature over NoticeMessage verifies with platform. It
// returns the notice and the checks passed, in words, or the first that
// failed.
func VerifyNotice(e NoticeEntry, platform *decrypt.PublicKey) (Notice, []string, error) {
	var done []string
	var n Notice
	dec := json.NewDecoder(bytes.NewReader([]byte(e.JSON)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return n, nil, fmt.Errorf("the notice is not a notice's JSON: %w", err)
	}
	again, err := json.Marshal(n)
	if err != nil || string(again) != e.JSON || n.Version != NoticeVersion || (n.Kind != NoticeAward && n.Kind != NoticeResult) {
		return n, nil, fmt.Errorf("the notice's text is not the canonical JSON of a %s notice", NoticeVersion)
	}
	if (e.Bidder != "" && e.Bidder != n.Bidder) || (e.Kind != "" && e.Kind != n.Kind) {
		return n, nil, fmt.Errorf("the notice is addressed to %s (%s), not %s (%s)", n.Bidder, n.Kind, e.Bidder, e.Kind)
	}
	done = append(done, "canonical notice JSON (通知书格式规范)")
	if got := hex.EncodeToString(sm3.Sm3Sum([]byte(e.JSON))); got != e.Digest {
		return n, done, fmt.Errorf("the notice's SM3 is %s, not the digest given (%s)", got, e.Digest)
	}
	done = append(done, "SM3 digest "+e.Digest+" matches (摘要一致)")
	sig, err := base64.StdEncoding.DecodeString(e.Signature)
	if err != nil || platform.Verify(NoticeMessage(n.Evaluation, e.JSON), sig) != nil {
		return n, done, fmt.Errorf("the platform's signature does not verify with the given key")
	}
	id := platform.ID()
	done = append(done, "platform signature verified, key "+hex.EncodeToString(id[:])+" (平台签名有效)")
	return n, done, nil
}

// VerifyNotices checks the notices an evaluation's log holds: that the
// log, folded again, gives the same notices at the recorded time (to the
// first candidate of the completed report the award, to every other bid a
// result notice), and each one's digest and platform signature. A log
// without notices gives no checks and no error.
func VerifyNotices(events []Event, platform *decrypt.PublicKey) ([]string, error) {
	if len(events) == 0 {
		return nil, nil
	}
	st, err := NewState(events[0].Room, events)
	if err != nil {
		return nil, fmt.Errorf("fold the log: %w", err)
	}
	v, ok := st.(*Evaluation)
	if !ok || v.Results.Notices == nil {
		return nil, nil
	}
	issued := v.Results.Notices
	want, err := v.BuildNotices(issued.IssuedAt)
	if err != nil {
		return nil, err
	}
	if len(want) != len(issued.Notices) {
		return nil, fmt.Errorf("the log gives %d notices; %d were issued", len(want), len(issued.Notices))
	}
	done := []string{fmt.Sprintf("%d notices issued at %s, one for every bid (通知书同时发出)", len(want), issued.IssuedAt.Format("2006-01-02 15:04:05Z07:00"))}
	for i, e := range issued.Notices {
		if w := want[i]; w.Bidder != e.Bidder || w.Kind != e.Kind || w.JSON != e.JSON {
			return done, fmt.Errorf("the notice to %s is not the one the log gives", e.Bidder)
		}
		n, _, err := VerifyNotice(e, platform)
		if err != nil {
			return done, fmt.Errorf("the notice to %s: %w", e.Bidder, err)
		}
		what := "result notice (中标结果通知书)"
		if n.Kind == NoticeAward {
			what = "award notice (中标通知书)"
		}
		done = append(done, fmt.Sprintf("%s to %s %s: winner %s, price %s, digest and platform signature verified (通知书有效)", what, n.Bidder, n.BidderName, n.WinnerName, n.Price))
	}
	return done, nil
}
