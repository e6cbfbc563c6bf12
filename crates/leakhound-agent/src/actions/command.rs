//! `kind = "command"`: run a program from an argv array — never through a shell, so an
//! argument such as `"; rm -rf /"` or `$(…)` reaches the program as those exact bytes.
//!
//! The environment is cleared except for the allowlisted variables; the program runs in its
//! own process group with stdin closed; at its timeout the whole group gets SIGTERM and, 2 s
//! later, SIGKILL (so a `sleep` it started dies too); the last bytes of stdout and stderr are
//! kept for the record.

use super::RunResult;
use rustix::process::{kill_process_group, Pid, Signal};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of output kept from each of stdout and stderr (the end of it).
pub const TAIL_BYTES: usize = 2048;
/// After SIGTERM at the timeout, the group has this long before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// After the program exits, its output is read for at most this long (a daemon it started may
/// keep the pipes open forever).
const DRAIN: Duration = Duration::from_secs(2);

async fn tail(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut keep: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                keep.extend_from_slice(&buf[..n]);
                if keep.len() > 2 * TAIL_BYTES {
                    keep.drain(..keep.len() - TAIL_BYTES);
                }
            }
        }
    }
    if keep.len() > TAIL_BYTES {
        keep.drain(..keep.len() - TAIL_BYTES);
    }
    keep
}

fn signal_group(pid: Option<u32>, sig: Signal) {
    if let Some(p) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(Pid::from_raw)
    {
        // The group may be gone already; that is fine.
        let _ = kill_process_group(p, sig);
    }
}

/// Run `argv` with only the `env` variables of this process, in `cwd`, for at most `timeout`.
pub async fn run(
    argv: &[String],
    env: &[String],
    cwd: Option<&Path>,
    timeout: Duration,
) -> RunResult {
    let started = Instant::now();
    let Some((program, args)) = argv.split_first() else {
        return RunResult::failed("argv is empty".into(), started);
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for var in env {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                if program.contains('/') {
                    " (no such file: check the path)".to_string()
                } else {
                    format!(
                        " (not found on PATH '{}': give the full path, or list PATH in the action's env)",
                        env.iter()
                            .any(|v| v == "PATH")
                            .then(|| std::env::var("PATH").unwrap_or_default())
                            .unwrap_or_default()
                    )
                }
            } else {
                String::new()
            };
            return RunResult::failed(format!("cannot start '{program}': {e}{hint}"), started);
        }
    };
    let pid = child.id();
    let stdout = child.stdout.take().map(|s| tokio::spawn(tail(s)));
    let stderr = child.stderr.take().map(|s| tokio::spawn(tail(s)));
    let mut timed_out = false;
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(s) => s,
        Err(_) => {
            timed_out = true;
            signal_group(pid, Signal::TERM);
            match tokio::time::timeout(TERM_GRACE, child.wait()).await {
                Ok(s) => s,
                Err(_) => {
                    signal_group(pid, Signal::KILL);
                    child.wait().await
                }
            }
        }
    };
    if timed_out {
        // Whatever the group started dies with it.
        signal_group(pid, Signal::KILL);
    }
    let mut output = String::new();
    for (name, task) in [("stdout", stdout), ("stderr", stderr)] {
        let Some(mut task) = task else { continue };
        let bytes = match tokio::time::timeout(DRAIN, &mut task).await {
            Ok(Ok(b)) => b,
            _ => {
                task.abort();
                Vec::new()
            }
        };
        if !bytes.is_empty() {
            output.push_str(&format!("[{name}]\n{}", String::from_utf8_lossy(&bytes)));
            if !output.ends_with('\n') {
                output.push('\n');
            }
        }
    }
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match status {
        Ok(s) => {
            let code = s.code();
            let error = if timed_out {
                Some(format!(
                    "timed out after {}: the process group was killed",
                    leakhound_core::units::human_duration(timeout)
                ))
            } else if !s.success() {
                Some(match code {
                    Some(c) => format!("exited with status {c}"),
                    None => "killed by a signal".to_string(),
                })
            } else {
                None
            };
            RunResult {
                ok: error.is_none(),
                exit_code: code,
                output_tail: output,
                error,
                duration_ms,
            }
        }
        Err(e) => RunResult {
            ok: false,
            exit_code: None,
            output_tail: output,
            error: Some(format!("waiting for '{program}' failed: {e}")),
            duration_ms,
        },
    }
}
