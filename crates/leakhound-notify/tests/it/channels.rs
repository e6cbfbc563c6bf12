//! Each channel against its fake peer: path, query, headers, JSON shape, signatures, limits and
//! how the peer's answers are classified.

use crate::fake::*;
use leakhound_notify::{AlertStatus, ErrorClass, Notifier, NotifyError};
use serde_json::{json, Value};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// WeCom.

const WECOM_KEY: &str = "693axxx6-7aoc-4bc4-97a0-0ec2sifa5aaa";

/// Fake WeCom group robot, per 企业微信 "群机器人配置说明"
/// (https://developer.work.weixin.qq.com/document/path/91770): POST /cgi-bin/webhook/send?key=…,
/// JSON `{"msgtype":"markdown","markdown":{"content":…}}` (≤ 4096 bytes), answer `{"errcode":0,"errmsg":"ok"}`.
async fn wecom_fake(replies: Vec<Reply>) -> Fake {
    Fake::start(replies).await
}

fn wecom(fake: &Fake, key: &str, extra: &str) -> Notifier {
    notifier(&format!(
        "name = \"wx\"\ntype = \"wecom\"\nurl = \"{}/cgi-bin/webhook/send\"\nkey = \"{key}\"\n{extra}",
        fake.base
    ))
}

#[tokio::test]
async fn wecom_markdown_wire_format() {
    let fake = wecom_fake(vec![reply(200, r#"{"errcode":0,"errmsg":"ok"}"#)]).await;
    let n = wecom(&fake, WECOM_KEY, "");
    let d = n.send(&critical()).await.unwrap();
    assert_eq!(
        (d.channel.as_str(), d.status, d.truncated),
        ("wx", 200, false)
    );
    let r = fake.only();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/cgi-bin/webhook/send")
    );
    assert_eq!(
        r.query_pairs(),
        [("key".to_string(), WECOM_KEY.to_string())]
    );
    assert_eq!(r.header("content-type"), "application/json");
    let body = r.json();
    let obj = body.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["markdown", "msgtype"]);
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(body["markdown"].as_object().unwrap().len(), 1);
    let content = body["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("**🔴 [CRITICAL] one-api: 12034 goroutines (> 10000)**\n"),
        "{content}"
    );
    for want in [
        "**目标 Target:** one-api",
        "**当前 Value:** 12034 goroutines",
        "**阈值 Threshold:** > 10000",
        "`main.(*Relay).stream <-chan & select (relay.go:88) +5012`",
    ] {
        assert!(content.contains(want), "{want} not in {content}");
    }
    assert!(content.len() <= 4096);
}

#[tokio::test]
async fn wecom_text_fallback_with_mentions() {
    let fake = wecom_fake(vec![reply(200, r#"{"errcode":0,"errmsg":"ok"}"#)]).await;
    let n = wecom(&fake, "text-key-0001", "msgtype = \"text\"\nmentioned_list = [\"@all\"]\nmentioned_mobile_list = [\"13800001111\"]");
    let mut m = huge();
    m.status = AlertStatus::Resolved;
    m.ended_at_ms = Some(now_ms());
    let d = n.send(&m).await.unwrap();
    assert!(d.truncated);
    let body = fake.only().json();
    assert_eq!(body["msgtype"], "text");
    assert_eq!(body["text"]["mentioned_list"], json!(["@all"]));
    assert_eq!(
        body["text"]["mentioned_mobile_list"],
        json!(["13800001111"])
    );
    let content = body["text"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("✅ [RESOLVED] one-api: 12034 goroutines (< 10000)"),
        "{content}"
    );
    assert!(content.len() <= 2048, "{}", content.len());
}

#[tokio::test]
async fn wecom_4096_byte_limit_on_a_utf8_boundary() {
    let fake = wecom_fake(vec![reply(200, r#"{"errcode":0}"#)]).await;
    let n = wecom(&fake, "limit-key-0002", "");
    let d = n.send(&huge()).await.unwrap();
    assert!(d.truncated);
    let content = fake.only().json()["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(content.len() <= 4096, "{}", content.len());
    assert!(content.contains("目标 Target"), "the facts stay: {content}");
    // Forced past every list: the hard cut still lands on a character boundary.
    let t = leakhound_notify::template::truncate_bytes(&"目".repeat(2000), 4096);
    assert!(t.len() <= 4096 && t.ends_with('…'));
}

#[tokio::test]
async fn wecom_errcodes_are_classified() {
    let fake = wecom_fake(vec![
        reply(
            200,
            r#"{"errcode":93000,"errmsg":"invalid webhook url, hint: [1]"}"#,
        ),
        reply(200, r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#),
        reply(200, r#"{"errcode":-1,"errmsg":"system busy"}"#),
        reply(502, "bad gateway"),
        reply(404, "not found"),
        reply(200, "<html>login</html>"),
    ])
    .await;
    let n = wecom(&fake, "errs-key-0003-secret", "rate_limit_per_minute = 0");
    let m = critical();
    let mut errors = Vec::new();
    for _ in 0..6 {
        errors.push(n.send(&m).await.unwrap_err());
    }
    let classes: Vec<ErrorClass> = errors.iter().map(NotifyError::class).collect();
    use ErrorClass::*;
    assert_eq!(
        classes,
        [Permanent, Retryable, Retryable, Retryable, Permanent, Permanent]
    );
    assert_eq!(errors[1].retry_after(), Some(Duration::from_secs(60)));
    assert!(
        errors[0].to_string().contains("code 93000"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].to_string().contains("robot key is invalid"),
        "{}",
        errors[0]
    );
    for e in &errors {
        assert_clean(e, &["errs-key-0003-secret"]);
    }
}

#[tokio::test]
async fn wecom_twenty_messages_per_minute() {
    let fake = wecom_fake(vec![reply(200, r#"{"errcode":0}"#)]).await;
    let n = wecom(&fake, "rate-key-0004", "");
    let m = critical();
    for i in 0..20 {
        n.send(&m).await.unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    let err = n.send(&m).await.unwrap_err();
    assert!(matches!(err, NotifyError::RateLimited { .. }), "{err}");
    assert!(err.retryable());
    let wait = err.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert!(err.to_string().contains("20 messages per 1m"), "{err}");
    assert_eq!(fake.seen().len(), 20, "the 21st never left");
    // Another notifier on the same robot shares the window.
    let again = wecom(&fake, "rate-key-0004", "");
    assert!(again.send(&m).await.unwrap_err().retryable());
}

// ---------------------------------------------------------------------------------------------
// DingTalk.

const DT_TOKEN: &str = "dt-access-token-5f1e2d3c";
const DT_SECRET: &str = "SEC1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b";

/// Fake DingTalk custom robot, per 钉钉 "自定义机器人安全设置 — 加签" and "自定义机器人发送群消息"
/// (https://open.dingtalk.com/document/robots/customize-robot-security-settings,
/// https://open.dingtalk.com/document/robots/custom-robot-access): POST
/// /robot/send?access_token=…&timestamp=<ms>&sign=<urlencode(base64(HmacSHA256(secret, ts+"\n"+secret)))>.
async fn dingtalk_fake(replies: Vec<Reply>) -> Fake {
    Fake::start(replies).await
}

fn dingtalk(fake: &Fake, token: &str, extra: &str) -> Notifier {
    notifier(&format!(
        "name = \"dd\"\ntype = \"dingtalk\"\nurl = \"{}/robot/send?access_token={token}\"\nsecret = \"{DT_SECRET}\"\n{extra}",
        fake.base
    ))
}

#[tokio::test]
async fn dingtalk_signed_wire_format() {
    let fake = dingtalk_fake(vec![reply(200, r#"{"errcode":0,"errmsg":"ok"}"#)]).await;
    let n = dingtalk(&fake, DT_TOKEN, "at_mobiles = [\"13800001111\"]");
    let before = now_ms();
    n.send(&critical()).await.unwrap();
    let after = now_ms();
    let r = fake.only();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/robot/send")
    );
    assert_eq!(r.header("content-type"), "application/json");
    let q = r.query_pairs();
    let keys: Vec<&str> = q.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["access_token", "timestamp", "sign"]);
    assert_eq!(q[0].1, DT_TOKEN);
    let ts: i64 = q[1].1.parse().unwrap();
    assert_eq!(q[1].1.len(), 13, "milliseconds");
    assert!((before..=after).contains(&ts));
    // Independent recomputation; the raw query carries it URL-encoded.
    let want = b64(&hmac_sha256(
        DT_SECRET.as_bytes(),
        format!("{ts}\n{DT_SECRET}").as_bytes(),
    ));
    assert_eq!(q[2].1, want);
    let raw_sign = r
        .query
        .as_deref()
        .unwrap()
        .rsplit_once("sign=")
        .unwrap()
        .1
        .to_string();
    let encoded: String = url::form_urlencoded::byte_serialize(want.as_bytes()).collect();
    assert_eq!(raw_sign, encoded);
    assert!(!raw_sign.contains('+') && !raw_sign.contains('/') && !raw_sign.contains('='));
    let body = r.json();
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(
        body["markdown"]["title"],
        "🔴 [CRITICAL] one-api: 12034 goroutines (> 10000)"
    );
    let text = body["markdown"]["text"].as_str().unwrap();
    assert!(text.starts_with("### 🔴 [CRITICAL] one-api"), "{text}");
    assert!(text.contains("**目标 Target:** one-api\n\n"), "{text}");
    assert!(text.ends_with("@13800001111"), "{text}");
    assert_eq!(
        body["at"],
        json!({"atMobiles": ["13800001111"], "atUserIds": [], "isAtAll": false})
    );
}

#[tokio::test]
async fn dingtalk_errcodes_are_classified() {
    let fake = dingtalk_fake(vec![
        reply(200, r#"{"errcode":310000,"errmsg":"sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}"#),
        reply(200, r#"{"errcode":310000,"errmsg":"keywords not in content"}"#),
        reply(200, r#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#),
        reply(200, r#"{"errcode":300001,"errmsg":"token is not exist"}"#),
        reply(200, r#"{"errcode":-1,"errmsg":"系统繁忙"}"#),
        reply(503, "unavailable"),
    ])
    .await;
    let n = dingtalk(&fake, "dt-token-errs-0005", "rate_limit_per_minute = 0");
    let m = critical();
    let mut errors = Vec::new();
    for _ in 0..6 {
        errors.push(n.send(&m).await.unwrap_err());
    }
    use ErrorClass::*;
    let classes: Vec<ErrorClass> = errors.iter().map(NotifyError::class).collect();
    assert_eq!(
        classes,
        [Permanent, Permanent, Retryable, Permanent, Retryable, Retryable]
    );
    assert!(
        errors[0].to_string().contains("check `secret`"),
        "{}",
        errors[0]
    );
    assert!(errors[1].to_string().contains("keyword"), "{}", errors[1]);
    assert_eq!(errors[2].retry_after(), Some(Duration::from_secs(600)));
    for e in &errors {
        assert_clean(e, &["dt-token-errs-0005", DT_SECRET]);
    }
}

#[tokio::test]
async fn dingtalk_twenty_messages_per_minute() {
    let fake = dingtalk_fake(vec![reply(200, r#"{"errcode":0,"errmsg":"ok"}"#)]).await;
    let n = dingtalk(&fake, "dt-token-rate-0006", "");
    for _ in 0..20 {
        n.send(&critical()).await.unwrap();
    }
    let err = n.send(&critical()).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::RateLimited { .. }) && err.retryable(),
        "{err}"
    );
    assert_eq!(fake.seen().len(), 20);
}

// ---------------------------------------------------------------------------------------------
// Feishu / Lark.

const FS_HOOK: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const FS_SECRET: &str = "qU7fs3cretFeishu0123";

/// Fake Feishu custom bot, per 飞书 "自定义机器人使用指南 — 签名校验"
/// (https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot): POST
/// /open-apis/bot/v2/hook/<token> with body `timestamp` (seconds, string) and
/// `sign` = base64(HmacSHA256(key = timestamp+"\n"+secret, data = empty)); answer `{"code":0}`.
async fn feishu_fake(replies: Vec<Reply>) -> Fake {
    Fake::start(replies).await
}

fn feishu(fake: &Fake, extra: &str) -> Notifier {
    notifier(&format!(
        "name = \"fs\"\ntype = \"feishu\"\nurl = \"{}/open-apis/bot/v2/hook/{FS_HOOK}\"\nsecret = \"{FS_SECRET}\"\n{extra}",
        fake.base
    ))
}

#[tokio::test]
async fn feishu_signed_card_wire_format() {
    let fake = feishu_fake(vec![reply(200, r#"{"code":0,"data":{},"msg":"success"}"#)]).await;
    let n = feishu(&fake, "");
    let before = now_ms() / 1000;
    n.send(&critical()).await.unwrap();
    let r = fake.only();
    assert_eq!(r.path, format!("/open-apis/bot/v2/hook/{FS_HOOK}"));
    assert_eq!(r.query, None);
    assert_eq!(r.header("content-type"), "application/json");
    let body = r.json();
    let ts = body["timestamp"].as_str().expect("timestamp is a string");
    assert_eq!(ts.len(), 10, "seconds");
    let ts_n: i64 = ts.parse().unwrap();
    assert!((before..=before + 2).contains(&ts_n));
    let key = format!("{ts}\n{FS_SECRET}");
    assert_eq!(body["sign"], b64(&hmac_sha256(key.as_bytes(), b"")));
    assert_eq!(body["msg_type"], "interactive");
    let card = &body["card"];
    assert_eq!(
        card["header"]["title"],
        json!({"tag": "plain_text", "content": "🔴 [CRITICAL] one-api: 12034 goroutines (> 10000)"})
    );
    assert_eq!(card["header"]["template"], "red");
    assert_eq!(card["elements"][0]["tag"], "markdown");
    let content = card["elements"][0]["content"].as_str().unwrap();
    assert!(
        content.starts_with("**状态 Status:**"),
        "title only in the header: {content}"
    );
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["card", "msg_type", "sign", "timestamp"]);
}

#[tokio::test]
async fn feishu_text_and_errors() {
    let fake = feishu_fake(vec![
        reply(200, r#"{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}"#),
        reply(200, r#"{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}"#),
        reply(200, r#"{"code":19024,"data":{},"msg":"Key Words Not Found"}"#),
        // Feishu sends its rate-limit code with HTTP 400.
        reply(400, r#"{"code":11232,"data":{},"msg":"frequency limited psm[lark.oapi.app_platform_runtime]appID[1]"}"#),
    ])
    .await;
    let n = feishu(&fake, "msg_type = \"text\"");
    n.send(&critical()).await.unwrap();
    let body = fake.only().json();
    assert_eq!(body["msg_type"], "text");
    assert!(body["content"]["text"]
        .as_str()
        .unwrap()
        .starts_with("🔴 [CRITICAL] one-api"));
    let e1 = n.send(&critical()).await.unwrap_err();
    let e2 = n.send(&critical()).await.unwrap_err();
    let e3 = n.send(&critical()).await.unwrap_err();
    assert_eq!(
        (e1.class(), e2.class(), e3.class()),
        (
            ErrorClass::Permanent,
            ErrorClass::Permanent,
            ErrorClass::Retryable
        )
    );
    assert!(e1.to_string().contains("clock"), "{e1}");
    for e in [&e1, &e2, &e3] {
        assert_clean(e, &[FS_HOOK, FS_SECRET]);
    }
}

// ---------------------------------------------------------------------------------------------
// Slack.

const SLACK_PATH: &str = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";

/// Fake Slack incoming webhook, per "Sending messages using incoming webhooks"
/// (https://api.slack.com/messaging/webhooks) and the Block Kit reference: POST JSON with
/// `text` and `blocks`; answer `ok`, or an HTTP error with a plain-text reason.
async fn slack_fake(replies: Vec<Reply>) -> Fake {
    Fake::start(replies).await
}

#[tokio::test]
async fn slack_wire_format_and_errors() {
    let mut limited = reply(429, "rate_limited");
    limited.headers.push(("retry-after", "7".into()));
    let fake = slack_fake(vec![
        reply(200, "ok"),
        limited,
        reply(404, "no_service"),
        reply(500, "rollup_error"),
    ])
    .await;
    let n = notifier(&format!(
        "name = \"sl\"\ntype = \"slack\"\nurl = \"{}{SLACK_PATH}\"",
        fake.base
    ));
    n.send(&critical()).await.unwrap();
    let r = fake.only();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", SLACK_PATH));
    assert_eq!(r.header("content-type"), "application/json");
    let body = r.json();
    assert_eq!(
        body["text"],
        "🔴 [CRITICAL] one-api: 12034 goroutines (&gt; 10000)"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(
        blocks[0]["text"]["text"],
        "🔴 [CRITICAL] one-api: 12034 goroutines (> 10000)"
    );
    assert_eq!(blocks[1]["type"], "section");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    let section = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(section.contains("*目标 Target:* one-api"), "{section}");
    assert!(
        section.contains("&lt;-chan &amp; select"),
        "escaped: {section}"
    );
    assert!(section.chars().count() <= 3000);
    assert_eq!(blocks[2]["type"], "context");
    let e429 = n.send(&critical()).await.unwrap_err();
    assert_eq!(e429.retry_after(), Some(Duration::from_secs(7)));
    let e404 = n.send(&critical()).await.unwrap_err();
    let e500 = n.send(&critical()).await.unwrap_err();
    assert_eq!(
        (e404.class(), e500.class()),
        (ErrorClass::Permanent, ErrorClass::Retryable)
    );
    assert!(e404.to_string().contains("no_service"), "{e404}");
    for e in [&e429, &e404, &e500] {
        assert_clean(e, &["XXXXXXXXXXXXXXXXXXXXXXXX", "B00000000"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Telegram.

const TG_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/// Fake Telegram Bot API, per https://core.telegram.org/bots/api#sendmessage and
/// #formatting-options (HTML style): POST /bot<token>/sendMessage with `chat_id`, `text`
/// (≤ 4096 characters after entity parsing), `parse_mode`, `message_thread_id`; answer
/// `{"ok":true,"result":{…}}` or `{"ok":false,"error_code":…,"description":…,"parameters":{"retry_after":…}}`.
async fn telegram_fake(replies: Vec<Reply>) -> Fake {
    Fake::start(replies).await
}

fn telegram(fake: &Fake, extra: &str) -> Notifier {
    notifier(&format!(
        "name = \"tg\"\ntype = \"telegram\"\napi_base = \"{}\"\nbot_token = \"{TG_TOKEN}\"\n{extra}",
        fake.base
    ))
}

#[tokio::test]
async fn telegram_wire_format() {
    let fake = telegram_fake(vec![reply(
        200,
        r#"{"ok":true,"result":{"message_id":42,"chat":{"id":-1001234567890}}}"#,
    )])
    .await;
    let n = telegram(&fake, "chat_id = \"-1001234567890\"\nmessage_thread_id = 7");
    let d = n.send(&critical()).await.unwrap();
    assert_eq!(d.peer_id.as_deref(), Some("42"));
    let r = fake.only();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", format!("/bot{TG_TOKEN}/sendMessage").as_str())
    );
    assert_eq!(r.header("content-type"), "application/json");
    let body = r.json();
    assert_eq!(
        body["chat_id"],
        json!(-1001234567890i64),
        "numeric ids go as integers"
    );
    assert_eq!(body["parse_mode"], "HTML");
    assert_eq!(body["message_thread_id"], 7);
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("<b>🔴 [CRITICAL] one-api: 12034 goroutines (&gt; 10000)</b>\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "<code>main.(*Relay).stream &lt;-chan &amp; select (relay.go:88) +5012</code>"
        ),
        "{text}"
    );
    assert!(text.contains("<b>目标 Target:</b> one-api"), "{text}");
    // Only the tags Telegram's HTML style allows, and balanced.
    for tag in ["b", "code"] {
        assert_eq!(
            text.matches(&format!("<{tag}>")).count(),
            text.matches(&format!("</{tag}>")).count()
        );
    }
}

#[tokio::test]
async fn telegram_4096_limit_and_channel_names() {
    let fake = telegram_fake(vec![reply(200, r#"{"ok":true,"result":{"message_id":1}}"#)]).await;
    let n = telegram(
        &fake,
        "chat_id = \"@leakhound_alerts\"\nparse_mode = \"HTML\"",
    );
    let d = n.send(&huge()).await.unwrap();
    assert!(d.truncated);
    let body = fake.only().json();
    assert_eq!(body["chat_id"], "@leakhound_alerts");
    let text = body["text"].as_str().unwrap();
    let visible = leakhound_notify::telegram::html_visible_len(text);
    assert!(visible <= 4096, "{visible}");
    assert!(text.contains("目标 Target"));
}

#[tokio::test]
async fn telegram_errors_and_retry_after() {
    let fake = telegram_fake(vec![
        reply(429, r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}"#),
        reply(400, r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#),
        reply(401, r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#),
        reply(400, r#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009876543210}}"#),
        reply(502, "<html>Bad Gateway</html>"),
    ])
    .await;
    let n = telegram(&fake, "chat_id = 1234");
    let mut errors = Vec::new();
    for _ in 0..5 {
        errors.push(n.send(&critical()).await.unwrap_err());
    }
    use ErrorClass::*;
    let classes: Vec<ErrorClass> = errors.iter().map(NotifyError::class).collect();
    assert_eq!(
        classes,
        [Retryable, Permanent, Permanent, Permanent, Retryable]
    );
    assert_eq!(errors[0].retry_after(), Some(Duration::from_secs(5)));
    assert!(
        errors[1].to_string().contains("chat not found"),
        "{}",
        errors[1]
    );
    assert!(
        errors[3].to_string().contains("chat_id = -1009876543210"),
        "{}",
        errors[3]
    );
    for e in &errors {
        assert_clean(e, &[TG_TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Generic webhook.

/// Fake receiver of leakhound's own webhook format, per `docs/webhook.md` in this repository:
/// JSON body (version 1), `Idempotency-Key`, `X-Leakhound-Event` and
/// `X-Leakhound-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.
async fn webhook_fake(replies: Vec<Reply>) -> Fake {
    Fake::start(replies).await
}

#[tokio::test]
async fn webhook_wire_format_and_signature() {
    let fake = webhook_fake(vec![reply(204, "")]).await;
    let secret = "whsec-0123456789abcdef";
    let n = notifier(&format!(
        "name = \"wh\"\ntype = \"webhook\"\nurl = \"{}/hooks/leakhound\"\nsecret = \"{secret}\"\nheaders = {{ Authorization = \"Bearer tok-0123456789\" }}",
        fake.base
    ));
    let mut m = critical();
    m.labels.insert("team".into(), "infra".into());
    m.generator_url = Some("http://agent:9090/alerts/1".into());
    n.send(&m).await.unwrap();
    let r = fake.only();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/hooks/leakhound")
    );
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("idempotency-key"), "0123456789abcdef-firing-1");
    assert_eq!(r.header("x-leakhound-event"), "firing");
    assert_eq!(r.header("authorization"), "Bearer tok-0123456789");
    let want = format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &r.body))
    );
    assert_eq!(r.header("x-leakhound-signature"), want);
    let body = r.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["source"], "leakhound");
    assert_eq!(body["idempotency_key"], "0123456789abcdef-firing-1");
    assert_eq!(body["status"], "firing");
    assert_eq!(
        body["title"],
        "🔴 [CRITICAL] one-api: 12034 goroutines (> 10000)"
    );
    assert_eq!(body["headline"], "High Goroutine Count");
    let a = &body["alert"];
    assert_eq!(a["rule"], "goroutines_critical");
    assert_eq!(a["level"], "critical");
    assert_eq!(a["target"], "one-api");
    assert_eq!(a["value"], 12034.0);
    assert_eq!(a["threshold"], 10000.0);
    assert_eq!(a["labels"]["team"], "infra");
    assert_eq!(a["suspects"].as_array().unwrap().len(), 2);
    assert!(a["started_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(a["ended_at"], Value::Null);
}

#[tokio::test]
async fn webhook_statuses_are_classified() {
    let fake = webhook_fake(vec![
        reply(409, "duplicate"),
        reply(503, "down"),
        reply(400, "bad"),
        reply(408, "slow"),
    ])
    .await;
    let n = notifier(&format!(
        "name = \"wh\"\ntype = \"webhook\"\nurl = \"{}/h?token=q-secret-0123\"",
        fake.base
    ));
    assert_eq!(
        n.send(&critical()).await.unwrap().status,
        409,
        "409 = already delivered"
    );
    let e503 = n.send(&critical()).await.unwrap_err();
    let e400 = n.send(&critical()).await.unwrap_err();
    let e408 = n.send(&critical()).await.unwrap_err();
    assert_eq!(
        (e503.class(), e400.class(), e408.class()),
        (
            ErrorClass::Retryable,
            ErrorClass::Permanent,
            ErrorClass::Retryable
        )
    );
    for e in [&e503, &e400, &e408] {
        assert_clean(e, &["q-secret-0123"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Transport failures.

#[tokio::test]
async fn timeouts_and_refused_connections_are_retryable() {
    let mut slow = reply(200, r#"{"errcode":0}"#);
    slow.delay = Duration::from_secs(5);
    let fake = Fake::start(vec![slow]).await;
    let n = notifier(&format!(
        "name = \"wx\"\ntype = \"wecom\"\nurl = \"{}/cgi-bin/webhook/send\"\nkey = \"slow-key-0007\"\ntimeout = \"300ms\"",
        fake.base
    ));
    let started = std::time::Instant::now();
    let err = n.send(&critical()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(err, NotifyError::Timeout { .. }) && err.retryable(),
        "{err}"
    );
    assert!(err.to_string().contains("300ms"), "{err}");
    assert_clean(&err, &["slow-key-0007"]);

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let n = notifier(&format!(
        "name = \"tg\"\ntype = \"telegram\"\napi_base = \"http://127.0.0.1:{port}\"\nbot_token = \"{TG_TOKEN}\"\nchat_id = 1"
    ));
    let err = n.send(&critical()).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::Network { .. }) && err.retryable(),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("http://127.0.0.1:{port}/…")),
        "{err}"
    );
    assert_clean(&err, &[TG_TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"]);
}

#[tokio::test]
async fn alertmanager_urls_send_to_every_peer_and_succeed_when_one_takes_it() {
    let up = Fake::start(vec![reply(200, "")]).await;
    let down = Fake::start(vec![reply(503, "not ready")]).await;
    let n = notifier(&format!(
        "name = \"am\"\ntype = \"alertmanager\"\nurls = [\"{}\", \"{}\"]",
        down.base, up.base
    ));
    let m = leakhound_notify::AlertMessage::test_message(now_ms());
    let d = n.send(&m).await.unwrap();
    assert_eq!(d.status, 200);
    // Both were asked, each with the same alert.
    assert_eq!(down.only().path, "/api/v2/alerts");
    assert_eq!(up.only().path, "/api/v2/alerts");
    assert_eq!(down.only().json(), up.only().json());
    // None takes it: the first failure, for the outbox to retry.
    let down2 = Fake::start(vec![reply(503, "not ready")]).await;
    let n = notifier(&format!(
        "name = \"am\"\ntype = \"alertmanager\"\nurls = [\"{}\", \"{}\"]",
        down.base, down2.base
    ));
    assert!(n.send(&m).await.is_err());
    assert_eq!(down2.seen().len(), 1);
}
