//! The live view's state and what every [`Event`] does to it. Pure: no IO and no clock — the
//! loop passes `now_ms` in and carries out the [`Command`]s that come back.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use leakhound_core::config::Levels;
use leakhound_core::trend::{Trend, Verdict};
use leakhound_core::Sample;
use leakhound_core::Severity;
use std::collections::VecDeque;

/// The chart windows `w` cycles through: (label, milliseconds).
pub const WINDOWS: [(&str, i64); 3] = [("5m", 300_000), ("30m", 1_800_000), ("2h", 7_200_000)];
/// History kept per target: the largest window, and at most this many points.
const MAX_POINTS: usize = 10_000;
/// Samples held back while paused, over all targets (the oldest go first beyond this).
const MAX_PENDING: usize = 100_000;
/// Minimum growth (goroutines per hour) before the arrow says growing.
pub const LIVE_GROWTH_PER_HOUR: f64 = 100.0;
/// Automatic dumps of one target are at least this far apart (or 5 intervals, if longer).
const AUTO_DUMP_MIN_GAP_MS: i64 = 30_000;

/// Everything that can happen, from any source: collectors, the keyboard, signals, the clock.
#[derive(Debug, Clone)]
pub enum Event {
    /// A fresh sample of one target (boxed: samples are the largest and most frequent event).
    Sample(Box<Sample>),
    /// Older samples of one target (oldest first), e.g. an agent's stored history.
    History {
        target: String,
        samples: Vec<Sample>,
    },
    /// A goroutine dump finished (or failed).
    Dump {
        target: String,
        reason: DumpReason,
        result: Result<DumpView, String>,
    },
    Key(KeyEvent),
    /// The terminal changed size (the next draw uses the new size).
    Resize,
    /// Once a second: redraw the ages.
    Tick,
    /// SIGINT / SIGTERM, or the session ended (demo over).
    Quit,
    /// A collector's message for the status line (e.g. the agent stopped answering).
    Status(String),
}

impl From<Sample> for Event {
    fn from(sample: Sample) -> Event {
        Event::Sample(Box::new(sample))
    }
}

/// What the loop must do for the state (the only way the state asks for IO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Take a `debug=1` goroutine dump of the target.
    Dump { target: String, reason: DumpReason },
}

/// Why a dump was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpReason {
    /// The first one, so that the next one shows what grew.
    Baseline,
    /// The target grew since the last dump.
    Growth,
    /// The `d` key.
    Manual,
    /// An evidence bundle the agent captured (watching a running agent).
    Evidence,
}

impl DumpReason {
    pub fn word(self) -> &'static str {
        match self {
            DumpReason::Baseline => "baseline",
            DumpReason::Growth => "growth",
            DumpReason::Manual => "on request",
            DumpReason::Evidence => "the agent's evidence",
        }
    }
}

/// The outcome of the latest dump of a target: suspects over the kept dumps, and the largest
/// groups of the latest one.
#[derive(Debug, Clone, PartialEq)]
pub struct DumpView {
    pub at_ms: i64,
    /// Goroutines in the latest dump.
    pub goroutines: u64,
    /// Dumps the suspects were computed over.
    pub snapshots: usize,
    /// One call site each, shown as every view shows a suspect.
    pub suspects: Vec<goroutine_dump::SuspectRow>,
    pub largest: Vec<goroutine_dump::SuspectRow>,
}

/// One reading in a target's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub ts_ms: i64,
    pub goroutines: Option<u64>,
    pub memory: Option<u64>,
}

/// The level word and how serious it is, from the guide's alert levels (GUIDE §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLevel {
    /// No sample yet.
    Unknown,
    Down,
    /// The goroutine count's alert level; `None` under the warning threshold.
    Alert(Option<Severity>),
}

impl RowLevel {
    /// The word shown, so the level reads without colour.
    pub fn word(self) -> &'static str {
        match self {
            RowLevel::Unknown => "…",
            RowLevel::Down => "down",
            RowLevel::Alert(None | Some(Severity::Info)) => "normal",
            RowLevel::Alert(Some(Severity::Warning)) => "warning",
            RowLevel::Alert(Some(Severity::Urgent)) => "urgent",
            RowLevel::Alert(Some(Severity::Critical)) => "critical",
        }
    }
}

