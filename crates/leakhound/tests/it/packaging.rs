//! The packaged installs (issue 15): `packaging/leakhound.service` (systemd), the config it
//! ships (`packaging/leakhound.toml`) and the `FROM scratch` image (`packaging/Dockerfile`,
//! built by `packaging/build-image`).
//!
//! - the unit: `systemd-analyze verify` accepts it and `systemd-analyze security --offline=yes`
//!   rates it at most [`MAX_EXPOSURE`] (needs systemd-analyze: `apt-get install systemd`);
//! - the image: built with the test dockerd, run with `--network host`, the Docker socket and a
//!   config watching the fixture container; its own web API must show the fixture's samples.
//!   The static release build is the slow part: `scripts/test` builds it once
//!   (`BUILD_ONLY=1 packaging/build-image`) and passes it in `LEAKHOUND_STATIC_BIN`. By hand:
//!
//! ```sh
//! export LEAKHOUND_STATIC_BIN=$(BUILD_ONLY=1 packaging/build-image)
//! eval "$(scripts/docker-peer start /tmp/lh-docker)"
//! cargo test -p leakhound --test it -- --include-ignored packaging::
//! scripts/docker-peer stop /tmp/lh-docker
//! ```

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

/// `systemd-analyze security` must rate the unit at most this (systemd 252 rates it 1.5 "OK";
/// "OK" is anything below 4.5 on its 0–10 scale, "MEDIUM" below 7, then "EXPOSED", "UNSAFE").
const MAX_EXPOSURE: f64 = 2.5;

fn packaging_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging")
}

