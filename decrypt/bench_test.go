package decrypt

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	emsm3 "github.com/emmansun/gmsm/sm3"
	emsm4 "github.com/emmansun/gmsm/sm4"
	"github.com/tjfoc/gmsm/sm3"
	"github.com/tjfoc/gmsm/sm4"
)

// Run: go test -run '^$' -bench . -benchtime 2s ./decrypt/
// Figures are per core (Seal and Open are single-goroutine).

var benchLarge = flag.Bool("bench-large", false, "also benchmark 256 MiB seal/open, and peak memory opening a 1 GiB bid")

func benchSizes() []int {
	if *benchLarge {
		return []int{1 << 20, 16 << 20, 256 << 20}
	}
	return []int{1 << 20, 16 << 20}
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// peakRSS is the process's high-water resident set (VmHWM), in bytes.
func peakRSS(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkOpen1GiBMemory seals a 1 GiB bid to a file and opens it from the
// file, streaming, reporting the heap in use at its peak and the process's
// resident high-water mark (which includes the test binary itself).
func BenchmarkOpen1GiBMemory(b *testing.B) {
	if !*benchLarge {
		b.Skip("run with -bench-large")
	}
	bidder, _ := testKeys(b)
	path := filepath.Join(b.TempDir(), "bid.sealed")
	f, _ := os.Create(path)
	const n = 1 << 30
	sum, err := Seal(f, io.LimitReader(zeros{}, n), SealOptions{SessionID: "s", BidderID: "b", Size: n, Signer: bidder})
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	dk, _ := UnwrapKey(sum.Header, bidder)
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		in, _ := os.Open(path)
		done := make(chan struct{})
		var peak uint64
		go func() {
			var m runtime.MemStats
			for {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
					runtime.ReadMemStats(&m)
					peak = max(peak, m.HeapInuse)
				}
			}
		}()
		if _, _, err := OpenWithDataKey(io.Discard, bufio.NewReaderSize(in, 1<<20), dk, bidder.Public()); err != nil {
			b.Fatal(err)
		}
		close(done)
		in.Close()
		b.ReportMetric(float64(peak)/(1<<20), "MiB_heap_peak")
		b.ReportMetric(float64(peakRSS(b))/(1<<20), "MiB_rss_hwm")
	}
}

