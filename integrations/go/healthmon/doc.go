// Package healthmon adds goroutine and memory monitoring to a Go service,
// matching the endpoints and log lines that leakhound watches.
//
// It provides two things:
//
//   - Handler, an http.Handler for GET /api/monitor/health that answers
//     {"status":"ok","goroutines":1234,"memory":{"alloc_mb":256,"total_alloc_mb":1024,"sys_mb":512,"num_gc":45}}
//     optionally protected by an IP allowlist and/or HTTP basic auth.
//   - StartLogger, a background goroutine that logs the goroutine count
//     every interval (30s by default) at three levels: "Goroutine count: N"
//     (only with debug on) while N <= 2000, "⚠️ Goroutine count elevated: N"
//     while 2000 < N <= 5000 and "⚠️ High goroutine count detected: N" when
//     N > 5000.
//
// The package uses only the standard library.
//
// Usage:
//
//	import "github.com/leakhound/leakhound/integrations/go/healthmon"
//
//	func main() {
//		mux := http.NewServeMux()
//		mux.Handle("/api/monitor/health", healthmon.Handler(
//			healthmon.WithAllowlist("127.0.0.1", "10.0.0.0/8"),
//			healthmon.WithBasicAuth("monitor", os.Getenv("MONITOR_PASSWORD")),
//		))
//
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//		defer stop()
//		healthmon.StartLogger(ctx, 30*time.Second,
//			healthmon.WithDebug(os.Getenv("DEBUG") != ""),
//		)
//		log.Println("monitoring endpoints enabled")
//		log.Fatal(http.ListenAndServe(":3000", mux))
//	}
//
// Reading the memory statistics calls runtime.ReadMemStats, which briefly
// stops the world; runtime.NumGoroutine is O(1). Both are cheap at the
// rates a monitor polls (seconds), but do not call the endpoint in a loop.
package healthmon
