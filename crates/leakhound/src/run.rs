//! `leakhound run`, `init` and `config check`: the agent and its config file.

use crate::cli::{ConfigCheckArgs, InitArgs, NotifyTestArgs, RunArgs, TargetArgs};
use anyhow::{bail, Context};
use leakhound_agent::alerting::notifiers_from_config;
use leakhound_core::config::{Config, EXAMPLE};
use leakhound_notify::AlertMessage;
use std::path::Path;
use std::process::ExitCode;

/// Read and validate a config file; every mistake is listed with `FILE:LINE:COLUMN`.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text = read_config_text(path)?;
    let parsed = Config::parse(&text, &|name| std::env::var(name).ok()).and_then(|config| {
        // Building the notifiers checks what the config cannot (addresses, signatures,
        // templates); those mistakes are listed with the rest.
        notifiers_from_config(&config).map(|_| config)
    });
    parsed.map_err(|errors| {
        let listed: Vec<String> = errors
            .0
            .iter()
            .map(|e| format!("  {}:{e}", path.display()))
            .collect();
        anyhow::anyhow!(
            "{} mistake{} in '{}':\n{}",
            errors.0.len(),
            if errors.0.len() == 1 { "" } else { "s" },
            path.display(),
            listed.join("\n")
        )
    })
}

/// A config file's text, with an error that says what the path is when it is not one: `init`
/// is suggested only when there is no file at all.
fn read_config_text(path: &Path) -> anyhow::Result<String> {
    let shown = path.display();
    if path.is_dir() {
        bail!("'{shown}' is a directory, not a config file; give the file, e.g. '{shown}/leakhound.toml'");
    }
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            anyhow::anyhow!(
                "'{shown}' is not a TOML config file (it is not text); give a leakhound config, e.g. one written by `leakhound init`"
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "there is no config file '{shown}'; create one with `leakhound init {shown}`"
        ),
        Err(e) => Err(e).with_context(|| format!("cannot read the config file '{shown}'")),
    }
}

/// The config file every command reads when none is given: `leakhound.toml` in the current
/// directory, if it is there.
pub const DEFAULT_CONFIG: &str = "leakhound.toml";

/// Targets from the command line, else from `--config`, else from `./leakhound.toml` (as every
/// other command reads it).
pub fn config_for(args: &TargetArgs) -> anyhow::Result<Config> {
    let mut config = match (&args.config, args.targets.is_empty()) {
        (Some(path), true) => load_config(path)?,
        (Some(_), false) => bail!("give either targets or --config, not both"),
        (None, true) if Path::new(DEFAULT_CONFIG).is_file() => {
            load_config(Path::new(DEFAULT_CONFIG))?
        }
        (None, true) => {
            bail!("no target given: name one, e.g. `http://127.0.0.1:3000`, use --config FILE, or write ./{DEFAULT_CONFIG} (`leakhound init`)")
        }
        (None, false) => Config::for_urls(&args.targets).map_err(anyhow::Error::msg)?,
    };
    for t in &mut config.targets {
        if let Some(timeout) = args.timeout {
            t.timeout = timeout;
        }
        if let Some(source) = args.source {
            t.source = source;
        }
    }
    Ok(config)
}

