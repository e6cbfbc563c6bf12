//! The command line. Every command works with no config file: give it a URL.

use clap::{Args, Parser, Subcommand, ValueEnum};
use leakhound_core::config::SourceKind;
use std::path::PathBuf;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  leakhound demo                               see everything against a simulated leaking service
  leakhound check http://127.0.0.1:3000        one-shot check (exit 1 above 5000 goroutines)
  leakhound watch http://127.0.0.1:3000        live view, refreshed every 5s
  leakhound init && leakhound run              write a config, then run the agent
  leakhound config check leakhound.toml        list every mistake in a config file
  leakhound analyze http://127.0.0.1:3000      group the service's goroutines by stack
  leakhound diff before.txt after.txt          what grew between two goroutine dumps

A target is a base URL (the guide's /api/monitor/health, expvar /debug/vars, Prometheus
/metrics or /debug/pprof are found on their own), a full URL of one of those, `pid:1234`
or `process:NAME` for a local process.

The operations guide's methods (§1–§11), each with its leakhound command: docs/guide.md";

/// Watch Go services for goroutine leaks: check, watch, store history, alert, find the leak.
#[derive(Debug, Parser)]
#[command(name = "leakhound", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Also log the guide's "Goroutine count: N" lines below the warning mark, and more.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Log only warnings and errors.
    #[arg(long, short, global = true, conflicts_with = "debug")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe targets once and print goroutines, memory and the guide's health state.
    ///
    /// The guide's quick_check.sh: docs/guide.md#8-the-scripts. Without TARGETs and --config,
    /// ./leakhound.toml is read (as every other command does).
    ///
    /// Exit codes: 0 all normal, 1 some target above --fail-above goroutines, 2 some target
    /// could not be probed (2 wins over 1).
    Check(CheckArgs),
    /// Live view of targets: a row per target, a chart and the leak suspects of the selected one.
    ///
    /// The guide's monitor_goroutines.sh: docs/guide.md#1-the-health-endpoint.
    ///
    /// Keys: ↑/↓ or j/k select, p pause, w window (5m/30m/2h), d goroutine dump now (updates
    /// the suspects), ? help, q/Esc/Ctrl-C quit. `--plain` (or a pipe) prints one line per sample.
    ///
    /// Exit codes: 0, or 2 when some target's last sample was down (it could not be probed, or
    /// with --agent the agent could not answer for it) — as `check` does.
    Watch(WatchArgs),
    /// Run the agent: poll every target in the config, store samples, log the guide's lines.
    Run(RunArgs),
    /// Write a commented config file with the guide's defaults.
    Init(InitArgs),
    /// Config file tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Start a simulated leaking Go service and watch it with the real agent pipeline.
    Demo(DemoArgs),
    /// Read goroutine dumps (files, `-` or pprof URLs): buckets by stack for one, the growing
    /// call sites (suspects) for several taken over time.
    Analyze(crate::analyze::AnalyzeArgs),
    /// Compare two goroutine dumps: what grew, what is new, what vanished.
    Diff(crate::analyze::DiffArgs),
    /// Stop notifications for a target and/or rule for a while (the agent keeps evaluating).
    #[command(subcommand)]
    Silence(SilenceCommand),
    /// Notification channels.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Write a Grafana dashboard or Prometheus rules made from the config.
    #[command(subcommand)]
    Export(crate::export::ExportCommand),
    /// History from the agent's store: distribution, current, peak, trough, average of the last
    /// 1000, sparkline of the last 100, trend; charts and HTML (docs/guide.md#8-the-scripts).
    Report(crate::report::ReportArgs),
    /// Save a target's baseline right after deploying a fix (docs/guide.md#10-verifying-a-fix).
    Baseline(crate::verify::BaselineArgs),
    /// Compare a target with its baseline (growth < 20 % after 1 h), or follow the guide's
    /// checkpoints with --plan (30 min, 2 h, 24 h, week one). Exit 0 pass/pending, 1 fail, 2 no data.
    Verify(crate::verify::VerifyArgs),
    /// Save an evidence bundle of a target now: goroutine and heap profiles, samples, suspects.
    ///
    /// TARGET is a target name from the config file or a URL. The bundle goes to [evidence]
    /// dir and is recorded in the database; its suspects compare it with the previous bundle.
    Capture(crate::capture::CaptureArgs),
    /// What [[actions]] did: `leakhound actions list`.
    #[command(subcommand)]
    Actions(crate::actions::ActionsCommand),
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message through one `[[notifiers]]` channel now and report what happened.
    Test(NotifyTestArgs),
}

