//! Issue 13, "careless users": what a new user runs on a fresh clone must not create files it
//! should not, must say what is wrong in words that name the fix, and must end. Nothing but
//! Rust: the targets here are dead ports on 127.0.0.1 or a tiny fake agent.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{now_ms, sample, stderr, stdout};

/// Run leakhound in `dir` (its current directory) and wait at most 60 s.
fn leakhound_in(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("LEAKHOUND_WEB_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run leakhound");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "leakhound {args:?} did not end within 60 s:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `silence list` with no database created an 86 KB leakhound.db; no read-only command may
/// create a file, and each says where the database should have been.
#[test]
fn read_only_commands_create_no_database() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["silence", "list"][..],
        &["actions", "list"],
        &["report"],
        &["verify", "one-api"],
        &["silence", "rm", "1a2b"],
    ] {
        let out = leakhound_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
        let err = stderr(&out);
        assert!(
            err.contains("no database at 'leakhound.db'")
                && err.contains("start the agent with `leakhound run` first"),
            "{args:?}: {err}"
        );
        assert!(
            files_in(dir.path()).is_empty(),
            "{args:?} wrote {:?}",
            files_in(dir.path())
        );
    }
}

/// `--db /tmp` said "no such file": it is a directory, and the fix is a file path.
#[test]
fn a_directory_given_as_the_database_is_named_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for args in [
        &["report", "--db", d][..],
        &["silence", "list", "--db", d],
        &["silence", "add", "--db", d, "--target", "x"],
        &["actions", "list", "--db", d],
        &["run", "--db", d, "--duration", "1s", "http://127.0.0.1:1"],
        &["capture", "http://127.0.0.1:1", "--db", d],
        &["baseline", "one-api", "--db", d],
    ] {
        let out = leakhound_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("'{d}' is a directory"))
                && err.contains(&format!("--db {d}/leakhound.db")),
            "{args:?}: {err}"
        );
        assert!(!err.contains("no such file"), "{args:?}: {err}");
    }
}

/// `capture http://127.0.0.1:1` wrote a bundle, a database and "evidence captured" for a dead
/// target: no profile is an error, and nothing is written.
#[test]
fn capture_of_a_dead_target_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = leakhound_in(dir.path(), &["capture", "http://127.0.0.1:1"]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("no goroutine profile from '127.0.0.1:1'")
            && err.contains("connection refused")
            && err.contains("nothing was saved"),
        "{err}"
    );
    assert!(!stdout(&out).contains("evidence bundle"), "{out:?}");
    assert!(
        files_in(dir.path()).is_empty(),
        "capture wrote {:?}",
        files_in(dir.path())
    );
}

/// `config check /bin/ls` suggested `leakhound init /bin/ls`: init is for a file that does not
/// exist; a file that is not a config is called that.
#[test]
fn config_check_suggests_init_only_for_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("binary");
    std::fs::write(&binary, [0x7f, b'E', b'L', b'F', 0xff, 0xfe, 0, 1]).unwrap();
    let out = leakhound_in(dir.path(), &["config", "check", "binary"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("'binary' is not a TOML config file"), "{err}");
    assert!(!err.contains("leakhound init binary"), "{err}");

    let out = leakhound_in(dir.path(), &["config", "check", "missing.toml"]);
    let err = stderr(&out);
    assert!(
        err.contains("there is no config file 'missing.toml'")
            && err.contains("`leakhound init missing.toml`"),
        "{err}"
    );

    let out = leakhound_in(dir.path(), &["config", "check", "."]);
    assert!(
        stderr(&out).contains("'.' is a directory, not a config file"),
        "{out:?}"
    );
}

/// `check` ignored ./leakhound.toml while every other command reads it.
#[test]
fn check_reads_leakhound_toml_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("leakhound.toml"),
        "[[targets]]\nname = \"from-cwd\"\nurl = \"http://127.0.0.1:1\"\ntimeout = \"2s\"\n",
    )
    .unwrap();
    let out = leakhound_in(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stdout(&out).starts_with("from-cwd  DOWN  "), "{out:?}");
    // Without a file the message names it.
    let empty = tempfile::tempdir().unwrap();
    let out = leakhound_in(empty.path(), &["check"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("./leakhound.toml"), "{out:?}");
}

