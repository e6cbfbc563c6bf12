package healthmon

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func serve(h http.Handler, method, remote string, auth *[2]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/api/monitor/health", nil)
	if remote != "" {
		req.RemoteAddr = remote
	}
	if auth != nil {
		req.SetBasicAuth(auth[0], auth[1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var shapeRE = regexp.MustCompile(`^\{"status":"ok","goroutines":\d+,"memory":\{"alloc_mb":\d+,"total_alloc_mb":\d+,"sys_mb":\d+,"num_gc":\d+\}\}\n$`)

func TestHandlerJSONShape(t *testing.T) {
	rec := serve(Handler(), http.MethodGet, "", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	body := rec.Body.String()
	if !shapeRE.MatchString(body) {
		t.Fatalf("body does not have the guide's shape/field order: %q", body)
	}
	var h Health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatal(err)
	}
	if h.Goroutines < 1 || h.Memory.SysMB < 1 || h.Memory.TotalAllocMB < h.Memory.AllocMB {
		t.Errorf("implausible values: %+v", h)
	}
}

func TestHandlerValuesAreWholeMB(t *testing.T) {
	c := Handler().(*handlerConfig)
	c.readState = func() Health {
		return Health{Status: "ok", Goroutines: 1234, Memory: Memory{AllocMB: 256, TotalAllocMB: 1024, SysMB: 512, NumGC: 45}}
	}
	rec := serve(c, http.MethodGet, "", nil)
	want := `{"status":"ok","goroutines":1234,"memory":{"alloc_mb":256,"total_alloc_mb":1024,"sys_mb":512,"num_gc":45}}` + "\n"
	if got := rec.Body.String(); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestReadMatchesRuntime(t *testing.T) {
	held := make([]byte, 8*mb)
	for i := range held {
		held[i] = 1
	}
	h := Read()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if h.Memory.AllocMB < 8 {
		t.Errorf("alloc_mb %d, holding 8 MiB", h.Memory.AllocMB)
	}
	if h.Memory.SysMB != ms.Sys/mb && h.Memory.SysMB+1 != ms.Sys/mb {
		t.Errorf("sys_mb %d vs %d", h.Memory.SysMB, ms.Sys/mb)
	}
	if h.Memory.NumGC > ms.NumGC {
		t.Errorf("num_gc %d > %d", h.Memory.NumGC, ms.NumGC)
	}
	runtime.KeepAlive(held)
}

func TestHandlerMethods(t *testing.T) {
	h := Handler()
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		rec := serve(h, m, "", nil)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d", m, rec.Code)
		}
		if a := rec.Header().Get("Allow"); a != "GET, HEAD" {
			t.Errorf("%s: Allow %q", m, a)
		}
	}
	rec := serve(h, http.MethodHead, "", nil)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, body %q", rec.Code, rec.Body.String())
	}
	if rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: no Content-Length")
	}
}

func TestAllowlist(t *testing.T) {
	h := Handler(WithAllowlist("127.0.0.1", " 10.1.0.0/16 ", "::1", "fd00::/8", "::ffff:192.168.1.0/120"))
	cases := []struct {
		remote string
		want   int
	}{
		{"127.0.0.1:5555", 200},
		{"127.0.0.2:5555", 403},
		{"10.1.255.3:1", 200},
		{"10.2.0.1:1", 403},
		{"[::1]:80", 200},
		{"[fd12::5]:80", 200},
		{"[fe80::1%eth0]:80", 403},
		{"[::ffff:127.0.0.1]:80", 200}, // IPv4-mapped client
		{"192.168.1.77:9", 200},        // matched by the 4-in-6 prefix
		{"192.168.2.77:9", 403},
		{"garbage", 403},
		{"", 403},
	}
	for _, c := range cases {
		req := httptest.NewRequest(http.MethodGet, "/api/monitor/health", nil)
		req.RemoteAddr = c.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%q: status %d, want %d", c.remote, rec.Code, c.want)
		}
	}
}

func TestAllowlistEmptyDeniesAll(t *testing.T) {
	h := Handler(WithAllowedPrefixes())
	if rec := serve(h, http.MethodGet, "127.0.0.1:1", nil); rec.Code != 403 {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestParseAllowlist(t *testing.T) {
	ps, err := ParseAllowlist([]string{"", "1.2.3.4", "1.2.3.4/24", "fe80::1%eth0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("1.2.3.4/32"),
		netip.MustParsePrefix("1.2.3.0/24"),
		netip.MustParsePrefix("fe80::1/128"),
	}
	if len(ps) != len(want) {
		t.Fatalf("got %v", ps)
	}
	for i := range ps {
		if ps[i] != want[i] {
			t.Errorf("%d: got %v want %v", i, ps[i], want[i])
		}
	}
	for _, bad := range []string{"1.2.3", "1.2.3.4/33", "host.example", "1.2.3.4:80"} {
		if _, err := ParseAllowlist([]string{bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	defer func() {
		if recover() == nil {
			t.Errorf("WithAllowlist did not panic on a bad entry")
		}
	}()
	WithAllowlist("nope")
}

func TestBasicAuth(t *testing.T) {
	h := Handler(WithBasicAuth("monitor", "s3cret"), WithRealm(`a "quoted" realm`))
	cases := []struct {
		name string
		auth *[2]string
		want int
	}{
		{"none", nil, 401},
		{"good", &[2]string{"monitor", "s3cret"}, 200},
		{"bad password", &[2]string{"monitor", "s3cre"}, 401},
		{"bad user", &[2]string{"monitorx", "s3cret"}, 401},
		{"empty", &[2]string{"", ""}, 401},
	}
	for _, c := range cases {
		rec := serve(h, http.MethodGet, "", c.auth)
		if rec.Code != c.want {
			t.Errorf("%s: status %d, want %d", c.name, rec.Code, c.want)
		}
		wa := rec.Header().Get("WWW-Authenticate")
		if c.want == 401 && !strings.HasPrefix(wa, `Basic realm="a 'quoted' realm"`) {
			t.Errorf("%s: WWW-Authenticate %q", c.name, wa)
		}
		if c.want == 200 && wa != "" {
			t.Errorf("%s: unexpected WWW-Authenticate %q", c.name, wa)
		}
	}
	// Malformed Authorization header.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Basic !!!")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("malformed: status %d", rec.Code)
	}
}

func TestCheckOrder(t *testing.T) {
	h := Handler(WithAllowlist("10.0.0.0/8"), WithBasicAuth("u", "p"))
	good := &[2]string{"u", "p"}
	if rec := serve(h, http.MethodPost, "192.0.2.1:1", good); rec.Code != 403 {
		t.Errorf("outside allowlist: %d, want 403 first", rec.Code)
	}
	if rec := serve(h, http.MethodPost, "10.0.0.1:1", nil); rec.Code != 401 {
		t.Errorf("no auth: %d, want 401 before 405", rec.Code)
	}
	if rec := serve(h, http.MethodPost, "10.0.0.1:1", good); rec.Code != 405 {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
	if rec := serve(h, http.MethodGet, "10.0.0.1:1", good); rec.Code != 200 {
		t.Errorf("GET: %d, want 200", rec.Code)
	}
}

func TestHandlerOverRealServer(t *testing.T) {
	srv := httptest.NewServer(Handler(WithAllowlist("127.0.0.1", "::1")))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/monitor/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || h.Status != "ok" || h.Goroutines < 2 {
		t.Fatalf("status %d, %+v", resp.StatusCode, h)
	}
}
