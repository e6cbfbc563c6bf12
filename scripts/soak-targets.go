// soak-targets: the hostile fleet and the hostile clients of scripts/soak. Standard library only.
//
//	soak-targets serve -good 700 -bad 300 -dir DIR -web 127.0.0.1:PORT
//	    One loopback listener per target (each its own origin, as evidence capture reads
//	    /debug/pprof from the target's origin), a webhook/redirect sink, and writes
//	    DIR/leakhound.toml (the agent's config) and DIR/targets.tsv (name, behaviour, good,
//	    url). Prints "ready" on stdout when every listener is up. GET SINK/stats answers what
//	    the sink saw (webhooks, biggest payload, secrets and forged lines in them, custom
//	    headers that followed a redirect to another origin).
//	soak-targets hammer -agent 127.0.0.1:PORT -dir DIR -idle 1100
//	    API clients on the agent's heavy routes at modest rates, plus idle TCP connections
//	    held open; writes cumulative per-route counts to DIR/hammer.json every 5 s.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Secrets planted by the fleet; scripts/soak looks for them wherever the agent writes.
const (
	urlSecret    = "soak-url-secret-4f1c9e"
	headerSecret = "soak-header-secret-77ab"
	fakeLine     = "ERROR FAKE: injected line"
)

// The misbehaving behaviours and how many targets of 300 get each (scaled to -bad).
var badMix = []struct {
	kind string
	n    int
}{
	{"hang", 25},         // accept, never answer
	{"drip", 20},         // headers, then one body byte per second
	{"slowloris", 20},    // one header line per second, forever
	{"reset", 25},        // read the request, close with SO_LINGER 0 (TCP RST)
	{"garbage-tcp", 20},  // 64 KB of random bytes instead of HTTP
	{"garbage-json", 25}, // HTTP 200 with broken JSON
	{"big-over", 8},      // 10 MB + 1 KB health body (over max_body)
	{"big-metrics", 7},   // just under 10 MB of valid Prometheus text
	{"absurd", 30},       // 1e308, 2^64, -5, NaN, +Inf as the goroutine count
	{"errtext", 20},      // a 1 MB string with embedded newlines where the count should be
	{"redirect", 20},     // 302 to another origin (custom header must not follow) or to itself
	{"bomb-proto", 20},   // climbing count + gzip pprof bomb (20 M empty samples in ~39 KB)
	{"bomb-text", 10},    // climbing count + ~20 MB debug=1 text bomb (i64::MAX counts)
	{"climber", 25},      // climbing count (past critical) + a valid debug=1 profile
	{"secret-url", 25},   // ?token=SECRET in the URL; refused, 500 or hanging
}

type target struct {
	name, kind string
	good       bool
	i          int
	url        string
	headers    bool // send the custom header (redirect targets)
}

var start = time.Now()

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if len(os.Args) < 2 {
		log.Fatal("usage: soak-targets serve|hammer [flags]")
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "hammer":
		hammer(os.Args[2:])
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}

// ---------------------------------------------------------------------------------------------
// serve

var (
	protoBomb []byte // gzip(b'\x12\x00' * 20_000_000)
	textBomb  []byte // debug=1 text, ~20 MB of distinct stacks with absurd counts
	bigOver   []byte // 10 MB + 1 KB health JSON
	bigProm   []byte // 10 MB - 64 KB of valid Prometheus text
	errHealth []byte // health JSON whose count is a 1 MB string with embedded newlines
	errVars   []byte // the same as expvar
)

