package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func TestNewBucketRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name  string
		rate  float64
		burst int
	}{
		{"zero rate", 0, 1},
		{"negative rate", -1, 1},
		{"zero burst", 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewBucket(tc.rate, tc.burst); err != ErrInvalidRate {
				t.Fatalf("NewBucket(%v, %d) error = %v, want ErrInvalidRate", tc.rate, tc.burst, err)
			}
		})
	}
}

func TestBucketRefills(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	b, err := NewBucket(2, 3, WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if !b.Allow() {
			t.Fatalf("request %d should be allowed", i)
		}
	}
	if b.Allow() {
		t.Fatal("bucket should be empty")
	}
	if got, want := b.RetryAfter(), 500*time.Millisecond; got != want {
		t.Errorf("RetryAfter() = %v, want %v", got, want)
	}
	clock.Advance(time.Second)
	if !b.AllowN(2) {
		t.Error("two tokens should have been refilled")
	}
	if s := b.Stats(); s.Rejected != 1 {
		t.Errorf("stats = %v, want one rejection", s)
	}
}

func TestMiddleware(t *testing.T) {
	l := NewLimiter(1, 1, time.Minute)
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))

	codes := make([]int, 0, 2)
	for range 2 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		codes = append(codes, rec.Code)
	}
	if codes[0] != http.StatusNoContent || codes[1] != http.StatusTooManyRequests {
		t.Fatalf("codes = %v", codes)
	}
}