/// The config `run` watches with: the file (or the URLs given), with the command line's
/// overrides applied. A reload reads it again the same way.
fn run_config(args: &RunArgs) -> anyhow::Result<Config> {
    let mut config = if args.targets.is_empty() {
        load_config(&args.config)?
    } else {
        Config::for_urls(&args.targets).map_err(anyhow::Error::msg)?
    };
    if let Some(interval) = args.interval {
        for t in &mut config.targets {
            t.interval = interval;
            t.timeout = t.timeout.min(interval);
        }
    }
    if let Some(db) = &args.db {
        config.agent.database = db.clone();
    }
    if let Some(log) = &args.continuous_log {
        config.agent.continuous_log = Some(log.clone());
    }
    if args.dry_run {
        config.actions.dry_run = true;
    }
    Ok(config)
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = run_config(&args)?;
    crate::silence::not_a_directory(&config.agent.database)?;
    // The signal handlers are installed now, before the HTTP address is printed: SIGHUP's
    // default would end the agent.
    let signal = shutdown_signal();
    let hangups = hangup_signal();
    let duration = args.duration;
    let shutdown = async move {
        match duration {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = signal => {}
                }
            }
            None => signal.await,
        }
    };
    // [web] is checked and bound first: a mistake there stops us before anything is probed.
    let bound = leakhound_web::bind(&config, args.insecure_public).await?;
    let agent = leakhound_agent::agent::Agent::start(config.clone()).await?;
    // Only a config file can be read again.
    let reload = args
        .targets
        .is_empty()
        .then(|| reload_hook(args.clone(), agent.reloader()));
    // The HTTP API reads the agent's view and stops when the agent has.
    let web = match bound {
        Some(bound) => Some(bound.serve(&config, agent.view(), reload.clone())?),
        None => None,
    };
    let on_hangup = tokio::spawn(reload_on_hangup(hangups, reload));
    let result = agent.run_until(shutdown).await;
    on_hangup.abort();
    if let Some(web) = web {
        web.stop().await;
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the config file again and hands it to the agent; a file with mistakes changes
/// nothing and the error lists them.
fn reload_hook(
    args: RunArgs,
    reloader: leakhound_agent::agent::Reloader,
) -> leakhound_web::ReloadHook {
    std::sync::Arc::new(move || {
        let args = args.clone();
        let reloader = reloader.clone();
        Box::pin(async move {
            let config = run_config(&args).map_err(|e| {
                let why = format!("{e:#}; the running config is kept");
                tracing::error!("reload refused: {why}");
                why
            })?;
            match reloader.reload(config).await {
                Ok(report) => Ok(report.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
    })
}

/// SIGHUP (`systemctl reload`, `kill -HUP`) reloads the config file.
async fn reload_on_hangup(
    mut hangups: Option<tokio::signal::unix::Signal>,
    reload: Option<leakhound_web::ReloadHook>,
) {
    let Some(hangups) = hangups.as_mut() else {
        return;
    };
    while hangups.recv().await.is_some() {
        match &reload {
            Some(hook) => match hook().await {
                Ok(report) => tracing::info!("SIGHUP: config reloaded: {report}"),
                Err(why) => tracing::error!("SIGHUP: not reloaded: {why}"),
            },
            None => tracing::warn!(
                "SIGHUP: this agent was started with targets on the command line, not a config file; nothing to reload"
            ),
        }
    }
}

/// The SIGHUP stream, installed now (`None` if it cannot be: SIGHUP then ends the agent, as
/// before).
fn hangup_signal() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::hangup())
        .map_err(|e| tracing::warn!("cannot handle SIGHUP ({e}); reload with POST /-/reload"))
        .ok()
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a signal that arrives in between (e.g. right after the agent
/// printed its HTTP address) stops the agent cleanly instead of killing it.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, int) {
                (Some(mut term), Some(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    if args.path.exists() && !args.force {
        bail!(
            "'{}' already exists; pass --force to overwrite it, or give another path",
            args.path.display()
        );
    }
    std::fs::write(&args.path, EXAMPLE)
        .with_context(|| format!("cannot write '{}'", args.path.display()))?;
    println!(
        "wrote {}: edit the [[targets]] block, check it with `leakhound config check {}`, then `leakhound run -c {}`",
        args.path.display(),
        args.path.display(),
        args.path.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn config_check(args: ConfigCheckArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args.path)?;
    println!(
        "{}: OK, {} target{}",
        args.path.display(),
        config.targets.len(),
        if config.targets.len() == 1 { "" } else { "s" }
    );
    if let Some(shard) = config.agent.shard {
        let mine = config
            .targets
            .iter()
            .filter(|t| shard.owns(&t.name))
            .count();
        println!(
            "  shard {shard}: this agent watches {mine} of the {} targets (listed below)",
            config.targets.len()
        );
    }
    for t in config
        .targets
        .iter()
        .filter(|t| config.agent.shard.is_none_or(|s| s.owns(&t.name)))
    {
        let what = match (&t.url, &t.process) {
            (Some(u), _) => leakhound_http::redact(u),
            (None, Some(p)) => format!("{p:?}"),
            (None, None) => "-".into(),
        };
        println!(
            "  {}  {}  source={} every {} (timeout {})",
            t.name,
            what,
            t.source.name(),
            leakhound_core::units::human_duration(t.interval),
            leakhound_core::units::human_duration(t.timeout)
        );
    }
    for d in &config.discovery {
        let source = match &d.kind {
            leakhound_core::config::DiscoveryKind::File { files } => files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            leakhound_core::config::DiscoveryKind::Http { url, .. } => leakhound_http::redact(url),
            leakhound_core::config::DiscoveryKind::Docker { label, .. } => {
                format!("containers labelled {label}")
            }
        };
        println!(
            "  discovery {} ({}): {source}, refreshed every {}",
            d.name,
            d.kind.type_name(),
            leakhound_core::units::human_duration(d.refresh_interval)
        );
    }
    let notifiers = notifiers_from_config(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !notifiers.is_empty() {
        println!(
            "  notifiers: {}",
            notifiers
                .iter()
                .map(|n| format!("{} ({})", n.name(), n.kind()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "  alerts: {} rule{}{}",
        config.alerts.active_rules().len(),
        if config.alerts.active_rules().len() == 1 {
            ""
        } else {
            "s"
        },
        if config.alerts.enabled {
            ""
        } else {
            " (alerts are disabled)"
        }
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn notify_test(args: NotifyTestArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args.config)?;
    let notifiers = notifiers_from_config(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let names: Vec<&str> = notifiers.iter().map(|n| n.name()).collect();
    let Some(notifier) = notifiers.iter().find(|n| n.name() == args.name) else {
        bail!(
            "no notifier named '{}' in '{}'; the names there are: {}",
            args.name,
            args.config.display(),
            if names.is_empty() {
                "(none — add a [[notifiers]] block)".to_string()
            } else {
                names.join(", ")
            }
        );
    };
    let message = AlertMessage::test_message(leakhound_agent::agent::now_ms());
    match notifier.send(&message).await {
        Ok(delivery) => {
            println!(
                "sent a test message through '{}' ({}): peer answered {}{}",
                notifier.name(),
                notifier.kind(),
                delivery.status,
                if delivery.truncated {
                    " (message truncated to the channel's limit)"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!(
                "the test message through '{}' ({}) failed ({}): {e}",
                notifier.name(),
                notifier.kind(),
                if e.retryable() {
                    "temporary; the agent would retry"
                } else {
                    "permanent; fix the config"
                }
            );
            Ok(ExitCode::from(2))
        }
    }
}
