// fleet-targets: N fake Go services on one loopback port for scripts/bench/fleet. Each
// /t/NNNN/metrics answers a Prometheus text page shaped like client_golang's default Go and
// process collectors (40 series, like the leaky fixture's /metrics) plus, with -series N > 40,
// an HTTP handler histogram (what a service instrumented with client_golang adds) up to N
// series, with values that differ per target and move over time, so both Prometheus and
// leakhound store real work. Standard library only.
//
//	go run scripts/bench/fleet-targets.go -n 1000 -series 80 -addr 127.0.0.1:0   # prints the address
//	go run scripts/bench/fleet-targets.go -n 1000 -hosts 1000   # 1000 loopback addresses, one per line
//
// With -hosts H > 1 the same pages are served on H loopback addresses (127.1.1.1, 127.1.1.2, …;
// Linux routes all of 127/8 to lo), each on its own port, so a scraper sees H hosts as a real
// fleet has and keeps a connection per host.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 1000, "targets")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	leakEvery := flag.Int("leak-every", 50, "one target in this many leaks goroutines (0: none); the others are flat with noise")
	series := flag.Int("series", 40, "series per page (40: the Go and process collectors; more: an HTTP histogram)")
	hosts := flag.Int("hosts", 1, "serve on this many loopback addresses (127.1.1.1 …) instead of -addr, one per line")
	flag.Parse()
	start := time.Now()
	var listeners []net.Listener
	for h := 0; h < *hosts; h++ {
		a := *addr
		if *hosts > 1 {
			a = fmt.Sprintf("127.%d.%d.%d:0", 1+h/62500, 1+h/250%250, 1+h%250)
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			log.Fatal(err)
		}
		listeners = append(listeners, ln)
		fmt.Println(ln.Addr().String())
	}
	os.Stdout.Sync()
	http.HandleFunc("/t/", func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) != 3 || parts[2] != "metrics" {
			http.NotFound(w, r)
			return
		}
		i, err := strconv.Atoi(parts[1])
		if err != nil || i < 1 || i > *n {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriterSize(w, 4096)
		page(bw, i, time.Since(start).Seconds(), start, *leakEvery > 0 && i%*leakEvery == 0)
		handlers(bw, i, time.Since(start).Seconds(), *series-40)
		bw.Flush()
	})
	for _, ln := range listeners[1:] {
		go func() { log.Fatal(http.Serve(ln, nil)) }()
	}
	log.Fatal(http.Serve(listeners[0], nil))
}