#[derive(Debug, Args)]
pub struct NotifyTestArgs {
    /// The notifier's `name` in the config file.
    pub name: String,
    /// The config file.
    #[arg(long, short, default_value = "leakhound.toml", value_name = "FILE")]
    pub config: PathBuf,
}

/// Which database: `--db`, else the config file's `[agent] database`.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// The agent's SQLite file.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Take the database path from this config file.
    #[arg(long, short, default_value = "leakhound.toml", value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Silence alerts of matching targets and rules (`*` globs) for a duration.
    Add(SilenceAddArgs),
    /// List silences (active and expired).
    List(DbArgs),
    /// Remove a silence by its id.
    Rm(SilenceRmArgs),
}

#[derive(Debug, Args)]
pub struct SilenceAddArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Target name or glob (default: every target).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Rule id or glob, e.g. goroutines_urgent or 'goroutines_*' (default: every rule).
    #[arg(long, value_name = "RULE")]
    pub rule: Option<String>,
    /// How long.
    #[arg(long = "for", default_value = "1h", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// Why (shown in `silence list`).
    #[arg(long, default_value = "", value_name = "TEXT")]
    pub comment: String,
}

#[derive(Debug, Args)]
pub struct SilenceRmArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The silence's id (see `silence list`).
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file and report every mistake at once (line, bad value, fix).
    Check(ConfigCheckArgs),
}

/// Where targets come from: URLs on the command line, or the config file's targets.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Targets: base URL, endpoint URL, `pid:N`, `process:NAME` or `container:NAME` (a Docker
    /// or Podman container by name, through $DOCKER_HOST or /var/run/docker.sock).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Read targets (and levels) from this config file instead.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Give up on a target after this long (e.g. 500ms, 5s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Read this source at the URL as given instead of detecting one: health, expvar,
    /// prometheus or pprof (for endpoints at non-standard paths).
    #[arg(long, value_parser = parse_source, value_name = "KIND")]
    pub source: Option<SourceKind>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Exit 1 when a target has more goroutines than this.
    #[arg(long, default_value_t = 5000, value_name = "N")]
    pub fail_above: u64,
    /// Print JSON (one array of results) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Time between refreshes.
    #[arg(long, short, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,
    /// One line per sample instead of the full-screen view (for pipes and logs; automatic when
    /// stdout is not a terminal).
    #[arg(long)]
    pub plain: bool,
    /// Stop after every target has this many samples (default: until q or Ctrl-C). A failed
    /// probe or agent request counts as a (down) sample, so a dead target still ends the run.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Read targets and samples from a running agent's HTTP API (`leakhound run` with [web])
    /// instead of probing TARGETs, e.g. http://127.0.0.1:9466. With --config, levels come from
    /// that file (give the agent's own).
    #[arg(long, value_name = "URL", conflicts_with = "targets")]
    pub agent: Option<String>,
    /// The agent's [web] token (sent as `Authorization: Bearer …`).
    #[arg(
        long,
        env = "LEAKHOUND_WEB_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Watch these targets with the guide's defaults instead of a config file's.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// The config file (see `leakhound init`).
    #[arg(long, short, default_value = "leakhound.toml", value_name = "FILE")]
    pub config: PathBuf,
    /// With TARGETs: probe every this often.
    #[arg(long, short, value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Option<Duration>,
    /// Store samples in this SQLite file (overrides [agent] database).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Append continuous_monitor lines (docs/guide.md#8-the-scripts) to this file (overrides
    /// [agent] continuous_log).
    #[arg(long, value_name = "FILE")]
    pub continuous_log: Option<PathBuf>,
    /// Stop by itself after this long (default: until SIGINT/SIGTERM).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Option<Duration>,
    /// Serve the HTTP API on a non-loopback [web] listen address without a [web] token.
    #[arg(long)]
    pub insecure_public: bool,
    /// Run no [[actions]]: log and record what would run (evidence is still captured).
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the config.
    #[arg(default_value = "leakhound.toml", value_name = "FILE")]
    pub path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    /// The config file to validate.
    #[arg(default_value = "leakhound.toml", value_name = "FILE")]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long the demo runs.
    #[arg(long, default_value = "40s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// Goroutines the simulated service leaks per second.
    #[arg(long, default_value_t = 60.0, value_name = "N")]
    pub leak_rate: f64,
    /// One line per sample instead of a redrawn table.
    #[arg(long)]
    pub plain: bool,
}

fn parse_source(text: &str) -> Result<SourceKind, String> {
    SourceKind::parse(text).ok_or_else(|| {
        format!("'{text}' is not a source; use auto, health, expvar, prometheus or pprof")
    })
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    leakhound_core::units::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
