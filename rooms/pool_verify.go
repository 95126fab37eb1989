package rooms

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
)

// VerifyDraw re-runs the draw recorded for evaluation in a pool's log
// (every event from the first): it checks the chain, folds the pool up
// to the head the draw saw, recomputes the eligible list and its digest
// and draws again with the recorded seed. It returns the record when the
// names and their order come out the same, and says what differs when
// they do not.
func VerifyDraw(events []Event, evaluation string) (DrawRecord, error) {
	if err := VerifyChain(0, "", events); err != nil {
		return DrawRecord{}, fmt.Errorf("the pool's log: %w", err)
	}
	var rec *DrawRecord
	p := NewPool("")
	for _, e := range events {
		if e.Type == EvExpertsDrawn && rec == nil {
			var d DrawRecord
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return DrawRecord{}, fmt.Errorf("pool #%d: %w", e.Seq, err)
			}
			if d.Evaluation == evaluation {
				rec = &d
				break
			}
		}
		if err := p.Apply(e); err != nil {
			return DrawRecord{}, err
		}
	}
	if rec == nil {
		return DrawRecord{}, fmt.Errorf("the pool's log has no draw for %s", evaluation)
	}
	if p.Seq != rec.PoolSeq || p.Hash != rec.PoolHash {
		return *rec, fmt.Errorf("the draw says it saw the pool at #%d %s; the log has #%d %s before it", rec.PoolSeq, rec.PoolHash, p.Seq, p.Hash)
	}
	raw, err := hex.DecodeString(rec.Seed)
	if err != nil || len(raw) != 32 {
		return *rec, fmt.Errorf("the recorded seed is not 32 bytes of hex")
	}
	var seed [32]byte
	copy(seed[:], raw)
	again, err := p.Redraw(rec.DrawRequest, &seed)
	if err != nil {
		return *rec, fmt.Errorf("re-running the draw: %w", err)
	}
	switch {
	case again.EligibleDigest != rec.EligibleDigest:
		return *rec, fmt.Errorf("the eligible list differs: %d experts with digest %s now, %d with %s recorded", again.Eligible, again.EligibleDigest, rec.Eligible, rec.EligibleDigest)
	case !reflect.DeepEqual(again.Result, rec.Result) || !reflect.DeepEqual(again.Drawn, rec.Drawn):
		return *rec, fmt.Errorf("the same seed and list draw %v, not the recorded %v", again.Result, rec.Result)
	}
	return *rec, nil
}
