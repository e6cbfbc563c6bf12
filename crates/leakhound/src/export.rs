//! `leakhound export grafana` and `leakhound export prometheus-rules`: files for users who run
//! Grafana and Prometheus next to (or instead of) leakhound's own alerting.

use anyhow::Context;
use clap::{Args, Subcommand};
use leakhound_core::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A Grafana dashboard (JSON): goroutines with the alert levels as threshold bands, memory,
    /// up, alert level, growth; the Prometheus datasource is a variable, so it imports as-is.
    Grafana(ExportArgs),
    /// A Prometheus rule file (YAML): recording rules and one alerting rule per leakhound
    /// alert rule of the config (levels with `for`, growth with `deriv`), for `rule_files`.
    PrometheusRules(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Take levels, alert rules and targets from this config file (default: the guide's).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(command: ExportCommand) -> anyhow::Result<ExitCode> {
    let (args, text) = match command {
        ExportCommand::Grafana(args) => {
            let config = load(&args)?;
            let dashboard = leakhound_core::export::grafana_dashboard(&config);
            let text = serde_json::to_string_pretty(&dashboard)
                .context("cannot write the dashboard as JSON")?;
            (args, text + "\n")
        }
        ExportCommand::PrometheusRules(args) => {
            let config = load(&args)?;
            (args, leakhound_core::export::prometheus_rules(&config))
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write '{}'", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn load(args: &ExportArgs) -> anyhow::Result<Config> {
    match &args.config {
        Some(path) => crate::run::load_config(path),
        None => Ok(Config::default()),
    }
}
