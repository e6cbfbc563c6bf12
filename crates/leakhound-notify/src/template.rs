//! Message templates (minijinja): a title and a body per notifier, each user-overridable with
//! `title_template` / `body_template`. The defaults read well in Chinese and English chat
//! clients: bilingual labels (`目标 Target`, `当前 Value`), the guide's colours, and the guide's
//! email subject "High Goroutine Count".
//!
//! Every template sees the message's fields (`target`, `rule`, `level`, `metric`, `suspects`,
//! `evidence`, `labels`, …) and these prepared ones: `title` (the rendered title, in bodies),
//! `firing`/`resolved` (booleans), `LEVEL` (upper case), `level_zh`, `emoji`, `headline`,
//! `value`/`threshold` (as people read them; the numbers are `value_raw`/`threshold_raw`),
//! `started_at`/`ended_at` (UTC text), `duration` (`5m30s`) and `rows` — `[label, value]` pairs
//! of the facts that are present, which the default bodies list.

use super::message::AlertMessage;
use leakhound_core::units::human_duration;
use minijinja::{AutoEscape, Environment};
use serde_json::{json, Value};
use std::time::Duration;

/// How a body is marked up, which decides its default and how values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// WeCom, Feishu: `**bold**`, `` `code` ``, one fact per line.
    Markdown,
    /// DingTalk: markdown with a blank line between facts (single newlines collapse there).
    DingTalkMarkdown,
    /// Slack mrkdwn: `*bold*`, values with `&`, `<`, `>` escaped.
    Slack,
    /// Telegram HTML: values HTML-escaped automatically.
    Html,
    /// Plain text: email, WeCom text, webhook and Alertmanager descriptions.
    Text,
}

/// The default title of every chat message.
/// A growth rule's threshold is a rate, and says so: `(growth ≥ +600/h)`, not `(> 600)`.
pub const DEFAULT_TITLE: &str = "{% if resolved %}✅ [RESOLVED] {{ target }}: {{ value }} {{ metric }} ({% if rule_kind == \"trend\" %}growth < {% else %}< {% endif %}{{ threshold }}){% else %}{{ emoji }} [{{ LEVEL }}] {{ target }}: {{ value }} {{ metric }} ({% if rule_kind == \"trend\" %}growth ≥ {% else %}> {% endif %}{{ threshold }}){% endif %}";

/// The default email subject: the guide's `OneAPI Alert: High Goroutine Count`, per target.
pub const DEFAULT_EMAIL_SUBJECT: &str = "leakhound {% if resolved %}resolved{% else %}alert{% endif %}: {{ headline }} — {{ target }} ({% if resolved %}RESOLVED{% else %}{{ LEVEL }}{% endif %}, {{ value }} {{ metric }})";

pub(crate) const MARKDOWN_BODY: &str = "**{{ title }}**
{% for r in rows %}**{{ r[0] }}:** {{ r[1] }}
{% endfor %}{% if evidence %}**证据 Evidence:**
{% for e in evidence %}- {{ e }}
{% endfor %}{% endif %}{% if suspects %}**可疑调用点 Top suspects:**
{% for s in suspects %}{{ loop.index }}. `{{ s }}`
{% endfor %}{% endif %}{% if generator_url %}[详情 Details]({{ generator_url }})
{% endif %}";

const DINGTALK_BODY: &str = "### {{ title }}

{% for r in rows %}**{{ r[0] }}:** {{ r[1] }}

{% endfor %}{% if evidence %}**证据 Evidence:**

{% for e in evidence %}- {{ e }}
{% endfor %}
{% endif %}{% if suspects %}**可疑调用点 Top suspects:**

{% for s in suspects %}{{ loop.index }}. `{{ s }}`
{% endfor %}
{% endif %}{% if generator_url %}[详情 Details]({{ generator_url }})
{% endif %}";

const SLACK_BODY: &str = "{% for r in rows %}*{{ r[0] }}:* {{ r[1] }}
{% endfor %}{% if evidence %}*证据 Evidence:*
{% for e in evidence %}• {{ e }}
{% endfor %}{% endif %}{% if suspects %}*可疑调用点 Top suspects:*
{% for s in suspects %}{{ loop.index }}. `{{ s }}`
{% endfor %}{% endif %}{% if generator_url %}<{{ generator_url }}|详情 Details>
{% endif %}";

