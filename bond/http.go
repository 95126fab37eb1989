package bond

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of HTTPConfig.
const (
	DefaultTimeout          = 5 * time.Second
	DefaultRetries          = 2
	DefaultBackoff          = 200 * time.Millisecond
	DefaultMaxResponseBytes = 1 << 20
	// BatchSize is the most bidders asked in one request.
	BatchSize = 100
)

// HTTPConfig configures an HTTPChecker. Zero values take the defaults.
type HTTPConfig struct {
	URL              string        // the bond system's endpoint, http or https; required
	Token            string        // bearer token sent in Authorization; never logged
	Timeout          time.Duration // per request; default 5s
	Retries          int           // further tries after a failed request; default 2, negative for none
	Backoff          time.Duration // wait before the first retry, doubled for each further one; default 200ms
	MaxResponseBytes int64         // largest answer read; default 1 MiB
	Client           *http.Client  // default: a client of its own; its Timeout is not used (Timeout is)
	Logger           *slog.Logger  // warnings on failure; default slog.Default()
}

// HTTPChecker looks bonds up in the trading center's bond system over HTTP (see docs/bond.md).
// It is safe for concurrent use.
type HTTPChecker struct {
	cfg  HTTPConfig
	base *url.URL
	log  *slog.Logger
}

// NewHTTPChecker returns a checker for the bond system at cfg.URL.
func NewHTTPChecker(cfg HTTPConfig) (*HTTPChecker, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("bond: URL must be an absolute http or https URL")
	}
	if u.User != nil {
		return nil, errors.New("bond: URL must not hold credentials (use the token)")
	}
	if strings.ContainsAny(cfg.Token, " \t\r\n") {
		return nil, errors.New("bond: token must not contain spaces or line breaks")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = DefaultRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &HTTPChecker{cfg: cfg, base: u, log: log.With("component", "bond", "host", u.Host)}, nil
}

// Check asks the bond system about bidders, BatchSize at a time. A batch the system fails to
// answer makes each of its bidders Unknown with the reason; the error is only ctx's.
func (c *HTTPChecker) Check(ctx context.Context, session string, bidders []string) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("check bonds: %w", err)
	}
	out := make([]Record, len(bidders))
	var ask []string // distinct, non-empty bidder ids
	seen := make(map[string]bool, len(bidders))
	for _, b := range bidders {
		if b != "" && !seen[b] {
			seen[b] = true
			ask = append(ask, b)
		}
	}
	got := make(map[string]Record, len(ask))
	for start := 0; start < len(ask); start += BatchSize {
		batch := ask[start:min(start+BatchSize, len(ask))]
		recs, err := c.batch(ctx, session, batch)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			got[r.Bidder] = r
		}
	}
	for i, b := range bidders {
		if b == "" {
			out[i] = unknown(b, SourceAPI, time.Now(), "empty bidder id")
			continue
		}
		out[i] = got[b]
	}
	return out, nil
}

// batch asks about up to BatchSize distinct bidders, with retries, and returns their records;
// the error is only ctx's.
func (c *HTTPChecker) batch(ctx context.Context, session string, bidders []string) ([]Record, error) {
	var why string
	for attempt := 0; ; attempt++ {
		body, retry, reason := c.fetch(ctx, session, bidders)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("check bonds: %w", err)
		}
		if reason == "" {
			a, err := decodeAnswer(body)
			if err == nil {
				recs := answerRecords(a, bidders, time.Now())
				if n := countUnknown(recs); n > 0 {
					c.log.Warn("bond system answer has unusable records", "session", session, "unknown", n, "asked", len(bidders))
				}
				return recs, nil
			}
			reason, retry = err.Error(), false
		}
		why = reason
		if !retry || attempt >= c.cfg.Retries {
			break
		}
		c.log.Warn("bond system request failed, retrying", "session", session, "attempt", attempt+1, "error", why)
		t := time.NewTimer(c.cfg.Backoff << attempt)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("check bonds: %w", ctx.Err())
		case <-t.C:
		}
	}
	c.log.Warn("bond system failed, bonds shown as unknown", "session", session, "asked", len(bidders), "error", why)
	now := time.Now()
	recs := make([]Record, len(bidders))
	for i, b := range bidders {
		recs[i] = unknown(b, SourceAPI, now, why)
	}
	return recs, nil
}

