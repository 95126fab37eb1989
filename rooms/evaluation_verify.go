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

// VerifyReport checks an evaluation's report offline from the room's
// whole log and the platform's public key: the chain; that the log,
// folded again, gives the same report and digest; every member's SM2
// signature with the key the draw seated them with; the platform's
// signature. It returns the checks passed, in words, or the first that
// failed.
func VerifyReport(events []Event, platform *decrypt.PublicKey) ([]string, error) {
	chain, err := wholeChain(events)
	if err != nil {
		return nil, err
	}
	done := []string{chain}
	st, err := NewState(events[0].Room, events)
	if err != nil {
		return done, fmt.Errorf("fold the log: %w", err)
	}
	v, ok := st.(*Evaluation)
	if !ok || v.Completed == nil {
		return done, fmt.Errorf("the log holds no completed evaluation report")
	}
	report, digest, err := v.Report()
	if err != nil {
		return done, err
	}
	again, _ := json.Marshal(report)
	recorded, _ := json.Marshal(v.Completed.Report)
	if digest != v.Completed.Digest || !bytes.Equal(again, recorded) {
		return done, fmt.Errorf("the log gives a report with digest %s; the completed report says %s", digest, v.Completed.Digest)
	}
	done = append(done, "the log gives the same report, digest "+digest+" (报告与日志一致)")
	for _, s := range v.Completed.Signatures {
		m := v.member(s.Expert)
		if m == nil {
			return done, fmt.Errorf("%s signed but is not on the committee", s.Expert)
		}
		if _, err := verifyMember(m, ReportMessage(v.Room, m.Expert, s.Digest, s.Dissent), s.Signature); err != nil || s.Digest != digest {
			return done, fmt.Errorf("the signature of %s %s does not verify over the report", m.Expert, m.Name)
		}
		note := ""
		if s.Dissent != "" {
			note = ", with dissent (有不同意见)"
		}
		done = append(done, fmt.Sprintf("member %s %s signed%s (成员签名有效)", m.Expert, m.Name, note))
	}
	if len(v.Completed.Signatures) != len(v.Members) {
		return done, fmt.Errorf("%d of %d members signed", len(v.Completed.Signatures), len(v.Members))
	}
	if v.PlatformSig == nil {
		return done, fmt.Errorf("the platform has not signed the report")
	}
	msg, err := v.Completed.PlatformMessage(v.Room)
	if err != nil {
		return done, err
	}
	sig, err := base64.StdEncoding.DecodeString(v.PlatformSig.Signature)
	if err != nil || hex.EncodeToString(sm3.Sm3Sum(msg)) != v.PlatformSig.Digest || platform.Verify(msg, sig) != nil {
		return done, fmt.Errorf("the platform's signature does not verify with the given key")
	}
	id := platform.ID()
	done = append(done, "platform signature verified, key "+hex.EncodeToString(id[:])+" (平台签名有效)")
	return done, nil
}

// wholeChain checks a whole exported log's hash chain from its first
// event and says so in words, as every offline verifier starts.
func wholeChain(events []Event) (string, error) {
	if len(events) == 0 {
		return "", fmt.Errorf("the log is empty")
	}
	if err := VerifyChain(0, "", events); err != nil {
		return "", fmt.Errorf("the log's hash chain: %w", err)
	}
	return fmt.Sprintf("hash chain of %d events unbroken (哈希链完整)", len(events)), nil
}
