//! `leakhound capture TARGET`: save an evidence bundle now — the goroutine profile (debug=1),
//! the heap profile, the current sample and the stored samples around it, with the suspects
//! against the target's previous bundle — and record it in the store.

use crate::run::load_config;
use anyhow::Context;
use clap::Args;
use leakhound_agent::agent::TargetProber;
use leakhound_agent::evidence::{CaptureRequest, Capturer};
use leakhound_core::config::{Config, TargetConfig};
use leakhound_http::{redact, HttpClient, HttpError, HttpOptions};
use leakhound_store::Db;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// A target's name in the config file, or a URL (`http://127.0.0.1:3000`; its
    /// /debug/pprof is read).
    #[arg(value_name = "TARGET")]
    pub target: String,
    /// The config file (targets, [evidence], [agent] database). Not needed with a URL.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Record the bundle in this SQLite file (default: the config's [agent] database, else
    /// leakhound.db).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Write the bundle under this directory (default: [evidence] dir, relative to the
    /// database's directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the bundle's record as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Whether the target answers its goroutine profile (`debug=1`; only its first line is read).
async fn preflight(config: &Config, target: &TargetConfig) -> anyhow::Result<()> {
    let Some(url) = target.pprof_url("/debug/pprof/goroutine?debug=1") else {
        anyhow::bail!(
            "'{}' has no URL, so there is no /debug/pprof to read; nothing was saved",
            target.name
        );
    };
    let client = HttpClient::new(&HttpOptions {
        timeout: config.actions.evidence.timeout,
        auth: target.auth.clone(),
        headers: target.headers.clone(),
    })?;
    match client
        .get_until(&url, config.actions.evidence.max_profile_bytes, |b| {
            b.contains(&b'\n')
        })
        .await
    {
        Ok(_) | Err(HttpError::TooLarge { .. }) => Ok(()),
        Err(e) => anyhow::bail!(
            "no goroutine profile from '{}' ({}): {e}; nothing was saved",
            target.name,
            redact(&url)
        ),
    }
}

/// Exit codes: 0 the bundle holds the goroutine profile, 1 it was recorded without it (the
/// profile failed between the first check and the capture; the reason is printed), 3 no
/// profile could be had (nothing is written) or nothing could be saved.
pub async fn run(args: CaptureArgs) -> anyhow::Result<ExitCode> {
    let config_path = args.config.clone().or_else(|| {
        let default = PathBuf::from("leakhound.toml");
        default.exists().then_some(default)
    });
    let mut config = match &config_path {
        Some(path) => load_config(path)?,
        None => Config::default(),
    };
    let target = match config.targets.iter().find(|t| t.name == args.target) {
        Some(t) => t.clone(),
        None if args.target.contains("://") || args.target.contains(':') => {
            Config::for_urls(std::slice::from_ref(&args.target))
                .map_err(anyhow::Error::msg)?
                .targets
                .remove(0)
        }
        None => {
            let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
            anyhow::bail!(
                "'{}' is neither a target of {} ({}) nor a URL; give a target name or e.g. http://127.0.0.1:3000",
                args.target,
                config_path
                    .as_ref()
                    .map_or("the config".to_string(), |p| format!("'{}'", p.display())),
                if names.is_empty() {
                    "it has none".to_string()
                } else {
                    names.join(", ")
                }
            )
        }
    };
    if let Some(db) = args.db {
        config.agent.database = db;
    }
    crate::silence::not_a_directory(&config.agent.database)?;
    if let Some(dir) = args.dir {
        config.actions.evidence.dir = std::path::absolute(&dir).unwrap_or(dir);
    }
    // A capture that gets no goroutine profile is an error, and nothing is written (no bundle,
    // no database): ask for the profile's first line before anything is created.
    preflight(&config, &target).await?;
    let latest = match TargetProber::new(&target) {
        Ok(mut p) => Some(p.probe().await),
        Err(_) => None,
    };
    // Not rate-limited; one incident for all manual captures of a target: its first is kept,
    // the rest are pruned oldest first like any other bundle.
    let request = CaptureRequest {
        trigger: "manual".into(),
        incident: "manual".into(),
        latest,
        automatic: false,
        now_ms: leakhound_agent::agent::now_ms(),
    };
    let bundle = async {
        let db = Db::open(&config.agent.database)?;
        let mut capturer = Capturer::new(&config.actions.evidence, &db)?;
        anyhow::Ok(capturer.capture(&target, request).await?)
    }
    .await
    .with_context(|| format!("capturing evidence of '{}'", target.name))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&bundle)?);
    } else {
        println!("evidence bundle {} of {}", bundle.id, bundle.target);
        println!("  dir:        {}", bundle.dir.display());
        println!(
            "  goroutines: {}",
            bundle
                .goroutines
                .map_or("(no profile)".to_string(), |g| g.to_string())
        );
        if bundle.suspects.is_empty() {
            println!("  suspects:   none");
        } else {
            println!("  suspects:");
            for s in &bundle.suspects {
                println!("    - {}", leakhound_agent::evidence::suspect_line(s));
            }
        }
        if let Some(e) = &bundle.error {
            println!("  problems:   {e}");
        }
    }
    Ok(if bundle.has_profile() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
