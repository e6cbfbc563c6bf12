//! Email over SMTP with lettre (rustls, no native TLS): plain SMTP, STARTTLS (required, not
//! opportunistic) or implicit TLS ("SMTPS", port 465); optional login. The default subject is
//! the guide's `OneAPI Alert: High Goroutine Count`, per target:
//! `leakhound alert: High Goroutine Count — one-api (CRITICAL, 12034 goroutines)`. The
//! `Message-ID` is built from the idempotency key, so a retried mail is recognisably the same.

use super::template::{Format, DEFAULT_EMAIL_SUBJECT};
use super::{AlertMessage, Ctx, Delivery, NotifyError};
use leakhound_core::config::notifiers::{EmailConfig, EmailTls};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub(crate) struct Email {
    pub(crate) ctx: Ctx,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    server: String,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

impl Email {
    pub(crate) fn new(config: &EmailConfig, ctx: Ctx) -> Result<Email, NotifyError> {
        let mut ctx = ctx.with_templates(Format::Text, DEFAULT_EMAIL_SUBJECT, None)?;
        if config.host.trim().is_empty() {
            return Err(
                ctx.config_error("`host` is empty: set the SMTP server, e.g. smtp.example.com")
            );
        }
        let from: Mailbox = config.from.parse().map_err(|e| {
            ctx.config_error(format!("`from`: '{}' is not an email address ({e}): write it like \"leakhound <alerts@example.com>\"", config.from))
        })?;
        if config.to.is_empty() {
            return Err(ctx.config_error(
                "`to` is empty: list at least one recipient, to = [\"ops@example.com\"]",
            ));
        }
        let mut to = Vec::new();
        for t in &config.to {
            to.push(t.parse::<Mailbox>().map_err(|e| {
                ctx.config_error(format!("`to`: '{t}' is not an email address ({e})"))
            })?);
        }
        let port = config.port.unwrap_or(match config.tls {
            EmailTls::None => 25,
            EmailTls::Starttls => 587,
            EmailTls::Tls => 465,
        });
        let tls_params = || {
            TlsParameters::builder(config.host.clone())
                .dangerous_accept_invalid_certs(config.accept_invalid_certs)
                .build()
                .map_err(|e| {
                    ctx.config_error(format!("cannot set up TLS for '{}': {e}", config.host))
                })
        };
        let tls = match config.tls {
            EmailTls::None => Tls::None,
            EmailTls::Starttls => Tls::Required(tls_params()?),
            EmailTls::Tls => Tls::Wrapper(tls_params()?),
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
                .port(port)
                .tls(tls)
                .timeout(Some(ctx.timeout));
        match (&config.username, &config.password) {
            (Some(user), Some(pass)) => {
                ctx.scrub.add(pass.expose());
                builder = builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
            }
            (None, Some(_)) => {
                return Err(ctx.config_error("`password` without `username`: set both to log in"))
            }
            (Some(_), None) => {
                return Err(ctx.config_error("`username` without `password`: set both to log in, e.g. password = \"${SMTP_PASSWORD}\""))
            }
            (None, None) => {}
        }
        Ok(Email {
            server: format!("{}:{port}", config.host),
            transport: builder.build(),
            ctx,
            from,
            to,
        })
    }

    pub(crate) async fn send(&self, msg: &AlertMessage) -> Result<Delivery, NotifyError> {
        let ctx = &self.ctx;
        let subject = ctx.title(msg)?;
        let body = ctx.body(msg, &subject)?;
        let id: String = msg
            .idempotency_key
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            .collect();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(format!("<{id}@leakhound>")))
            .header(ContentType::TEXT_PLAIN);
        for t in &self.to {
            builder = builder.to(t.clone());
        }
        let email = builder.body(body).map_err(|e| {
            ctx.config_error(format!("cannot build the mail: {e}; check `from` and `to`"))
        })?;
        match self.transport.send(email).await {
            Ok(response) => Ok(Delivery {
                channel: ctx.name.clone(),
                status: u16::from(response.code()),
                peer_id: None,
                truncated: false,
            }),
            Err(e) => {
                let detail = ctx.scrub.scrub(&leakhound_http::error_chain(&e));
                let bad_cert = detail.contains("certificate");
                let retryable = !(e.is_permanent() || e.is_client() || e.is_tls() || bad_cert);
                let hint = if e.is_permanent() {
                    "the server refused: check `username`/`password`, `from` and `to` (not retried)"
                } else if bad_cert {
                    "the server's certificate is not valid for `host`: fix `host`, or set accept_invalid_certs = true for an internal relay (not retried)"
                } else if e.is_tls() {
                    "TLS failed: check `tls` and `port` (465 = tls, 587 = starttls, 25 = none) (not retried)"
                } else if e.is_timeout() {
                    "the server did not answer in time (will retry)"
                } else {
                    "will retry"
                };
                Err(NotifyError::Smtp {
                    name: ctx.name.clone(),
                    detail: format!("sending via {} failed: {detail}; {hint}", self.server),
                    retryable,
                })
            }
        }
    }
}