func buildPayloads() {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	chunk := bytes.Repeat([]byte{0x12, 0x00}, 1<<20)
	for i := 0; i < 20_000_000; i += 1 << 20 {
		n := 1 << 20
		if i+n > 20_000_000 {
			n = 20_000_000 - i
		}
		zw.Write(chunk[:2*n])
	}
	zw.Close()
	protoBomb = b.Bytes()

	var t bytes.Buffer
	// A header the parser accepts, then ~20 MB of distinct stacks (no interning helps) whose
	// counts are i64::MAX (their sum overflows).
	t.WriteString("goroutine profile: total 20000\n")
	for i := 0; t.Len() < 20<<20; i++ {
		fmt.Fprintf(&t, "9223372036854775807 @ 0x%x\n#\t0x%x\tmain.f%d+0x1\t/b/%d.go:%d\n\n", i+1, i+1, i, i, i%100000+1)
	}
	textBomb = t.Bytes()

	pad := strings.Repeat("x", 10<<20+1024)
	bigOver = []byte(`{"status":"ok","pad":"` + pad + `","goroutines":10}`)

	var p bytes.Buffer
	p.WriteString("# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines 42\n")
	p.WriteString("# TYPE soak_filler gauge\n")
	for i := 0; p.Len() < 10<<20-64<<10; i++ {
		fmt.Fprintf(&p, "soak_filler{series=\"%d\",shard=\"s%d\"} %d\n", i, i%64, i)
	}
	bigProm = p.Bytes()

	var e strings.Builder
	for e.Len() < 1<<20 {
		e.WriteString("\n" + fakeLine + " " + strings.Repeat("A", 200))
	}
	q, _ := json.Marshal(e.String())
	errHealth = []byte(`{"status":"ok","goroutines":` + string(q) + `}`)
	errVars = []byte(`{"goroutines":` + string(q) + `,"memstats":{"Alloc":1}}`)
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	good := fs.Int("good", 700, "well-behaved targets")
	bad := fs.Int("bad", 300, "misbehaving targets")
	dir := fs.String("dir", ".", "where to write leakhound.toml and targets.tsv")
	web := fs.String("web", "127.0.0.1:0", "the agent's [web] listen address")
	interval := fs.String("interval", "5s", "probe interval of every target")
	fs.Parse(args)
	buildPayloads()
	log.Printf("payloads: proto bomb %d B, text bomb %d B, big %d B, prom %d B", len(protoBomb), len(textBomb), len(bigOver), len(bigProm))

	sinkLn := listen()
	sinkAddr := sinkLn.Addr().String()
	go http.Serve(sinkLn, sinkMux())

	var targets []target
	for i := 1; i <= *good; i++ {
		kind := []string{"health", "expvar", "metrics"}[i%3]
		if i%7 == 0 {
			kind += "+pprof"
		}
		targets = append(targets, target{name: fmt.Sprintf("good-%04d", i), kind: kind, good: true, i: i})
	}
	n := 0
	for k, m := range badMix {
		cnt := m.n * *bad / 300
		if k == len(badMix)-1 {
			cnt = *bad - n
		}
		for j := 0; j < cnt; j++ {
			n++
			targets = append(targets, target{name: fmt.Sprintf("bad-%s-%02d", m.kind, j+1), kind: m.kind, i: n})
		}
	}
	for k := range targets {
		t := &targets[k]
		ln := listen()
		base := "http://" + ln.Addr().String()
		switch {
		case t.good:
			t.url = base + map[string]string{"health": "/api/monitor/health", "expvar": "/debug/vars", "metrics": "/metrics"}[strings.TrimSuffix(t.kind, "+pprof")]
			go http.Serve(ln, goodMux(t))
		case t.kind == "hang" || t.kind == "drip" || t.kind == "slowloris" || t.kind == "reset" || t.kind == "garbage-tcp":
			t.url = base + "/api/monitor/health"
			go rawServe(ln, t.kind)
		case t.kind == "secret-url" && t.i%3 == 0:
			// refused: nothing listens on this port any more
			ln.Close()
			t.url = base + "/api/monitor/health?token=" + urlSecret
		case t.kind == "secret-url" && t.i%3 == 1:
			t.url = base + "/api/monitor/health?token=" + urlSecret
			go rawServe(ln, "hang")
		default:
			switch t.kind {
			case "big-metrics":
				t.url = base + "/metrics"
			case "absurd":
				t.url = base + []string{"/api/monitor/health", "/debug/vars", "/metrics"}[t.i%3]
			case "errtext":
				t.url = base + []string{"/api/monitor/health", "/debug/vars"}[t.i%2]
			case "secret-url":
				t.url = base + "/api/monitor/health?token=" + urlSecret
			default:
				t.url = base + "/api/monitor/health"
			}
			if t.kind == "redirect" {
				t.headers = true
			}
			go http.Serve(ln, badMux(t, sinkAddr))
		}
	}

	writeConfig(*dir, *web, sinkAddr, *interval, targets)
	fmt.Println("sink " + sinkAddr)
	fmt.Println("ready")
	os.Stdout.Sync()
	select {}
}

func listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	return ln
}

func writeConfig(dir, web, sink, interval string, targets []target) {
	var c strings.Builder
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(&c, "# written by scripts/soak-targets.go\n[agent]\ndatabase = %q\nlog_interval = \"1h\"\n\n", filepath.Join(abs, "soak.db"))
	fmt.Fprintf(&c, "[web]\nlisten = %q\n\n", web)
	fmt.Fprintf(&c, "[evidence]\ndir = %q\non_alerts = true\nmin_interval = \"2m\"\nmax_total_bytes = \"300MB\"\n\n", filepath.Join(abs, "evidence"))
	fmt.Fprintf(&c, "[[notifiers]]\nname = \"sink\"\ntype = \"webhook\"\nurl = \"http://%s/hook\"\ntimeout = \"5s\"\n\n", sink)
	var tsv strings.Builder
	for _, t := range targets {
		fmt.Fprintf(&c, "[[targets]]\nname = %q\nurl = %q\ninterval = %q\ntimeout = \"2s\"\njitter = \"2s\"\n", t.name, t.url, interval)
		if t.headers {
			fmt.Fprintf(&c, "headers = { \"X-Api-Key\" = %q }\n", headerSecret)
		}
		c.WriteString("\n")
		fmt.Fprintf(&tsv, "%s\t%s\t%v\t%s\n", t.name, t.kind, t.good, t.url)
	}
	must(os.WriteFile(filepath.Join(dir, "leakhound.toml"), []byte(c.String()), 0o644))
	must(os.WriteFile(filepath.Join(dir, "targets.tsv"), []byte(tsv.String()), 0o644))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func tick() int64 { return int64(time.Since(start) / (5 * time.Second)) }

// goodMux: a well-behaved Go service with a stable goroutine count (wobbling by a few).
func goodMux(t *target) http.Handler {
	mux := http.NewServeMux()
	g := func() int64 { return int64(40+t.i%400) + tick()%5 }
	mux.HandleFunc("/api/monitor/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","goroutines":%d,"memory":{"alloc_mb":%d,"total_alloc_mb":%d,"sys_mb":%d,"num_gc":%d}}`,
			g(), 20+t.i%50, 1000+tick(), 60+t.i%50, tick())
	})
	mux.HandleFunc("/debug/vars", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"cmdline":["svc"],"goroutines":%d,"memstats":{"Alloc":%d,"TotalAlloc":%d,"Sys":%d,"HeapAlloc":%d,"HeapInuse":%d,"NumGC":%d}}`,
			g(), 20<<20+t.i*4096, 1<<30+tick()<<20, 60<<20, 20<<20, 22<<20, tick())
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n# TYPE go_memstats_alloc_bytes gauge\ngo_memstats_alloc_bytes %d\n"+
			"# TYPE go_memstats_sys_bytes gauge\ngo_memstats_sys_bytes %d\n# TYPE go_threads gauge\ngo_threads 9\n"+
			"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n",
			g(), 20<<20+t.i*4096, 60<<20, 70<<20+t.i*8192)
	})
	if strings.HasSuffix(t.kind, "+pprof") {
		mux.HandleFunc("/debug/pprof/goroutine", func(w http.ResponseWriter, r *http.Request) {
			profile(w, g())
		})
	}
	return mux
}

// profile writes a small valid debug=1 goroutine profile of n goroutines.
func profile(w io.Writer, n int64) {
	work := n - 6
	if work < 1 {
		work = 1
	}
	fmt.Fprintf(w, "goroutine profile: total %d\n", work+6)
	fmt.Fprintf(w, "%d @ 0x4a1b2c 0x4a1b3d 0x46e1a1\n#\t0x4a1b2c\tmain.(*Pool).wait+0x4c\t/app/pool.go:42\n#\t0x4a1b3d\tmain.worker+0x1d\t/app/worker.go:17\n\n", work)
	fmt.Fprintf(w, "6 @ 0x43c1a5 0x46e1a1\n#\t0x43c1a5\tnet/http.(*conn).serve+0x5c5\t/usr/local/go/src/net/http/server.go:2039\n\n")
}

