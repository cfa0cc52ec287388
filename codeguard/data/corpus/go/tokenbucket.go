// Package ratelimit implements a token-bucket rate limiter and an HTTP
// middleware that applies one bucket per client address.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ErrInvalidRate is returned when a limiter is configured with a
// non-positive rate or burst.
var ErrInvalidRate = errors.New("ratelimit: rate and burst must be positive")

// Clock abstracts time so tests can control it.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Bucket is a token bucket that refills continuously at Rate tokens per second.
type Bucket struct {
	mu       sync.Mutex
	rate     float64
	burst    float64
	tokens   float64
	last     time.Time
	clock    Clock
	rejected uint64
}

// Option configures a Bucket.
type Option func(*Bucket)

// WithClock replaces the wall clock.
func WithClock(c Clock) Option {
	return func(b *Bucket) { b.clock = c }
}

// NewBucket returns a full bucket.
func NewBucket(rate float64, burst int, opts ...Option) (*Bucket, error) {
	if rate <= 0 || burst <= 0 {
		return nil, ErrInvalidRate
	}
	b := &Bucket{rate: rate, burst: float64(burst), tokens: float64(burst), clock: realClock{}}
	for _, opt := range opts {
		opt(b)
	}
	b.last = b.clock.Now()
	return b, nil
}

func (b *Bucket) refill(now time.Time) {
	elapsed := now.Sub(b.last).Seconds()
	if elapsed > 0 {
		b.tokens = math.Min(b.burst, b.tokens+elapsed*b.rate)
		b.last = now
	}
}

// AllowN reports whether n tokens are available and takes them if so.
func (b *Bucket) AllowN(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()

	b.refill(b.clock.Now())
	if b.tokens >= float64(n) {
		b.tokens -= float64(n)
		return true
	}
	b.rejected++
	return false
}

// Allow is shorthand for AllowN(1).
func (b *Bucket) Allow() bool { return b.AllowN(1) }

// RetryAfter says how long until one token becomes available.
func (b *Bucket) RetryAfter() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(b.clock.Now())
	if b.tokens >= 1 {
		return 0
	}
	missing := 1 - b.tokens
	return time.Duration(missing / b.rate * float64(time.Second))
}

// Stats is a snapshot of a bucket's state.
type Stats struct {
	Tokens   float64
	Rejected uint64
}

func (s Stats) String() string {
	return fmt.Sprintf("tokens=%.2f rejected=%d", s.Tokens, s.Rejected)
}

// Stats returns a snapshot.
func (b *Bucket) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Tokens: b.tokens, Rejected: b.rejected}
}

// Limiter keeps one bucket per key and forgets idle keys.
type Limiter struct {
	mu      sync.Mutex
	buckets map[string]*entry
	rate    float64
	burst   int
	idle    time.Duration
}

type entry struct {
	bucket   *Bucket
	lastSeen time.Time
}

// NewLimiter creates a keyed limiter.
func NewLimiter(rate float64, burst int, idle time.Duration) *Limiter {
	return &Limiter{buckets: make(map[string]*entry), rate: rate, burst: burst, idle: idle}
}

func (l *Limiter) get(key string) *Bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.buckets[key]
	if !ok {
		b, err := NewBucket(l.rate, l.burst)
		if err != nil {
			panic(err) // configuration was validated by the caller
		}
		e = &entry{bucket: b}
		l.buckets[key] = e
	}
	e.lastSeen = time.Now()
	return e.bucket
}

// Sweep removes buckets that have been idle for longer than the idle timeout.
func (l *Limiter) Sweep() (removed int) {
	cutoff := time.Now().Add(-l.idle)
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, e := range l.buckets {
		if e.lastSeen.Before(cutoff) {
			delete(l.buckets, key)
			removed++
		}
	}
	return
}

// Middleware rejects requests with 429 once a client exceeds its budget.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		bucket := l.get(host)
		if !bucket.Allow() {
			wait := bucket.RetryAfter()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			http.Error(w, "rate limit exceeded", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}
