//! `kind = "signal"`: send a signal to a local process — an explicit `pid`, the PID in a
//! `pid_file`, or the target's own `pid`/`process`.

use super::RunResult;
use leakhound_core::config::ProcessSelector;
use rustix::process::{kill_process, Pid, Signal};
use std::path::Path;
use std::time::Instant;

/// The signal of a config name (`TERM`, `KILL`, …).
pub fn signal_of(name: &str) -> Option<Signal> {
    Some(match name {
        "TERM" => Signal::TERM,
        "KILL" => Signal::KILL,
        "HUP" => Signal::HUP,
        "INT" => Signal::INT,
        "QUIT" => Signal::QUIT,
        "USR1" => Signal::USR1,
        "USR2" => Signal::USR2,
        _ => return None,
    })
}

/// The PID a selector names now: the PID itself, or the process whose name (comm) or
/// executable base name is the name (the oldest, if several).
pub fn resolve(selector: &ProcessSelector) -> Result<u32, String> {
    match selector {
        ProcessSelector::Pid(p) => Ok(*p),
        ProcessSelector::Name(name) => {
            let all = procfs::process::all_processes()
                .map_err(|e| format!("cannot list processes: {e}"))?;
            let mut found: Vec<(u64, u32)> = Vec::new();
            for p in all.flatten() {
                let Ok(stat) = p.stat() else { continue };
                let exe_name = p
                    .exe()
                    .ok()
                    .and_then(|e| e.file_name().map(|f| f.to_string_lossy().into_owned()));
                if stat.comm == *name || exe_name.as_deref() == Some(name.as_str()) {
                    if let Ok(pid) = u32::try_from(stat.pid) {
                        found.push((stat.starttime, pid));
                    }
                }
            }
            found.sort_unstable();
            found
                .first()
                .map(|(_, pid)| *pid)
                .ok_or_else(|| format!("no process named '{name}' is running"))
        }
    }
}

fn read_pid_file(path: &Path) -> Result<u32, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the pid_file '{}': {e}", path.display()))?;
    text.trim().parse::<u32>().map_err(|_| {
        format!(
            "the pid_file '{}' holds '{}', not a PID",
            path.display(),
            text.trim()
        )
    })
}

/// Send `signal` to the process chosen by `pid`, else `pid_file`, else `fallback` (the
/// target's process).
pub fn run(
    signal: &str,
    pid: Option<&ProcessSelector>,
    pid_file: Option<&Path>,
    fallback: Option<&ProcessSelector>,
) -> RunResult {
    let started = Instant::now();
    let Some(sig) = signal_of(signal) else {
        return RunResult::failed(
            format!("'{signal}' is not a signal leakhound sends"),
            started,
        );
    };
    let pid = match (pid, pid_file, fallback) {
        (Some(sel), _, _) => resolve(sel),
        (None, Some(file), _) => read_pid_file(file),
        (None, None, Some(sel)) => resolve(sel),
        (None, None, None) => Err("no process to signal: give 'pid' or 'pid_file'".into()),
    };
    let pid = match pid {
        Ok(p) if p > 1 => p,
        Ok(p) => return RunResult::failed(format!("refusing to signal PID {p}"), started),
        Err(e) => return RunResult::failed(e, started),
    };
    let Some(target) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return RunResult::failed(format!("'{pid}' is not a PID"), started);
    };
    match kill_process(target, sig) {
        Ok(()) => RunResult {
            ok: true,
            exit_code: None,
            output_tail: format!("sent SIG{signal} to PID {pid}\n"),
            error: None,
            duration_ms: leakhound_core::time::duration_ms(started.elapsed()),
        },
        Err(e) => RunResult::failed(
            format!("cannot send SIG{signal} to PID {pid}: {e}"),
            started,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn signals_a_pid_a_pid_file_and_the_targets_process() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let r = run("TERM", Some(&ProcessSelector::Pid(child.id())), None, None);
        assert!(r.ok, "{r:?}");
        assert_eq!(
            r.output_tail,
            format!("sent SIGTERM to PID {}\n", child.id())
        );
        assert_eq!(child.wait().unwrap().signal(), Some(15));

        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let file = tmp.path().join("svc.pid");
        std::fs::write(&file, format!("{}\n", child.id())).unwrap();
        let r = run("KILL", None, Some(&file), None);
        assert!(r.ok, "{r:?}");
        assert_eq!(child.wait().unwrap().signal(), Some(9));

        // The target's own selector, when the action names none.
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let r = run("INT", None, None, Some(&ProcessSelector::Pid(child.id())));
        assert!(r.ok, "{r:?}");
        assert_eq!(child.wait().unwrap().signal(), Some(2));
    }

    #[test]
    fn refuses_init_and_explains_what_is_missing() {
        let r = run("TERM", Some(&ProcessSelector::Pid(1)), None, None);
        assert_eq!(r.error.as_deref(), Some("refusing to signal PID 1"));
        let r = run(
            "TERM",
            Some(&ProcessSelector::Name("no-such-process-xyz".into())),
            None,
            None,
        );
        assert_eq!(
            r.error.as_deref(),
            Some("no process named 'no-such-process-xyz' is running")
        );
        let r = run("TERM", None, Some(Path::new("/nonexistent/x.pid")), None);
        assert!(r
            .error
            .unwrap()
            .contains("cannot read the pid_file '/nonexistent/x.pid'"));
    }
}
