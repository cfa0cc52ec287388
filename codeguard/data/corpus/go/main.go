//go:build ignore

// Command demo serves a rate-limited HTTP endpoint.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"example.com/ratelimit"
)

func main() {
	var (
		addr  = flag.String("addr", ":8080", "listen address")
		rate  = flag.Float64("rate", 5, "requests per second per client")
		burst = flag.Int("burst", 10, "maximum burst size")
	)
	flag.Parse()

	limiter := ratelimit.NewLimiter(*rate, *burst, 10*time.Minute)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("hello\n"))
	})

	srv := &http.Server{Addr: *addr, Handler: limiter.Middleware(mux), ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	go func() {
		ticker := time.NewTicker(time.Minute)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				if n := limiter.Sweep(); n > 0 {
					log.Printf("swept %d idle clients", n)
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	go func() {
		log.Printf("listening on %s", *addr)
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Fatalf("server: %v", err)
		}
	}()

	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Printf("shutdown: %v", err)
		os.Exit(1)
	}
}
