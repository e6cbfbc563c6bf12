use super::*;
use leakhound_core::Severity;

const SECRETS: [&str; 6] = [
    "wecom-key-0123456789",
    "SECdingtalk0123456789",
    "dt-token-0123456789",
    "smtp-pass-0123456789",
    "123456:tg-token-0123456789",
    "feishu-hook-0123456789",
];

/// One `[[notifiers]]` block's keys, read by the config; its mistakes as text.
fn parse(text: &str) -> Result<NotifierConfig, String> {
    leakhound_core::config::Config::parse(&format!("[[notifiers]]\n{text}"), &|_| None)
        .map(|c| c.notifiers[0].clone())
        .map_err(|e| e.to_string())
}

fn all_configs() -> Vec<NotifierConfig> {
    [
        r#"name = "mail"
type = "email"
host = "smtp.example.com"
username = "u"
password = "smtp-pass-0123456789"
from = "leakhound <alerts@example.com>"
to = ["a@example.com", "b@example.com"]
title_template = "{{ target }}""#,
        r#"name = "wx"
type = "wecom"
key = "wecom-key-0123456789""#,
        r#"name = "dd"
type = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=dt-token-0123456789"
secret = "SECdingtalk0123456789"
timeout = "3s""#,
        r#"name = "fs"
type = "feishu"
url = "https://open.feishu.cn/open-apis/bot/v2/hook/feishu-hook-0123456789""#,
        r#"name = "sl"
type = "slack"
url = "https://hooks.slack.com/services/T0/B0/slack-0123456789""#,
        r#"name = "tg"
type = "telegram"
bot_token = "123456:tg-token-0123456789"
chat_id = -1001234"#,
        r#"name = "wh"
type = "webhook"
url = "https://example.com/hook"
secret = "smtp-pass-0123456789"
headers = { Authorization = "Bearer dt-token-0123456789" }"#,
        r#"name = "am"
type = "alertmanager"
url = "http://127.0.0.1:9093"
resend_interval = "30s"
labels = { env = "prod" }"#,
    ]
    .iter()
    .map(|t| parse(t).unwrap())
    .collect()
}

#[test]
fn every_type_parses_and_builds_without_showing_secrets() {
    let configs = all_configs();
    let kinds: Vec<&str> = configs.iter().map(|c| c.channel.kind()).collect();
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
    assert_eq!(configs[2].timeout, Some(Duration::from_secs(3)));
    for c in &configs {
        let n = Notifier::from_config(c).unwrap();
        assert_eq!(n.kind(), c.channel.kind());
        let shown = format!("{c:?} {n:?} {c:#?} {n:#?}");
        for s in SECRETS.iter().chain(&["slack-0123456789", "tg-token"]) {
            assert!(!shown.contains(s), "{s} in {shown}");
        }
    }
    let am = Notifier::from_config(&configs[7]).unwrap();
    assert_eq!(am.resend_interval(), Some(Duration::from_secs(30)));
    assert_eq!(
        Notifier::from_config(&configs[1])
            .unwrap()
            .resend_interval(),
        None
    );
}

#[test]
fn unknown_fields_and_types_are_named_without_secrets() {
    // Read by the config (its own tests check every message); named with the block.
    let err = parse(
        "name = \"wx\"\ntype = \"wecom\"\nkey = \"wecom-key-0123456789\"\nmsg_type = \"text\"",
    )
    .unwrap_err();
    assert!(
        err.contains("unknown field `msg_type`") && err.contains("'wx'"),
        "{err}"
    );
    let err = parse("name = \"x\"\ntype = \"pager\"").unwrap_err();
    assert!(err.contains("pager"), "{err}");
    // A secret in a field of the wrong type must not be echoed.
    let err = parse("name = \"tg\"\ntype = \"telegram\"\nbot_token = \"123456:tg-token-0123456789\"\nchat_id = 1\nmessage_thread_id = \"123456:tg-token-0123456789\"")
        .unwrap_err();
    assert!(!err.contains("tg-token"), "{err}");
    let err = parse(
        "name = \"am\"\ntype = \"alertmanager\"\nurl = \"http://x\"\nresend_interval = \"soon\"",
    )
    .unwrap_err();
    assert!(err.contains("'soon' is not a duration"), "{err}");
}

