//! Drawing: one pure function from the [`App`] state to a frame. No IO, no clock.

use super::app::{trend_text, App, Point, RowLevel, TargetState};
use crate::view::sparkline;
use goroutine_dump::SuspectRow;
use leakhound_core::units::{human_bytes, human_duration};
use leakhound_core::Severity;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Clear, Dataset, GraphType, Paragraph, Row, Table,
    TableState, Wrap,
};
use ratatui::Frame;
use std::time::Duration;

/// Below this size the view says so instead of drawing.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

fn level_color(level: RowLevel) -> Color {
    match level {
        RowLevel::Unknown => Color::DarkGray,
        RowLevel::Down => Color::Red,
        RowLevel::Alert(None | Some(Severity::Info)) => Color::Green,
        RowLevel::Alert(Some(Severity::Warning)) => Color::Yellow,
        RowLevel::Alert(Some(Severity::Urgent)) => Color::LightRed,
        RowLevel::Alert(Some(Severity::Critical)) => Color::Red,
    }
}

fn ago(now_ms: i64, then_ms: i64) -> String {
    let secs = u64::try_from((now_ms - then_ms).max(0) / 1000).unwrap_or(0);
    format!("{} ago", human_duration(Duration::from_secs(secs)))
}

/// Draw the whole view.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small ({}x{}): need {MIN_WIDTH}x{MIN_HEIGHT}; q quits",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let rows = u16::try_from(app.targets.len()).unwrap_or(u16::MAX);
    let table_height = rows.saturating_add(3).min((area.height * 2 / 5).max(5));
    let [header, table, detail, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table_height),
        Constraint::Min(6),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, app, header);
    draw_table(frame, app, table);
    if let Some(t) = app.selected_target() {
        draw_detail(frame, app, t, detail);
    }
    draw_footer(frame, app, footer);
    if app.show_help {
        draw_help(frame, area);
    }
}

