package healthmon

import (
	"context"
	"log"
	"runtime"
	"time"
)

// Default logger settings, from the monitoring guide.
const (
	DefaultInterval       = 30 * time.Second
	DefaultWarnThreshold  = 2000
	DefaultErrorThreshold = 5000
)

// Level is the severity StartLogger assigns to one check.
type Level int

// Levels of a goroutine count check.
const (
	LevelNormal   Level = iota // count <= warn threshold
	LevelElevated              // warn < count <= error threshold
	LevelHigh                  // count > error threshold
)

func (l Level) String() string {
	switch l {
	case LevelNormal:
		return "normal"
	case LevelElevated:
		return "elevated"
	case LevelHigh:
		return "high"
	}
	return "unknown"
}

// Classify returns the level of count for the given thresholds:
// count > errorAt is LevelHigh, else count > warnAt is LevelElevated, else
// LevelNormal. With the defaults 2000 is normal, 2001 and 5000 are
// elevated and 5001 is high.
func Classify(count, warnAt, errorAt int) Level {
	switch {
	case count > errorAt:
		return LevelHigh
	case count > warnAt:
		return LevelElevated
	}
	return LevelNormal
}

// LoggerOption configures StartLogger.
type LoggerOption func(*loggerConfig)

type loggerConfig struct {
	logger  *log.Logger
	warnAt  int
	errorAt int
	debug   bool
	count   func() int
}

// WithLogger sets the logger (default log.Default(), the standard logger,
// which writes to stderr).
func WithLogger(l *log.Logger) LoggerOption {
	return func(c *loggerConfig) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithThresholds sets the warning and error thresholds (defaults 2000 and
// 5000). A count above warn is logged as elevated; above errorAt as high.
func WithThresholds(warn, errorAt int) LoggerOption {
	return func(c *loggerConfig) {
		c.warnAt = warn
		c.errorAt = errorAt
	}
}

// WithDebug also logs normal counts ("Goroutine count: N").
func WithDebug(debug bool) LoggerOption {
	return func(c *loggerConfig) { c.debug = debug }
}

// WithCountFunc replaces runtime.NumGoroutine as the source of the count;
// meant for tests.
func WithCountFunc(f func() int) LoggerOption {
	return func(c *loggerConfig) {
		if f != nil {
			c.count = f
		}
	}
}

// StartLogger starts a goroutine that logs the goroutine count every
// interval (DefaultInterval if interval <= 0) until ctx is done:
//
//	Goroutine count: N                   count <= warn, only with WithDebug(true)
//	⚠️ Goroutine count elevated: N        warn < count <= error
//	⚠️ High goroutine count detected: N   count > error
//
// It logs "goroutine monitor started (interval 30s)" before returning; the
// first check happens one interval later. When ctx is done the goroutine
// logs "goroutine monitor stopped" and exits; the returned channel is closed
// after that, so callers may wait for it (or ignore it).
func StartLogger(ctx context.Context, interval time.Duration, opts ...LoggerOption) <-chan struct{} {
	c := &loggerConfig{
		logger:  log.Default(),
		warnAt:  DefaultWarnThreshold,
		errorAt: DefaultErrorThreshold,
		count:   runtime.NumGoroutine,
	}
	for _, o := range opts {
		o(c)
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	done := make(chan struct{})
	c.logger.Printf("goroutine monitor started (interval %s)", interval)
	go c.run(ctx, interval, done)
	return done
}

func (c *loggerConfig) run(ctx context.Context, interval time.Duration, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.logger.Print("goroutine monitor stopped")
			return
		case <-t.C:
			c.check()
		}
	}
}

func (c *loggerConfig) check() {
	n := c.count()
	switch Classify(n, c.warnAt, c.errorAt) {
	case LevelHigh:
		c.logger.Printf("⚠️ High goroutine count detected: %d", n)
	case LevelElevated:
		c.logger.Printf("⚠️ Goroutine count elevated: %d", n)
	default:
		if c.debug {
			c.logger.Printf("Goroutine count: %d", n)
		}
	}
}
