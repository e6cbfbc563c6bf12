package healthmon_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/leakhound/leakhound/integrations/go/healthmon"
)

func Example() {
	mux := http.NewServeMux()
	mux.Handle("/api/monitor/health", healthmon.Handler(
		healthmon.WithAllowlist("127.0.0.1", "::1", "10.0.0.0/8"),
		healthmon.WithBasicAuth("monitor", "change-me"),
	))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	healthmon.StartLogger(ctx, 30*time.Second,
		healthmon.WithDebug(os.Getenv("DEBUG") != ""),
		healthmon.WithLogger(log.New(os.Stderr, "", log.LstdFlags)),
	)
	log.Println("monitoring endpoints enabled")
	_ = http.ListenAndServe("127.0.0.1:3000", mux) // blocks
}

func ExampleClassify() {
	for _, n := range []int{2000, 2001, 5000, 5001} {
		fmt.Println(n, healthmon.Classify(n, healthmon.DefaultWarnThreshold, healthmon.DefaultErrorThreshold))
	}
	// Output:
	// 2000 normal
	// 2001 elevated
	// 5000 elevated
	// 5001 high
}
