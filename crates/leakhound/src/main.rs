//! `leakhound`: parse the command line, set up logging, run one command, map it to an exit code.

mod actions;
mod analyze;
mod capture;
mod check;
mod cli;
mod demo;
mod export;
mod logging;
mod report;
mod run;
mod silence;
mod tui;
mod verify;
mod view;
mod watch;

use clap::Parser;
use cli::{Cli, Command, ConfigCommand, NotifyCommand, SilenceCommand};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    leakhound_agent::memory::use_one_arena();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run(_) | Command::Demo(_)) {
        die_quietly_on_a_closed_pipe();
    }
    logging::init(&cli.log);
    // One thread is plenty for a thousand targets (the agent needs a few % of a core) and
    // avoids cross-thread wake-ups; SQLite writes and dump parsing run on blocking threads.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {e}"
            );
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Check(args) => check::run(args).await,
            Command::Watch(args) => watch::run(args).await,
            Command::Run(args) => run::run(args).await,
            Command::Init(args) => run::init(args),
            Command::Config(ConfigCommand::Check(args)) => run::config_check(args),
            Command::Demo(args) => demo::run(args).await,
            Command::Analyze(args) => analyze::run_analyze(args).await,
            Command::Diff(args) => analyze::run_diff(args).await,
            Command::Silence(SilenceCommand::Add(args)) => silence::add(args),
            Command::Silence(SilenceCommand::List(args)) => silence::list(args),
            Command::Silence(SilenceCommand::Rm(args)) => silence::rm(args),
            Command::Notify(NotifyCommand::Test(args)) => run::notify_test(args).await,
            Command::Export(command) => export::run(command),
            Command::Report(args) => report::run(args),
            Command::Baseline(args) => verify::baseline(args),
            Command::Verify(args) => verify::verify(args),
            Command::Capture(args) => capture::run(args).await,
            Command::Actions(actions::ActionsCommand::List(args)) => actions::list(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // Never `eprintln!`: with the log reader gone (`run 2>&1 | head`) it panics.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(3)
        }
    }
}

/// One-shot commands end quietly when their reader goes away (`leakhound export grafana |
/// head`), as Unix tools do, instead of panicking in `println!`. The agent (`run`, `demo`)
/// keeps Rust's default of ignoring SIGPIPE: a dead log reader must only lose log lines.
fn die_quietly_on_a_closed_pipe() {
    // SAFETY: called once at start, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
