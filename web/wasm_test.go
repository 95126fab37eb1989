package web

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnlockWasmIsCurrent rebuilds the in-browser unlock module and checks
// the committed copy is the same bytes (run `go generate ./web` if not), and
// that wasm_exec.js matches this Go's.
func TestUnlockWasmIsCurrent(t *testing.T) {
	out := filepath.Join(t.TempDir(), "unlock.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "../cmd/bidwasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	want, _ := os.ReadFile(out)
	got, err := os.ReadFile("static/unlock.wasm")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("static/unlock.wasm is stale (%d bytes, fresh build %d): run go generate ./web", len(got), len(want))
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	js, _ := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
	committed, _ := os.ReadFile("static/wasm_exec.js")
	if !bytes.Equal(js, committed) {
		t.Fatal("static/wasm_exec.js differs from this Go's lib/wasm/wasm_exec.js: run go generate ./web")
	}
}
