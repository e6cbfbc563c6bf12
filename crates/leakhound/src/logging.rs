//! tracing setup: human text (default) or JSON lines, level from flags or `RUST_LOG`.

use crate::cli::{LogArgs, LogFormat};
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, MutexGuard};
use tracing_subscriber::EnvFilter;

pub fn init(args: &LogArgs) {
    let default = if args.debug {
        "debug"
    } else if args.quiet {
        "warn"
    } else {
        "info"
    };
    // Our own crates at the chosen level; libraries stay at warn.
    let directives =
        format!("warn,leakhound={default},leakhound_agent={default},leakhound_core={default}");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| LogWriter);
    match args.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_target(false).init(),
    }
}

/// Log lines held back while the full-screen view owns the terminal (they would scribble over
/// it); `None` when lines go straight to stderr.
static HELD: Mutex<Option<VecDeque<Vec<u8>>>> = Mutex::new(None);
/// Lines held at most (the oldest are dropped).
const HELD_MAX: usize = 1000;

fn held() -> MutexGuard<'static, Option<VecDeque<Vec<u8>>>> {
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Hold log lines back from now on (the live view takes the screen).
pub fn hold_stderr() {
    let mut held = held();
    if held.is_none() {
        *held = Some(VecDeque::new());
    }
}

/// Print the held lines to stderr and send later ones there directly (the view is gone).
pub fn release_stderr() {
    let lines = held().take();
    let mut err = std::io::stderr().lock();
    for line in lines.into_iter().flatten() {
        let _ = err.write_all(&line);
    }
    let _ = err.flush();
}

/// stderr, or the held lines while the view runs.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(lines) = held().as_mut() {
            if lines.len() == HELD_MAX {
                lines.pop_front();
            }
            lines.push_back(buf.to_vec());
            return Ok(buf.len());
        }
        std::io::stderr().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