fn draw_header(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![Span::styled(
        app.title.clone(),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    if let Some(link) = &app.link {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            link.clone(),
            Style::new()
                .fg(Color::Cyan)
                .add_modifier(Modifier::UNDERLINED),
        ));
    }
    spans.extend([Span::raw(format!(
        " · {} target{} · every {} · window {}",
        app.targets.len(),
        if app.targets.len() == 1 { "" } else { "s" },
        human_duration(Duration::from_millis(
            u64::try_from(app.interval_ms).unwrap_or(0)
        )),
        app.window_label()
    ))]);
    if app.paused {
        spans.push(Span::styled(
            " · PAUSED",
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The row sparkline: the window's goroutine counts squeezed into `width` columns (the peak of
/// each column, so a spike stays visible).
fn row_sparkline(points: &[&Point], width: usize) -> String {
    let values: Vec<u64> = points.iter().filter_map(|p| p.goroutines).collect();
    if width == 0 || values.is_empty() {
        return String::new();
    }
    let per = values.len().div_ceil(width);
    let peaks: Vec<u64> = values
        .chunks(per.max(1))
        .map(|c| c.iter().copied().max().unwrap_or(0))
        .collect();
    sparkline(&peaks)
}

fn draw_table(frame: &mut Frame, app: &App, area: Rect) {
    let name_width = app
        .targets
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 28);
    let name_width = u16::try_from(name_width).unwrap_or(28);
    let widths = [
        Constraint::Length(name_width),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Min(0),
    ];
    // Columns left for the sparkline: borders, highlight symbol, column gaps.
    let fixed = name_width + 10 + 8 + 8 + 10 + 2 + 2 + 5;
    let spark_width = usize::from(area.width.saturating_sub(fixed));
    let header = Row::new([
        "TARGET".to_string(),
        "GOROUTINES".to_string(),
        "MEMORY".to_string(),
        "ALERT".to_string(),
        "TREND".to_string(),
        format!("LAST {}", app.window_label()),
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let window = app.window_ms();
    let rows: Vec<Row> = app
        .targets
        .iter()
        .map(|t| {
            let level = t.level(&app.levels);
            let style = Style::new().fg(level_color(level));
            let (g, mem, trend, spark) = match &t.latest {
                Some(s) if s.up => {
                    let points: Vec<&Point> = t.points_in(window).collect();
                    (
                        s.metrics
                            .goroutines
                            .map_or_else(|| "?".into(), |g| g.to_string()),
                        s.metrics
                            .memory_used_bytes()
                            .map_or_else(|| "-".into(), human_bytes),
                        trend_text(t.trend.as_ref()),
                        row_sparkline(&points, spark_width),
                    )
                }
                Some(s) => (
                    "-".into(),
                    "-".into(),
                    String::new(),
                    s.error.clone().unwrap_or_else(|| "no answer".into()),
                ),
                None => ("…".into(), String::new(), String::new(), String::new()),
            };
            Row::new([
                Cell::from(t.name.clone()),
                Cell::from(Line::from(g).alignment(Alignment::Right)),
                Cell::from(Line::from(mem).alignment(Alignment::Right)),
                Cell::from(Span::styled(
                    level.word(),
                    style.add_modifier(Modifier::BOLD),
                )),
                Cell::from(trend),
                Cell::from(Span::styled(spark, style)),
            ])
        })
        .collect();
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_detail(frame: &mut Frame, app: &App, t: &TargetState, area: Rect) {
    let level = t.level(&app.levels);
    let mut title = format!(" {} ", t.name);
    if let Some(s) = t.latest.as_ref().filter(|s| s.up) {
        if let Some(g) = s.metrics.goroutines {
            let state = app.levels.goroutines.state(g);
            title = format!(
                " {} · {g} goroutines · health {}, action {} · via {} ",
                t.name,
                state.word(),
                state.action(),
                s.source
            );
        }
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, Style::new().fg(level_color(level))));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let (charts, suspects) = if inner.width >= 100 {
        let [a, b] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
            .areas(inner);
        (a, b)
    } else {
        let [a, b] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(inner);
        (a, b)
    };
    let [goroutines, memory] =
        Layout::vertical([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(charts);
    let window = app.window_ms();
    let points: Vec<&Point> = t.points_in(window).collect();
    let end = points.last().map_or(0, |p| p.ts_ms);
    let series = |f: &dyn Fn(&Point) -> Option<f64>| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter_map(|p| f(p).map(|v| ((p.ts_ms - end) as f64 / 1000.0, v)))
            .collect()
    };
    let g = series(&|p| p.goroutines.map(|g| g as f64));
    chart(
        frame,
        goroutines,
        "goroutines",
        &g,
        window,
        level_color(level),
        &|v| format!("{v:.0}"),
    );
    let m = series(&|p| p.memory.map(|b| b as f64));
    chart(frame, memory, "memory", &m, window, Color::Cyan, &|v| {
        human_bytes(v.max(0.0) as u64)
    });
    draw_suspects(frame, app, t, suspects);
}

fn chart(
    frame: &mut Frame,
    area: Rect,
    name: &str,
    data: &[(f64, f64)],
    window_ms: i64,
    color: Color,
    label: &dyn Fn(f64) -> String,
) {
    if data.is_empty() {
        let text = format!("{name}: no readings in this window");
        frame.render_widget(
            Paragraph::new(text).style(Style::new().fg(Color::DarkGray)),
            area,
        );
        return;
    }
    let (lo, hi) = data
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let pad = ((hi - lo) * 0.1).max(1.0);
    let (lo, hi) = ((lo - pad).max(0.0), hi + pad);
    // The window, or less while there is less data (at least a minute), so a young series
    // fills the chart instead of a sliver at its right edge.
    let oldest = data.iter().map(|p| p.0).fold(0.0, f64::min);
    let span = (-oldest).clamp(60.0, window_ms as f64 / 1000.0);
    let window_text = human_duration(Duration::from_secs(span.round() as u64));
    let dataset = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(Style::new().fg(color))
        .data(data);
    let widget = Chart::new(vec![dataset])
        .x_axis(
            Axis::default()
                .bounds([-span, 0.0])
                .labels([format!("-{window_text}"), "now".to_string()])
                .style(Style::new().fg(Color::DarkGray)),
        )
        .y_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels([label(lo), label(hi)])
                .style(Style::new().fg(Color::DarkGray)),
        )
        .block(Block::default().title(Span::styled(
            name.to_string(),
            Style::new().fg(color).add_modifier(Modifier::BOLD),
        )))
        .legend_position(None);
    frame.render_widget(widget, area);
}

/// Two lines per call site, from the shared suspect cells: the growth (`+290 (10→300)`) or
/// the count, and the function; then where, what it waits on and its labels.
fn site_lines(row: &SuspectRow, growth: bool, out: &mut Vec<Line<'static>>) {
    let count = match row.growth.filter(|_| growth) {
        Some(g) => format!("{g:+} ({})", row.counts_text()),
        None => row.count().to_string(),
    };
    out.push(Line::from(vec![
        Span::styled(format!("{count} "), Style::new().fg(Color::Yellow)),
        Span::styled(
            row.short_function().to_string(),
            Style::new().add_modifier(Modifier::BOLD),
        ),
    ]));
    let mut detail = vec![Span::raw(format!("    {}", row.location))];
    // debug=1 profiles do not say what a goroutine waits on ("?"): leave it out.
    if let Some(b) = row.blocking_known() {
        detail.push(Span::raw(format!(" · {b}")));
    }
    if !row.labels.is_empty() {
        detail.push(Span::styled(
            format!(
                " · {}",
                goroutine_dump::labels_text(&row.labels, row.count())
            ),
            Style::new().fg(Color::Cyan),
        ));
    }
    out.push(Line::from(detail));
}

fn draw_suspects(frame: &mut Frame, app: &App, t: &TargetState, area: Rect) {
    let mut lines: Vec<Line> = Vec::new();
    let mut title = " suspects ".to_string();
    if !t.dumpable && t.dump.is_none() {
        lines.push(Line::from(
            "No goroutine dumps in this view (no pprof URL for this target; a running agent's \
             evidence bundles show here once it captures one).",
        ));
    } else if let Some(d) = &t.dump {
        title = format!(
            " suspects · {} dump{} · last {} ",
            d.snapshots,
            if d.snapshots == 1 { "" } else { "s" },
            ago(app.now_ms, d.at_ms)
        );
        if !d.suspects.is_empty() {
            for row in &d.suspects {
                site_lines(row, true, &mut lines);
            }
        } else {
            lines.push(Line::from(if d.snapshots < 2 && !t.dumpable {
                format!(
                    "The agent's newest bundle ({} goroutines); the next one shows what grew.",
                    d.goroutines
                )
            } else if d.snapshots < 2 {
                format!(
                    "One dump so far ({} goroutines): d again later shows what grows.",
                    d.goroutines
                )
            } else {
                format!(
                    "Nothing kept growing over {} dumps ({} goroutines now).",
                    d.snapshots, d.goroutines
                )
            }));
            lines.push(Line::from("Largest groups:"));
            for row in &d.largest {
                site_lines(row, false, &mut lines);
            }
        }
    } else if t.dump_in_flight {
        lines.push(Line::from("Taking a goroutine dump (debug=1)…"));
    } else {
        lines.push(Line::from("No dump yet: press d to take one."));
    }
    if t.dump_in_flight && t.dump.is_some() {
        title.push_str("· dumping… ");
    }
    if let Some(e) = &t.dump_error {
        lines.push(Line::from(Span::styled(
            format!("last dump failed: {e}"),
            Style::new().fg(Color::Red),
        )));
    }
    let block = Block::default().borders(Borders::TOP).title(title);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let line = match &app.status {
        Some((_, text)) => Line::from(vec![
            Span::styled(text.clone(), Style::new().fg(Color::Yellow)),
            Span::styled("   ? help", Style::new().fg(Color::DarkGray)),
        ]),
        None => Line::from(Span::styled(
            "↑↓/jk select · p pause · w window · d dump · ? help · q quit",
            Style::new().fg(Color::DarkGray),
        )),
    };
    frame.render_widget(Paragraph::new(line), area);
}

const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "select a target"),
    ("p, space", "pause / resume (samples are kept)"),
    ("w", "chart window: 5m → 30m → 2h"),
    ("d", "take a goroutine dump now (debug=1); suspects update"),
    ("?", "this help"),
    ("q, Esc, Ctrl-C", "quit"),
];

fn draw_help(frame: &mut Frame, area: Rect) {
    let width = area.width.min(70);
    let height = area.height.min(u16::try_from(HELP.len()).unwrap_or(8) + 6);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:>16}  "),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(
        "Alert levels ([levels], docs/guide.md §9): normal, warning, urgent, critical; down when a probe fails. Dumps are also taken on their own when a target grows.",
    ));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(" keys ")),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::super::app::tests::sample;
    use super::super::app::{DumpReason, DumpView, Event};
    use super::*;
    use leakhound_core::config::Levels;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn screen(app: &App, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| draw(f, app)).unwrap();
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect())
            .collect()
    }

    fn app_with_two() -> App {
        let mut levels = Levels::default();
        levels.alert.warning = 100;
        levels.alert.urgent = 200;
        levels.alert.critical = 300;
        let mut app = App::new(
            "leakhound watch",
            levels,
            1000,
            vec![("leaky".into(), true), ("calm".into(), false)],
        );
        for i in 0..30 {
            let ts = i * 1000;
            app.handle(Event::from(sample("leaky", ts, 50 + i as u64 * 10)), ts);
            app.handle(Event::from(sample("calm", ts, 40)), ts);
        }
        app
    }

    fn row<'a>(lines: &'a [String], name: &str) -> &'a str {
        lines
            .iter()
            .find(|l| l.contains(&format!(" {name} ")) && l.contains("MB"))
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", lines.join("\n")))
    }

    #[test]
    fn rows_show_counts_level_words_trend_and_sparkline() {
        let app = app_with_two();
        let lines = screen(&app, 120, 40);
        let leaky = row(&lines, "leaky");
        assert!(leaky.contains("340"), "{leaky}");
        assert!(leaky.contains("critical"), "{leaky}");
        assert!(leaky.contains("↑ +36000/h"), "{leaky}");
        assert!(leaky.contains('█'), "{leaky}");
        let calm = row(&lines, "calm");
        assert!(calm.contains("normal"), "{calm}");
        assert!(calm.contains("→ stable") || calm.contains('·'), "{calm}");
        assert!(lines[0].contains("2 targets"), "{}", lines[0]);
        // The column says which scale its words are: the alert levels, not the health table.
        assert!(
            lines.iter().any(|l| l.contains(" ALERT ")),
            "{}",
            lines.join("\n")
        );
        // The detail pane is about the selected target (the first).
        assert!(
            lines
                .iter()
                .any(|l| l.contains("leaky · 340 goroutines · health excellent, action none")),
            "{}",
            lines.join("\n")
        );
    }

    /// Issue 13: `demo` printed its dashboard URL before the full-screen view, which hid it.
    #[test]
    fn header_shows_the_link_beside_the_title() {
        let mut app = app_with_two();
        app.title = "leakhound demo".into();
        app.link = Some("dashboard http://127.0.0.1:41234/".into());
        let lines = screen(&app, 80, 24);
        assert!(
            lines[0].starts_with("leakhound demo · dashboard http://127.0.0.1:41234/ · 2 targets"),
            "{}",
            lines[0]
        );
        // At the narrowest size the view draws, the address still shows whole.
        let lines = screen(&app, MIN_WIDTH + 10, MIN_HEIGHT);
        assert!(lines[0].contains("http://127.0.0.1:41234/"), "{}", lines[0]);
    }

    #[test]
    fn suspects_pane_names_the_growing_call_sites() {
        let mut app = app_with_two();
        let site = |f: &str, first: u64, last: u64| SuspectRow {
            function: f.into(),
            location: "relay.go:42".into(),
            counts: vec![first, last],
            growth: Some(last as i64 - first as i64),
            since: "the first snapshot".into(),
            confidence: None,
            blocking: "chan receive".into(),
            labels: vec![goroutine_dump::LabelCount {
                key: "channel".into(),
                value: "openai".into(),
                count: last,
            }],
            oldest_minutes: None,
            created_by: None,
            reasons: vec![],
        };
        app.handle(
            Event::Dump {
                target: "leaky".into(),
                reason: DumpReason::Manual,
                result: Ok(DumpView {
                    at_ms: 25_000,
                    goroutines: 340,
                    snapshots: 2,
                    suspects: vec![site("leaks.(*Relay).waitReply", 0, 290)],
                    largest: vec![],
                }),
            },
            29_000,
        );
        let text = screen(&app, 120, 40).join("\n");
        assert!(text.contains("leaks.(*Relay).waitReply"), "{text}");
        assert!(text.contains("+290 (0→290)"), "{text}");
        assert!(text.contains("2 dumps · last 4s ago"), "{text}");
        assert!(text.contains("dump of leaky (on request)"), "{text}");
    }

    #[test]
    fn small_and_tiny_terminals() {
        let app = app_with_two();
        let lines = screen(&app, 60, 20);
        assert!(row(&lines, "leaky").contains("critical"));
        let tiny = screen(&app, 20, 5).join("\n");
        assert!(tiny.contains("terminal"), "{tiny}");
        assert!(tiny.contains("too small"), "{tiny}");
        // Degenerate sizes must not panic either.
        for (w, h) in [(0, 0), (1, 1), (40, 10), (41, 11), (300, 100)] {
            screen(&app, w, h);
        }
    }

    #[test]
    fn help_and_pause_are_visible() {
        let mut app = app_with_two();
        app.handle(
            Event::Key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char('p'),
            )),
            30_000,
        );
        app.handle(
            Event::Key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char('?'),
            )),
            30_000,
        );
        let text = screen(&app, 100, 30).join("\n");
        assert!(text.contains("PAUSED"), "{text}");
        assert!(text.contains("take a goroutine dump now"), "{text}");
    }
}

