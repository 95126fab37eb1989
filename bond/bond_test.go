package bond

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSettle(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name    string
		in      Record
		want    Status
		wantErr string // substring of Error; "" means none
	}{
		{"paid", Record{Status: Paid, Amount: "20000.00", Reference: "PAY-1"}, Paid, ""},
		{"paid without amount", Record{Status: Paid}, Paid, ""},
		{"guaranteed", Record{Status: Guaranteed, Amount: "5000", Guarantor: "中国银行", Reference: "BH-1"}, Guaranteed, ""},
		{"missing", Record{Status: Missing}, Missing, ""},
		{"unknown from source", Record{Status: Unknown}, Unknown, "does not know"},
		{"unknown keeps its reason", Record{Status: Unknown, Error: "bank offline"}, Unknown, "bank offline"},
		{"empty status", Record{}, Unknown, `status ""`},
		{"bad status", Record{Status: "lost"}, Unknown, `"lost"`},
		{"guarantee without issuer", Record{Status: Guaranteed, Reference: "BH-1"}, Unknown, "issuer or number"},
		{"guarantee without number", Record{Status: Guaranteed, Guarantor: "中国银行"}, Unknown, "issuer or number"},
		{"amount negative", Record{Status: Paid, Amount: "-1"}, Unknown, "amount"},
		{"amount three decimals", Record{Status: Paid, Amount: "1.001"}, Unknown, "amount"},
		{"amount leading zero", Record{Status: Paid, Amount: "0100"}, Unknown, "amount"},
		{"amount exponent", Record{Status: Paid, Amount: "1e5"}, Unknown, "amount"},
		{"amount zero", Record{Status: Paid, Amount: "0.00"}, Paid, ""},
		{"reference too long", Record{Status: Paid, Reference: strings.Repeat("x", MaxFieldBytes+1)}, Unknown, "longer than"},
		{"control character", Record{Status: Guaranteed, Guarantor: "bank\n", Reference: "1"}, Unknown, "printable"},
		{"invalid utf-8", Record{Status: Paid, Reference: "\xff"}, Unknown, "printable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := settle("b1", SourceAPI, at, tt.in)
			if got.Status != tt.want {
				t.Fatalf("status = %q, want %q (error %q)", got.Status, tt.want, got.Error)
			}
			if got.Bidder != "b1" || got.Source != SourceAPI || !got.CheckedAt.Equal(at) {
				t.Errorf("got bidder %q source %q at %v, want b1 api %v", got.Bidder, got.Source, got.CheckedAt, at)
			}
			if tt.wantErr == "" && got.Error != "" {
				t.Errorf("error = %q, want none", got.Error)
			}
			if tt.wantErr != "" && !strings.Contains(got.Error, tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", got.Error, tt.wantErr)
			}
			if got.Status == Unknown && (got.Amount != "" || got.Guarantor != "" || got.Reference != "") {
				t.Errorf("unknown record keeps details %+v, want none shown", got)
			}
		})
	}
}

