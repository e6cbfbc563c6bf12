//! `leakhound watch`: GUIDE §1 monitor_goroutines.sh — the full-screen live view of targets
//! (probed here, or read from a running agent), or one line per sample with `--plain`.

use crate::cli::WatchArgs;
use crate::run::{config_for, load_config, shutdown_signal};
use crate::tui::app::{App, Event};
use crate::tui::collect::{self, Agent, DumpTarget};
use crate::view::plain_line;
use leakhound_agent::guide_log::local_time;
use leakhound_core::config::Levels;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Where the samples come from, ready to run.
struct Source {
    levels: Levels,
    /// (name, whether dumps can be taken), in display order.
    names: Vec<(String, bool)>,
    dumps: HashMap<String, DumpTarget>,
    title: String,
}

/// Start the collectors for `args`; they send on `tx` until `stop` turns true.
async fn start(
    args: &WatchArgs,
    tx: mpsc::Sender<Event>,
    stop: watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<Source> {
    if let Some(url) = &args.agent {
        let levels = match &args.targets.config {
            Some(path) => load_config(path)?.levels,
            None => Levels::default(),
        };
        let timeout = args
            .interval
            .clamp(Duration::from_secs(2), Duration::from_secs(10));
        let agent = Agent::new(url, args.token.clone(), timeout)?;
        let targets = agent.targets().await?;
        if targets.is_empty() {
            anyhow::bail!("the agent at {url} watches no targets: add [[targets]] to its config");
        }
        let names: Vec<String> = targets.into_iter().map(|t| t.name).collect();
        collect::spawn_agent_poller(agent, names.clone(), args.interval, tx, stop, tasks);
        return Ok(Source {
            levels,
            names: names.into_iter().map(|n| (n, false)).collect(),
            dumps: HashMap::new(),
            title: format!("leakhound watch --agent {url}"),
        });
    }
    let mut config = config_for(&args.targets)?;
    for t in &mut config.targets {
        t.interval = args.interval;
        t.timeout = t.timeout.min(args.interval);
        t.jitter = Duration::ZERO;
    }
    let dumps: HashMap<String, DumpTarget> = config
        .targets
        .iter()
        .filter_map(|t| DumpTarget::for_target(t).map(|d| (t.name.clone(), d)))
        .collect();
    collect::spawn_url_probers(&config.targets, tx, stop, tasks)?;
    Ok(Source {
        levels: config.levels,
        names: config
            .targets
            .iter()
            .map(|t| (t.name.clone(), dumps.contains_key(&t.name)))
            .collect(),
        dumps,
        title: "leakhound watch".into(),
    })
}

/// `--plain`: the guide's `[time] Goroutines: N, Memory: MMB` line per sample. Returns whether
/// some target's last sample was down.
async fn plain(
    levels: &Levels,
    targets: usize,
    count: Option<u64>,
    rx: &mut mpsc::Receiver<Event>,
) -> bool {
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut down: HashMap<String, bool> = HashMap::new();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(Event::Sample(sample)) => {
                    println!("{}", plain_line(&sample, levels, &local_time(sample.ts_ms)));
                    down.insert(sample.target.clone(), !sample.up);
                    *seen.entry(sample.target.clone()).or_default() += 1;
                    if count.is_some_and(|n| seen.len() >= targets && seen.values().all(|&c| c >= n)) {
                        break;
                    }
                }
                Some(Event::Status(text)) => eprintln!("{text}"),
                Some(_) => {}
                None => break,
            },
            _ = &mut stop => break,
        }
    }
    down.values().any(|&d| d)
}

pub async fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let use_plain = args.plain || !std::io::stdout().is_terminal();
    let (tx, mut rx) = mpsc::channel(crate::tui::EVENTS);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let result = async {
        let source = start(&args, tx.clone(), stop_rx, &mut tasks).await?;
        if use_plain {
            return Ok(plain(&source.levels, source.names.len(), args.count, &mut rx).await);
        }
        let interval_ms = i64::try_from(args.interval.as_millis()).unwrap_or(i64::MAX);
        let mut app = App::new(source.title, source.levels, interval_ms, source.names);
        app.count = args.count;
        let app = crate::tui::run(app, source.dumps, tx, rx, std::future::pending()).await?;
        anyhow::Ok(app.any_down())
    }
    .await;
    let _ = stop_tx.send(true);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    // Like `check`: 2 when a target could not be probed (its last sample was down).
    result.map(|any_down| {
        if any_down {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    })
}
