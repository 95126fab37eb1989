package redistest_test

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/bidroom/bidroom/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartAnswersPing(t *testing.T) {
	url := redistest.Start(t)
	if !strings.HasPrefix(url, "redis://") {
		t.Fatalf("Start = %q, want a redis:// URL", url)
	}
	if os.Getenv(redistest.EnvURL) == "" && url == redistest.Start(t) {
		t.Errorf("two Start calls returned the same server %s, want one each", url)
	}
}

func TestPrefixUnique(t *testing.T) {
	a, b := redistest.Prefix(t), redistest.Prefix(t)
	if a == b || !strings.Contains(a, "TestPrefixUnique") || strings.ContainsAny(a, "{} ") {
		t.Errorf("Prefix twice = %q, %q; want two different prefixes naming the test, without braces or spaces", a, b)
	}
}
