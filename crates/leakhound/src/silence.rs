//! `leakhound silence add|list|rm`: silences live in the agent's database, and a running agent
//! picks up changes within seconds.

use crate::cli::{DbArgs, SilenceAddArgs, SilenceRmArgs};
use crate::run::load_config;
use anyhow::bail;
use leakhound_agent::agent::now_ms;
use leakhound_agent::guide_log::local_time;
use leakhound_core::rules::Silence;
use leakhound_store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

/// `--db`, else the config's database, else `leakhound.db` when there is no config file. A
/// directory is refused with the fix (a file path).
pub fn database(args: &DbArgs) -> anyhow::Result<PathBuf> {
    let path = if let Some(db) = &args.db {
        db.clone()
    } else if args.config.exists() {
        load_config(&args.config)?.agent.database
    } else {
        leakhound_core::config::AgentConfig::default().database
    };
    not_a_directory(&path)?;
    Ok(path)
}

/// A directory given as the database is refused with the fix (a file path), before SQLite
/// says "unable to open database file".
pub fn not_a_directory(path: &std::path::Path) -> anyhow::Result<()> {
    if path.is_dir() {
        bail!(
            "'{}' is a directory; the database is a file: pass its path, e.g. --db {}",
            path.display(),
            path.join("leakhound.db").display()
        );
    }
    Ok(())
}

/// The database for a command that only reads: it must exist (reading never creates one).
pub fn existing_database(args: &DbArgs) -> anyhow::Result<PathBuf> {
    let path = database(args)?;
    if !path.exists() {
        bail!(
            "no database at '{}' — start the agent with `leakhound run` first (or pass --db FILE / -c CONFIG)",
            path.display()
        );
    }
    Ok(path)
}

pub fn add(args: SilenceAddArgs) -> anyhow::Result<ExitCode> {
    if args.target.is_none() && args.rule.is_none() {
        bail!("a silence needs --target and/or --rule (use --target '*' to silence everything)");
    }
    let mut outbox = Store::open(&database(&args.db)?)?;
    let now = now_ms();
    let id = format!("{:x}", now);
    let until = now + i64::try_from(args.duration.as_millis()).unwrap_or(i64::MAX);
    outbox.add_silence(&Silence {
        id: id.clone(),
        target: args.target,
        rule: args.rule,
        until_ms: until,
        comment: args.comment,
        created_ms: now,
    })?;
    println!("silence {id} until {}", local_time(until));
    Ok(ExitCode::SUCCESS)
}

pub fn list(args: DbArgs) -> anyhow::Result<ExitCode> {
    let mut outbox = Store::open_read_only(&existing_database(&args)?)?;
    let now = now_ms();
    let silences = outbox.silences()?;
    if silences.is_empty() {
        println!("no silences");
    }
    for s in silences {
        println!(
            "{:<14} {:<8} until {}  target={} rule={}  {}",
            s.id,
            if s.is_active(now) {
                "active"
            } else {
                "expired"
            },
            local_time(s.until_ms),
            s.target.as_deref().unwrap_or("*"),
            s.rule.as_deref().unwrap_or("*"),
            s.comment
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rm(args: SilenceRmArgs) -> anyhow::Result<ExitCode> {
    let mut outbox = Store::open(&existing_database(&args.db)?)?;
    if !outbox.remove_silence(&args.id)? {
        bail!(
            "no silence with id '{}'; see `leakhound silence list`",
            args.id
        );
    }
    println!("removed silence {}", args.id);
    Ok(ExitCode::SUCCESS)
}
