//! `leakhound actions list`: every recorded run of an `[[actions]]` block — what triggered it,
//! what ran (argv), exit code, duration, goroutines before and after, the evidence bundle,
//! and how it ended (ran, recovered, not_recovered, failed, dry_run, skipped_no_evidence,
//! needs_human).

use crate::cli::DbArgs;
use clap::{Args, Subcommand};
use leakhound_agent::guide_log::local_time;
use leakhound_store::Store;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ActionsCommand {
    /// List recorded action runs, newest first.
    List(ActionsListArgs),
}

#[derive(Debug, Args)]
pub struct ActionsListArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Only this target's runs.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,
    /// Print JSON (an array of runs).
    #[arg(long)]
    pub json: bool,
}

pub fn list(args: ActionsListArgs) -> anyhow::Result<ExitCode> {
    let path = crate::silence::existing_database(&args.db)?;
    let store = Store::open_read_only(&path)?;
    let runs = store.runs(args.target.as_deref(), args.limit)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("no action runs recorded in '{}'", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    for r in &runs {
        let num = |v: Option<u64>| v.map_or("?".to_string(), |n| n.to_string());
        println!(
            "#{} {} {} {} → {}{}",
            r.id,
            local_time(r.started_ms),
            r.target,
            r.action,
            r.outcome,
            if r.dry_run { " (dry run)" } else { "" }
        );
        println!("    trigger:    {}", r.trigger);
        println!("    command:    {}", r.command);
        if r.duration_ms.is_some() || r.exit_code.is_some() {
            println!(
                "    exit:       {}  in {} ms",
                r.exit_code.map_or("-".to_string(), |c| c.to_string()),
                r.duration_ms.unwrap_or(0)
            );
        }
        println!(
            "    goroutines: {} before, {} after",
            num(r.before_goroutines),
            num(r.after_goroutines)
        );
        if let Some(id) = r.bundle_id {
            match store.bundle(id)? {
                Some(b) => println!("    evidence:   {}", b.dir.display()),
                None => println!("    evidence:   bundle {id} (pruned)"),
            }
        }
        if let Some(e) = &r.error {
            println!("    error:      {e}");
        }
        if let Some(t) = &r.output_tail {
            let last: Vec<&str> = t.lines().rev().take(5).collect();
            for line in last.into_iter().rev() {
                println!("    | {line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
