// capture-cost: what one goroutine capture (/debug/pprof/goroutine?debug=0, 1, 2) costs a running
// leaky fixture, for scripts/bench/capture-cost. For each size it tops the fixture up to that
// many goroutines with /control/leak?site=chan, measures an idle window with the fixture's
// in-process latency probe (/control/probe: a goroutine sleeping 1 ms in a loop; the longest gap
// between its wake-ups is the longest time the service's goroutines could not run), then takes
// each capture REPS times, each inside its own probe window, and prints one markdown table row per
// (size, debug): median wall time of the request, the longest probe gap (median over the
// repetitions, and the worst), the runtime's stop-the-world pauses outside GC during the window
// (runtime/metrics /sched/pauses/total/other:seconds, Go 1.22+), and the response size.
// Standard library only.
//
//	go run scripts/bench/capture-cost.go -addr 127.0.0.1:PORT -go go1.26.8 -sizes 1000,10000,100000 -reps 3
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

type probeResult struct {
	Samples       int     `json:"samples"`
	MaxGapMS      float64 `json:"max_gap_ms"`
	P99GapMS      float64 `json:"p99_gap_ms"`
	STWOther      int64   `json:"stw_other"`
	STWOtherMaxMS float64 `json:"stw_other_max_ms"`
	STWGC         int64   `json:"stw_gc"`
}

var client = &http.Client{Timeout: 10 * time.Minute}

func get(url string) ([]byte, time.Duration) {
	t0 := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	if resp.StatusCode != 200 {
		log.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return body, time.Since(t0)
}

func getJSON(url string, v any) {
	body, _ := get(url)
	if err := json.Unmarshal(body, v); err != nil {
		log.Fatalf("%s: %v: %s", url, err, body)
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		if x > m {
			m = x
		}
	}
	return m
}

func human(n float64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

func main() {
	addr := flag.String("addr", "", "fixture host:port")
	goVersion := flag.String("go", "?", "label for the Go column")
	sizesFlag := flag.String("sizes", "1000,10000,100000", "goroutine counts")
	reps := flag.Int("reps", 3, "captures per (size, debug)")
	levels := flag.String("debug", "1,2,0", "debug levels, in order")
	settle := flag.Duration("window", 150*time.Millisecond, "probe time before and after each capture")
	header := flag.Bool("header", false, "print the table header first")
	flag.Parse()
	base := "http://" + *addr
	if *header {
		fmt.Println("| Go | goroutines | capture | wall (median) | longest stall seen by the service: median (worst) | idle baseline stall | STW pauses (non-GC) in the window | response |")
		fmt.Println("|---|---|---|---|---|---|---|---|")
	}
	for _, f := range strings.Split(*sizesFlag, ",") {
		size, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			log.Fatal(err)
		}
		var st struct {
			Goroutines int `json:"goroutines"`
		}
		getJSON(base+"/control/state", &st)
		if n := size - st.Goroutines; n > 0 {
			get(fmt.Sprintf("%s/control/leak?site=chan&n=%d&label=capture-cost", base, n))
		}
		getJSON(base+"/control/state", &st)

		// Idle baseline: the same window length as a capture, without one.
		var baseline []float64
		for i := 0; i < *reps; i++ {
			get(base + "/control/probe?action=start")
			time.Sleep(2 * *settle) // the probe window
			var r probeResult
			getJSON(base+"/control/probe?action=stop", &r)
			baseline = append(baseline, r.MaxGapMS)
		}
		for _, lv := range strings.Split(*levels, ",") {
			lv = strings.TrimSpace(lv)
			var walls, gaps, bytes []float64
			var stw []string
			for i := 0; i < *reps; i++ {
				get(base + "/control/probe?action=start")
				time.Sleep(*settle) // probe window before the capture
				body, wall := get(base + "/debug/pprof/goroutine?debug=" + lv)
				time.Sleep(*settle) // and after
				var r probeResult
				getJSON(base+"/control/probe?action=stop", &r)
				walls = append(walls, float64(wall.Microseconds())/1000)
				gaps = append(gaps, r.MaxGapMS)
				bytes = append(bytes, float64(len(body)))
				if r.STWOther >= 0 {
					stw = append(stw, fmt.Sprintf("%d (≤ %.3g ms)", r.STWOther, r.STWOtherMaxMS))
				}
			}
			stwCell := "n/a (no metric)"
			if len(stw) > 0 {
				stwCell = strings.Join(stw, ", ")
			}
			fmt.Printf("| %s | %d | debug=%s | %.1f ms | %.1f ms (%.1f) | %.1f ms | %s | %s |\n",
				*goVersion, st.Goroutines, lv, median(walls), median(gaps), maxOf(gaps),
				median(baseline), stwCell, human(median(bytes)))
		}
	}
}
