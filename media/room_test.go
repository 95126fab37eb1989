package media

import (
	"testing"
	"time"
)

// RoomPeers counts a room's sessions in both halls and no other room's;
// CloseRoom ends exactly those (media placement closes a room whose lease
// another instance took).
func TestCloseRoom(t *testing.T) {
	s := newTestServer(t, nil)
	startPublisher(t, s, opening, "main", 30)
	startViewer(t, s, opening, "main")
	startViewer(t, s, Space{Room: opening.Room, Hall: HallEvaluation}, "x1")
	other := Space{Room: "r2", Hall: HallOpening}
	startViewer(t, s, other, "main")
	if n := s.RoomPeers(opening.Room); n != 3 {
		t.Fatalf("RoomPeers(%s) = %d; want 3", opening.Room, n)
	}
	if n := s.CloseRoom(opening.Room); n != 3 {
		t.Fatalf("CloseRoom closed %d; want 3", n)
	}
	waitFor(t, 5*time.Second, "the room's sessions to end", func() bool { return s.RoomPeers(opening.Room) == 0 })
	if st := s.Stats(opening); st.Publishers != 0 || st.Viewers != 0 {
		t.Errorf("after CloseRoom: %d publishers, %d viewers", st.Publishers, st.Viewers)
	}
	if n := s.RoomPeers(other.Room); n != 1 {
		t.Errorf("RoomPeers(%s) = %d after closing another room; want 1", other.Room, n)
	}
}