const HTML_BODY: &str = "<b>{{ title }}</b>
{% for r in rows %}<b>{{ r[0] }}:</b> {{ r[1] }}
{% endfor %}{% if evidence %}<b>证据 Evidence:</b>
{% for e in evidence %}• {{ e }}
{% endfor %}{% endif %}{% if suspects %}<b>可疑调用点 Top suspects:</b>
{% for s in suspects %}{{ loop.index }}. <code>{{ s }}</code>
{% endfor %}{% endif %}{% if generator_url %}<a href=\"{{ generator_url }}\">详情 Details</a>
{% endif %}";

const TEXT_BODY: &str = "{{ title }}

{% for r in rows %}{{ r[0] }}: {{ r[1] }}
{% endfor %}{% if evidence %}
证据 Evidence:
{% for e in evidence %}  - {{ e }}
{% endfor %}{% endif %}{% if suspects %}
可疑调用点 Top suspects (growing call sites):
{% for s in suspects %}  {{ loop.index }}. {{ s }}
{% endfor %}{% endif %}{% if generator_url %}
详情 Details: {{ generator_url }}
{% endif %}
-- leakhound";

impl Format {
    pub fn default_body(self) -> &'static str {
        match self {
            Format::Markdown => MARKDOWN_BODY,
            Format::DingTalkMarkdown => DINGTALK_BODY,
            Format::Slack => SLACK_BODY,
            Format::Html => HTML_BODY,
            Format::Text => TEXT_BODY,
        }
    }

    fn body_name(self) -> &'static str {
        match self {
            Format::Html => "body.html",
            _ => "body.txt",
        }
    }
}

/// A title and a body template, compiled once when the notifier is built.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    format: Format,
}

/// A template that does not compile or does not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{which} template: {detail}")]
pub struct TemplateError {
    /// `title_template` or `body_template`.
    pub which: &'static str,
    pub detail: String,
}

