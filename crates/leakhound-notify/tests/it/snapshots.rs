//! Each channel's payload for one fixed firing alert and its resolve, as insta snapshots
//! (`snapshots/`): the body as the fake peer received it (for email, the rendered subject and
//! body). Times are fixed; what a channel stamps with the send time (a signature's timestamp,
//! `sent_at`, a firing alert's `endsAt`) is redacted.

use crate::fake::*;
use leakhound_notify::{AlertMessage, AlertStatus, Notifier};
use serde_json::{json, Value};

/// 2025-11-25T21:00:00Z.
const STARTED_MS: i64 = 1_764_104_400_000;
const HELD_MS: i64 = 1_800_000;

fn firing() -> AlertMessage {
    critical_at(STARTED_MS)
}

fn resolved() -> AlertMessage {
    let mut m = firing();
    m.status = AlertStatus::Resolved;
    m.ended_at_ms = Some(STARTED_MS + HELD_MS);
    m.held_ms = HELD_MS;
    m.idempotency_key = "0123456789abcdef-resolved-1".into();
    m
}

/// Sends the firing alert, then its resolve, to a fake answering `ok`; the two bodies received.
async fn bodies(ok: &str, config: impl Fn(&str) -> String) -> (Value, Value) {
    let fake = Fake::start(vec![reply(200, ok)]).await;
    let n = notifier(&config(&fake.base));
    n.send(&firing()).await.unwrap();
    n.send(&resolved()).await.unwrap();
    let seen = fake.seen();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    (seen[0].json(), seen[1].json())
}

#[tokio::test]
async fn wecom_payloads() {
    let (f, r) = bodies(r#"{"errcode":0,"errmsg":"ok"}"#, |base| {
        format!("name = \"wx\"\ntype = \"wecom\"\nurl = \"{base}/cgi-bin/webhook/send\"\nkey = \"snapshot-key-0001\"")
    })
    .await;
    insta::assert_json_snapshot!("wecom_firing", f);
    insta::assert_json_snapshot!("wecom_resolved", r);
}

#[tokio::test]
async fn dingtalk_payloads() {
    // The signature and its timestamp go in the query string, not the body.
    let (f, r) = bodies(r#"{"errcode":0,"errmsg":"ok"}"#, |base| {
        format!("name = \"dd\"\ntype = \"dingtalk\"\nurl = \"{base}/robot/send?access_token=snapshot-token\"\nsecret = \"SECsnapshot0123\"")
    })
    .await;
    insta::assert_json_snapshot!("dingtalk_firing", f);
    insta::assert_json_snapshot!("dingtalk_resolved", r);
}

#[tokio::test]
async fn feishu_payloads() {
    let (f, r) = bodies(r#"{"code":0,"data":{},"msg":"success"}"#, |base| {
        format!("name = \"fs\"\ntype = \"feishu\"\nurl = \"{base}/open-apis/bot/v2/hook/snapshot-hook\"\nsecret = \"snapshot-secret\"")
    })
    .await;
    let stamped = |v: &Value| {
        assert!(v["timestamp"].is_string() && v["sign"].is_string(), "{v}");
    };
    stamped(&f);
    stamped(&r);
    insta::assert_json_snapshot!("feishu_firing", f, { ".timestamp" => "[timestamp]", ".sign" => "[sign]" });
    insta::assert_json_snapshot!("feishu_resolved", r, { ".timestamp" => "[timestamp]", ".sign" => "[sign]" });
}

#[tokio::test]
async fn slack_payloads() {
    let (f, r) = bodies("ok", |base| {
        format!("name = \"sl\"\ntype = \"slack\"\nurl = \"{base}/services/T0/B0/snapshot\"")
    })
    .await;
    insta::assert_json_snapshot!("slack_firing", f);
    insta::assert_json_snapshot!("slack_resolved", r);
}

#[tokio::test]
async fn telegram_payloads() {
    let (f, r) = bodies(r#"{"ok":true,"result":{"message_id":1}}"#, |base| {
        format!("name = \"tg\"\ntype = \"telegram\"\napi_base = \"{base}\"\nbot_token = \"1:snapshot\"\nchat_id = -1001234567890")
    })
    .await;
    insta::assert_json_snapshot!("telegram_firing", f);
    insta::assert_json_snapshot!("telegram_resolved", r);
}

#[tokio::test]
async fn webhook_payloads() {
    let (f, r) = bodies("", |base| {
        format!("name = \"wh\"\ntype = \"webhook\"\nurl = \"{base}/hooks/leakhound\"\nsecret = \"snapshot-secret\"")
    })
    .await;
    insta::assert_json_snapshot!("webhook_firing", f, { ".sent_at" => "[sent_at]" });
    insta::assert_json_snapshot!("webhook_resolved", r, { ".sent_at" => "[sent_at]" });
}

#[tokio::test]
async fn alertmanager_payloads() {
    let (f, r) = bodies("", |base| {
        format!("name = \"am\"\ntype = \"alertmanager\"\nurl = \"{base}\"\nlabels = {{ env = \"test\" }}")
    })
    .await;
    // A firing alert's endsAt is the send time plus 4 × resend_interval; a resolve's is its end.
    insta::assert_json_snapshot!("alertmanager_firing", f, { "[].endsAt" => "[now + 4m]" });
    insta::assert_json_snapshot!("alertmanager_resolved", r);
}

/// Email has no HTTP body to catch: the subject and body as rendered for the mail.
#[test]
fn email_payloads() {
    let n: Notifier = notifier(
        "name = \"mail\"\ntype = \"email\"\nhost = \"127.0.0.1\"\nfrom = \"leakhound <alerts@example.com>\"\nto = [\"ops@example.com\"]",
    );
    for (name, m) in [("email_firing", firing()), ("email_resolved", resolved())] {
        let r = n.render(&m).unwrap();
        insta::assert_json_snapshot!(name, json!({ "subject": r.title, "body": r.body }));
    }
}
