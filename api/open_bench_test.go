package api_test

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bidroom/bidroom/auth"
	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
)

var (
	benchBids    = flag.Int("bench-bids", 100, "BenchmarkDeadlineToSheets: number of bids")
	benchBidSize = flag.Int("bench-bid-mib", 20, "BenchmarkDeadlineToSheets: plaintext MiB per bid")
)

// BenchmarkDeadlineToSheets measures the opening's critical path: from the
// deadline, N bidders (8 at a time, like a hall of clients) fetch their
// challenge, unwrap locally, send the data key, and the server decrypts and
// verifies every bid — until every opening sheet is recorded. Sealing and
// uploading happen before the timer starts.
func BenchmarkDeadlineToSheets(b *testing.B) {
	n, size := *benchBids, *benchBidSize<<20
	for b.Loop() {
		b.StopTimer()
		f := &bidFixture{env: newEnvB(b), keys: map[string]*decrypt.PrivateKey{}, tokens: map[string]string{}}
		var bidders []map[string]string
		for i := range n {
			id := fmt.Sprint("b", i)
			k, _ := decrypt.GenerateKey()
			pub, _ := k.Public().MarshalPEM()
			f.keys[id] = k
			bidders = append(bidders, map[string]string{"id": id, "name": "公司" + id, "public_key": string(pub)})
			f.tokens[id], _, _ = f.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleBidder, Sub: id, TTL: time.Hour})
		}
		s := session("s1")
		delete(s, "bidders")
		if status, body := f.do("POST", "/api/v1/sessions", adminKey, s); status != 201 {
			b.Fatalf("create: %d %v", status, body)
		}
		for _, bd := range bidders {
			if status, body := f.do("POST", "/api/v1/sessions/s1/bidders", adminKey, bd); status != 201 {
				b.Fatalf("register: %d %v", status, body)
			}
		}
		plain := bytes.Repeat([]byte("投标文件"), size/12+1)[:size]
		for id, k := range f.keys {
			var out bytes.Buffer
			if _, err := decrypt.Seal(&out, bytes.NewReader(plain), decrypt.SealOptions{SessionID: "s1", BidderID: id,
				Size: int64(size), Signer: k, Sheet: decrypt.Sheet{Price: "1000000.00"}}); err != nil {
				b.Fatal(err)
			}
			if status, body := f.upload(f.tokens[id], out.Bytes()); status != 201 {
				b.Fatalf("upload: %d %v", status, body)
			}
		}
		f.advance(2*time.Hour + time.Minute)
		ctx := b.Context()
		if _, err := f.svc.Execute(ctx, "s1", rooms.SystemActor, rooms.Command{ID: "dl", Type: rooms.CmdDeadline}); err != nil {
			b.Fatal(err)
		}
		host, _, _ := f.issuer.Mint(auth.Request{Room: "s1", Role: rooms.RoleHost, Sub: "h", TTL: time.Hour})
		b.StartTimer()
		start := time.Now()
		f.do("POST", "/api/v1/sessions/s1/commands", host, map[string]any{"id": "w", "type": "start_decryption"})
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		var mu sync.Mutex
		failed := 0
		for id := range f.keys {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if status, _ := f.unlockAs(id, nil); status != http.StatusOK {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		if failed > 0 {
			b.Fatalf("%d unlocks failed", failed)
		}
		b.ReportMetric(elapsed.Seconds(), "s_deadline_to_sheets")
		b.ReportMetric(float64(n*size)/elapsed.Seconds()/1e6, "MB/s_decrypted")
		b.StartTimer()
	}
}
