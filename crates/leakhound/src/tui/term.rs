//! The terminal around the view: raw mode and the alternate screen on, and back off on every
//! way out — a normal return, an error, a signal (the loop returns) and a panic (the hook, and
//! the guard's `Drop` while unwinding).

use crossterm::{cursor, execute, terminal};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the terminal is in the view's mode (so restoring twice is harmless).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Leave the alternate screen, show the cursor, end raw mode. Safe to call any number of times.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = std::io::stdout();
        let _ = execute!(out, terminal::LeaveAlternateScreen, cursor::Show);
        let _ = terminal::disable_raw_mode();
        let _ = out.flush();
        crate::logging::release_stderr();
    }
}

/// Owns the terminal while the view runs; restores it when dropped.
pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    pub fn enter() -> anyhow::Result<TerminalGuard> {
        install_panic_hook();
        terminal::enable_raw_mode().map_err(|e| {
            anyhow::anyhow!("cannot put the terminal in raw mode ({e}); use --plain")
        })?;
        ACTIVE.store(true, Ordering::SeqCst);
        // Log lines would scribble over the view: hold them until it is gone.
        crate::logging::hold_stderr();
        let mut out = std::io::stdout();
        if let Err(e) = execute!(out, terminal::EnterAlternateScreen, cursor::Hide) {
            restore();
            anyhow::bail!("cannot switch to the alternate screen ({e}); use --plain");
        }
        match Terminal::new(CrosstermBackend::new(out)) {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                anyhow::bail!("cannot draw on this terminal ({e}); use --plain")
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Restore the terminal before the default hook prints the panic, so the message is readable
/// on the normal screen (installed once).
fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
