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
                        if env.iter().any(|v| v == "PATH") {
                            std::env::var("PATH").unwrap_or_default()
                        } else {
                            String::new()
                        }
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
    let duration_ms = leakhound_core::time::duration_ms(started.elapsed());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.split(' ').nth(2) != Some("Z"))
            .unwrap_or(false)
    }

    #[tokio::test]
    async fn arguments_reach_the_program_literally_never_through_a_shell() {
        let tmp = tempfile::tempdir().unwrap();
        let pwned = tmp.path().join("pwned");
        let args = [
            format!("; touch {}", pwned.display()),
            format!("$(touch {})", pwned.display()),
            format!("`touch {}` | cat > /dev/null && echo *", pwned.display()),
        ];
        let mut argv = vec!["/usr/bin/printf".to_string(), "%s\\n".to_string()];
        argv.extend(args.iter().cloned());
        let r = run(&argv, &[], None, Duration::from_secs(10)).await;
        assert!(r.ok, "{r:?}");
        assert_eq!(r.exit_code, Some(0));
        assert_eq!(r.output_tail, format!("[stdout]\n{}\n", args.join("\n")));
        assert!(!pwned.exists(), "a shell ran the argument");
    }

    #[tokio::test]
    async fn only_allowlisted_variables_are_passed() {
        let argv = vec!["/usr/bin/env".to_string()];
        let r = run(&argv, &["PATH".to_string()], None, Duration::from_secs(10)).await;
        assert!(r.ok, "{r:?}");
        let vars: Vec<&str> = r
            .output_tail
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .collect();
        assert_eq!(
            vars,
            if std::env::var_os("PATH").is_some() {
                vec!["PATH"]
            } else {
                vec![]
            }
        );
    }

    #[tokio::test]
    async fn a_hanging_command_and_what_it_started_are_killed_at_the_timeout() {
        let tmp = tempfile::tempdir().unwrap();
        let child_pid = tmp.path().join("child.pid");
        // The user's own explicit shell, starting a grandchild that would outlive it.
        let argv = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            format!(
                "sleep 1000 & echo $! > {}; echo started; wait",
                child_pid.display()
            ),
        ];
        let started = Instant::now();
        let r = run(&argv, &[], None, Duration::from_millis(800)).await;
        let took = started.elapsed();
        assert!(!r.ok);
        let error = r.error.clone().unwrap_or_default();
        assert!(error.contains("timed out after 800ms"), "{error}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
        assert!(r.output_tail.contains("started"), "{r:?}");
        let pid: u32 = std::fs::read_to_string(&child_pid)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        for _ in 0..100 {
            if !alive(pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !alive(pid),
            "the grandchild sleep {pid} survived the timeout"
        );
    }

    #[tokio::test]
    async fn a_failing_or_missing_program_is_a_clear_failure() {
        let r = run(
            &[
                "/bin/sh".into(),
                "-c".into(),
                "echo boom >&2; exit 3".into(),
            ],
            &[],
            None,
            Duration::from_secs(10),
        )
        .await;
        assert!(!r.ok);
        assert_eq!(r.exit_code, Some(3));
        assert_eq!(r.error.as_deref(), Some("exited with status 3"));
        assert_eq!(r.output_tail, "[stderr]\nboom\n");
        let r = run(
            &["no-such-program-xyz".into()],
            &[],
            None,
            Duration::from_secs(1),
        )
        .await;
        let e = r.error.unwrap_or_default();
        assert!(
            e.contains("cannot start 'no-such-program-xyz'") && e.contains("PATH"),
            "{e}"
        );
    }
}
