package embedded_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store"
	"github.com/bidroom/bidroom/store/embedded"
	"github.com/bidroom/bidroom/store/storetest"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runKillChild(path))
	}
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) rooms.Log {
		return open(t, filepath.Join(t.TempDir(), "events.db"))
	})
}

func open(t testing.TB, path string) *embedded.Log {
	t.Helper()
	l, err := embedded.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "data", "events.db") // Open creates data/
	l, err := embedded.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	a := storetest.Chain("a", 0, "", 3)
	b := storetest.Chain("b", 0, "", 1)
	if err := errors.Join(l.Append(ctx, "a", 0, "cmd-a", a), l.Append(ctx, "b", 0, "", b)); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	l = open(t, path)
	got, err := l.Read(ctx, "a", 0, 0)
	if err != nil {
		t.Fatalf("Read after reopening: %v", err)
	}
	if len(got) != 3 || rooms.VerifyChain(0, "", got) != nil || got[2].Hash != a[2].Hash {
		t.Fatalf("after reopening, room a has %d events (chain: %v), want the 3 appended", len(got), rooms.VerifyChain(0, "", got))
	}
	if first, last, ok, err := l.Command(ctx, "a", "cmd-a"); first != 1 || last != 3 || !ok || err != nil {
		t.Errorf("Command after reopening = %d, %d, %v, %v; want 1, 3, true, nil", first, last, ok, err)
	}
	if rs, err := l.Rooms(ctx); err != nil || !slices.Equal(rs, []string{"a", "b"}) {
		t.Errorf("Rooms after reopening = %q, %v; want [a b]", rs, err)
	}
	// The compare-and-set state survived too: a stale append conflicts, the
	// right one continues the chain.
	if err := l.Append(ctx, "a", 0, "", storetest.Chain("a", 0, "", 1)); !errors.Is(err, rooms.ErrConflict) {
		t.Errorf("stale Append after reopening = %v, want ErrConflict", err)
	}
	if err := l.Append(ctx, "a", 3, "", storetest.Chain("a", 3, a[2].Hash, 1)); err != nil {
		t.Errorf("Append after reopening: %v", err)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ch, err := l.Watch(ctx, "r") // ctx outlives the Log: Close must end it
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("watch channel delivered a value after Close, want it closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch channel still open 5s after Close")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checks := map[string]error{
		"Append": l.Append(ctx, "r", 0, "", storetest.Chain("r", 0, "", 1)),
		"Watch":  func() error { _, err := l.Watch(ctx, "r"); return err }(),
		"Read":   func() error { _, err := l.Read(ctx, "r", 0, 0); return err }(),
		"Rooms":  func() error { _, err := l.Rooms(ctx); return err }(),
	}
	for op, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want store.ErrClosed", op, err)
		}
	}
}

func TestOpenRefusesLockedFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "events.db")
	open(t, path)
	if l, err := embedded.Open(path); err == nil {
		l.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
}