#[test]
fn bad_settings_say_the_fix() {
    let cases = [
        ("name = \"wx\"\ntype = \"wecom\"", "no robot key"),
        ("name = \"dd\"\ntype = \"dingtalk\"\naccess_token = \"t0000\"\nsecret = \"nope-0123\"", "does not start with 'SEC'"),
        ("name = \"tg\"\ntype = \"telegram\"\nbot_token = \"nocolon\"\nchat_id = 1", "@BotFather"),
        ("name = \"m\"\ntype = \"email\"\nhost = \"h\"\nfrom = \"not an address\"\nto = [\"a@b.c\"]", "is not an email address"),
        ("name = \"m\"\ntype = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = []", "at least one recipient"),
        ("name = \"m\"\ntype = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\nusername = \"u\"", "without `password`"),
        ("name = \"w\"\ntype = \"webhook\"\nurl = \"http://h\"\nbody_template = \"{% if %}\"", "body_template template"),
    ];
    for (text, want) in cases {
        let err = Notifier::from_config(&parse(text).unwrap()).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains(want), "{text}: {shown}");
        assert!(!shown.contains("slack-0123456789"), "{shown}");
        assert_eq!(err.class(), ErrorClass::Permanent);
    }
}

#[test]
fn error_classes() {
    let http = |status| NotifyError::Http {
        name: "n".into(),
        peer: "p".into(),
        status,
        detail: String::new(),
    };
    assert!(
        http(500).retryable()
            && http(503).retryable()
            && http(429).retryable()
            && http(408).retryable()
    );
    assert!(!http(400).retryable() && !http(403).retryable() && !http(404).retryable());
    let limited = NotifyError::RateLimited {
        name: "n".into(),
        detail: "d".into(),
        retry_after: Duration::from_secs(3),
    };
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
    let deliver: crate::DeliverError = limited.into();
    assert!(deliver.retryable);
    assert_eq!(deliver.retry_after, Some(Duration::from_secs(3)));
    assert!(
        deliver.message.contains("next try in 3s"),
        "{}",
        deliver.message
    );
}

#[test]
fn alertmanager_payload_shape() {
    let c = &all_configs()[7];
    let ChannelConfig::Alertmanager(am) = &c.channel else {
        panic!()
    };
    let ctx = Ctx::new(c).unwrap();
    let n = alertmanager::Alertmanager::new(am, ctx).unwrap();
    let mut m = AlertMessage::test_message(1_764_104_400_000);
    m.rule = "goroutines_critical".into();
    m.level = Severity::Critical;
    m.target = "one-api".into();
    m.generator_url = Some("http://agent:9090/alerts/1".into());
    let now = 1_764_104_460_000;
    let v = n.payload(&m, now).unwrap();
    let a = &v[0];
    assert_eq!(a["labels"]["alertname"], "goroutines");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["labels"]["rule"], "goroutines_critical");
    assert_eq!(a["labels"]["target"], "one-api");
    assert_eq!(a["labels"]["env"], "prod");
    assert_eq!(a["startsAt"], "2025-11-25T21:00:00.000Z");
    assert_eq!(a["endsAt"], "2025-11-25T21:03:00.000Z"); // now + 4 × 30s
    assert_eq!(a["generatorURL"], "http://agent:9090/alerts/1");
    assert!(a["annotations"]["summary"]
        .as_str()
        .unwrap()
        .contains("one-api"));
    m.labels.insert("transition".into(), "firing".into());
    let firing = n.payload(&m, now).unwrap();
    assert_eq!(firing[0]["annotations"]["transition"], "firing");
    m.status = AlertStatus::Resolved;
    m.ended_at_ms = Some(1_764_104_430_000);
    m.labels.insert("transition".into(), "resolved".into());
    let v = n.payload(&m, now).unwrap();
    assert_eq!(v[0]["endsAt"], "2025-11-25T21:00:30.000Z");
    // One alert in Alertmanager: the resolve has the firing message's labels.
    assert_eq!(v[0]["labels"], firing[0]["labels"]);
    assert!(v[0]["labels"].get("transition").is_none());
    assert_eq!(v[0]["annotations"]["transition"], "resolved");
    assert_eq!(alertmanager::alertname_of("memory_warning"), "memory");
    assert_eq!(
        alertmanager::alertname_of("goroutine_trend"),
        "goroutine_trend"
    );
}