// climbing: a count that climbs 70/s from 200 (past critical 10000 at ~140 s, 21200 at 300 s)
// and then "restarts", with a per-target phase.
func climbing(i int) int64 {
	s := (time.Since(start).Seconds() + float64(i*37%300))
	return 200 + int64(70*float64(int64(s)%300))
}

func badMux(t *target, sink string) http.Handler {
	mux := http.NewServeMux()
	json200 := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch t.kind {
		case "garbage-json":
			b := make([]byte, 256+t.i*13%2048)
			rand.Read(b)
			json200(w, `{"status":"ok","goroutines":12,"memory":{"alloc_mb":`+string(b))
		case "big-over":
			w.Header().Set("Content-Type", "application/json")
			w.Write(bigOver)
		case "big-metrics":
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			w.Write(bigProm)
		case "absurd":
			vals := []string{"1e308", "18446744073709551616", "-5", "NaN", "+Inf", "9223372036854775807"}
			v := vals[(t.i/3)%len(vals)]
			switch r.URL.Path {
			case "/metrics":
				w.Header().Set("Content-Type", "text/plain; version=0.0.4")
				fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %s\n", v)
			case "/debug/vars":
				json200(w, `{"goroutines":`+v+`,"memstats":{"Alloc":1,"Sys":2,"NumGC":3}}`)
			default:
				json200(w, `{"status":"ok","goroutines":`+v+`,"memory":{"alloc_mb":1e308,"sys_mb":18446744073709551616}}`)
			}
		case "errtext":
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/debug/vars" {
				w.Write(errVars)
			} else {
				w.Write(errHealth)
			}
		case "redirect":
			if t.i%2 == 0 {
				http.Redirect(w, r, "http://"+sink+"/redirected?from="+t.name, http.StatusFound)
			} else {
				http.Redirect(w, r, r.URL.Path, http.StatusFound) // a loop
			}
		case "secret-url":
			http.Error(w, "internal error", http.StatusInternalServerError)
		case "bomb-proto", "bomb-text", "climber":
			// The bombs answer every profile path (goroutineleak too); a climber only the
			// goroutine profile (Go without the goroutineleak experiment answers 404 there).
			if r.URL.Path == "/debug/pprof/goroutine" || (t.kind != "climber" && strings.HasPrefix(r.URL.Path, "/debug/pprof/goroutine")) {
				switch t.kind {
				case "bomb-proto":
					w.Header().Set("Content-Type", "application/octet-stream")
					w.Write(protoBomb)
				case "bomb-text":
					w.Header().Set("Content-Type", "text/plain; charset=utf-8")
					w.Write(textBomb)
				default:
					w.Header().Set("Content-Type", "text/plain; charset=utf-8")
					profile(w, climbing(t.i))
				}
				return
			}
			json200(w, fmt.Sprintf(`{"status":"ok","goroutines":%d,"memory":{"alloc_mb":30,"sys_mb":80,"num_gc":%d}}`, climbing(t.i), tick()))
		default:
			http.NotFound(w, r)
		}
	})
	return mux
}

// rawServe: behaviours below HTTP.
func rawServe(ln net.Listener, kind string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			switch kind {
			case "hang":
				io.Copy(io.Discard, c) // until the client gives up
			case "drip":
				readRequest(c)
				body := `{"status":"ok","goroutines":12}` + strings.Repeat(" ", 4000)
				resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
				if _, err := io.WriteString(c, resp); err != nil {
					return
				}
				for i := 0; i < len(body); i++ {
					if _, err := c.Write([]byte{body[i]}); err != nil {
						return
					}
					time.Sleep(time.Second)
				}
			case "slowloris":
				readRequest(c)
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\n"); err != nil {
					return
				}
				for i := 0; ; i++ {
					if _, err := fmt.Fprintf(c, "X-Slow-%d: %d\r\n", i, i); err != nil {
						return
					}
					time.Sleep(time.Second)
				}
			case "reset":
				readRequest(c)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
			case "garbage-tcp":
				readRequest(c)
				b := make([]byte, 64<<10)
				rand.Read(b)
				c.Write(b)
			}
		}(c)
	}
}

