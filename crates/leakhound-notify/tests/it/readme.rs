//! The README's notifier examples.

use crate::fake::*;
use leakhound_notify::{Notifier, NotifierConfig};

// ---------------------------------------------------------------------------------------------
// The README's examples.

/// Every `[[notifiers]]` example in README's "Notification channels" parses and builds.
#[test]
fn readme_notifier_examples_build() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme
        .split("## Notification channels")
        .nth(1)
        .expect("README section");
    let block = section
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let mut text = block.to_string();
    for (var, value) in [
        ("${DINGTALK_SECRET}", "SECdummy0123"),
        ("${TELEGRAM_BOT_TOKEN}", "1:dummy"),
        (
            "${SLACK_WEBHOOK_URL}",
            "https://hooks.slack.com/services/T0/B0/x",
        ),
    ] {
        text = text.replace(var, value);
    }
    let text = regex_lite_env(&text);
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let blocks = doc["notifiers"].as_array().unwrap();
    let mut kinds = Vec::new();
    for b in blocks {
        let config =
            NotifierConfig::from_toml(b.as_table().unwrap()).unwrap_or_else(|e| panic!("{e}"));
        let n = Notifier::from_config(&config).unwrap_or_else(|e| panic!("{e}"));
        kinds.push(n.kind());
        let r = n.render(&critical()).unwrap();
        assert!(r.title.contains("one-api"), "{}: {}", n.name(), r.title);
    }
    assert_eq!(
        kinds,
        [
            "email",
            "wecom",
            "dingtalk",
            "feishu",
            "slack",
            "telegram",
            "webhook",
            "alertmanager"
        ]
    );
}

/// `${NAME}` → a dummy value.
fn regex_lite_env(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str("dummy-value");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}
