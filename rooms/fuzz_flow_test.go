package rooms

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzOpeningCommand sends arbitrary command data, of every command type,
// by every role, to an opening at each of its states: nothing panics, and
// a refused command changes nothing.
func FuzzOpeningCommand(f *testing.F) {
	cmds := matrixCommands()
	for i, c := range cmds {
		f.Add(uint8(i), uint8(0), uint8(0), []byte(`{}`))
		if d := c.data(newFolder(&testing.T{})); d != nil {
			b, _ := json.Marshal(d)
			f.Add(uint8(i), uint8(3), uint8(i), b)
		}
	}
	f.Add(uint8(0), uint8(1), uint8(2), []byte(`{"minutes":-1,"reason":"\u0000"}`))
	f.Add(uint8(5), uint8(4), uint8(7), []byte(`{"bidder":"d","outcome":"revoked","reason":"`+string(make([]byte, 600))+`"}`))
	states := matrixStates()
	f.Fuzz(func(t *testing.T, cmdIdx, stateIdx, actorIdx uint8, data []byte) {
		c := cmds[int(cmdIdx)%len(cmds)]
		st := states[int(stateIdx)%len(states)]
		who := everyone[int(actorIdx)%len(everyone)]
		fo, now := st.build(t)
		before, hash := fo.o.Seq, fo.o.Hash
		if !json.Valid(data) {
			data = nil
		}
		drafts, err := fo.o.Decide(who, Command{ID: "fuzz", Type: c.typ, Data: data}, now.Add(time.Duration(cmdIdx)*time.Minute))
		if err != nil {
			if RefusalCode(err) == "" {
				t.Fatalf("%s by %s in %s: %v is not a refusal", c.typ, who.Role, st.name, err)
			}
			if fo.o.Seq != before || fo.o.Hash != hash || len(drafts) != 0 {
				t.Fatalf("%s refused but the state changed", c.typ)
			}
			return
		}
		evs, err := seal("r1", who, "fuzz", fo.o.Seq, fo.o.Hash, now, drafts)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if err := fo.o.Apply(e); err != nil {
				t.Fatalf("%s by %s in %s: a taken command's event does not apply: %v", c.typ, who.Role, st.name, err)
			}
		}
	})
}
