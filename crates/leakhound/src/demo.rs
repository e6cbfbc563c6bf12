//! `leakhound demo`: a newcomer's tour with nothing but Rust installed. Two **simulated** Go
//! services (one leaking, one healthy) serve the real endpoints over HTTP on 127.0.0.1; the real
//! agent pipeline probes them, stores samples in a temporary SQLite file, and the demo ends with
//! the stored history's verdict for each.

use crate::cli::DemoArgs;
use crate::run::shutdown_signal;
use crate::tui::app::{App, Event};
use crate::tui::collect::DumpTarget;
use crate::view::{plain_line, sparkline};
use anyhow::Context;
use clap::Parser;
use leakhound::sim::{SimConfig, Simulator};
use leakhound_agent::agent::Agent;
use leakhound_agent::guide_log::local_time;
use leakhound_agent::view::AgentEvent;
use leakhound_core::config::{Config, TargetConfig};
use leakhound_core::rules::{Rule, RuleKind};
use leakhound_core::trend::Trend;
use leakhound_store::Store;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// The demo lasts seconds, not hours: rules hold for 3 s instead of minutes, and the growth rule
/// fits the last 30 s. (Everything else is the real rule engine with the guide's thresholds.)
fn compress_clock(rules: &mut [Rule]) {
    for rule in rules {
        rule.hold = rule.hold.min(Duration::from_secs(3));
        if let RuleKind::Trend {
            window,
            short_window,
            min_points,
            ..
        } = &mut rule.kind
        {
            *window = Duration::from_secs(30);
            *short_window = Duration::from_secs(15);
            *min_points = 9;
        }
    }
}

/// `analyze`'s arguments, parsed as if typed, so the demo shows exactly what the command prints.
#[derive(clap::Parser)]
struct AnalyzeCommand {
    #[command(flatten)]
    args: crate::analyze::AnalyzeArgs,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let leaky = Simulator::start(SimConfig {
        base_goroutines: 800,
        leak_per_second: args.leak_rate,
        leak_channel: "openai".into(),
        wobble: true,
    })
    .await
    .context("cannot start the simulated service")?;
    let healthy = Simulator::start(SimConfig {
        base_goroutines: 450,
        ..SimConfig::default()
    })
    .await
    .context("cannot start the simulated service")?;
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;

    let mut config = Config::default();
    config.agent.database = dir.path().join("demo.db");
    config.agent.log_interval = Duration::from_secs(10);
    compress_clock(&mut config.alerts.rules);
    // The agent's goroutine dumps classify growth against a quiet-time reference taken two
    // minutes after a target's first sample: longer than the whole demo. Its growth alerts fire
    // on the counts alone; `analyze` below reads the dump and names the leak.
    config.actions.evidence.on_alerts = false;
    for (name, sim) in [
        ("one-api (simulated)", &leaky),
        ("healthy (simulated)", &healthy),
    ] {
        let url = leakhound_core::config::parse_url(&sim.url()).map_err(anyhow::Error::msg)?;
        let mut t = TargetConfig::new(name.into(), Some(url), None, &config.defaults);
        t.interval = Duration::from_secs(1);
        t.timeout = Duration::from_millis(900);
        t.jitter = Duration::ZERO;
        config.targets.push(t);
    }

    println!(
        "leakhound demo: two SIMULATED Go services on {} (leaking {}/s on channel 'openai') and {} (healthy).",
        leaky.url(),
        args.leak_rate,
        healthy.url()
    );
    println!(
        "The real agent probes them every second for {} and stores every sample in {}.\n",
        leakhound_core::units::human_duration(args.duration),
        config.agent.database.display()
    );