// page writes target i's metrics at t seconds after start; a leaking target's goroutines climb.
func page(w *bufio.Writer, i int, t float64, start time.Time, leaks bool) {
	tick := int64(t / 5)           // values move once per 5 s scrape
	g := 40 + i%200 + int(tick%17) // flat, with noise
	if leaks {
		g += int(tick) / (1 + i%7) // 100 to 720 goroutines an hour
	}
	alloc := int64(2<<20) + int64(i)*4096 + (tick%23)*65536
	total := alloc + tick*int64(1<<20)*int64(1+i%5)
	gcs := tick * int64(1+i%3)
	sys := int64(12<<20) + int64(i%50)<<16
	f := func(name, typ, help string, v string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name, typ, name, v)
	}
	fmt.Fprintf(w, "# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.\n# TYPE go_gc_duration_seconds summary\n")
	for k, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		fmt.Fprintf(w, "go_gc_duration_seconds{quantile=%q} %g\n", q, float64(k+1)*1.5e-5+float64(tick%5)*1e-6)
	}
	fmt.Fprintf(w, "go_gc_duration_seconds_sum %g\ngo_gc_duration_seconds_count %d\n", float64(gcs)*4e-5, gcs)
	f("go_goroutines", "gauge", "Number of goroutines that currently exist.", strconv.Itoa(g))
	fmt.Fprintf(w, "# HELP go_info Information about the Go environment.\n# TYPE go_info gauge\ngo_info{version=\"go1.19.8\"} 1\n")
	d := func(v int64) string { return strconv.FormatInt(v, 10) }
	f("go_memstats_alloc_bytes", "gauge", "Number of bytes allocated and still in use.", d(alloc))
	f("go_memstats_alloc_bytes_total", "counter", "Total number of bytes allocated, even if freed.", d(total))
	f("go_memstats_frees_total", "counter", "Total number of frees.", d(total/96))
	f("go_memstats_gc_cpu_fraction", "gauge", "The fraction of this program's available CPU time used by the GC since the program started.", "1.2e-05")
	f("go_memstats_gc_sys_bytes", "gauge", "Number of bytes used for garbage collection system metadata.", d(8049424))
	f("go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and still in use.", d(alloc))
	f("go_memstats_heap_idle_bytes", "gauge", "Number of heap bytes waiting to be used.", d(sys-alloc))
	f("go_memstats_heap_inuse_bytes", "gauge", "Number of heap bytes that are in use.", d(alloc+1<<18))
	f("go_memstats_heap_objects", "gauge", "Number of allocated objects.", d(alloc/200))
	f("go_memstats_heap_released_bytes", "gauge", "Number of heap bytes released to OS.", d(2826240))
	f("go_memstats_heap_sys_bytes", "gauge", "Number of heap bytes obtained from system.", d(sys-4<<20))
	f("go_memstats_last_gc_time_seconds", "gauge", "Number of seconds since 1970 of last garbage collection.", d(start.Unix()+tick*5))
	f("go_memstats_lookups_total", "counter", "Total number of pointer lookups.", "0")
	f("go_memstats_mallocs_total", "counter", "Total number of mallocs.", d(total/90))
	f("go_memstats_mcache_inuse_bytes", "gauge", "Number of bytes in use by mcache structures.", "4800")
	f("go_memstats_mcache_sys_bytes", "gauge", "Number of bytes used for mcache structures obtained from system.", "15600")
	f("go_memstats_mspan_inuse_bytes", "gauge", "Number of bytes in use by mspan structures.", d(50000+int64(i)))
	f("go_memstats_mspan_sys_bytes", "gauge", "Number of bytes used for mspan structures obtained from system.", "65280")
	f("go_memstats_next_gc_bytes", "gauge", "Number of heap bytes when next garbage collection will take place.", d(4<<20))
	f("go_memstats_other_sys_bytes", "gauge", "Number of bytes used for other system allocations.", "1062133")
	f("go_memstats_stack_inuse_bytes", "gauge", "Number of bytes in use by the stack allocator.", d(int64(g)*8192))
	f("go_memstats_stack_sys_bytes", "gauge", "Number of bytes obtained from system for stack allocator.", d(int64(g)*8192+1<<20))
	f("go_memstats_sys_bytes", "gauge", "Number of bytes obtained from system.", d(sys))
	f("go_threads", "gauge", "Number of OS threads created.", d(8+int64(i%4)))
	f("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", strconv.FormatFloat(t*0.002*float64(1+i%3), 'f', 2, 64))
	f("process_max_fds", "gauge", "Maximum number of open file descriptors.", "1.048576e+06")
	f("process_open_fds", "gauge", "Number of open file descriptors.", d(10+int64(i%20)+tick%3))
	f("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", d(sys+int64(i%9)<<20))
	f("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", d(start.Unix()))
	f("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", d(1<<30+int64(i)<<12))
	f("process_virtual_memory_max_bytes", "gauge", "Maximum amount of virtual memory available in bytes.", "1.8446744073709552e+19")
}

// handlers writes `extra` series of an HTTP request-duration histogram: per handler, 10
// buckets, _sum and _count (12 series), the last handler cut short to make the count exact.
func handlers(w *bufio.Writer, i int, t float64, extra int) {
	if extra <= 0 {
		return
	}
	tick := int64(t / 5)
	fmt.Fprintf(w, "# HELP http_request_duration_seconds Duration of HTTP requests.\n# TYPE http_request_duration_seconds histogram\n")
	les := []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"}
	for h := 0; extra > 0; h++ {
		count := tick*int64(3+h+i%5) + int64(i)
		for k, le := range les {
			if extra == 0 {
				return
			}
			fmt.Fprintf(w, "http_request_duration_seconds_bucket{handler=\"/api/v%d\",le=%q} %d\n", h, le, count*int64(k+1)/int64(len(les)))
			extra--
		}
		if extra > 0 {
			fmt.Fprintf(w, "http_request_duration_seconds_sum{handler=\"/api/v%d\"} %g\n", h, float64(count)*0.031)
			extra--
		}
		if extra > 0 {
			fmt.Fprintf(w, "http_request_duration_seconds_count{handler=\"/api/v%d\"} %d\n", h, count)
			extra--
		}
	}
}
