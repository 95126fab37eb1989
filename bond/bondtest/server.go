// Package bondtest runs a fake of the trading center's bond system (docs/bond.md) on 127.0.0.1
// for tests and the demo: it answers from a fixed table, checks the bearer token, and can be told
// to fail (slow, HTTP 500, garbage, oversized answers).
package bondtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bidroom/bidroom/bond"
)

// Fault is a failure the server plays instead of a normal answer.
type Fault int

// The faults a Server can play.
const (
	None      Fault = iota // answer normally
	Slow                   // wait Server.Delay (or until the client gives up), then answer normally
	Error500               // HTTP 500 Internal Server Error
	Garbage                // HTTP 200 with a body that is not JSON
	Oversized              // HTTP 200 with valid JSON of 2 MiB (over the default 1 MiB limit)
)

// DefaultDelay is how long a Slow answer waits unless Server.Delay is set.
const DefaultDelay = 10 * time.Second

// Server is a fake bond system. Its URL and Token go into bond.HTTPConfig.
type Server struct {
	*httptest.Server
	Token string // the bearer token it accepts, random per server

	mu       sync.Mutex                        // guards the fields below
	records  map[string]map[string]bond.Record // session → bidder → record, as given
	delay    time.Duration
	queue    []Fault // faults for the next requests, in order
	always   Fault   // fault for every request once queue is empty
	requests int     // requests answered, including refused ones
	maxBatch int     // most bidders asked in one request
}

// NewServer starts a fake bond system answering from a copy of records (session → bidder → record; a
// bidder not in it is left out of the answer, so the checker reports it Unknown). Only Status,
// Amount, Guarantor and Reference of each record are sent, whatever they hold, so a test can send
// an invalid status. The server is closed when the test ends.
func NewServer(t testing.TB, records map[string]map[string]bond.Record) *Server {
	t.Helper()
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	s := &Server{Token: hex.EncodeToString(tok[:]), records: map[string]map[string]bond.Record{}, delay: DefaultDelay}
	for session, table := range records {
		for bidder, r := range table {
			s.Put(session, bidder, r)
		}
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Put sets the record the server answers for bidder in session.
func (s *Server) Put(session, bidder string, r bond.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.records == nil {
		s.records = map[string]map[string]bond.Record{}
	}
	if s.records[session] == nil {
		s.records[session] = map[string]bond.Record{}
	}
	s.records[session][bidder] = r
}

// Config returns an HTTPConfig for this server with fast retries.
func (s *Server) Config() bond.HTTPConfig {
	return bond.HTTPConfig{URL: s.URL + "/bonds", Token: s.Token, Backoff: 10 * time.Millisecond}
}

// Fail makes the next requests play faults, one each, in order; then answers are normal again
// (or the fault given to Always).
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, faults...)
}

// Always makes every request play f once the faults given to Fail are used up; None restores
// normal answers.
func (s *Server) Always(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = f
}

// SetDelay sets how long a Slow answer waits.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Requests returns how many requests the server has received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// MaxBatch returns the most bidders asked in one request so far.
func (s *Server) MaxBatch() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxBatch
}

// wireRecord is one record of an answer, as the protocol has it.
type wireRecord struct {
	Bidder    string      `json:"bidder"`
	Status    bond.Status `json:"status"`
	Amount    string      `json:"amount,omitempty"`
	Guarantor string      `json:"guarantor,omitempty"`
	Reference string      `json:"reference,omitempty"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	fault := s.always
	if len(s.queue) > 0 {
		fault, s.queue = s.queue[0], s.queue[1:]
	}
	delay := s.delay
	s.mu.Unlock()

	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bond"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	session, bidders := q.Get("session"), q["bidder"]
	if session == "" || len(bidders) == 0 {
		http.Error(w, "session and bidder are required", http.StatusBadRequest)
		return
	}
	if len(bidders) > bond.BatchSize {
		http.Error(w, "too many bidders in one request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.maxBatch = max(s.maxBatch, len(bidders))
	table := make(map[string]bond.Record, len(bidders))
	for _, b := range bidders {
		if rec, ok := s.records[session][b]; ok {
			table[b] = rec
		}
	}
	s.mu.Unlock()

	switch fault {
	case Slow:
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	case Error500:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	case Garbage:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("<html>502 Bad Gateway</html>\x00\xff{\"records\":["))
		return
	case Oversized:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"records":[]` + strings.Repeat(" ", 2<<20) + `}`))
		return
	}

	ans := struct {
		Records []wireRecord `json:"records"`
	}{Records: []wireRecord{}}
	for _, b := range bidders {
		if rec, ok := table[b]; ok {
			ans.Records = append(ans.Records, wireRecord{Bidder: b, Status: rec.Status, Amount: rec.Amount, Guarantor: rec.Guarantor, Reference: rec.Reference})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}