func readRequest(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil || line == "\r\n" || line == "\n" {
			break
		}
	}
	c.SetReadDeadline(time.Time{})
}

// sink: the webhook receiver and the other origin of the redirects.
type sinkStats struct {
	mu                  sync.Mutex
	Webhooks            int64 `json:"webhooks"`
	WebhookBytes        int64 `json:"webhook_bytes"`
	WebhookMaxBytes     int64 `json:"webhook_max_bytes"`
	WebhookURLSecrets   int64 `json:"webhooks_with_url_secret"`
	WebhookForgedLines  int64 `json:"webhooks_with_fake_line"`
	Redirected          int64 `json:"redirected_requests"`
	RedirectedWithToken int64 `json:"redirected_with_custom_header"`
}

var sinkS sinkStats

func sinkMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		sinkS.mu.Lock()
		sinkS.Webhooks++
		sinkS.WebhookBytes += int64(len(b))
		if int64(len(b)) > sinkS.WebhookMaxBytes {
			sinkS.WebhookMaxBytes = int64(len(b))
		}
		if bytes.Contains(b, []byte(urlSecret)) {
			sinkS.WebhookURLSecrets++
		}
		if bytes.Contains(b, []byte(fakeLine)) {
			sinkS.WebhookForgedLines++
		}
		sinkS.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/redirected", func(w http.ResponseWriter, r *http.Request) {
		sinkS.mu.Lock()
		sinkS.Redirected++
		if r.Header.Get("X-Api-Key") != "" {
			sinkS.RedirectedWithToken++
		}
		sinkS.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok","goroutines":33}`)
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		sinkS.mu.Lock()
		defer sinkS.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(&sinkS)
	})
	return mux
}

// ---------------------------------------------------------------------------------------------
// hammer

type routeStats struct {
	OK       int64   `json:"ok"`
	Failed   int64   `json:"failed"`
	MaxMs    float64 `json:"max_ms"`
	LastFail string  `json:"last_failure,omitempty"`
}

type hammerStats struct {
	mu     sync.Mutex
	Routes map[string]*routeStats `json:"routes"`
	Idle   int64                  `json:"idle_open"`
	Reopen int64                  `json:"idle_reopened"`
}

var hs = hammerStats{Routes: map[string]*routeStats{}}

func record(route string, d time.Duration, err error) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	s := hs.Routes[route]
	if s == nil {
		s = &routeStats{}
		hs.Routes[route] = s
	}
	if ms := float64(d.Microseconds()) / 1000; ms > s.MaxMs {
		s.MaxMs = ms
	}
	if err != nil {
		s.Failed++
		s.LastFail = err.Error()
		if len(s.LastFail) > 200 {
			s.LastFail = s.LastFail[:200]
		}
	} else {
		s.OK++
	}
}