fn read_packaged(name: &str) -> String {
    let path = packaging_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The packaged config is valid as shipped and keeps the database in the unit's
/// StateDirectory (and the image's VOLUME).
#[test]
fn the_packaged_config_checks_and_stores_under_var_lib() {
    let config = packaging_dir().join("leakhound.toml");
    let out = leakhound(&["config", "check", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let parsed =
        leakhound_core::config::Config::parse(&read_packaged("leakhound.toml"), &|_| None).unwrap();
    assert_eq!(
        parsed.agent.database,
        Path::new("/var/lib/leakhound/leakhound.db")
    );

    let unit = read_packaged("leakhound.service");
    for line in [
        "ExecStart=/usr/bin/leakhound run --config /etc/leakhound/leakhound.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=leakhound",
        "DynamicUser=yes",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "leakhound.service has no line {line:?}"
        );
    }
    let dockerfile = read_packaged("Dockerfile");
    assert!(dockerfile.contains("COPY leakhound.toml /etc/leakhound/leakhound.toml"));
    assert!(dockerfile.contains("VOLUME /var/lib/leakhound"));
    assert!(dockerfile.contains(&format!(
        "EXPOSE {}",
        leakhound_core::config::DEFAULT_LISTEN.port()
    )));
}

/// `systemd-analyze verify` and `security --offline=yes` on a copy of the unit whose ExecStart
/// is the binary under test (verify insists that the executable exists).
#[test]
#[ignore = "needs systemd-analyze (apt-get install systemd); scripts/test runs it"]
fn the_systemd_unit_verifies_and_is_sandboxed() {
    let analyze = which("systemd-analyze").unwrap_or_else(|| {
        panic!("systemd-analyze not found: apt-get install systemd (scripts/test does)")
    });
    let dir = tempfile::tempdir().unwrap();
    let unit = read_packaged("leakhound.service").replace(
        "ExecStart=/usr/bin/leakhound ",
        &format!("ExecStart={} ", env!("CARGO_BIN_EXE_leakhound")),
    );
    assert!(unit.contains(env!("CARGO_BIN_EXE_leakhound")));
    let path = dir.path().join("leakhound.service");
    std::fs::write(&path, unit).unwrap();

    let verify = Command::new(&analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = format!("{}{}", stdout(&verify), stderr(&verify));
    assert!(verify.status.success(), "systemd-analyze verify:\n{said}");
    // Lines about other units of this machine are not ours; any about this one is a finding.
    assert!(
        !said.contains("leakhound.service"),
        "systemd-analyze verify:\n{said}"
    );

    let security = Command::new(&analyze)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = stdout(&security);
    assert!(
        security.status.success(),
        "systemd-analyze security:\n{text}{}",
        stderr(&security)
    );
    // "→ Overall exposure level for leakhound.service: 1.6 OK 🙂"
    let overall = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for leakhound.service: ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{text}"));
    let score: f64 = overall
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("exposure {overall:?}"));
    eprintln!("systemd-analyze security: {overall}");
    assert!(
        score <= MAX_EXPOSURE,
        "exposure {overall} is above {MAX_EXPOSURE}:\n{text}"
    );
    assert!(overall.contains("OK"), "{overall}");
}

fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

/// A container of the leakhound image, and the image itself: both removed on drop (with the
/// container's anonymous state volume).
struct ImageRun {
    host: String,
    tag: String,
    name: String,
}

impl ImageRun {
    fn docker(&self, args: &[&str]) -> std::process::Output {
        docker_cli(&self.host, args)
    }

    fn logs(&self) -> String {
        let out = self.docker(&["logs", &self.name]);
        format!("{}{}", stdout(&out), stderr(&out))
    }
}

impl Drop for ImageRun {
    fn drop(&mut self) {
        let _ = self.docker(&["rm", "-f", "-v", &self.name]);
        let _ = self.docker(&["rmi", "-f", &self.tag]);
    }
}

/// The image watches a container through the Docker socket and serves what it stores.
#[test]
#[ignore = "needs dockerd and the static binary (LEAKHOUND_STATIC_BIN, else built now); scripts/test runs it"]
fn the_image_runs_the_agent_against_a_container() {
    let (host, fixture_image) = require_docker_env();
    let started = Instant::now();
    // Found by Docker discovery through its labels: no URL in the agent's config.
    let fixture = DockerContainer::run_with(
        &host,
        &fixture_image,
        "pkg",
        &[
            "--label=leakhound.enable=true",
            "--label=leakhound.port={port}",
            "--label=leakhound.path=/api/monitor/health",
            "--label=leakhound.name=one-api",
        ],
        &[],
    );
    let tag = format!("leakhound-pkg-test:{}", std::process::id());
    let name = format!("lh-pkg-agent-{}", std::process::id());
    let run = ImageRun {
        host: host.clone(),
        tag: tag.clone(),
        name: name.clone(),
    };

    // packaging/build-image, with the test daemon. It reuses LEAKHOUND_STATIC_BIN when set.
    let build = Command::new(packaging_dir().join("build-image"))
        .arg(&tag)
        .env("DOCKER_HOST", &host)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "packaging/build-image failed:\n{}",
        stderr(&build)
    );
    eprintln!("{}", stderr(&build).trim_end());
    let inspect = |format: &str| {
        let out = run.docker(&["image", "inspect", "-f", format, &tag]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    };
    assert_eq!(inspect("{{.Config.User}}"), "65534:65534");
    assert_eq!(
        inspect("{{json .Config.Entrypoint}} {{json .Config.Cmd}}"),
        r#"["/leakhound"] ["run","--config","/etc/leakhound/leakhound.toml"]"#
    );
    assert!(inspect("{{json .Config.ExposedPorts}}").contains("9466/tcp"));
    assert!(inspect("{{json .Config.Volumes}}").contains("/var/lib/leakhound"));
    let size: u64 = inspect("{{.Size}}").parse().unwrap();
    eprintln!("image {tag}: {:.1} MB", size as f64 / 1e6);

    // The socket of the test daemon, mounted where the default docker_host looks; the
    // container's user (65534) gets the socket's group, as the README tells.
    let sock = host.strip_prefix("unix://").unwrap();
    let sock_gid = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(sock).unwrap().gid()
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "[agent]\ndatabase = \"/var/lib/leakhound/leakhound.db\"\nflush_interval = \"200ms\"\n\n\
         [web]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [[discovery]]\ntype = \"docker\"\ninterval = \"1s\"\ntimeout = \"1s\"\njitter = \"0s\"\n\n\
         # the same service by host name: /etc/hosts through the static glibc's built-in NSS\n\
         [[targets]]\nname = \"by-name\"\nurl = \"http://localhost:{fixture_port}\"\n\
         interval = \"1s\"\ntimeout = \"1s\"\njitter = \"0s\"\n",
        fixture_port = fixture.addr.rsplit_once(':').unwrap().1,
    );
    let config_path = dir.path().join("leakhound.toml");
    std::fs::write(&config_path, config).unwrap();
    let check = leakhound(&["config", "check", config_path.to_str().unwrap()]);
    assert!(check.status.success(), "{}", stderr(&check));
    // World-readable: the container's user reads it through the bind mount.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = run.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "-v",
        &format!("{sock}:/var/run/docker.sock"),
        "--group-add",
        &sock_gid.to_string(),
        "-v",
        &format!("{}:/etc/leakhound/leakhound.toml:ro", config_path.display()),
        &tag,
    ]);
    assert!(out.status.success(), "docker run: {}", stderr(&out));

    // Through the agent's own API: both targets up, the container columns there, and the
    // samples stored (the samples endpoint reads the SQLite store on the volume).
    let api = format!("http://127.0.0.1:{port}");
    let client = http_client();
    let get = |path: &str| -> Option<serde_json::Value> {
        client
            .get(format!("{api}{path}"))
            .send()
            .ok()
            .filter(|r| r.status().is_success())?
            .json()
            .ok()
    };
    let poll_api = |what: &str, f: &dyn Fn() -> Option<serde_json::Value>| {
        let limit = Duration::from_secs(60);
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            let state = run.docker(&["inspect", "-f", "{{.State.Status}}", &name]);
            assert!(
                start.elapsed() < limit && stdout(&state).trim() == "running",
                "waiting for {what} ({:?}, container {}); the agent's log:\n{}",
                start.elapsed(),
                stdout(&state).trim(),
                run.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let targets = poll_api("both targets up in /api/targets", &|| {
        let t = get("/api/targets")?;
        let all_up = t.as_array()?.len() == 2
            && t.as_array()?
                .iter()
                .all(|t| t["up"] == true && t["goroutines"].as_u64().is_some());
        all_up.then_some(t)
    });
    eprintln!("/api/targets: {targets}");
    let one_api = targets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "one-api")
        .unwrap();
    assert_eq!(one_api["source"], "health+container", "{one_api}");

    let samples = poll_api("three stored samples of one-api", &|| {
        let s = get("/api/targets/one-api/samples?since=10m")?;
        (s["samples"].as_array()?.len() >= 3).then_some(s)
    });
    for s in samples["samples"].as_array().unwrap() {
        assert_eq!(s["up"], true, "{s}");
        assert!(s["metrics"]["goroutines"].as_u64().unwrap() > 0, "{s}");
        assert_eq!(s["metrics"]["container_state"], "running", "{s}");
    }

    // SIGTERM (docker stop): the agent flushes and exits 0.
    let stop = run.docker(&["stop", "-t", "20", &name]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    let code = run.docker(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
    assert_eq!(
        stdout(&code).trim(),
        "0",
        "the agent's log:\n{}",
        run.logs()
    );
    let logs = run.logs();
    assert!(!logs.contains("ERROR"), "{logs}");
    drop(run);
    drop(fixture);
    eprintln!("image test: {:.1} s", started.elapsed().as_secs_f64());
}