/// One watched target.
#[derive(Debug, Clone)]
pub struct TargetState {
    pub name: String,
    pub latest: Option<Sample>,
    points: VecDeque<Point>,
    /// Samples received (for `--count`), paused or not.
    pub received: u64,
    /// Goroutine trend over the current window (cached; recomputed when the data changes).
    pub trend: Option<Trend>,
    /// Whether dumps can be taken (a pprof URL is known).
    pub dumpable: bool,
    pub dump: Option<DumpView>,
    pub dump_error: Option<String>,
    pub dump_in_flight: bool,
    /// When the last dump was asked for, and the goroutine count then.
    last_dump: Option<(i64, u64)>,
    /// Automatic dumps stopped (the first one failed: no pprof there).
    auto_dump_off: bool,
}

impl TargetState {
    fn new(name: String, dumpable: bool) -> TargetState {
        TargetState {
            name,
            latest: None,
            points: VecDeque::new(),
            received: 0,
            trend: None,
            dumpable,
            dump: None,
            dump_error: None,
            dump_in_flight: false,
            last_dump: None,
            auto_dump_off: false,
        }
    }

    /// Readings no older than `window_ms` before the latest one, oldest first.
    pub fn points_in(&self, window_ms: i64) -> impl Iterator<Item = &Point> {
        let end = self.points.back().map_or(i64::MIN, |p| p.ts_ms);
        self.points
            .iter()
            .filter(move |p| p.ts_ms >= end.saturating_sub(window_ms))
    }

    pub fn level(&self, levels: &Levels) -> RowLevel {
        match &self.latest {
            None => RowLevel::Unknown,
            Some(s) if !s.up => RowLevel::Down,
            Some(s) => match s.metrics.goroutines {
                Some(g) => RowLevel::Alert(levels.alert.level(g)),
                None => RowLevel::Unknown,
            },
        }
    }

    fn push(&mut self, sample: &Sample) {
        if !sample.up {
            return;
        }
        let point = Point {
            ts_ms: sample.ts_ms,
            goroutines: sample.metrics.goroutines,
            memory: sample.metrics.memory_used_bytes(),
        };
        // Keep time order even when history arrives after live samples.
        let at = self.points.partition_point(|p| p.ts_ms <= point.ts_ms);
        if at > 0 && self.points[at - 1].ts_ms == point.ts_ms {
            self.points[at - 1] = point;
        } else {
            self.points.insert(at, point);
        }
        let newest = self.points.back().map_or(point.ts_ms, |p| p.ts_ms);
        let oldest_kept = newest - WINDOWS[WINDOWS.len() - 1].1;
        while self.points.len() > MAX_POINTS
            || self.points.front().is_some_and(|p| p.ts_ms < oldest_kept)
        {
            self.points.pop_front();
        }
    }

    fn refit(&mut self, window_ms: i64) {
        let pts: Vec<(f64, f64)> = self
            .points_in(window_ms)
            .filter_map(|p| p.goroutines.map(|g| (p.ts_ms as f64 / 1000.0, g as f64)))
            .collect();
        self.trend = Trend::fit(&pts);
    }
}

/// The arrow and rate of a trend: `↑ +3000/h`, `↓ -120/h`, `→ stable`, `·` (too few points).
pub fn trend_text(trend: Option<&Trend>) -> String {
    match trend.map(|t| (t, t.verdict(LIVE_GROWTH_PER_HOUR))) {
        Some((t, Verdict::Growing)) => format!("↑ {:+.0}/h", t.slope_per_hour),
        Some((t, Verdict::Falling)) => format!("↓ {:+.0}/h", t.slope_per_hour),
        Some((_, Verdict::Stable)) => "→ stable".into(),
        Some((_, Verdict::Unknown)) | None => "·".into(),
    }
}

/// The whole state of a live view.
#[derive(Debug)]
pub struct App {
    /// First header words, e.g. `leakhound watch`.
    pub title: String,
    pub levels: Levels,
    /// Probe interval, shown in the header and used for the dump cadence.
    pub interval_ms: i64,
    pub targets: Vec<TargetState>,
    pub selected: usize,
    pub window: usize,
    pub paused: bool,
    pending: VecDeque<Sample>,
    pub show_help: bool,
    /// The status line and when it was set.
    pub status: Option<(i64, String)>,
    /// The clock at the last event (for ages in the view).
    pub now_ms: i64,
    /// `--count`: quit once every target has this many samples.
    pub count: Option<u64>,
    /// An address shown in the header beside the title (the demo's dashboard URL: printed
    /// before the full-screen view, it would be hidden by it).
    pub link: Option<String>,
    pub quit: bool,
}

