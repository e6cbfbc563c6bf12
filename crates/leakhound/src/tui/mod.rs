//! The full-screen live view of `watch` and `demo` (ratatui + crossterm).
//!
//! Collection and rendering stay apart, as in bottom: collector tasks ([`collect`]), the
//! keyboard thread and the signal task only send [`Event`]s over one bounded channel; one loop
//! applies them to the [`App`] state (pure, [`app`]), carries out the [`Command`]s it returns
//! (goroutine dumps), and draws with [`ui::draw`], a pure function of the state. The terminal
//! is restored on every way out ([`term`]).

pub mod app;
pub mod collect;
pub mod term;
pub mod ui;

use app::{App, Command, Event};
use collect::{DumpRequest, DumpTarget};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Capacity of the one event channel.
pub const EVENTS: usize = 256;
/// Dumps waiting to be taken, over all targets.
const DUMP_QUEUE: usize = 4;
/// Events applied before a redraw, at most (a burst of samples is drawn once).
const BATCH: usize = 256;

/// The keyboard and resizes, read on their own thread (crossterm's reads block). Ends within
/// 100 ms once the loop has dropped its receiver.
fn spawn_input(tx: mpsc::Sender<Event>) -> std::io::Result<std::thread::JoinHandle<()>> {
    use crossterm::event::{self as ct, Event as CtEvent};
    std::thread::Builder::new()
        .name("leakhound-keys".into())
        .spawn(move || loop {
            if tx.is_closed() {
                break;
            }
            match ct::poll(Duration::from_millis(100)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => break,
            }
            let event = match ct::read() {
                Ok(CtEvent::Key(k)) => Event::Key(k),
                Ok(CtEvent::Resize(..)) => Event::Resize,
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.blocking_send(event).is_err() {
                break;
            }
        })
}

/// Run the view until q / Esc / Ctrl-C, SIGINT / SIGTERM, `--count`, or `end` completes.
/// Collectors must already be sending on `tx`'s channel; `dumps` says where each target's
/// goroutine profile is.
pub async fn run(
    mut app: App,
    dumps: HashMap<String, DumpTarget>,
    tx: mpsc::Sender<Event>,
    mut rx: mpsc::Receiver<Event>,
    end: impl Future<Output = ()>,
) -> anyhow::Result<App> {
    let mut guard = term::TerminalGuard::enter()?;
    let input = spawn_input(tx.clone())?;
    let mut tasks = JoinSet::new();
    let signal_tx = tx.clone();
    tasks.spawn(async move {
        crate::run::shutdown_signal().await;
        let _ = signal_tx.send(Event::Quit).await;
    });
    let (dump_tx, dump_rx) = mpsc::channel::<DumpRequest>(DUMP_QUEUE);
    collect::spawn_dumper(dumps, dump_rx, tx.clone(), &mut tasks);
    drop(tx);

    // Debug builds only: panic after this many draws, so the tests can check that a panic
    // leaves a usable terminal (tests/it/tui.rs).
    #[cfg(debug_assertions)]
    let mut panic_after: Option<u64> = std::env::var("LEAKHOUND_TEST_PANIC_AFTER_DRAWS")
        .ok()
        .and_then(|v| v.parse().ok());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(end);
    let result = loop {
        let first = tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => ev,
                None => break Ok(()),
            },
            _ = tick.tick() => Event::Tick,
            () = &mut end => Event::Quit,
        };
        let mut next = Some(first);
        let mut applied = 0;
        while let Some(event) = next.take() {
            let now = leakhound_agent::agent::now_ms();
            for command in app.handle(event, now) {
                match command {
                    Command::Dump { target, reason } => {
                        let req = DumpRequest {
                            target: target.clone(),
                            reason,
                        };
                        if dump_tx.try_send(req).is_err() {
                            app.dump_not_started(&target, "other dumps are still running", now);
                        }
                    }
                }
            }
            applied += 1;
            if applied < BATCH && !app.quit {
                next = rx.try_recv().ok();
            }
        }
        if app.quit {
            break Ok(());
        }
        if let Err(e) = guard.terminal.draw(|frame| ui::draw(frame, &app)) {
            break Err(anyhow::anyhow!("cannot draw on the terminal: {e}"));
        }
        #[cfg(debug_assertions)]
        if let Some(n) = panic_after.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                panic!("test panic after drawing (LEAKHOUND_TEST_PANIC_AFTER_DRAWS)");
            }
        }
    };
    drop(rx);
    drop(dump_tx);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let _ = input.join();
    drop(guard);
    result.map(|()| app)
}