    let plain = args.plain || !std::io::stdout().is_terminal();
    config.web.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    // The dashboard, live, on a free loopback port (the agent's own web server).
    let bound = leakhound_web::bind(&config, false)
        .await
        .context("cannot start the dashboard")?;
    let agent = Agent::start(config.clone()).await?;
    let mut live_rx = agent.subscribe();
    let web = match bound {
        Some(bound) => Some(bound.serve(&config, agent.view(), None)?),
        None => None,
    };
    if let Some(web) = &web {
        println!(
            "Dashboard: http://{}/ (live while the demo runs; `--duration 10m` for longer)\n",
            web.local_addr()
        );
    }
    let duration = args.duration;
    // Quitting the live view (q) ends the demo early too.
    let (quit_tx, quit_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            _ = tokio::time::sleep(duration) => {}
            _ = shutdown_signal() => {}
            _ = quit_rx => {}
        }
    };
    let agent_run = agent.run_until(shutdown);
    let summary = if plain {
        let _quit = quit_tx;
        tokio::pin!(agent_run);
        loop {
            tokio::select! {
                done = &mut agent_run => break done?,
                received = live_rx.recv() => match received {
                    Ok(AgentEvent::Sample(sample)) => {
                        println!("{}", plain_line(&sample, &config.levels, &local_time(sample.ts_ms)));
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {}
                },
            }
        }
    } else {
        // The agent's live samples feed the same view as `watch`.
        let (tx, rx) = mpsc::channel(crate::tui::EVENTS);
        let forward_tx = tx.clone();
        let forward = tokio::spawn(async move {
            loop {
                match live_rx.recv().await {
                    Ok(AgentEvent::Sample(sample)) => {
                        if forward_tx.send(Event::from(sample)).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let dumps: HashMap<String, DumpTarget> = config
            .targets
            .iter()
            .filter_map(|t| DumpTarget::for_target(t).map(|d| (t.name.clone(), d)))
            .collect();
        let names = config
            .targets
            .iter()
            .map(|t| (t.name.clone(), dumps.contains_key(&t.name)))
            .collect();
        let mut app = App::new(
            "leakhound demo (simulated services)",
            config.levels.clone(),
            1000,
            names,
        );
        // The address printed above is hidden by the full-screen view: show it there too.
        app.link = web
            .as_ref()
            .map(|w| format!("dashboard http://{}/", w.local_addr()));
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
        let agent_side = async move {
            let done = agent_run.await;
            let _ = ended_tx.send(());
            done
        };
        let view_side = async move {
            let shown = crate::tui::run(app, dumps, tx, rx, async {
                let _ = ended_rx.await;
            })
            .await;
            let _ = quit_tx.send(());
            shown
        };
        let (done, shown) = tokio::join!(agent_side, view_side);
        forward.abort();
        shown?;
        done?
    };

    if let Some(web) = web {
        web.stop().await;
    }
    println!(
        "\nStored {}. What the history says (from {}):",
        crate::view::plural(summary.samples_stored, "sample"),
        config.agent.database.display()
    );
    let store = Store::open_read_only(&config.agent.database)?;
    for t in &config.targets {
        let samples = store.samples(&t.name, 0, i64::MAX)?;
        let points: Vec<(f64, f64)> = samples
            .iter()
            .filter_map(|s| {
                s.metrics
                    .goroutines
                    .map(|g| (s.ts_ms as f64 / 1000.0, g as f64))
            })
            .collect();
        let counts: Vec<u64> = points.iter().map(|p| p.1 as u64).collect();
        let verdict = Trend::fit(&points)
            .map_or_else(|| "not enough samples".to_string(), |tr| tr.describe(100.0));
        let last = counts.last().copied().unwrap_or(0);
        let state = config.levels.goroutines.state(last);
        println!(
            "  {:<22} {}, {} → {} goroutines, now {} {}: {}\n  {:<22} {}",
            t.name,
            crate::view::plural(samples.len() as u64, "sample"),
            counts.first().copied().unwrap_or(0),
            last,
            state.emoji(),
            state.word(),
            verdict,
            "",
            sparkline(&counts)
        );
    }
    let alerts = Store::open(&config.agent.database)?.alert_events(None, 20)?;
    if !alerts.is_empty() {
        println!("\nAlerts the rules raised (oldest first; add [[notifiers]] to send them):");
        for t in alerts.iter().rev() {
            println!("  {:<8} {}", t.kind.name(), t.evidence.summary);
        }
    }

    println!(
        "\nWhere is it leaking? `leakhound analyze {} --format debug=1` reads its goroutine profile:\n",
        leaky.url()
    );
    // The simulator serves the aggregated text profile (debug=1).
    let analyze = AnalyzeCommand::try_parse_from([
        "analyze",
        &leaky.url(),
        "--format",
        "debug=1",
        "--top",
        "3",
    ])?;
    crate::analyze::run_analyze(analyze.args).await?;

    println!(
        "\nNext: `leakhound check URL` for a one-shot check, `leakhound watch URL` for a live view,\n\
         `leakhound init` then `leakhound run` for the agent. See README.md."
    );
    Ok(ExitCode::SUCCESS)
}