impl App {
    /// `targets`: (name, whether goroutine dumps can be taken), in display order.
    pub fn new(
        title: impl Into<String>,
        levels: Levels,
        interval_ms: i64,
        targets: Vec<(String, bool)>,
    ) -> App {
        App {
            title: title.into(),
            levels,
            interval_ms,
            targets: targets
                .into_iter()
                .map(|(n, d)| TargetState::new(n, d))
                .collect(),
            selected: 0,
            window: 0,
            paused: false,
            pending: VecDeque::new(),
            show_help: false,
            status: None,
            now_ms: 0,
            count: None,
            link: None,
            quit: false,
        }
    }

    pub fn window_ms(&self) -> i64 {
        WINDOWS[self.window].1
    }

    pub fn window_label(&self) -> &'static str {
        WINDOWS[self.window].0
    }

    /// Whether some target's latest sample is down (`watch` then exits 2, like `check`).
    pub fn any_down(&self) -> bool {
        self.targets
            .iter()
            .any(|t| t.latest.as_ref().is_some_and(|s| !s.up))
    }

    pub fn selected_target(&self) -> Option<&TargetState> {
        self.targets.get(self.selected)
    }

    fn set_status(&mut self, now_ms: i64, text: impl Into<String>) {
        self.status = Some((now_ms, text.into()));
    }

    fn index_of(&mut self, name: &str) -> usize {
        if let Some(i) = self.targets.iter().position(|t| t.name == name) {
            return i;
        }
        // A target the agent started watching after we began.
        self.targets.push(TargetState::new(name.to_string(), false));
        self.targets.len() - 1
    }

    /// Apply one event; returns the IO it asks for.
    pub fn handle(&mut self, event: Event, now_ms: i64) -> Vec<Command> {
        self.now_ms = now_ms;
        let mut commands = Vec::new();
        match event {
            Event::Sample(sample) => {
                let i = self.index_of(&sample.target);
                self.targets[i].received += 1;
                if self.paused {
                    if self.pending.len() == MAX_PENDING {
                        self.pending.pop_front();
                    }
                    self.pending.push_back(*sample);
                } else {
                    commands.extend(self.apply(i, *sample, now_ms));
                }
                if let Some(n) = self.count {
                    if self.targets.iter().all(|t| t.received >= n) {
                        self.quit = true;
                    }
                }
            }
            Event::History { target, samples } => {
                let i = self.index_of(&target);
                let window = self.window_ms();
                let t = &mut self.targets[i];
                for s in &samples {
                    t.push(s);
                }
                if t.latest.is_none() {
                    t.latest = samples.last().cloned();
                }
                t.refit(window);
            }
            Event::Dump {
                target,
                reason,
                result,
            } => {
                let i = self.index_of(&target);
                let t = &mut self.targets[i];
                t.dump_in_flight = false;
                let text = match result {
                    Ok(view) => {
                        let text = format!(
                            "dump of {} ({}): {} goroutines, {} suspect{} over {} dump{}",
                            t.name,
                            reason.word(),
                            view.goroutines,
                            view.suspects.len(),
                            if view.suspects.len() == 1 { "" } else { "s" },
                            view.snapshots,
                            if view.snapshots == 1 { "" } else { "s" },
                        );
                        t.dump = Some(view);
                        t.dump_error = None;
                        text
                    }
                    Err(e) => {
                        if reason != DumpReason::Manual {
                            t.auto_dump_off = true;
                        }
                        let text = format!("dump of {} failed: {e}", t.name);
                        t.dump_error = Some(e);
                        text
                    }
                };
                self.set_status(now_ms, text);
            }
            Event::Key(key) => commands.extend(self.key(key, now_ms)),
            Event::Resize | Event::Tick => {}
            Event::Quit => self.quit = true,
            Event::Status(text) => self.set_status(now_ms, text),
        }
        commands
    }

    fn apply(&mut self, i: usize, sample: Sample, now_ms: i64) -> Option<Command> {
        let window = self.window_ms();
        let gap = AUTO_DUMP_MIN_GAP_MS.max(5 * self.interval_ms);
        let t = &mut self.targets[i];
        t.push(&sample);
        t.latest = Some(sample);
        t.refit(window);
        // Automatic dumps: a baseline first, then only when the target grew, rate-limited.
        let g = t.latest.as_ref().filter(|s| s.up)?.metrics.goroutines?;
        if !t.dumpable || t.auto_dump_off || t.dump_in_flight {
            return None;
        }
        let reason = match t.last_dump {
            None => DumpReason::Baseline,
            Some((at, before)) if now_ms - at >= gap && g >= before + (before / 10).max(10) => {
                DumpReason::Growth
            }
            Some(_) => return None,
        };
        t.dump_in_flight = true;
        t.last_dump = Some((now_ms, g));
        Some(Command::Dump {
            target: t.name.clone(),
            reason,
        })
    }

    fn key(&mut self, key: KeyEvent, now_ms: i64) -> Option<Command> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit = true,
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Esc if self.show_help => self.show_help = false,
            KeyCode::Esc => self.quit = true,
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => {
                self.show_help = !self.show_help;
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.targets.len().saturating_sub(1));
            }
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => {
                self.selected = self.targets.len().saturating_sub(1);
            }
            KeyCode::Char('p') | KeyCode::Char(' ') => {
                self.paused = !self.paused;
                if self.paused {
                    self.set_status(
                        now_ms,
                        "paused: new samples are kept and shown on resume (p)",
                    );
                } else {
                    let held = std::mem::take(&mut self.pending);
                    let n = held.len();
                    for s in held {
                        let i = self.index_of(&s.target);
                        // Catch-up samples do not trigger automatic dumps of the past.
                        let window = self.window_ms();
                        let t = &mut self.targets[i];
                        t.push(&s);
                        t.latest = Some(s);
                        t.refit(window);
                    }
                    self.set_status(
                        now_ms,
                        format!(
                            "resumed ({} caught up)",
                            crate::view::plural(n as u64, "sample")
                        ),
                    );
                }
            }
            KeyCode::Char('w') => {
                self.window = (self.window + 1) % WINDOWS.len();
                let window = self.window_ms();
                for t in &mut self.targets {
                    t.refit(window);
                }
                self.set_status(now_ms, format!("window {}", self.window_label()));
            }
            KeyCode::Char('d') => return self.manual_dump(now_ms),
            _ => {}
        }
        None
    }

    fn manual_dump(&mut self, now_ms: i64) -> Option<Command> {
        let t = self.targets.get_mut(self.selected)?;
        let name = t.name.clone();
        if !t.dumpable {
            self.set_status(
                now_ms,
                format!(
                    "the agent takes {name}'s dumps (on alerts, or `leakhound capture {name}`); its newest bundle shows here. To dump now, `leakhound watch URL`"
                ),
            );
            return None;
        }
        if t.dump_in_flight {
            self.set_status(now_ms, format!("a dump of {name} is already running"));
            return None;
        }
        t.dump_in_flight = true;
        let g = t
            .latest
            .as_ref()
            .and_then(|s| s.metrics.goroutines)
            .unwrap_or(0);
        t.last_dump = Some((now_ms, g));
        self.set_status(
            now_ms,
            format!("taking a goroutine dump of {name} (debug=1)…"),
        );
        Some(Command::Dump {
            target: name,
            reason: DumpReason::Manual,
        })
    }

    /// The loop could not carry out a dump command (queue full): undo the in-flight mark.
    pub fn dump_not_started(&mut self, target: &str, why: &str, now_ms: i64) {
        if let Some(t) = self.targets.iter_mut().find(|t| t.name == target) {
            t.dump_in_flight = false;
        }
        self.set_status(now_ms, format!("dump of {target} not taken: {why}"));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use leakhound_core::Metrics;

    pub(crate) fn sample(name: &str, ts_ms: i64, g: u64) -> Sample {
        Sample {
            target: name.into(),
            ts_ms,
            up: true,
            error: None,
            latency_ms: 2.0,
            source: "health".into(),
            metrics: Metrics {
                goroutines: Some(g),
                sys_bytes: Some(64 << 20),
                ..Metrics::default()
            },
        }
    }

    fn key(c: char) -> Event {
        Event::Key(KeyEvent::from(KeyCode::Char(c)))
    }

    #[test]
    fn baseline_dump_then_only_on_growth_and_rate_limited() {
        let mut app = App::new("t", Levels::default(), 1000, vec![("a".into(), true)]);
        let c = app.handle(Event::from(sample("a", 1000, 100)), 1000);
        assert_eq!(
            c,
            vec![Command::Dump {
                target: "a".into(),
                reason: DumpReason::Baseline
            }]
        );
        // In flight: nothing more.
        assert!(app
            .handle(Event::from(sample("a", 2000, 500)), 2000)
            .is_empty());
        app.handle(
            Event::Dump {
                target: "a".into(),
                reason: DumpReason::Baseline,
                result: Err("HTTP 404".into()),
            },
            2500,
        );
        // A failed automatic dump turns automatic dumps off; a manual one still works.
        assert!(app
            .handle(Event::from(sample("a", 40_000, 900)), 40_000)
            .is_empty());
        assert_eq!(app.handle(key('d'), 40_001).len(), 1);

        let mut app = App::new("t", Levels::default(), 1000, vec![("a".into(), true)]);
        app.handle(Event::from(sample("a", 0, 100)), 0);
        app.handle(
            Event::Dump {
                target: "a".into(),
                reason: DumpReason::Baseline,
                result: Ok(DumpView {
                    at_ms: 0,
                    goroutines: 100,
                    snapshots: 1,
                    suspects: vec![],
                    largest: vec![],
                }),
            },
            100,
        );
        // Grew, but too soon.
        assert!(app
            .handle(Event::from(sample("a", 10_000, 200)), 10_000)
            .is_empty());
        // Not grown enough.
        assert!(app
            .handle(Event::from(sample("a", 31_000, 105)), 31_000)
            .is_empty());
        // Grown and late enough.
        assert_eq!(
            app.handle(Event::from(sample("a", 32_000, 150)), 32_000),
            vec![Command::Dump {
                target: "a".into(),
                reason: DumpReason::Growth
            }]
        );
    }

    #[test]
    fn keys_select_pause_window_quit() {
        let mut app = App::new(
            "t",
            Levels::default(),
            1000,
            vec![("a".into(), false), ("b".into(), false)],
        );
        app.handle(key('j'), 0);
        app.handle(key('j'), 0);
        assert_eq!(app.selected, 1);
        app.handle(key('k'), 0);
        assert_eq!(app.selected, 0);
        app.handle(key('w'), 0);
        assert_eq!(app.window_label(), "30m");
        app.handle(key('p'), 0);
        app.handle(Event::from(sample("a", 1000, 3000)), 1000);
        assert!(app.targets[0].latest.is_none(), "paused: not shown yet");
        app.handle(key('p'), 2000);
        assert_eq!(
            app.targets[0].level(&app.levels),
            RowLevel::Alert(Some(Severity::Warning))
        );
        app.handle(key('?'), 0);
        assert!(app.show_help);
        app.handle(Event::Key(KeyEvent::from(KeyCode::Esc)), 0);
        assert!(!app.show_help && !app.quit);
        app.handle(
            Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            0,
        );
        assert!(app.quit);
    }

    #[test]
    fn count_quits_when_every_target_has_enough() {
        let mut app = App::new(
            "t",
            Levels::default(),
            1000,
            vec![("a".into(), false), ("b".into(), false)],
        );
        app.count = Some(2);
        for ts in [1, 2, 3] {
            app.handle(Event::from(sample("a", ts, 1)), ts);
        }
        assert!(!app.quit);
        app.handle(Event::from(sample("b", 4, 1)), 4);
        app.handle(Event::from(sample("b", 5, 1)), 5);
        assert!(app.quit);
    }

    #[test]
    fn history_merges_in_time_order_and_trends() {
        let mut app = App::new("t", Levels::default(), 1000, vec![("a".into(), false)]);
        app.handle(Event::from(sample("a", 600_000, 1600)), 600_000);
        let older: Vec<Sample> = (0..10)
            .map(|i| sample("a", i * 60_000, 1000 + i as u64 * 60))
            .collect();
        app.handle(
            Event::History {
                target: "a".into(),
                samples: older,
            },
            600_000,
        );
        let t = &app.targets[0];
        let ts: Vec<i64> = t.points_in(i64::MAX).map(|p| p.ts_ms).collect();
        assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
        // The 5m window holds the last 6 points; 2h all 11.
        assert_eq!(t.points_in(300_000).count(), 6);
        assert_eq!(trend_text(t.trend.as_ref()), "↑ +3600/h");
    }
}
