package placement

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestDrain: a draining instance releases its leases and closes its rooms'
// sessions; from then on it takes no lease: an offer for a room another
// instance holds is forwarded there, any other is refused with
// Retry-After, and the retry at another instance places the room there.
func TestDrain(t *testing.T) {
	c, prefix := redisClient(t)
	const lease = 450 * time.Millisecond
	a := startNode(t, c, prefix, "a", lease)
	b := startNode(t, c, prefix, "b", lease)
	for _, room := range []string{"r1", "r2"} {
		if resp, _ := send(t, "POST", a.srv.URL+"/whip/"+room, "good", "offer"); resp.StatusCode != 201 {
			t.Fatal(resp.Status)
		}
		a.media.set(room, 2)
	}
	if resp, _ := send(t, "POST", b.srv.URL+"/whip/r3", "good", "offer"); resp.StatusCode != 201 {
		t.Fatal(resp.Status)
	}

	rooms, sessions := a.p.Drain(context.Background())
	if rooms != 2 || sessions != 4 {
		t.Errorf("Drain handed over %d rooms, %d sessions; want 2 and 4", rooms, sessions)
	}
	for _, room := range []string{"r1", "r2"} {
		if h := holder(t, a.reg, room); h != "" {
			t.Errorf("%s held by %q after a's drain; want free", room, h)
		}
		if n := a.media.closes(room); n != 1 {
			t.Errorf("%s closed %d times at a; want 1", room, n)
		}
	}
	if v := value(t, a.p.leases); v != 0 {
		t.Errorf("bidroom_media_leases at a = %v after the drain", v)
	}

	served := len(a.log())
	resp, body := send(t, "POST", a.srv.URL+"/whep/r1", "good", "offer")
	if resp.StatusCode != 503 || !strings.Contains(body, `"draining"`) || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("offer for a free room at the draining a: %d %q Retry-After %q; want 503 draining", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if h := holder(t, a.reg, "r1"); h != "" || len(a.log()) != served {
		t.Errorf("the refused offer placed r1 on %q or was served (%d)", h, len(a.log())-served)
	}
	if resp, body := send(t, "POST", a.srv.URL+"/whep/r3", "good", "offer"); resp.StatusCode != 201 || body != "answer from b" {
		t.Errorf("offer for b's room at the draining a: %d %q; want b's answer", resp.StatusCode, body)
	}
	if resp, _ := send(t, "POST", a.srv.URL+"/whep/r3", "bad", "offer"); resp.StatusCode != 401 {
		t.Errorf("bad token at the draining a: %d; want 401", resp.StatusCode)
	}
	// The client's retry reaches b, which takes the room; a forwards there now.
	if resp, body := send(t, "POST", b.srv.URL+"/whip/r1", "good", "offer"); resp.StatusCode != 201 || body != "answer from b" || holder(t, b.reg, "r1") != "b" {
		t.Fatalf("retry at b: %d %q, holder %q", resp.StatusCode, body, holder(t, b.reg, "r1"))
	}
	if resp, body := send(t, "POST", a.srv.URL+"/whep/r1", "good", "offer"); resp.StatusCode != 201 || body != "answer from b" {
		t.Errorf("offer at a after b took r1: %d %q; want b's answer", resp.StatusCode, body)
	}
	// An offer another instance forwarded here (it believed a held r2) is refused, not forwarded on.
	cMark := (&Placement{cfg: Config{Self: Instance{ID: "c"}}, key: a.p.key}).mark("POST", "/whip/r2", time.Now())
	if resp, body := send(t, "POST", a.srv.URL+"/whip/r2", "good", "offer", HeaderForwarded, cMark); resp.StatusCode != 503 || !strings.Contains(body, `"draining"`) {
		t.Errorf("marked offer at the draining a: %d %q; want 503 draining", resp.StatusCode, body)
	}
	// a's renewals take nothing back.
	a.media.set("r2", 1)
	time.Sleep(2 * lease)
	if h := holder(t, a.reg, "r2"); h != "" {
		t.Errorf("r2 held by %q %v after the drain; want free", h, 2*lease)
	}

	// An offer that took a lease just as the drain began gives it back.
	a.p.pin("r5")
	if _, err := a.reg.Acquire(context.Background(), "r5"); err != nil {
		t.Fatal(err)
	}
	if a.p.take(context.Background(), "r5") {
		t.Error("take succeeded on a draining instance")
	}
	a.p.unpin("r5", false)
	if h := holder(t, a.reg, "r5"); h != "" {
		t.Errorf("r5 held by %q after the refused take; want free", h)
	}
}
