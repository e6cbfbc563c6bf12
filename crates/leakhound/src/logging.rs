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
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        // A failed write (a reader that went away: `run 2>&1 | head`) must not become an
        // `eprintln!` from tracing-subscriber, which panics on a broken pipe.
        .log_internal_errors(false)
        .with_writer(move || LogWriter { ansi });
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

/// stderr, or the held lines while the view runs. Each write is one formatted event: control
/// characters inside it are escaped (a target's text can never forge a line or drive the
/// terminal), and a write that fails is dropped (logging never stops the agent).
struct LogWriter {
    /// Colours are on: ESC is the formatter's own, not escaped.
    ansi: bool,
}

/// `line` with its control characters escaped (`\n` → `\\n`), except a final newline and, with
/// `keep_esc`, ESC (the formatter's colours). Borrowed when there is nothing to escape.
fn escape_line(line: &[u8], keep_esc: bool) -> std::borrow::Cow<'_, [u8]> {
    let (body, end) = match line.strip_suffix(b"\n") {
        Some(body) => (body, &b"\n"[..]),
        None => (line, &b""[..]),
    };
    let bad = |b: u8| (b < 0x20 && b != b'\t' && !(keep_esc && b == 0x1b)) || b == 0x7f;
    if !body.iter().any(|&b| bad(b)) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b if bad(b) => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            b => out.push(b),
        }
    }
    out.extend_from_slice(end);
    std::borrow::Cow::Owned(out)
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = escape_line(buf, self.ansi);
        if let Some(lines) = held().as_mut() {
            if lines.len() == HELD_MAX {
                lines.pop_front();
            }
            lines.push_back(line.into_owned());
            return Ok(buf.len());
        }
        // EPIPE (the reader is gone), a full disk, a closed fd: the line is lost, the agent
        // goes on. Rust ignores SIGPIPE, so a dead pipe is just this error.
        let _ = std::io::stderr().write_all(&line);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::escape_line;

    #[test]
    fn a_line_cannot_carry_another() {
        let line = b"INFO probe failed: 1\nERROR FAKE: injected line\r\x1b[2J\n";
        assert_eq!(
            &*escape_line(line, false),
            b"INFO probe failed: 1\\nERROR FAKE: injected line\\r\\x1b[2J\n"
        );
        assert_eq!(
            &*escape_line(b"\x1b[32mINFO\x1b[0m ok\n", true),
            b"\x1b[32mINFO\x1b[0m ok\n"
        );
        assert!(matches!(
            escape_line(b"plain\ttext\n", false),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