impl Templates {
    /// Compile the title and body, the defaults where `None`.
    pub fn new(
        format: Format,
        default_title: &str,
        title: Option<&str>,
        body: Option<&str>,
    ) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // Telegram documents exactly four entities (&lt; &gt; &amp; &quot;); minijinja's HTML
        // escaping also writes &#x27; and &#x2f;, which are valid but make `net/http` unreadable
        // in notifications' previews. Strings in .html templates get the four, the rest as usual.
        env.set_formatter(|out, state, value| {
            if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() {
                if let Some(text) = value.as_str() {
                    return out
                        .write_str(&html_escape(text))
                        .map_err(minijinja::Error::from);
                }
            }
            minijinja::escape_formatter(out, state, value)
        });
        let title = title.unwrap_or(default_title).to_string();
        let body = body.unwrap_or(format.default_body()).to_string();
        env.add_template_owned("title.txt", title)
            .map_err(|e| TemplateError {
                which: "title_template",
                detail: describe(&e),
            })?;
        env.add_template_owned(format.body_name(), body)
            .map_err(|e| TemplateError {
                which: "body_template",
                detail: describe(&e),
            })?;
        Ok(Templates { env, format })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The title, on one line (newlines become spaces), trimmed.
    pub fn title(&self, msg: &AlertMessage) -> Result<String, TemplateError> {
        let ctx = context(msg, self.format, None);
        let text = self.render("title.txt", "title_template", &ctx)?;
        Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// The body; `title` is available to it as `title`.
    pub fn body(&self, msg: &AlertMessage, title: &str) -> Result<String, TemplateError> {
        let ctx = context(msg, self.format, Some(title));
        let text = self.render(self.format.body_name(), "body_template", &ctx)?;
        Ok(text.trim_end().to_string())
    }

    /// The body, shortened to fit `limit` as measured by `measure`: first fewer suspects and
    /// evidence lines (the facts stay), then cut by `cut` at the limit. `true` when shortened.
    pub fn body_fitting(
        &self,
        msg: &AlertMessage,
        title: &str,
        limit: usize,
        measure: impl Fn(&str) -> usize,
        cut: impl Fn(&str, usize) -> String,
    ) -> Result<(String, bool), TemplateError> {
        let full = self.body(msg, title)?;
        if measure(&full) <= limit {
            return Ok((full, false));
        }
        let mut m = msg.clone();
        for keep in [5usize, 3, 1, 0] {
            m.suspects.truncate(keep);
            m.evidence.truncate(keep);
            for line in m.evidence.iter_mut().chain(m.suspects.iter_mut()) {
                if line.chars().count() > 200 {
                    *line = line.chars().take(199).chain(['…']).collect();
                }
            }
            let body = self.body(&m, title)?;
            if measure(&body) <= limit {
                return Ok((body, true));
            }
        }
        let body = self.body(&m, title)?;
        Ok((cut(&body, limit), true))
    }

    fn render(
        &self,
        name: &str,
        which: &'static str,
        ctx: &Value,
    ) -> Result<String, TemplateError> {
        let template = self.env.get_template(name).map_err(|e| TemplateError {
            which,
            detail: describe(&e),
        })?;
        template.render(ctx).map_err(|e| TemplateError {
            which,
            detail: describe(&e),
        })
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut text = e.to_string();
    if let Some(line) = e.line() {
        if !text.contains("line") {
            text.push_str(&format!(" (line {line})"));
        }
    }
    format!("{text}; fix the template (minijinja syntax: {{{{ target }}}}, {{% if resolved %}}…{{% endif %}})")
}

/// `2026-11-25 21:00:00` in the local time zone (the guide's log lines, baselines in messages).
pub fn local_time(ts_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ts_ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| ts_ms.to_string())
}

/// `2026-11-25 21:00:00 UTC`.
pub fn utc_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn context(msg: &AlertMessage, format: Format, title: Option<&str>) -> Value {
    let resolved = msg.is_resolved();
    let value = msg.value_shown();
    let threshold = msg.threshold_shown();
    let duration = human_duration(Duration::from_millis(msg.held_ms.max(0).unsigned_abs()));
    let level = format!(
        "{} {} {}",
        msg.level.emoji(),
        msg.level.chinese(),
        msg.level.name().to_uppercase()
    );
    let mut rows: Vec<(&str, String)> = vec![
        (
            "状态 Status",
            if resolved {
                "✅ 已恢复 RESOLVED".to_string()
            } else {
                "🔥 告警中 FIRING".to_string()
            },
        ),
        ("级别 Level", level),
        ("目标 Target", msg.target.clone()),
        ("当前 Value", format!("{value} {}", msg.metric)),
        ("阈值 Threshold", format!("> {threshold}")),
        (
            if resolved {
                "持续了 Lasted"
            } else {
                "持续 For"
            },
            duration.clone(),
        ),
        ("开始 Started", utc_text(msg.started_at_ms)),
    ];
    if let Some(end) = msg.ended_at_ms {
        rows.push(("恢复 Resolved", utc_text(end)));
    }
    if let Some(trend) = &msg.trend {
        rows.push(("趋势 Trend", trend.clone()));
    }
    rows.push(("规则 Rule", msg.rule.clone()));
    let mut ctx = serde_json::to_value(msg).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut ctx {
        let extra = json!({
            "title": title.unwrap_or(""),
            "firing": !resolved,
            "resolved": resolved,
            "LEVEL": msg.level.name().to_uppercase(),
            "level_zh": msg.level.chinese(),
            "emoji": msg.level.emoji(),
            "headline": msg.headline(),
            "value": value,
            "threshold": threshold,
            "value_raw": msg.value,
            "threshold_raw": msg.threshold,
            "started_at": utc_text(msg.started_at_ms),
            "ended_at": msg.ended_at_ms.map(utc_text),
            "duration": duration,
            "rows": rows.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        });
        if let Value::Object(extra) = extra {
            map.extend(extra);
        }
    }
    if format == Format::Slack {
        escape_strings(&mut ctx, slack_escape);
    }
    ctx
}

fn escape_strings(v: &mut Value, f: fn(&str) -> String) {
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(items) => items.iter_mut().for_each(|i| escape_strings(i, f)),
        Value::Object(map) => map.values_mut().for_each(|i| escape_strings(i, f)),
        _ => {}
    }
}

