//! Alertmanager, per its API v2 (`api/v2/openapi.yaml`, `postAlerts`): `POST {url}/api/v2/alerts`
//! with a JSON array of `{labels, annotations, startsAt, endsAt, generatorURL}` (RFC 3339 times).
//! Labels: `alertname` (the rule without its level suffix, so `goroutines_warning`/`_urgent`/
//! `_critical` share one and inhibition rules can match on `severity`), `target`, `severity`,
//! `rule`, `rule_kind`, `metric`, the message's labels and the configured ones. A firing alert is
//! sent with `endsAt` = now + 4 × `resend_interval` (as Prometheus does), so it resolves by itself
//! if leakhound stops re-sending it; the agent re-sends firing alerts every
//! [`Notifier::resend_interval`](super::Notifier::resend_interval). A resolved alert is sent
//! with `endsAt` = its resolve time. Alertmanager de-duplicates by label set, so retries are safe.
//!
//! The labels are the same for every message of one alert (firing, repeat, resolved — the
//! message's `transition` is an annotation, not a label, or the resolve would be another alert)
//! and for every agent watching the same target with the same rules: an HA pair of agents sends
//! Alertmanager one alert, not two. With `urls`, every alert goes to each Alertmanager of a
//! cluster (as Prometheus does; the cluster de-duplicates the notifications), and the delivery
//! counts when at least one of them takes it.

use super::template::{Format, DEFAULT_TITLE};
use super::webhook::utc_rfc3339;
use super::{now_ms, to_json, AlertMessage, Ctx, Delivery, NotifyError, SecretUrl};
use base64::Engine;
use leakhound_core::config::notifiers::AlertmanagerConfig;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use url::Url;

pub const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct Alertmanager {
    pub(crate) ctx: Ctx,
    /// `POST …/api/v2/alerts` of every Alertmanager.
    urls: Vec<SecretUrl>,
    config: AlertmanagerConfig,
}

/// `goroutines_critical` → `goroutines`.
pub fn alertname_of(rule: &str) -> &str {
    for suffix in ["_info", "_warning", "_urgent", "_critical"] {
        if let Some(base) = rule.strip_suffix(suffix) {
            if !base.is_empty() {
                return base;
            }
        }
    }
    rule
}

impl Alertmanager {
    pub(crate) fn new(config: &AlertmanagerConfig, ctx: Ctx) -> Result<Alertmanager, NotifyError> {
        let mut ctx = ctx.with_templates(Format::Text, DEFAULT_TITLE, None)?;
        let mut urls = Vec::new();
        let given: Vec<&SecretUrl> = if config.urls.is_empty() {
            vec![&config.url]
        } else {
            config.urls.iter().collect()
        };
        for u in given {
            let mut url = ctx.url("url", Some(u), None)?;
            let path = format!("{}/api/v2/alerts", url.path().trim_end_matches('/'));
            url.set_path(&path);
            urls.push(SecretUrl::from_url(url));
        }
        if let Some(p) = &config.password {
            ctx.scrub.add(p.expose());
            if config.username.is_none() {
                return Err(
                    ctx.config_error("`password` without `username`: set both for basic auth")
                );
            }
        }
        if let Some(t) = &config.bearer_token {
            ctx.scrub.add(t.expose());
        }
        if config
            .resend_interval
            .is_some_and(|d| d < Duration::from_secs(1))
        {
            return Err(
                ctx.config_error("`resend_interval` is under 1s: use something like \"1m\"")
            );
        }
        Ok(Alertmanager {
            ctx,
            urls,
            config: config.clone(),
        })
    }

    pub(crate) fn resend_interval(&self) -> Duration {
        self.config
            .resend_interval
            .unwrap_or(DEFAULT_RESEND_INTERVAL)
    }

    /// The alert array for `msg`, with `now_ms` as the send time.
    pub(crate) fn payload(
        &self,
        msg: &AlertMessage,
        now_ms: i64,
    ) -> Result<serde_json::Value, NotifyError> {
        let title = self.ctx.title(msg)?;
        let description = self.ctx.body(msg, &title)?;
        let mut labels: BTreeMap<String, String> = msg.labels.clone();
        // Which message of the alert this is: the same alert in Alertmanager either way.
        let transition = labels.remove("transition");
        labels.extend(self.config.labels.clone());
        let alertname = self
            .config
            .alertname
            .clone()
            .unwrap_or_else(|| alertname_of(&msg.rule).to_string());
        labels.insert("alertname".into(), alertname);
        labels.insert("target".into(), msg.target.clone());
        labels.insert("severity".into(), msg.level.name().into());
        labels.insert("rule".into(), msg.rule.clone());
        labels.insert("rule_kind".into(), msg.rule_kind.clone());
        labels.insert("metric".into(), msg.metric.clone());
        let mut annotations = BTreeMap::from([
            ("summary".to_string(), title),
            ("description".to_string(), description),
            ("value".to_string(), msg.value_shown()),
            ("threshold".to_string(), msg.threshold_shown()),
        ]);
        if let Some(t) = transition {
            annotations.insert("transition".into(), t);
        }
        if let Some(t) = &msg.trend {
            annotations.insert("trend".into(), t.clone());
        }
        if !msg.suspects.is_empty() {
            annotations.insert("suspects".into(), msg.suspects.join("\n"));
        }
        let ends_at_ms = if msg.is_resolved() {
            msg.ended_at_ms.unwrap_or(now_ms)
        } else {
            let ahead = i64::try_from(self.resend_interval().as_millis().saturating_mul(4))
                .unwrap_or(i64::MAX);
            now_ms.saturating_add(ahead)
        };
        let mut alert = json!({
            "labels": labels,
            "annotations": annotations,
            "startsAt": utc_rfc3339(msg.started_at_ms),
            "endsAt": utc_rfc3339(ends_at_ms),
        });
        if let Some(g) = msg
            .generator_url
            .as_deref()
            .filter(|g| Url::parse(g).is_ok())
        {
            alert["generatorURL"] = json!(g);
        }
        Ok(json!([alert]))
    }

    pub(crate) async fn send(&self, msg: &AlertMessage) -> Result<Delivery, NotifyError> {
        let ctx = &self.ctx;
        let body = to_json(ctx, &self.payload(msg, now_ms())?)?;
        let mut headers = Vec::new();
        if let (Some(user), Some(pass)) = (&self.config.username, &self.config.password) {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}:{}", pass.expose()));
            headers.push(("Authorization", format!("Basic {token}")));
        } else if let Some(user) = &self.config.username {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:"));
            headers.push(("Authorization", format!("Basic {token}")));
        }
        if let Some(t) = &self.config.bearer_token {
            headers.push(("Authorization", format!("Bearer {}", t.expose())));
        }
        // To each Alertmanager in turn; delivered when one takes it, else the first failure.
        let mut first_error = None;
        let mut delivered = None;
        for url in &self.urls {
            let result = match ctx
                .post(url.url(), "application/json", body.clone(), &headers)
                .await
            {
                Ok(answer) => ctx.check_status(&answer).map(|()| answer),
                Err(e) => Err(e),
            };
            match result {
                Ok(answer) => {
                    delivered.get_or_insert_with(|| ctx.delivered(&answer, false));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (delivered, first_error) {
            (Some(d), _) => Ok(d),
            (None, Some(e)) => Err(e),
            (None, None) => Err(ctx.config_error("no Alertmanager `url`")),
        }
    }
}