func hammer(args []string) {
	fs := flag.NewFlagSet("hammer", flag.ExitOnError)
	agent := fs.String("agent", "", "the agent's web address host:port")
	dir := fs.String("dir", ".", "where targets.tsv is and hammer.json goes")
	idle := fs.Int("idle", 1100, "idle TCP connections to hold open")
	fs.Parse(args)
	base := "http://" + *agent

	raw, err := os.ReadFile(filepath.Join(*dir, "targets.tsv"))
	must(err)
	var all, capt []string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Split(l, "\t")
		all = append(all, f[0])
		if f[1] == "bomb-proto" || f[1] == "bomb-text" || f[1] == "climber" || f[1] == "absurd" {
			capt = append(capt, f[0])
		}
	}
	// Wait for the agent's web server.
	for i := 0; i < 600; i++ {
		if c, err := net.DialTimeout("tcp", *agent, time.Second); err == nil {
			c.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	client := func(timeout time.Duration) *http.Client {
		return &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}
	}
	get := func(c *http.Client, route, url string) []byte {
		t0 := time.Now()
		resp, err := c.Get(url)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(resp.Body, 256<<20))
			resp.Body.Close()
			if err == nil && resp.StatusCode/100 != 2 && resp.StatusCode != 404 {
				err = fmt.Errorf("HTTP %d: %.120s", resp.StatusCode, body)
			}
		}
		record(route, time.Since(t0), err)
		return body
	}
	loop := func(every time.Duration, f func()) {
		go func() {
			for {
				t0 := time.Now()
				f()
				if d := every - time.Since(t0); d > 0 {
					time.Sleep(d)
				}
			}
		}()
	}
	pick := func(names []string) string { return names[rand.Intn(len(names))] }

	// Idle connections: opened, held, reopened when the server closes them (at most every 10 s).
	go func() {
		conns := make([]net.Conn, *idle)
		opened := make([]bool, *idle)
		for {
			open := int64(0)
			for i := range conns {
				if conns[i] != nil {
					conns[i].SetReadDeadline(time.Now().Add(time.Millisecond))
					var b [1]byte
					if _, err := conns[i].Read(b[:]); err != nil && !isTimeout(err) {
						conns[i].Close()
						conns[i] = nil
					}
				}
				if conns[i] == nil {
					c, err := net.DialTimeout("tcp", *agent, 2*time.Second)
					if err != nil {
						continue
					}
					conns[i] = c
					if opened[i] {
						atomic.AddInt64(&hs.Reopen, 1)
					}
					opened[i] = true
				}
				open++
			}
			atomic.StoreInt64(&hs.Idle, open)
			time.Sleep(10 * time.Second)
		}
	}()

	slow := client(60 * time.Second)
	leave := client(5 * time.Second) // a client that gives up
	loop(10*time.Second, func() { get(slow, "/api/targets?history=24h", base+"/api/targets?history=24h") })
	loop(10*time.Second, func() { get(slow, "/api/targets?history=24h", base+"/api/targets?history=24h") })
	loop(30*time.Second, func() {
		get(leave, "/samples?since=-9e18&step=1ms", base+"/api/targets/"+pick(all)+"/samples?since=-9000000000000000000&step=1ms")
	})
	loop(5*time.Second, func() { get(slow, "/samples?since=1h", base+"/api/targets/"+pick(all)+"/samples?since=1h") })
	loop(2*time.Second, func() { get(slow, "/metrics", base+"/metrics") })
	loop(5*time.Second, func() { get(slow, "/api/alerts?limit=1000", base+"/api/alerts?limit=1000") })
	for w := 0; w < 3; w++ {
		loop(4*time.Second, func() {
			name := pick(capt)
			body := get(slow, "/dumps", base+"/api/targets/"+name+"/dumps?limit=5")
			var list struct {
				Dumps []struct {
					ID int64 `json:"id"`
				} `json:"dumps"`
			}
			if json.Unmarshal(body, &list) != nil || len(list.Dumps) == 0 {
				return
			}
			id := list.Dumps[rand.Intn(len(list.Dumps))].ID
			get(slow, "/dumps/ID", fmt.Sprintf("%s/api/targets/%s/dumps/%d?top=1000", base, name, id))
			if len(list.Dumps) > 1 {
				get(slow, "/dumps/diff", fmt.Sprintf("%s/api/targets/%s/dumps/diff?from=%d&to=%d", base, name, list.Dumps[len(list.Dumps)-1].ID, list.Dumps[0].ID))
			}
		})
	}
	// Two live feeds read slowly, each for a minute.
	feed := &http.Client{}
	for w := 0; w < 2; w++ {
		loop(5*time.Second, func() {
			t0 := time.Now()
			resp, err := feed.Get(base + "/api/events")
			if err == nil {
				for time.Since(t0) < 60*time.Second {
					var b [4096]byte
					if _, err = resp.Body.Read(b[:]); err != nil {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				resp.Body.Close()
				if err == io.EOF {
					err = nil
				}
			}
			record("/api/events", 0, err)
		})
	}

	out := filepath.Join(*dir, "hammer.json")
	for {
		time.Sleep(5 * time.Second)
		hs.mu.Lock()
		b, _ := json.Marshal(&hs)
		hs.mu.Unlock()
		os.WriteFile(out+".tmp", b, 0o644)
		os.Rename(out+".tmp", out)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