/// `watch --count 2` on a down target exited 0 while `check` exits 2.
#[test]
fn watch_exits_2_when_the_target_was_down() {
    let dir = tempfile::tempdir().unwrap();
    let out = leakhound_in(
        dir.path(),
        &[
            "watch",
            "--plain",
            "--count",
            "2",
            "--interval",
            "200ms",
            "http://127.0.0.1:1",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(stdout(&out).matches(" DOWN: ").count(), 2, "{out:?}");
}

/// A fake agent: `/api/targets` lists `names`; `/api/targets/SEGMENT/samples` answers a sample
/// for the name the segment decodes to, only when the segment is properly encoded (one path
/// segment). Every request path is recorded.
async fn fake_agent(names: Vec<String>) -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::http::{StatusCode, Uri};
    use axum::response::IntoResponse;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let names = names.clone();
        let log = log.clone();
        async move {
            let path = uri.path().to_string();
            log.lock().unwrap().push(path.clone());
            let now = now_ms();
            if path == "/api/targets" {
                let list: Vec<_> = names
                    .iter()
                    .map(|n| serde_json::json!({"name": n, "ts_ms": now}))
                    .collect();
                return axum::Json(serde_json::Value::Array(list)).into_response();
            }
            let segment = path
                .strip_prefix("/api/targets/")
                .and_then(|rest| rest.strip_suffix("/samples"));
            let name = segment.filter(|s| !s.contains('/')).and_then(|s| {
                let bytes: Vec<u8> = decode(s)?;
                String::from_utf8(bytes).ok()
            });
            match name.filter(|n| names.contains(n)) {
                Some(name) => {
                    let sample = sample(&name).at(now).goroutines(42).build();
                    let answer = leakhound_web::wire::SamplesView {
                        target: name,
                        since_ms: now - 60_000,
                        until_ms: now + 1,
                        step_ms: None,
                        samples: vec![sample],
                    };
                    axum::Json(answer).into_response()
                }
                None => (StatusCode::NOT_FOUND, "no such target").into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Item 10: target names `a/b` and `x<newline>y` were sent unescaped (a wrong route, and the
/// newline dropped), `..` was resolved away, and `--count` never ended. Now each name is one
/// percent-encoded segment, `..` is a down sample with the reason, and the run ends with 2.
#[tokio::test(flavor = "multi_thread")]
async fn watch_agent_encodes_target_names_and_count_ends() {
    let names = vec!["a/b".to_string(), "x\ny".to_string(), "..".to_string()];
    let (url, seen) = fake_agent(names).await;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        leakhound_in(
            dir.path(),
            &[
                "watch",
                "--agent",
                &url,
                "--plain",
                "--count",
                "2",
                "--interval",
                "200ms",
            ],
        )
    })
    .await
    .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text.contains("a/b Goroutines: 42"), "{text}");
    assert!(text.contains("Goroutines: 42"), "{text}");
    assert!(
        text.contains(".. DOWN: the agent did not answer for this target")
            && text.contains("cannot be asked for in a URL"),
        "{text}"
    );
    let paths = seen.lock().unwrap().clone();
    assert!(
        paths.iter().any(|p| p == "/api/targets/a%2Fb/samples"),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p == "/api/targets/x%0Ay/samples"),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p == "/api/targets/samples"),
        "{paths:?}"
    );
}

/// The follow-up title showed the growth rule's +600/h as a count: "(> 600)".
#[test]
fn growth_titles_speak_in_rates() {
    use leakhound_notify::template::{Format, Templates, DEFAULT_TITLE};
    let mut m = leakhound_notify::AlertMessage::test_message(0);
    m.target = "billing".into();
    m.rule_kind = "trend".into();
    m.value_text = Some("1498".into());
    m.threshold = 600.0;
    m.threshold_text = Some("+600/h".into());
    let t = Templates::new(Format::Text, DEFAULT_TITLE, None, None).unwrap();
    let title = t.title(&m).unwrap();
    assert!(
        title.ends_with("billing: 1498 goroutines (growth ≥ +600/h)"),
        "{title}"
    );
    m.rule_kind = "level".into();
    m.threshold_text = Some("5000".into());
    assert!(t.title(&m).unwrap().ends_with("(> 5000)"));
}

// --- docs: every `GUIDE §N` has a page, and every link to an anchor lands on a heading -------

fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// GitHub's anchor of a heading: inline markup dropped, lower case, only letters, digits,
/// spaces, `-` and `_` kept, spaces as `-`.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    // `[text](url)` → `text`
    while let Some(open) = rest.find('[') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match (after.find("]("), after.find(')')) {
            (Some(close), Some(end)) if close < end => {
                text.push_str(&after[..close]);
                rest = &after[end + 1..];
            }
            _ => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a markdown file's headings (outside code fences).
fn anchors_of(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut fence = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fence = !fence;
            continue;
        }
        if !fence && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#').trim()));
        }
    }
    out
}

/// Every `](target)` link of a markdown file, outside code fences.
fn links_of(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut fence = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

/// README cited `GUIDE.md` and "GUIDE §N", and the repo had no such file: docs/guide.md has a
/// section per §, and every relative link (and anchor) in README.md and docs/*.md resolves.
#[test]
fn guide_sections_exist_and_every_doc_link_resolves() {
    let root = repo_root();
    let guide = root.join("docs/guide.md");
    let sections = anchors_of(&guide);
    for n in 1..=11 {
        assert!(
            sections.iter().any(|a| a.starts_with(&format!("{n}-"))),
            "docs/guide.md has no section §{n}: {sections:?}"
        );
    }
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut broken = Vec::new();
    let mut guide_links = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            !text.contains("GUIDE.md"),
            "{} still cites GUIDE.md",
            file.display()
        );
        for link in links_of(file) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match link.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if target.ends_with("docs/guide.md") && path.ends_with("guide.md") {
                guide_links += 1;
            }
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", file.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                if target.extension().is_some_and(|e| e == "md")
                    && !anchors_of(&target).iter().any(|a| a == anchor)
                {
                    broken.push(format!("{}: {link} (no such heading)", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(
        guide_links >= 20,
        "only {guide_links} links to docs/guide.md"
    );
}

/// `--help` points at the guide page's sections too, and each anchor exists.
#[test]
fn help_texts_point_at_guide_sections_that_exist() {
    let anchors = anchors_of(&repo_root().join("docs/guide.md"));
    let dir = tempfile::tempdir().unwrap();
    let mut seen = 0;
    for args in [
        &["--help"][..],
        &["check", "--help"],
        &["watch", "--help"],
        &["report", "--help"],
        &["baseline", "--help"],
        &["run", "--help"],
    ] {
        let text = stdout(&leakhound_in(dir.path(), args));
        assert!(!text.contains("GUIDE §"), "{args:?}: {text}");
        for (at, _) in text.match_indices("docs/guide.md#") {
            let anchor: String = text[at + "docs/guide.md#".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-')
                .collect();
            assert!(
                anchors.contains(&anchor),
                "{args:?}: #{anchor} is not in docs/guide.md"
            );
            seen += 1;
        }
    }
    assert!(seen >= 4, "{seen} guide links in --help");
}
