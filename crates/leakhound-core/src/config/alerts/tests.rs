use super::super::{Config, ConfigErrors, EXAMPLE};
use super::*;

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(text, &|_| None)
}

#[test]
fn no_section_and_the_example_give_the_built_in_rules() {
    assert_eq!(parse("").unwrap().alerts, AlertsConfig::default());
    assert_eq!(parse(EXAMPLE).unwrap().alerts, AlertsConfig::default());
    let defaults = AlertsConfig::default();
    let ids: Vec<&str> = defaults.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "goroutines_warning",
            "goroutines_urgent",
            "goroutines_critical",
            "memory_warning",
            "memory_critical",
            "goroutines_growth",
            "memory_growth",
            "goroutines_baseline",
            "memory_baseline",
            "target_down",
            "goroutines_leaked"
        ]
    );
}

#[test]
fn level_rules_follow_the_levels_section() {
    let config =
        parse("[levels]\nurgent = 6000\nmemory = [\"1GB\", \"2GB\", \"6GB\", \"8GB\"]\n").unwrap();
    let above = |id: &str| match config.alerts.rule(id).unwrap().kind {
        RuleKind::Level { above, .. } => above,
        _ => panic!("{id} is not a level rule"),
    };
    assert_eq!(above("goroutines_urgent"), 6000);
    assert_eq!(above("memory_warning"), 6 << 30);
}

#[test]
fn overrides_disabling_and_new_rules() {
    let config = parse(
        r#"
[alerts]
repeat_interval = "1h"
send_resolved = false

[alerts.rules.goroutines_urgent]
for = "2m"
hysteresis = 5
repeat_interval = "0s"

[alerts.rules.memory_growth]
enabled = false

[alerts.rules.goroutines_growth]
window = "1h"
short_window = "10m"
min_growth_per_hour = 100
min_r_squared = 0.9

[alerts.rules.goroutines_8k]
kind = "level"
above = 8000
severity = "urgent"

[alerts.rules.rss_fast]
kind = "trend"
metric = "memory"
min_growth_per_hour = "1GB"
"#,
    )
    .unwrap();
    let a = &config.alerts;
    let urgent = a.rule("goroutines_urgent").unwrap();
    assert_eq!(urgent.hold, Duration::from_secs(120));
    assert_eq!(urgent.hysteresis_percent, 5.0);
    assert!(urgent.repeat_interval.is_zero());
    assert!(!urgent.send_resolved);
    assert_eq!(
        a.rule("goroutines_warning").unwrap().repeat_interval,
        Duration::from_secs(3600)
    );
    assert!(a.rule("memory_growth").is_none());
    assert_eq!(
        a.rule("goroutines_growth").unwrap().kind,
        RuleKind::Trend {
            metric: Metric::Goroutines,
            window: Duration::from_secs(3600),
            short_window: Duration::from_secs(600),
            min_points: 9,
            min_growth_per_hour: 100.0,
            min_r_squared: 0.9,
            confidence: DEFAULT_TREND_CONFIDENCE,
            classify: GrowthClass::Leak,
        }
    );
    let custom = a.rule("goroutines_8k").unwrap();
    assert_eq!(custom.severity, Severity::Urgent);
    assert_eq!(
        custom.kind,
        RuleKind::Level {
            metric: Metric::Goroutines,
            above: 8000
        }
    );
    assert!(matches!(
        a.rule("rss_fast").unwrap().kind,
        RuleKind::Trend { metric: Metric::Memory, min_growth_per_hour, .. } if min_growth_per_hour == (1u64 << 30) as f64
    ));
    let disabled = parse("[alerts]\nenabled = false\n").unwrap().alerts;
    assert!(disabled.active_rules().is_empty());
}

#[test]
fn every_alerts_mistake_is_reported_with_its_line() {
    let text = r#"[alerts]
repeat_intervall = "4h"
send_resolved = "yes"

[alerts.rules.goroutines_urgnt]
for = "1m"

[alerts.rules.goroutines_warning]
kind = "trend"
hysteresis = 150
for = "soon"

[alerts.rules.mine]
kind = "level"
severity = "fatal"

[alerts.rules.slope]
kind = "trend"
window = "5m"
short_window = "10m"
min_r_squared = 2
min_points = 1
"#;
    let errs = parse(text).unwrap_err().0;
    let find = |path: &str| {
        errs.iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no error for {path}: {errs:#?}"))
            .clone()
    };
    let e = find("alerts.repeat_intervall");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("did you mean 'repeat_interval'"), "{e}");
    let e = find("alerts.send_resolved");
    assert_eq!(e.line, 3);
    assert!(
        e.message.contains("'yes'") && e.message.contains("true or false"),
        "{e}"
    );
    let e = find("alerts.rules.goroutines_urgnt");
    assert_eq!(e.line, 5);
    assert!(
        e.message.contains("did you mean 'goroutines_urgent'"),
        "{e}"
    );
    let e = find("alerts.rules.goroutines_warning.kind");
    assert_eq!(e.line, 9);
    assert!(
        e.message.contains("'trend'") && e.message.contains("another id"),
        "{e}"
    );
    let e = find("alerts.rules.goroutines_warning.hysteresis");
    assert_eq!(e.line, 10);
    assert!(e.message.contains("'150'"), "{e}");
    let e = find("alerts.rules.goroutines_warning.for");
    assert_eq!(e.line, 11);
    assert!(
        e.message.contains("'soon'") && e.message.contains("'5m'"),
        "{e}"
    );
    let e = find("alerts.rules.mine.above");
    assert!(e.message.contains("needs 'above'"), "{e}");
    let e = find("alerts.rules.mine.severity");
    assert_eq!(e.line, 15);
    assert!(
        e.message.contains("'fatal'") && e.message.contains("urgent"),
        "{e}"
    );
    let e = find("alerts.rules.slope.short_window");
    assert!(
        e.message.contains("'10m'") && e.message.contains("'5m'"),
        "{e}"
    );
    assert_eq!(find("alerts.rules.slope.min_r_squared").line, 21);
    assert_eq!(find("alerts.rules.slope.min_points").line, 22);
    assert!(errs.len() >= 11, "{errs:#?}");
    // Reported in file order.
    assert!(errs.windows(2).all(|w| w[0].line <= w[1].line));
}
