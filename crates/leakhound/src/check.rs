//! `leakhound check`: GUIDE §8 quick_check.sh, for any number of targets at once.

use crate::cli::CheckArgs;
use crate::run::config_for;
use crate::view;
use leakhound_agent::agent::TargetProber;
use std::process::ExitCode;

pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let config = config_for(&args.targets)?;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, target) in config.targets.iter().enumerate() {
        let mut prober = TargetProber::new(target)?;
        tasks.spawn(async move { (i, prober.probe().await) });
    }
    let mut samples = Vec::with_capacity(config.targets.len());
    while let Some(joined) = tasks.join_next().await {
        samples.push(joined?);
    }
    samples.sort_by_key(|(i, _)| *i);
    let samples: Vec<_> = samples.into_iter().map(|(_, s)| s).collect();

    if args.json {
        let items: Vec<_> = samples
            .iter()
            .map(|s| view::check_json(s, &config.levels))
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
    } else {
        for s in &samples {
            println!("{}", view::check_line(s, &config.levels));
        }
    }
    let any_down = samples.iter().any(|s| !s.up);
    let any_high = samples
        .iter()
        .any(|s| s.metrics.goroutines.is_some_and(|g| g > args.fail_above));
    Ok(if any_down {
        ExitCode::from(2)
    } else if any_high {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