func BenchmarkSeal(b *testing.B) {
	bidder, _ := testKeys(b)
	for _, n := range benchSizes() {
		data := make([]byte, n)
		b.Run(fmt.Sprintf("%dMiB", n>>20), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := Seal(io.Discard, bytes.NewReader(data), SealOptions{
					SessionID: "s", BidderID: "b", Size: int64(n), Signer: bidder,
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	bidder, _ := testKeys(b)
	for _, n := range benchSizes() {
		sealed, sum := seal(b, make([]byte, n), DefaultChunkSize)
		dk, err := UnwrapKey(sum.Header, bidder)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dMiB", n>>20), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, _, err := Open(io.Discard, bytes.NewReader(sealed), bidder, bidder.Public()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("WithDataKey/%dMiB", n>>20), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, _, err := OpenWithDataKey(io.Discard, bytes.NewReader(sealed), dk, bidder.Public()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Inspect/%dMiB", n>>20), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := Inspect(bytes.NewReader(sealed), bidder.Public()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSM2(b *testing.B) {
	bidder, _ := testKeys(b)
	sealed, sum := seal(b, []byte("x"), 0)
	_ = sealed
	digest := sum.Digest[:]
	sig, err := bidder.Sign(digest)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Unwrap", func(b *testing.B) {
		for b.Loop() {
			if _, err := UnwrapKey(sum.Header, bidder); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("Wrap", func(b *testing.B) {
		var dk DataKey
		for b.Loop() {
			if _, err := bidder.Public().Encrypt(dk[:]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("Sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := bidder.Sign(digest); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("Verify", func(b *testing.B) {
		for b.Loop() {
			if err := bidder.Public().Verify(digest, sig); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}

// gcmImpls are the SM4-GCM candidates: seal one chunk in place.
func gcmImpls(b *testing.B, key []byte) map[string]func(dst, nonce, pt, aad []byte) []byte {
	goGCM := func(block cipher.Block, err error) cipher.AEAD {
		if err != nil {
			b.Fatal(err)
		}
		a, err := cipher.NewGCM(block)
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	tj := goGCM(sm4.NewCipher(key))
	em := goGCM(emsm4.NewCipher(key))
	return map[string]func(dst, nonce, pt, aad []byte) []byte{
		// tjfoc's own Sm4GCM (non-standard tag, see TestTjfocSM4GCMTag).
		"tjfoc-Sm4GCM": func(dst, nonce, pt, aad []byte) []byte {
			c, t, err := sm4.Sm4GCM(key, nonce, pt, aad, true)
			if err != nil {
				b.Fatal(err)
			}
			return append(append(dst, c...), t...)
		},
		// Go's generic GCM over tjfoc's SM4 block: what the format uses.
		"go-GCM-tjfoc-SM4": func(dst, nonce, pt, aad []byte) []byte { return tj.Seal(dst, nonce, pt, aad) },
		// emmansun/gmsm v0.30.1: SM4 with AES-NI/AVX2 and its own asm GCM.
		"emmansun-SM4-GCM": func(dst, nonce, pt, aad []byte) []byte { return em.Seal(dst, nonce, pt, aad) },
	}
}

// BenchmarkSM4GCM compares the SM4-GCM implementations on 64 KiB chunks and
// reports each one's MB/s and its ratio to Go's GCM over tjfoc's SM4.
func BenchmarkSM4GCM(b *testing.B) {
	key := make([]byte, 16)
	pt := make([]byte, DefaultChunkSize)
	nonce, aadb := make([]byte, 12), make([]byte, 41)
	dst := make([]byte, 0, len(pt)+tagSize)
	impls := gcmImpls(b, key)
	// Same output from the two standard ones.
	if !bytes.Equal(impls["go-GCM-tjfoc-SM4"](nil, nonce, pt, aadb), impls["emmansun-SM4-GCM"](nil, nonce, pt, aadb)) {
		b.Fatal("emmansun SM4-GCM differs from Go's GCM over tjfoc SM4")
	}
	names := []string{"tjfoc-Sm4GCM", "go-GCM-tjfoc-SM4", "emmansun-SM4-GCM"}
	for _, name := range names {
		f := impls[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(pt)))
			for b.Loop() {
				f(dst[:0], nonce, pt, aadb)
			}
		})
	}
	b.Run("ratio", func(b *testing.B) {
		spent := map[string]time.Duration{}
		for b.Loop() {
			for _, name := range names {
				t0 := time.Now()
				impls[name](dst[:0], nonce, pt, aadb)
				spent[name] += time.Since(t0)
			}
		}
		mbps := func(name string) float64 {
			return float64(b.N) * float64(len(pt)) / 1e6 / spent[name].Seconds()
		}
		base := mbps("go-GCM-tjfoc-SM4")
		for _, name := range names {
			b.ReportMetric(mbps(name), name+"-MB/s")
		}
		b.ReportMetric(mbps("tjfoc-Sm4GCM")/base, "tjfoc-Sm4GCM/go-GCM")
		b.ReportMetric(mbps("emmansun-SM4-GCM")/base, "emmansun/go-GCM")
	})
}

// BenchmarkSM3 compares SM3 over 1 MiB: every sealed byte is hashed once
// for the signature.
func BenchmarkSM3(b *testing.B) {
	data := make([]byte, 1<<20)
	b.Run("tjfoc", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			h := sm3.New()
			h.Write(data)
			h.Sum(nil)
		}
	})
	b.Run("emmansun", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			emsm3.Sum(data)
		}
	})
}