// TestTamperingDetected edits and deletes stored records behind the Log's
// back; Read must report rooms.ErrBadEvent rather than return them.
func TestTamperingDetected(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tests := []struct {
		name string
		edit func(events *bbolt.Bucket) error
	}{
		{"changed", func(evb *bbolt.Bucket) error {
			v := bytes.Replace(evb.Get(seqKey(3)), []byte(`{"n":3}`), []byte(`{"n":9}`), 1)
			return evb.Put(seqKey(3), v)
		}},
		{"deleted", func(evb *bbolt.Bucket) error { return evb.Delete(seqKey(3)) }},
		{"deleted last", func(evb *bbolt.Bucket) error { return evb.Delete(seqKey(5)) }},
		{"swapped", func(evb *bbolt.Bucket) error {
			three, four := bytes.Clone(evb.Get(seqKey(3))), bytes.Clone(evb.Get(seqKey(4)))
			return errors.Join(evb.Put(seqKey(3), four), evb.Put(seqKey(4), three))
		}},
		{"replaced by a valid event of another chain", func(evb *bbolt.Bucket) error {
			other := storetest.Chain("r", 2, "0123", 1)
			b, err := other[0].Encode()
			if err != nil {
				return err
			}
			return evb.Put(seqKey(3), b)
		}},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "events.db")
		l, err := embedded.Open(path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := l.Append(ctx, "r", 0, "", storetest.Chain("r", 0, "", 5)); err != nil {
			t.Fatalf("Append: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		db, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatalf("bbolt.Open: %v", err)
		}
		err = db.Update(func(tx *bbolt.Tx) error {
			return tt.edit(tx.Bucket([]byte("rooms")).Bucket([]byte("r")).Bucket([]byte("events")))
		})
		if err := errors.Join(err, db.Close()); err != nil {
			t.Fatalf("%s: editing the file: %v", tt.name, err)
		}

		l = open(t, path)
		if got, err := l.Read(ctx, "r", 0, 0); !errors.Is(err, rooms.ErrBadEvent) {
			t.Errorf("%s: Read = %d events, %v; want rooms.ErrBadEvent", tt.name, len(got), err)
		}
	}
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// childEnv, when set to a file path, turns the test binary into the child of
// TestSurvivesKill: it appends to that file and prints each acknowledged
// seq until it is killed.
const childEnv = "BIDROOM_TEST_EMBEDDED_KILL_CHILD"

// TestSurvivesKill appends from a child process, kills it with SIGKILL
// mid-stream and checks that every seq the child saw acknowledged is in
// the file, with the chain intact. (It kills the process, not the machine:
// it proves Append acknowledges only what is committed and the file is
// never left unreadable, not that the fsync reaches the platter.)
func TestSurvivesKill(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "events.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	var acked uint64
	lines := bufio.NewScanner(out)
	const killAfter = 150
	for n := 0; lines.Scan(); n++ {
		seq, err := strconv.ParseUint(lines.Text(), 10, 64)
		if err != nil {
			t.Fatalf("child printed %q: %v", lines.Text(), err)
		}
		acked = seq
		if n == killAfter {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatalf("kill child: %v", err)
			}
		}
	}
	err = cmd.Wait()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL; stderr:\n%s", err, stderr.Bytes())
	}
	if acked < killAfter {
		t.Fatalf("child acknowledged only up to seq %d; stderr:\n%s", acked, stderr.Bytes())
	}

	l := open(t, path)
	got, err := l.Read(t.Context(), "durable", 0, 0)
	if err != nil {
		t.Fatalf("Read after kill: %v", err)
	}
	if uint64(len(got)) < acked {
		t.Fatalf("after kill the room has %d events, but the child saw seq %d acknowledged", len(got), acked)
	}
	if err := rooms.VerifyChain(0, "", got); err != nil {
		t.Fatalf("chain after kill: %v", err)
	}
	t.Logf("child acknowledged %d events before SIGKILL; the file holds %d", acked, len(got))
}

// runKillChild is the child of TestSurvivesKill.
func runKillChild(path string) int {
	l, err := embedded.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer l.Close()
	var seq uint64
	prev := ""
	for seq < 1_000_000 { // killed long before
		evs := storetest.Chain("durable", seq, prev, 1+int(seq%3))
		if err := l.Append(context.Background(), "durable", seq, fmt.Sprint("cmd-", seq), evs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		seq, prev = evs[len(evs)-1].Seq, evs[len(evs)-1].Hash
		fmt.Println(seq) // acknowledged: Append returned nil
	}
	return 0
}

func BenchmarkAppend(b *testing.B) {
	storetest.BenchAppend(b, open(b, filepath.Join(b.TempDir(), "events.db")))
}

func BenchmarkRead(b *testing.B) {
	storetest.BenchRead(b, open(b, filepath.Join(b.TempDir(), "events.db")))
}
