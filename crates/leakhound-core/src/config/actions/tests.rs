use super::*;
use crate::config::Config;

fn parse(text: &str) -> Result<Config, crate::config::ConfigErrors> {
    Config::parse(text, &|_| None)
}

const TARGET: &str = "[[targets]]\nname = \"one-api\"\nurl = \"http://127.0.0.1:3000\"\n";

#[test]
fn the_init_examples_evidence_and_action_parse_when_uncommented() {
    let text = crate::config::example_uncommented("[evidence]");
    let config = parse(&text).unwrap();
    let actions = &config.actions.actions;
    assert_eq!(actions.len(), 1, "{text}");
    assert_eq!(
        (actions[0].name.as_str(), actions[0].target.as_str()),
        ("restart", "one-api")
    );
    assert!(format!("{:?}", actions[0]).contains("docker-compose"));
}

#[test]
fn the_guides_auto_restart_as_config() {
    let text = format!(
        r#"[agent]
actions_enabled = true

[evidence]
dir = "/var/lib/leakhound/evidence"
min_interval = "10m"
max_total_bytes = "500MB"

{TARGET}
[[actions]]
name = "restart"
target = "one-api"
kind = "command"
argv = ["docker-compose", "restart", "one-api"]
on = "goroutines_critical"
for = "2m"
cooldown = "15m"
max_runs = 3
window = "1h"
"#
    );
    let c = parse(&text).unwrap().actions;
    assert!(c.enabled);
    assert_eq!(c.evidence.max_total_bytes, 500 << 20);
    let a = &c.actions[0];
    assert_eq!(a.target, "one-api");
    assert_eq!(
        a.kind,
        ActionKind::Command {
            argv: vec!["docker-compose".into(), "restart".into(), "one-api".into()],
            env: vec!["PATH".into(), "HOME".into()],
            cwd: None
        }
    );
    assert_eq!(a.on, Trigger::Rule("goroutines_critical".into()));
    assert_eq!(a.trigger_rules, vec!["goroutines_critical".to_string()]);
    assert_eq!(a.hold, Duration::from_secs(120));
    assert_eq!(a.max_runs, 3);
    // The default recovery mark is the rule's clear mark: 10000 × 0.9.
    assert_eq!(a.recover_below, 9000);
    assert!(a.require_evidence);

    let urgent = parse(&format!(
        "{TARGET}[[actions]]\nkind = \"container\"\ncontainer = \"one-api\"\non = \"goroutines_urgent\"\n"
    ))
    .unwrap()
    .actions;
    // One target: `target` may be left out. A higher level of the same metric triggers too.
    assert_eq!(
        urgent.actions[0].trigger_rules,
        vec![
            "goroutines_urgent".to_string(),
            "goroutines_critical".to_string()
        ]
    );
    let off = parse("[agent]\nactions_enabled = false\n").unwrap().actions;
    assert!(!off.enabled);
}

#[test]
fn every_actions_mistake_is_reported_with_its_line() {
    let text = format!(
        r#"{TARGET}
[evidence]
max_total_bytes = "1KB"
debug_2 = true

[[actions]]
target = "one-apj"
kind = "command"
argv = "docker-compose restart one-api"
on = "goroutines_critcal"

[[actions]]
kind = "command"
argv = []
on = "critical"
recover_below = 100
cooldown = "1m"
timeout = "5m"

[[actions]]
kind = "signal"
signal = "STOP"
pid = 1
on = "goroutines_critical"

[[actions]]
kind = "teleport"
on = "goroutines_critical"
max_runs = 0
"#
    );
    let errs = parse(&text).unwrap_err().0;
    let find = |path: &str| {
        errs.iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no error for {path}: {errs:#?}"))
            .clone()
    };
    let e = find("evidence.max_total_bytes");
    assert_eq!(e.line, 6);
    assert!(e.message.contains("1MB"), "{e}");
    assert!(find("evidence.debug_2")
        .message
        .contains("did you mean 'debug2'"));
    let e = find("actions[0].target");
    assert_eq!(e.line, 10);
    assert!(
        e.message.contains("'one-apj'") && e.message.contains("one-api"),
        "{e}"
    );
    let e = find("actions[0].argv");
    assert_eq!(e.line, 12);
    assert!(
        e.message.contains("'docker-compose restart one-api'")
            && e.message.contains("never runs a shell")
            && e.message
                .contains("[\"docker-compose\", \"restart\", \"one-api\"]"),
        "{e}"
    );
    let e = find("actions[0].on");
    assert!(
        e.message.contains("'goroutines_critcal'") && e.message.contains("goroutines_critical"),
        "{e}"
    );
    let e = find("actions[1].argv");
    assert!(e.message.contains("argv is empty"), "{e}");
    let e = find("actions[1].timeout");
    assert!(
        e.message.contains("'5m'") && e.message.contains("'1m'"),
        "{e}"
    );
    let e = find("actions[2].signal");
    assert!(
        e.message.contains("'STOP'") && e.message.contains("TERM"),
        "{e}"
    );
    assert!(find("actions[2].pid").message.contains("'1'"));
    let e = find("actions[3].kind");
    assert!(
        e.message.contains("'teleport'") && e.message.contains("command"),
        "{e}"
    );
    assert!(find("actions[3].max_runs").message.contains("'0'"));
    assert!(errs.windows(2).all(|w| w[0].line <= w[1].line));
}