/// A measurement, not a check: compiled only into release test builds, so `scripts/test`
/// (debug, `--include-ignored`) never runs it — in a debug build it takes half an hour.
#[cfg(all(test, not(debug_assertions)))]
mod cost {
    use super::super::app::tests::sample;
    use super::super::app::Event;
    use super::*;
    use leakhound_core::config::Levels;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use std::time::Instant;

    /// How long one frame and one sample cost with 50 targets × 2 h of 1 s samples (printed;
    /// run with `cargo test --release -p leakhound --bin leakhound frame_cost -- --ignored --nocapture`).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn frame_cost() {
        let names: Vec<(String, bool)> = (0..50).map(|i| (format!("svc-{i}"), true)).collect();
        let mut app = App::new("leakhound watch", Levels::default(), 1000, names);
        app.handle(
            Event::Key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char('w'),
            )),
            0,
        );
        app.handle(
            Event::Key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char('w'),
            )),
            0,
        );
        let started = Instant::now();
        for s in 0..7200i64 {
            for i in 0..50 {
                let g = 1000 + (s as u64 * (i % 3)) / 10;
                app.handle(
                    Event::from(sample(&format!("svc-{i}"), s * 1000, g)),
                    s * 1000,
                );
            }
        }
        let per_sample = started.elapsed() / (7200 * 50);
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
        let started = Instant::now();
        for _ in 0..20 {
            terminal.draw(|f| draw(f, &app)).unwrap();
        }
        let per_frame = started.elapsed() / 20;
        println!("50 targets x 7200 points, window 2h: {per_sample:?} per sample, {per_frame:?} per 200x60 frame");
    }
}
