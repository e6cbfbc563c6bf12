//! `leakhound watch`: GUIDE §1 monitor_goroutines.sh — a refreshed live view of targets.

use crate::cli::WatchArgs;
use crate::run::{config_for, shutdown_signal};
use crate::view::{plain_line, LiveView};
use leakhound_agent::agent::spawn_probers;
use leakhound_agent::guide_log::local_time;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use tokio::sync::{mpsc, watch};

/// Clear the screen and move home, then the frame.
pub fn redraw(frame: &str) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\x1b[2J\x1b[H{frame}");
    let _ = out.flush();
}

pub async fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let mut config = config_for(&args.targets)?;
    for t in &mut config.targets {
        t.interval = args.interval;
        t.timeout = t.timeout.min(args.interval);
        t.jitter = std::time::Duration::ZERO;
    }
    let plain = args.plain || !std::io::stdout().is_terminal();
    let names: Vec<String> = config.targets.iter().map(|t| t.name.clone()).collect();
    let mut view = LiveView::new(config.levels.clone(), names);
    let (tx, mut rx) = mpsc::channel(config.targets.len().max(16));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut probers = spawn_probers(&config.targets, tx, stop_rx)?;
    let header = format!(
        "leakhound watch — every {} — Ctrl-C to quit",
        leakhound_core::units::human_duration(args.interval)
    );
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            probed = rx.recv() => {
                let Some(probed) = probed else { break };
                let sample = probed.sample;
                if plain {
                    println!("{}", plain_line(&sample, &config.levels, &local_time(sample.ts_ms)));
                }
                view.update(sample);
                if !plain {
                    redraw(&view.frame(&header));
                }
                if args.count.is_some_and(|n| view.min_samples() as u64 >= n) {
                    break;
                }
            }
            _ = &mut stop => break,
        }
    }
    let _ = stop_tx.send(true);
    while probers.join_next().await.is_some() {}
    Ok(ExitCode::SUCCESS)
}