#[test]
fn alertmanager_takes_url_or_urls_not_both() {
    let c = parse(
        "name = \"am\"\ntype = \"alertmanager\"\nurls = [\"http://am1:9093\", \"http://am2:9093/\"]",
    )
    .unwrap();
    let ChannelConfig::Alertmanager(am) = &c.channel else {
        panic!()
    };
    assert_eq!(am.urls.len(), 2);
    assert_eq!(am.url.url().as_str(), "http://am1:9093/");
    let one = parse("name = \"am\"\ntype = \"alertmanager\"\nurl = \"http://am1:9093\"").unwrap();
    let ChannelConfig::Alertmanager(am) = &one.channel else {
        panic!()
    };
    assert_eq!(am.urls.len(), 1);
    let both = parse(
        "name = \"am\"\ntype = \"alertmanager\"\nurl = \"http://am1:9093\"\nurls = [\"http://am2:9093\"]",
    )
    .unwrap_err();
    assert!(both.contains("not both"), "{both}");
    let neither = parse("name = \"am\"\ntype = \"alertmanager\"").unwrap_err();
    assert!(neither.contains("url"), "{neither}");
}

#[test]
fn signatures_match_the_vendors_examples() {
    // DingTalk's document computes the sign of timestamp 1577262236757 with its sample secret;
    // recomputed here by hand with the hmac crate to pin the byte layout.
    use hmac::{Mac, SimpleHmac};
    let secret = "SEC9cbd6e8c9e1d4c5b8b8e1b0f5c1d2e3f";
    let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("1577262236757\n{secret}").as_bytes());
    let want = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        mac.finalize().into_bytes(),
    );
    assert_eq!(dingtalk::sign(1_577_262_236_757, secret), want);
    let mut mac =
        SimpleHmac::<sha2::Sha256>::new_from_slice(format!("1599360473\n{secret}").as_bytes())
            .unwrap();
    mac.update(b"");
    let want = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        mac.finalize().into_bytes(),
    );
    assert_eq!(feishu::sign(1_599_360_473, secret), want);
    assert_eq!(
        webhook::signature("It's a Secret to Everybody", b"Hello, World!"),
        // GitHub's documented example for X-Hub-Signature-256 (same construction).
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

#[test]
fn robot_keys_from_the_url_or_the_setting() {
    // The whole webhook URL as copied from WeCom works, and so does the key alone.
    let full = parse("name = \"wx\"\ntype = \"wecom\"\nurl = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=copied-key-0001\"").unwrap();
    assert!(Notifier::from_config(&full).is_ok());
    let ChannelConfig::WeCom(c) = &full.channel else {
        panic!()
    };
    let w = wecom::WeCom::new(c, Ctx::new(&full).unwrap()).unwrap();
    assert!(format!("{w:?}").contains("https://qyapi.weixin.qq.com/…"));
    assert!(!format!("{w:?}").contains("copied-key-0001"));
    // `key` replaces a key in the URL instead of sending two.
    let both = parse("name = \"wx\"\ntype = \"wecom\"\nurl = \"http://127.0.0.1:1/send?key=old-key-0001\"\nkey = \"new-key-0001\"").unwrap();
    assert!(Notifier::from_config(&both).is_ok());
    let dd = parse("name = \"dd\"\ntype = \"dingtalk\"\nurl = \"https://oapi.dingtalk.com/robot/send?access_token=tok-0001\"").unwrap();
    assert!(Notifier::from_config(&dd).is_ok());
}

#[test]
fn notifiers_are_shareable_and_send_futures_are_send() {
    fn shareable<T: Send + Sync + 'static>(_: &T) {}
    fn send<F: std::future::Future + Send>(_: F) {}
    let msg = AlertMessage::test_message(0);
    for c in all_configs() {
        let n = Notifier::from_config(&c).unwrap();
        shareable(&n);
        send(n.send(&msg));
    }
}

#[test]
fn config_error_messages() {
    for (text, want) in [
        ("name = \"x\"", "a notifier needs a 'name' and a 'type'"),
        ("type = \"slack\"\nurl = \"http://h\"", "a notifier needs a 'name' and a 'type'"),
        ("name = \"x\"\ntype = \"slack\"", "missing field `url`"),
        ("name = \"x\"\ntype = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\ntls = \"ssl\"", "unknown variant `ssl`"),
        ("name = \"x\"\ntype = \"telegram\"\nbot_token = \"1:a\"\nchat_id = 1\ntimeout = 5", "invalid type: integer `5`, expected a string"),
        ("name = \"s\"\ntype = \"slack\"\nurl = \"ftp://hooks.slack.com/services/T0/B0/slack-0123456789\"", "not an http(s) URL"),
    ] {
        let err = parse(text).unwrap_err();
        assert!(err.contains(want), "{text}: {err}");
        assert!(!err.contains("slack-0123456789"), "{err}");
    }
}

#[tokio::test]
async fn queued_payloads_that_do_not_parse_are_permanent() {
    let n = Notifier::from_config(&all_configs()[4]).unwrap();
    let err = n.send_json("{\"status\":\"firing\"}").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(err.to_string().contains("not an alert message"), "{err}");
}
