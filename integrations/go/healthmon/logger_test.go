package healthmon

import (
	"bytes"
	"context"
	"log"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSuffix(b.buf.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestClassifyBoundaries(t *testing.T) {
	cases := []struct {
		n    int
		want Level
	}{
		{0, LevelNormal}, {1999, LevelNormal}, {2000, LevelNormal},
		{2001, LevelElevated}, {4999, LevelElevated}, {5000, LevelElevated},
		{5001, LevelHigh}, {169000, LevelHigh},
	}
	for _, c := range cases {
		if got := Classify(c.n, 2000, 5000); got != c.want {
			t.Errorf("Classify(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

func TestCheckLines(t *testing.T) {
	cases := []struct {
		n     int
		debug bool
		want  string
	}{
		{856, false, ""},
		{2000, false, ""},
		{856, true, "Goroutine count: 856"},
		{2000, true, "Goroutine count: 2000"},
		{2001, false, "⚠️ Goroutine count elevated: 2001"},
		{2156, true, "⚠️ Goroutine count elevated: 2156"},
		{5000, false, "⚠️ Goroutine count elevated: 5000"},
		{5001, false, "⚠️ High goroutine count detected: 5001"},
		{5234, true, "⚠️ High goroutine count detected: 5234"},
	}
	for _, c := range cases {
		var buf syncBuffer
		n := c.n
		cfg := &loggerConfig{logger: log.New(&buf, "", 0), warnAt: 2000, errorAt: 5000, debug: c.debug, count: func() int { return n }}
		cfg.check()
		got := strings.Join(buf.lines(), "|")
		if got != c.want {
			t.Errorf("n=%d debug=%v: got %q want %q", c.n, c.debug, got, c.want)
		}
	}
}

// sequence returns a count function yielding vals in order; once they are
// used up it calls cancel and keeps returning 0.
func sequence(vals []int, cancel func()) func() int {
	var i int64 = -1
	var once sync.Once
	return func() int {
		k := atomic.AddInt64(&i, 1)
		if int(k) < len(vals) {
			return vals[k]
		}
		once.Do(cancel)
		return 0
	}
}

func runLogger(t *testing.T, vals []int, opts ...LoggerOption) []string {
	t.Helper()
	var buf syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts = append([]LoggerOption{WithLogger(log.New(&buf, "", 0)), WithCountFunc(sequence(vals, cancel))}, opts...)
	done := StartLogger(ctx, time.Millisecond, opts...)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("logger did not stop after cancel")
	}
	return buf.lines()
}

func TestLoggerDefaultThresholds(t *testing.T) {
	got := runLogger(t, []int{0, 1999, 2000, 2001, 4999, 5000, 5001, 169000})
	want := []string{
		"goroutine monitor started (interval 1ms)",
		"⚠️ Goroutine count elevated: 2001",
		"⚠️ Goroutine count elevated: 4999",
		"⚠️ Goroutine count elevated: 5000",
		"⚠️ High goroutine count detected: 5001",
		"⚠️ High goroutine count detected: 169000",
		"goroutine monitor stopped",
	}
	assertLines(t, got, want)
}

func TestLoggerDebugAndCustomThresholds(t *testing.T) {
	got := runLogger(t, []int{10, 11, 12, 20, 21}, WithThresholds(10, 20), WithDebug(true))
	// After the sequence the count function returns 0 (normal, logged with
	// debug on) until the cancellation is observed, so drop those lines.
	var filtered []string
	for _, l := range got {
		if l != "Goroutine count: 0" {
			filtered = append(filtered, l)
		}
	}
	want := []string{
		"goroutine monitor started (interval 1ms)",
		"Goroutine count: 10",
		"⚠️ Goroutine count elevated: 11",
		"⚠️ Goroutine count elevated: 12",
		"⚠️ Goroutine count elevated: 20",
		"⚠️ High goroutine count detected: 21",
		"goroutine monitor stopped",
	}
	assertLines(t, filtered, want)
}

func assertLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoggerStopsOnCancel(t *testing.T) {
	var calls int64
	var buf syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := StartLogger(ctx, time.Millisecond,
		WithLogger(log.New(&buf, "", 0)),
		WithCountFunc(func() int { atomic.AddInt64(&calls, 1); return 1 }))
	deadline := time.Now().Add(5 * time.Second)
	for atomic.LoadInt64(&calls) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("logger is not ticking")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("logger did not stop")
	}
	after := atomic.LoadInt64(&calls)
	time.Sleep(20 * time.Millisecond)
	if n := atomic.LoadInt64(&calls); n != after {
		t.Fatalf("count function called %d more times after stop", n-after)
	}
	lines := buf.lines()
	if lines[len(lines)-1] != "goroutine monitor stopped" {
		t.Fatalf("last line %q", lines[len(lines)-1])
	}
}

func TestLoggerAlreadyCancelled(t *testing.T) {
	var buf syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := StartLogger(ctx, time.Hour, WithLogger(log.New(&buf, "", 0)))
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("logger did not stop")
	}
	assertLines(t, buf.lines(), []string{"goroutine monitor started (interval 1h0m0s)", "goroutine monitor stopped"})
}

func TestLoggerDefaults(t *testing.T) {
	// Default logger is the standard logger; default interval is 30s.
	var buf syncBuffer
	std := log.Default()
	oldOut, oldFlags := std.Writer(), std.Flags()
	log.SetOutput(&buf)
	log.SetFlags(0)
	defer func() { log.SetOutput(oldOut); log.SetFlags(oldFlags) }()

	ctx, cancel := context.WithCancel(context.Background())
	done := StartLogger(ctx, 0)
	cancel()
	<-done
	assertLines(t, buf.lines(), []string{"goroutine monitor started (interval 30s)", "goroutine monitor stopped"})
}