/// Escape text for HTML (Telegram's four entities: `&lt;` `&gt;` `&amp;` `&quot;`).
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping).
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max_bytes` bytes of `s`, cut on a character boundary, `…` at the end when cut.
pub fn truncate_bytes(s: &str, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s.to_string();
    }
    let ell = "…";
    let mut end = max_bytes.saturating_sub(ell.len());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ell}", &s[..end])
}

/// At most `max` characters, `…` at the end when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::AlertStatus;
    use leakhound_core::Severity;

    pub(crate) fn critical() -> AlertMessage {
        let mut m = AlertMessage::test_message(1_764_104_400_000);
        m.rule = "goroutines_critical".into();
        m.level = Severity::Critical;
        m.target = "one-api".into();
        m.value = 12034.0;
        m.threshold = 10000.0;
        m.value_text = None;
        m.threshold_text = None;
        m.held_ms = 330_000;
        m.trend = Some("+1200/h over 30m".into());
        m.evidence = vec!["goroutines 12034 > 10000 for 5m30s".into()];
        m.suspects = vec!["main.(*Relay).stream <-chan (relay.go:88) +5012".into()];
        m.generator_url = Some("http://agent:9090/alerts/x?a=1&b=2".into());
        m
    }

    #[test]
    fn default_titles() {
        let t = Templates::new(Format::Markdown, DEFAULT_TITLE, None, None).unwrap();
        let mut m = critical();
        assert_eq!(
            t.title(&m).unwrap(),
            "🔴 [CRITICAL] one-api: 12034 goroutines (> 10000)"
        );
        m.status = AlertStatus::Resolved;
        m.value = 2100.0;
        assert_eq!(
            t.title(&m).unwrap(),
            "✅ [RESOLVED] one-api: 2100 goroutines (< 10000)"
        );
        let e = Templates::new(Format::Text, DEFAULT_EMAIL_SUBJECT, None, None).unwrap();
        let m = critical();
        assert_eq!(
            e.title(&m).unwrap(),
            "leakhound alert: High Goroutine Count — one-api (CRITICAL, 12034 goroutines)"
        );
    }

    #[test]
    fn bodies_are_bilingual_and_escaped() {
        let m = critical();
        let md = Templates::new(Format::Markdown, DEFAULT_TITLE, None, None).unwrap();
        let title = md.title(&m).unwrap();
        let body = md.body(&m, &title).unwrap();
        assert!(body.contains("**目标 Target:** one-api"), "{body}");
        assert!(body.contains("**当前 Value:** 12034 goroutines"), "{body}");
        assert!(
            body.contains("`main.(*Relay).stream <-chan (relay.go:88) +5012`"),
            "{body}"
        );
        let html = Templates::new(Format::Html, DEFAULT_TITLE, None, None).unwrap();
        let body = html.body(&m, &title).unwrap();
        assert!(
            body.contains("<code>main.(*Relay).stream &lt;-chan (relay.go:88) +5012</code>"),
            "{body}"
        );
        assert!(
            body.contains("<a href=\"http://agent:9090/alerts/x?a=1&amp;b=2\">"),
            "{body}"
        );
        let slack = Templates::new(Format::Slack, DEFAULT_TITLE, None, None).unwrap();
        let body = slack.body(&m, &title).unwrap();
        assert!(body.contains("&lt;-chan"), "{body}");
        assert!(body.contains("*目标 Target:* one-api"), "{body}");
    }

    #[test]
    fn user_templates_and_errors() {
        let t = Templates::new(
            Format::Text,
            DEFAULT_TITLE,
            Some("{{ target }}!"),
            Some("{{ rule }} {{ labels.team }}"),
        )
        .unwrap();
        let mut m = critical();
        m.labels.insert("team".into(), "infra".into());
        assert_eq!(t.title(&m).unwrap(), "one-api!");
        assert_eq!(t.body(&m, "x").unwrap(), "goroutines_critical infra");
        let err = Templates::new(Format::Text, DEFAULT_TITLE, Some("{{ target"), None).unwrap_err();
        assert_eq!(err.which, "title_template");
        assert!(err.detail.contains("fix the template"), "{err}");
    }

    #[test]
    fn fitting_drops_details_then_cuts() {
        let t = Templates::new(Format::Markdown, DEFAULT_TITLE, None, None).unwrap();
        let mut m = critical();
        m.suspects = (0..100)
            .map(|i| format!("pkg.func{i} (file.go:{i}) 好"))
            .collect();
        let (body, cut) = t
            .body_fitting(&m, "T", 1000, str::len, truncate_bytes)
            .unwrap();
        assert!(cut && body.len() <= 1000, "{}", body.len());
        assert!(body.contains("目标 Target"));
        let (body, cut) = t
            .body_fitting(&m, "T", 50, str::len, truncate_bytes)
            .unwrap();
        assert!(cut && body.len() <= 50 && body.ends_with('…'), "{body}");
    }

    #[test]
    fn truncation_respects_utf8() {
        let s = "目标目标目标";
        let t = truncate_bytes(s, 8);
        assert!(t.len() <= 8 && t.ends_with('…'), "{t}");
        assert_eq!(truncate_bytes("abc", 3), "abc");
        assert_eq!(truncate_chars("目标目标", 3), "目标…");
    }
}
