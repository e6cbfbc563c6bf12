//! The README's notifier examples.

use crate::fake::*;
use leakhound_core::config::Config;
use leakhound_notify::Notifier;

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
    let env = |var: &str| {
        Some(
            match var {
                "DINGTALK_SECRET" => "SECdummy0123",
                "TELEGRAM_BOT_TOKEN" => "1:dummy",
                "SLACK_WEBHOOK_URL" => "https://hooks.slack.com/services/T0/B0/x",
                _ => "dummy-value",
            }
            .to_string(),
        )
    };
    let config = Config::parse(block, &env).unwrap_or_else(|e| panic!("{e}"));
    let mut kinds = Vec::new();
    for c in &config.notifiers {
        let n = Notifier::from_config(c).unwrap_or_else(|e| panic!("{e}"));
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
