package healthmon

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
)

// Health is the JSON document served by Handler. Field order matches the
// wire format: {"status":"ok","goroutines":N,"memory":{...}}.
type Health struct {
	Status     string `json:"status"`
	Goroutines int    `json:"goroutines"`
	Memory     Memory `json:"memory"`
}

// Memory holds the runtime memory statistics of Health, in whole mebibytes
// (bytes/1024/1024, truncated).
type Memory struct {
	AllocMB      uint64 `json:"alloc_mb"`
	TotalAllocMB uint64 `json:"total_alloc_mb"`
	SysMB        uint64 `json:"sys_mb"`
	NumGC        uint32 `json:"num_gc"`
}

const mb = 1024 * 1024

// Read returns the current health snapshot. It calls runtime.ReadMemStats.
func Read() Health {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Health{
		Status:     "ok",
		Goroutines: runtime.NumGoroutine(),
		Memory: Memory{
			AllocMB:      ms.Alloc / mb,
			TotalAllocMB: ms.TotalAlloc / mb,
			SysMB:        ms.Sys / mb,
			NumGC:        ms.NumGC,
		},
	}
}

// Option configures Handler.
type Option func(*handlerConfig)

type handlerConfig struct {
	allow     []netip.Prefix
	allowSet  bool
	authSet   bool
	userHash  [sha256.Size]byte
	passHash  [sha256.Size]byte
	realm     string
	readState func() Health
}

// WithAllowlist restricts the endpoint to clients whose address (taken from
// http.Request.RemoteAddr, not from X-Forwarded-For) is one of entries. An
// entry is an IP address ("127.0.0.1", "::1") or a CIDR prefix
// ("10.0.0.0/8", "fd00::/8"). IPv4-mapped IPv6 client addresses are matched
// as IPv4. Other clients get 403 Forbidden.
//
// WithAllowlist panics if an entry cannot be parsed; use ParseAllowlist and
// WithAllowedPrefixes to handle the error yourself. An empty list denies
// everyone.
func WithAllowlist(entries ...string) Option {
	prefixes, err := ParseAllowlist(entries)
	if err != nil {
		panic("healthmon: " + err.Error())
	}
	return WithAllowedPrefixes(prefixes...)
}

// WithAllowedPrefixes is WithAllowlist for already parsed prefixes.
// Repeated allowlist options add to the list.
func WithAllowedPrefixes(prefixes ...netip.Prefix) Option {
	return func(c *handlerConfig) {
		c.allowSet = true
		for _, p := range prefixes {
			c.allow = append(c.allow, normalizePrefix(p))
		}
	}
}

// ParseAllowlist parses IP addresses and CIDR prefixes for
// WithAllowedPrefixes. Surrounding spaces are ignored; empty entries are
// skipped.
func ParseAllowlist(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("invalid allowlist entry %q: %v", e, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("invalid allowlist entry %q: %v", e, err)
		}
		a = a.WithZone("")
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// normalizePrefix turns ::ffff:a.b.c.d/len (len >= 96) into a.b.c.d/(len-96)
// so that it matches unmapped client addresses.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// WithBasicAuth requires HTTP basic authentication with exactly this user
// name and password. Failed or missing credentials get 401 Unauthorized with
// a WWW-Authenticate header. Credentials are compared in constant time.
func WithBasicAuth(user, password string) Option {
	return func(c *handlerConfig) {
		c.authSet = true
		c.userHash = sha256.Sum256([]byte(user))
		c.passHash = sha256.Sum256([]byte(password))
	}
}

// WithRealm sets the realm announced in WWW-Authenticate (default
// "leakhound health").
func WithRealm(realm string) Option {
	return func(c *handlerConfig) { c.realm = realm }
}

// Handler returns the /api/monitor/health handler. It accepts GET and HEAD
// (405 Method Not Allowed otherwise) and answers 200 with the JSON of Read,
// Content-Type application/json and Cache-Control no-store. Access checks
// run in this order: allowlist (403), basic auth (401), method (405).
func Handler(opts ...Option) http.Handler {
	c := &handlerConfig{realm: "leakhound health", readState: Read}
	for _, o := range opts {
		o(c)
	}
	return c
}

func (c *handlerConfig) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.allowSet && !c.allowed(r.RemoteAddr) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if c.authSet && !c.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+strings.ReplaceAll(c.realm, `"`, `'`)+`", charset="UTF-8"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := json.Marshal(c.readState())
	if err != nil { // cannot happen with these types
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func (c *handlerConfig) allowed(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.WithZone("").Unmap()
	for _, p := range c.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (c *handlerConfig) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pass))
	userOK := subtle.ConstantTimeCompare(u[:], c.userHash[:])
	passOK := subtle.ConstantTimeCompare(p[:], c.passHash[:])
	return userOK&passOK == 1
}