func TestStatic(t *testing.T) {
	s := Static{
		"b1": {Status: Paid, Amount: "10000", Reference: "PAY-9", Bidder: "someone else", Source: "api"},
		"b2": {Status: Guaranteed, Guarantor: "人保财险", Reference: "BH-2"},
		"b3": {Status: "refunded"},
	}
	got, err := s.Check(context.Background(), "S1", []string{"b2", "b4", "b1", "b3"})
	if err != nil {
		t.Fatalf("Check error = %v, want nil", err)
	}
	want := []struct {
		bidder string
		status Status
	}{{"b2", Guaranteed}, {"b4", Missing}, {"b1", Paid}, {"b3", Unknown}}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Bidder != w.bidder || got[i].Status != w.status || got[i].Source != SourceRegistration || got[i].CheckedAt.IsZero() {
			t.Errorf("record %d = %+v, want bidder %s status %s source registration with a time", i, got[i], w.bidder, w.status)
		}
	}
	if got[2].Amount != "10000" || got[2].Reference != "PAY-9" {
		t.Errorf("paid record = %+v, want amount and reference kept", got[2])
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Check(ctx, "S1", []string{"b1"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Check with canceled ctx error = %v, want context.Canceled", err)
	}
}

func TestRegistered(t *testing.T) {
	reg := Registered(func(session string) map[string]Record {
		if session == "S1" {
			return map[string]Record{"b1": {Status: Paid}}
		}
		return nil
	})
	for _, tt := range []struct {
		session string
		want    Status
	}{{"S1", Paid}, {"S2", Missing}} {
		got, err := reg.Check(context.Background(), tt.session, []string{"b1"})
		if err != nil || len(got) != 1 || got[0].Status != tt.want {
			t.Errorf("Check(%s) = %+v, %v; want one %s record", tt.session, got, err, tt.want)
		}
	}
	got, err := Registered(nil).Check(context.Background(), "S1", []string{"b1"})
	if err != nil || len(got) != 1 || got[0].Status != Missing {
		t.Errorf("nil Registered: Check = %+v, %v; want one missing record", got, err)
	}
}

func TestParseResponse(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	asked := []string{"b1", "b2"}
	tests := []struct {
		name    string
		body    string
		want    []Status
		wantErr string // substring of every Unknown record's Error
	}{
		{"both", `{"records":[{"bidder":"b2","status":"missing"},{"bidder":"b1","status":"paid","amount":"1.50","reference":"P"}]}`, []Status{Paid, Missing}, ""},
		{"extra fields and bidders ignored", `{"records":[{"bidder":"b1","status":"paid","paid_at":"x"},{"bidder":"b2","status":"missing"},{"bidder":"b9","status":"paid"}],"v":2}`, []Status{Paid, Missing}, ""},
		{"one left out", `{"records":[{"bidder":"b1","status":"paid"}]}`, []Status{Paid, Unknown}, "does not mention"},
		{"duplicate", `{"records":[{"bidder":"b1","status":"paid"},{"bidder":"b1","status":"missing"},{"bidder":"b2","status":"missing"}]}`, []Status{Unknown, Missing}, "more than once"},
		{"unknown status", `{"records":[{"bidder":"b1","status":"PAID"},{"bidder":"b2","status":"missing"}]}`, []Status{Unknown, Missing}, `"PAID"`},
		{"null records", `{"records":null}`, []Status{Unknown, Unknown}, "does not mention"},
		{"empty object", `{}`, []Status{Unknown, Unknown}, "does not mention"},
		{"empty body", ``, []Status{Unknown, Unknown}, "empty or cut short"},
		{"cut short", `{"records":[{"bidder":"b1"`, []Status{Unknown, Unknown}, "empty or cut short"},
		{"html", `<html>oops</html>`, []Status{Unknown, Unknown}, "syntax error"},
		{"wrong type", `{"records":[{"bidder":1,"status":"paid"}]}`, []Status{Unknown, Unknown}, "not the expected type"},
		{"array", `[]`, []Status{Unknown, Unknown}, "not the expected"},
		{"trailing data", `{"records":[]} {}`, []Status{Unknown, Unknown}, "data after the object"},
		{"trailing garbage", `{"records":[]}x`, []Status{Unknown, Unknown}, "data after the object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseResponse([]byte(tt.body), asked, at)
			if len(got) != len(asked) {
				t.Fatalf("got %d records, want %d", len(got), len(asked))
			}
			for i, r := range got {
				if r.Bidder != asked[i] || r.Status != tt.want[i] || r.Source != SourceAPI {
					t.Errorf("record %d = %+v, want bidder %s status %s source api", i, r, asked[i], tt.want[i])
				}
				if r.Status == Unknown && !strings.Contains(r.Error, tt.wantErr) {
					t.Errorf("record %d error = %q, want it to contain %q", i, r.Error, tt.wantErr)
				}
			}
		})
	}
}

// FuzzParseResponse feeds the bond system's answer parser arbitrary bytes: it must not panic and
// must return one checked record per asked bidder. Seeds are in testdata/fuzz/FuzzParseResponse.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(`{"records":[{"bidder":"b1","status":"paid","amount":"20000.00","reference":"P1"},{"bidder":"b2","status":"guaranteed","guarantor":"中国银行","reference":"BH"}]}`))
	f.Add([]byte(`{"records":[{"bidder":"b1","status":"lost"},{"bidder":"b1","status":"missing"}]}`))
	f.Add([]byte("\xff\xfe{"))
	asked := []string{"b1", "b2", ""}
	at := time.Unix(0, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		got := parseResponse(body, asked, at)
		if len(got) != len(asked) {
			t.Fatalf("got %d records, want %d", len(got), len(asked))
		}
		for i, r := range got {
			if r.Bidder != asked[i] || !r.Status.Valid() || r.Source != SourceAPI {
				t.Fatalf("record %d = %+v, want bidder %q, a valid status, source api", i, r, asked[i])
			}
			if r.Status == Unknown && r.Error == "" {
				t.Fatalf("record %d is unknown without a reason", i)
			}
			if r.Status != Unknown && settle(r.Bidder, r.Source, r.CheckedAt, r) != r {
				t.Fatalf("record %d = %+v does not pass its own checks", i, r)
			}
			if len(r.Error) > 300 {
				t.Fatalf("record %d error is %d bytes, want a short message", i, len(r.Error))
			}
		}
	})
}

func TestQuote(t *testing.T) {
	long := strings.Repeat("保", 30) // 90 bytes
	got := quote(long)
	if !strings.HasSuffix(got, "…") || len(got) > 60 {
		t.Errorf("quote(long) = %s, want it cut short with …", got)
	}
	if got := quote("lost"); got != `"lost"` {
		t.Errorf(`quote("lost") = %s, want "lost"`, got)
	}
}