// fetch makes one request. On success reason is "" and body holds the answer; otherwise reason
// says in words why there is no usable answer and retry whether trying again may help.
func (c *HTTPChecker) fetch(ctx context.Context, session string, bidders []string) (body []byte, retry bool, reason string) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := *c.base
	q := u.Query()
	q.Set("session", session)
	q.Del("bidder")
	for _, b := range bidders {
		q.Add("bidder", b)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, "could not build the bond system request"
	}
	req.Header.Set("Accept", "application/json")
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return nil, true, c.transportReason(ctx, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		drain(resp.Body)
		return nil, false, fmt.Sprintf("the bond system refused Bidroom's authorization (HTTP %d): check bond.token", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		drain(resp.Body)
		retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		return nil, retry, fmt.Sprintf("the bond system answered HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, true, c.transportReason(ctx, err)
	}
	if int64(len(body)) > c.cfg.MaxResponseBytes {
		return nil, false, fmt.Sprintf("the bond system's answer is larger than the %s limit", byteSize(c.cfg.MaxResponseBytes))
	}
	return body, false, ""
}

// transportReason words a failed request without the URL (which url.Error would quote).
func (c *HTTPChecker) transportReason(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("the bond system did not answer within %s", c.cfg.Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Sprintf("could not reach the bond system at %s: %v", c.base.Host, err)
}

// drain reads a little of an unwanted body so that the connection can be reused.
func drain(r io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(r, 4<<10)) }

// byteSize words n bytes for a message: "1 MiB", "512 KiB" or "100 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func countUnknown(recs []Record) int {
	n := 0
	for _, r := range recs {
		if r.Status == Unknown {
			n++
		}
	}
	return n
}

// wireRecord is one record of the bond system's answer.
type wireRecord struct {
	Bidder    string `json:"bidder"`
	Status    Status `json:"status"`
	Amount    string `json:"amount"`
	Guarantor string `json:"guarantor"`
	Reference string `json:"reference"`
}

// wireAnswer is the bond system's answer.
type wireAnswer struct {
	Records []wireRecord `json:"records"`
}

// decodeAnswer decodes one JSON object and nothing after it.
func decodeAnswer(body []byte) (wireAnswer, error) {
	var a wireAnswer
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&a); err != nil {
		return wireAnswer{}, fmt.Errorf("the bond system's answer is not the expected JSON: %s", jsonProblem(err))
	}
	if dec.More() {
		return wireAnswer{}, errors.New("the bond system's answer is not the expected JSON: data after the object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return wireAnswer{}, errors.New("the bond system's answer is not the expected JSON: data after the object")
	}
	return a, nil
}

// jsonProblem words a JSON decoding error without quoting the answer.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or cut short"
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the answer"
		}
		return fmt.Sprintf("%s is a JSON %s, not the expected type", quote(field), typ.Value)
	}
	return "malformed"
}

// parseResponse turns the bond system's answer body into one record per asked bidder, in order.
// A bidder missing from the answer, answered twice, or answered with an unusable record is
// Unknown; records for bidders not asked are ignored; an answer that is not the expected JSON
// makes every bidder Unknown. It never panics, whatever body holds.
func parseResponse(body []byte, asked []string, now time.Time) []Record {
	a, err := decodeAnswer(body)
	if err != nil {
		out := make([]Record, len(asked))
		for i, b := range asked {
			out[i] = unknown(b, SourceAPI, now, err.Error())
		}
		return out
	}
	return answerRecords(a, asked, now)
}

// answerRecords picks each asked bidder's record out of a decoded answer; see parseResponse.
func answerRecords(a wireAnswer, asked []string, now time.Time) []Record {
	out := make([]Record, len(asked))
	byBidder := make(map[string]wireRecord, len(a.Records))
	count := make(map[string]int, len(a.Records))
	for _, w := range a.Records {
		byBidder[w.Bidder] = w
		count[w.Bidder]++
	}
	for i, b := range asked {
		switch count[b] {
		case 0:
			out[i] = unknown(b, SourceAPI, now, "the bond system's answer does not mention this bidder")
		case 1:
			w := byBidder[b]
			out[i] = settle(b, SourceAPI, now, Record{Status: w.Status, Amount: w.Amount, Guarantor: w.Guarantor, Reference: w.Reference})
		default:
			out[i] = unknown(b, SourceAPI, now, "the bond system's answer lists this bidder more than once")
		}
	}
	return out
}
